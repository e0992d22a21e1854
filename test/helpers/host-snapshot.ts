// What a test run may leave behind on the host, as plain data: taken before the first test
// file and after the last one by scripts/run-tests.mjs, which fails the run on any difference.
// The runner holds a machine-wide lock meanwhile, so the difference is this run's doing.
// Parsers and the comparison are pure (unit-tested); takeSnapshot() is the only I/O.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Each category maps a key (a link name, a rule, a mount target...) to what it is. */
export type Snapshot = Record<Category, Record<string, string>>;

export const CATEGORIES = ['link', 'netns', 'iptables', 'sysctl', 'mount', 'process', 'testdir'] as const;
export type Category = (typeof CATEGORIES)[number];

/**
 * Categories where only what is new counts: a process can end on its own, and a leftover
 * test directory of an earlier run may be removed by hand, neither being this run's leak.
 */
const NEW_ONLY: ReadonlySet<Category> = new Set(['process', 'testdir']);

export type Difference = { category: Category; key: string; change: 'new' | 'gone' | 'changed'; before?: string; after?: string };

/**
 * Where test files keep their trees: the run's own root (`BERTH_TEST_TMP`, made by the runner
 * under /tmp) when given, so that another run's daemons, mounts and directories on the same
 * machine (one not holding the lock: a file run by hand) are not taken for this run's leaks;
 * otherwise every /tmp/bt-* tree.
 */
export type Scope = { root: string };
const DEFAULT_SCOPE: Scope = { root: '/tmp/bt-' };

export const SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv4.conf.all.route_localnet', 'net.bridge.bridge-nf-call-iptables'];

/** `ip -j -d link show` → name → kind (bridge, veth, dummy, or the link type), with its master. */
export function parseLinks(json: string): Record<string, string> {
  const out: Record<string, string> = {};
  const links = JSON.parse(json) as { ifname: string; link_type?: string; master?: string; linkinfo?: { info_kind?: string } }[];
  for (const l of links) {
    const kind = l.linkinfo?.info_kind ?? l.link_type ?? 'unknown';
    out[l.ifname] = l.master ? `${kind} master ${l.master}` : kind;
  }
  return out;
}

/** `ip netns list` lines are `name` or `name (id: 3)`; the id is the kernel's and may change. */
export function parseNetns(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const name = line.trim().split(' ')[0];
    if (name) out[name] = 'named netns';
  }
  return out;
}

/**
 * iptables-save output of one table → chains (policy) and rules (how many copies: the same rule
 * added twice is a leak too). Packet counters and comments are dropped; order does not matter.
 */
export function parseIptablesSave(table: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('*') || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      // `:FORWARD DROP [12:3456]`, or `-` as the policy of a user-defined chain.
      const [name, policy] = line.slice(1).split(' ');
      out[`${table} chain ${name}`] = policy ?? '-';
      continue;
    }
    const rule = `${table} ${line.replace(/^\[\d+:\d+\]\s+/, '')}`;
    out[rule] = String(Number(out[rule] ?? '0') + 1);
  }
  return out;
}

/**
 * /proc/mounts → target → `fstype source` for mounts under /tmp and every nsfs mount (a
 * bind-mounted namespace) wherever it is. Mounts stacked on one target are listed together.
 */
export function parseMounts(text: string, scope: Scope = DEFAULT_SCOPE): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [source, target, fstype] = line.split(' ');
    if (!source || !target || !fstype) continue;
    // Named namespaces (/run/netns) are global: the netns category has them.
    const ours = target.startsWith(scope.root) || (fstype === 'nsfs' && !target.startsWith('/tmp/'));
    if (!ours) continue;
    const what = `${fstype} ${source}`;
    out[target] = out[target] === undefined ? what : `${out[target]} + ${what}`;
  }
  return out;
}

/**
 * A process the run may have left: one whose argv or working directory points into the run's
 * trees (a berthd, a conmon, a registry, a resolver started for a test).
 */
export function isTestProcess(argv: string[], cwd: string, scope: Scope = DEFAULT_SCOPE): boolean {
  return argv.join(' ').includes(scope.root) || cwd.startsWith(scope.root);
}

export function compareSnapshots(before: Snapshot, after: Snapshot): Difference[] {
  const out: Difference[] = [];
  for (const category of CATEGORIES) {
    const a = before[category] ?? {};
    const b = after[category] ?? {};
    for (const key of Object.keys(b).sort()) {
      const was = a[key];
      const now = b[key] as string;
      if (was === undefined) out.push({ category, key, change: 'new', after: now });
      else if (was !== now) out.push({ category, key, change: 'changed', before: was, after: now });
    }
    if (NEW_ONLY.has(category)) continue;
    for (const key of Object.keys(a).sort()) {
      if (!(key in b)) out.push({ category, key, change: 'gone', before: a[key] as string });
    }
  }
  return out;
}

/** One line per difference; a category with more than `perCategory` is cut short, with a count. */
export function formatDifferences(diffs: Difference[], perCategory = 25): string {
  const lines: string[] = [];
  for (const category of CATEGORIES) {
    const of = diffs.filter((d) => d.category === category);
    for (const d of of.slice(0, perCategory)) {
      const what = d.change === 'changed' ? `${d.before} → ${d.after}` : (d.after ?? d.before);
      lines.push(`  ${d.change.padEnd(7)} ${d.category.padEnd(8)} ${d.key}  (${what})`);
    }
    if (of.length > perCategory) lines.push(`  ... and ${of.length - perCategory} more ${category} differences`);
  }
  return lines.join('\n');
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`host snapshot: ${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function sysctls(): Record<string, string> {
  const names = [...SYSCTLS];
  for (const dev of readdirSync('/proc/sys/net/ipv4/conf')) {
    if (dev !== 'all') names.push(`net.ipv4.conf.${dev}.route_localnet`);
  }
  const out: Record<string, string> = {};
  // br_netfilter may be unloaded: `absent` then, and a load during the run shows as a change.
  for (const n of names) out[n] = readOr(`/proc/sys/${n.replace(/\./g, '/')}`, 'absent');
  return out;
}

function processes(scope: Scope): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let argv: string[];
    let cwd = '';
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // gone
    }
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // a zombie or a kernel thread has none
    }
    if (argv.length === 0 || !isTestProcess(argv, cwd, scope)) continue;
    const line = argv.join(' ');
    out[`pid ${pid}`] = line.length > 160 ? `${line.slice(0, 157)}...` : line;
  }
  return out;
}

export function takeSnapshot(scope: Scope = DEFAULT_SCOPE): Snapshot {
  return {
    link: parseLinks(run('ip', ['-j', '-d', 'link', 'show'])),
    netns: parseNetns(run('ip', ['netns', 'list'])),
    iptables: {
      ...parseIptablesSave('filter', run('iptables-save', ['-t', 'filter'])),
      ...parseIptablesSave('nat', run('iptables-save', ['-t', 'nat'])),
    },
    sysctl: sysctls(),
    mount: parseMounts(readFileSync('/proc/mounts', 'utf8'), scope),
    process: processes(scope),
    testdir: testDirs(scope),
  };
}

/** The run's test directories: what is directly in its root, or /tmp/bt-* without one. */
function testDirs(scope: Scope): Record<string, string> {
  const [dir, prefix] = scope.root.endsWith('/') ? [scope.root.slice(0, -1), ''] : [scope.root.slice(0, scope.root.lastIndexOf('/')), scope.root.slice(scope.root.lastIndexOf('/') + 1)];
  const names = existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(prefix)) : [];
  return Object.fromEntries(names.map((n) => [`${dir}/${n}`, 'test directory']));
}
