// Machine facts and versions for the report, and the host network state both daemons change
// (iptables FORWARD policy, dockerd's DOCKER chains and berth's BERTH-<tag> chains and their
// rules, dockerd's and berth's bridges with their veths, ip_forward and the br_netfilter and
// route_localnet sysctls), recorded before they start and put back afterwards.
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, hostname, totalmem } from 'node:os';
import { log, run } from './util.mjs';
import { takeTestLock } from './lock.mjs';
import { DOCKER_BIP, inSubnet, subnetOf } from './engines.mjs';

export function machineFacts() {
  const c = cpus();
  let os = '';
  try {
    os = /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // none
  }
  let cgroup = 'v1 (hybrid)';
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) cgroup = 'v2';
  return {
    host: hostname(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? '',
    memTotalGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    os,
    cgroup,
    node: process.version,
  };
}

async function firstLine(cmd, args) {
  const r = await run(cmd, args, { timeoutMs: 20_000 });
  return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
}

export async function versions({ berthVersion, berthCommit }) {
  const runc = await firstLine('runc', ['--version']);
  const conmon = await firstLine('conmon', ['--version']);
  return {
    berth: `${berthVersion}${berthCommit ? ` (${berthCommit})` : ''}`,
    dockerd: (await firstLine('dockerd', ['--version'])).replace(/^Docker version /, ''),
    containerd: (await firstLine('containerd', ['--version'])).split(' ').slice(2).join(' '),
    runc: runc.replace(/^runc version /, ''),
    conmon: conmon.replace(/^conmon version /, ''),
    dockerCli: (await firstLine('docker', ['--version'])).replace(/^Docker version /, ''),
  };
}

const TABLES = ['filter', 'nat'];
const RUN_DIRS = ['/run/docker', '/run/containerd'];
/** What either daemon may set: dockerd ip_forward and br_netfilter's, berth ip_forward; route_localnet per bridge goes with the bridge. */
const SYSCTLS = ['net/ipv4/ip_forward', 'net/ipv4/conf/all/route_localnet', 'net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables'];

const readSysctl = (k) => {
  try {
    return readFileSync(`/proc/sys/${k}`, 'utf8').trim();
  } catch {
    return null;
  }
};

/** The host's network as the daemons find it: taken before either starts. */
export async function snapshotNetwork() {
  const snap = { forwardPolicy: 'ACCEPT', chains: {}, rules: {}, sysctls: {}, links: [], docker0: false };
  const f = await run('iptables', ['-S', 'FORWARD'], { timeoutMs: 20_000 });
  snap.forwardPolicy = /^-P FORWARD (\S+)/m.exec(f.stdout)?.[1] ?? 'ACCEPT';
  for (const t of TABLES) {
    const lines = await ruleLines(t);
    snap.chains[t] = lines.filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim());
    snap.rules[t] = lines.filter((l) => l.startsWith('-A '));
  }
  for (const k of SYSCTLS) snap.sysctls[k] = readSysctl(k);
  snap.ipForward = snap.sysctls['net/ipv4/ip_forward'];
  snap.links = Object.keys(await links());
  snap.docker0 = snap.links.includes('docker0');
  // dockerd and containerd create these even on other paths (plugin and shim socket folders).
  snap.runDirs = Object.fromEntries(RUN_DIRS.map((d) => [d, existsSync(d)]));
  return snap;
}

async function ruleLines(table) {
  const r = await run('iptables', ['-t', table, '-S'], { timeoutMs: 20_000 });
  return r.stdout.split('\n').filter(Boolean);
}

/** name -> master ('' when none), from `ip -j link show`. */
async function links() {
  const r = await run('ip', ['-j', 'link', 'show'], { timeoutMs: 10_000 });
  const out = {};
  try {
    for (const l of JSON.parse(r.stdout || '[]')) out[l.ifname] = l.master ?? '';
  } catch {
    // unreadable: nothing
  }
  return out;
}

/** Address words of a rule ("172.31.240.2/32", "172.31.240.0/21") inside one of `subnets`. */
function mentionsSubnet(words, subnets) {
  return words.some((w) => {
    const ip = w.replace(/^"|"$/g, '').split('/')[0].split(':')[0];
    return subnets.some((s) => inSubnet(ip, s));
  });
}

/**
 * Undo what the daemons changed, from the snapshot and what each engine owns
 * ({ bridges, chainPrefixes, subnets }: Engine.netOwned()). Only what is new since the
 * snapshot is touched: rules added to the built-in chains that jump to the engines' chains or
 * name their bridges or an address of their subnets, then those chains; veths left on their
 * bridges, then the bridges; the FORWARD policy (dockerd sets DROP) and the sysctls, when they
 * differ. Anything else new is only reported. Returns notes about what it did.
 */
export async function restoreNetwork(snap, owned = [{ bridges: ['docker0'], chainPrefixes: ['DOCKER'], subnets: [subnetOf(DOCKER_BIP)] }]) {
  const notes = [];
  const bridges = [...new Set(owned.flatMap((o) => o.bridges))];
  const prefixes = owned.flatMap((o) => o.chainPrefixes);
  const subnets = owned.flatMap((o) => o.subnets);
  for (const t of TABLES) {
    const before = new Set(snap.chains?.[t] ?? []);
    const rulesBefore = new Set(snap.rules?.[t] ?? []);
    const lines = await ruleLines(t);
    const ours = lines
      .filter((l) => l.startsWith('-N '))
      .map((l) => l.slice(3).trim())
      .filter((c) => !before.has(c) && prefixes.some((p) => c.startsWith(p)));
    for (const rule of lines.filter((l) => l.startsWith('-A ') && !rulesBefore.has(l))) {
      const words = rule.split(/\s+/);
      if (ours.includes(words[1])) continue; // flushed with the chain
      const jumpsToOurs = words.some((w, i) => (words[i - 1] === '-j' || words[i - 1] === '-g') && ours.includes(w));
      const namesBridge = words.some((w, i) => ['-i', '-o', '--in-interface', '--out-interface'].includes(words[i - 1]) && bridges.includes(w));
      if (jumpsToOurs || namesBridge || mentionsSubnet(words, subnets)) {
        // iptables-restore parses the quoting of `-S` output (comments with spaces) as iptables(8) would not.
        const r = await run('iptables-restore', ['--noflush'], { input: `*${t}\n${rule.replace(/^-A/, '-D')}\nCOMMIT\n`, timeoutMs: 20_000 });
        notes.push(`iptables -t ${t} ${rule.replace(/^-A/, '-D')}${r.code ? ` (failed: ${r.stderr.trim()})` : ''}`);
      }
    }
    for (const c of ours) await run('iptables', ['-t', t, '-F', c], { timeoutMs: 20_000 });
    for (const c of ours) {
      const r = await run('iptables', ['-t', t, '-X', c], { timeoutMs: 20_000 });
      notes.push(`iptables -t ${t} -X ${c}${r.code ? ` (failed: ${r.stderr.trim()})` : ''}`);
    }
  }
  const f = await run('iptables', ['-S', 'FORWARD'], { timeoutMs: 20_000 });
  const policy = /^-P FORWARD (\S+)/m.exec(f.stdout)?.[1];
  if (policy && policy !== snap.forwardPolicy) {
    await run('iptables', ['-P', 'FORWARD', snap.forwardPolicy], { timeoutMs: 20_000 });
    notes.push(`iptables FORWARD policy ${policy} -> ${snap.forwardPolicy}`);
  }
  const linksBefore = new Set(snap.links ?? (snap.docker0 ? ['docker0'] : []));
  const now = await links();
  for (const [name, master] of Object.entries(now)) {
    if (!linksBefore.has(name) && bridges.includes(master)) {
      await run('ip', ['link', 'del', name], { timeoutMs: 10_000 });
      notes.push(`removed ${name} (left on ${master})`);
    }
  }
  for (const b of bridges) {
    if (!linksBefore.has(b) && b in now) {
      await run('ip', ['link', 'del', b], { timeoutMs: 10_000 });
      notes.push(`removed ${b}`);
    }
  }
  const after = await links();
  const strangers = Object.keys(after).filter((n) => !linksBefore.has(n) && !bridges.includes(n));
  if (strangers.length) notes.push(`links new since the start, not the engines' (left alone): ${strangers.join(', ')}`);
  const sysctls = snap.sysctls ?? (snap.ipForward !== null ? { 'net/ipv4/ip_forward': snap.ipForward } : {});
  for (const [k, was] of Object.entries(sysctls)) {
    const cur = readSysctl(k);
    if (was === null || cur === null || cur === was) continue;
    try {
      writeFileSync(`/proc/sys/${k}`, was);
      notes.push(`${k.replace(/\//g, '.')} ${cur} -> ${was}`);
    } catch (err) {
      notes.push(`could not put ${k} back to ${was}: ${err.message}`);
    }
  }
  for (const [d, existed] of Object.entries(snap.runDirs ?? {})) {
    if (!existed && existsSync(d) && rmdirEmpty(d)) notes.push(`removed empty ${d}`);
  }
  return notes;
}

/** rmdir a tree of empty folders (never removes a file); true if `dir` is gone. */
function rmdirEmpty(dir) {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirEmpty(join(dir, e.name));
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** build/busybox-rootfs.tar of the repository, built from Debian's busybox-static if missing. */
export async function busyboxRootfs(repo) {
  const tar = join(repo, 'build', 'busybox-rootfs.tar');
  if (!existsSync(tar)) {
    log('building the busybox rootfs');
    const r = await run(join(repo, 'scripts', 'build-busybox-rootfs.sh'), [tar]);
    if (r.code !== 0) throw new Error(`build-busybox-rootfs.sh failed: ${r.stderr}`);
  }
  return tar;
}

/** The checkout's commit (`+dirty` when src/ has uncommitted changes), '' outside git. */
export async function gitInfo(dir) {
  const head = await run('git', ['-C', dir, 'rev-parse', '--short=10', 'HEAD']);
  const dirty = await run('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no', '--', 'src']);
  const commit = head.code === 0 ? head.stdout.trim() : '';
  return commit ? `${commit}${dirty.stdout.trim() ? '+dirty' : ''}` : '';
}

/**
 * A harness's options from argv (exit 2 on a bad one), or undefined once `--help` or
 * `--cleanup` has been served. Otherwise the test lock is taken before the caller looks at the
 * host's network or makes anything: a test run would take the harness's bridges, namespaces and
 * mounts for its own leaks.
 */
export async function harnessOptions(script, parseArgs, usage, cleanup) {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  if (o.help) {
    process.stdout.write(usage);
    return undefined;
  }
  if (o.cleanup) {
    takeTestLock(`node ${script} --cleanup`);
    await cleanup();
    return undefined;
  }
  takeTestLock(`node ${script} ${process.argv.slice(2).join(' ')}`.trim());
  return o;
}
