// The crash harness's invariant checker: what the restarted daemon says, compared with the
// machine. Each function returns the first disagreement in words, or undefined.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { TestDaemon } from '../helpers/daemon.js';
import { call, resolverProcesses, type Reply } from '../helpers/daemon-probes.js';

export { call, type Reply };

export type Listed = { Id: string; State: string };

/** Ids this run made: veths, chains and bridges of other daemons on the host are not ours. */
export type Known = { containers: Set<string>; networks: Set<string> };

const same = (a: string[], b: string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
const short = (id: string) => id.slice(0, 12);
const dirs = (p: string) => (existsSync(p) ? readdirSync(p).filter((n) => !n.startsWith('.')) : []);

function processAlive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

function runcStatus(d: TestDaemon, id: string): string | undefined {
  const r = spawnSync('runc', ['--root', join(d.execRoot, 'runc'), 'state', id], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as { status: string }).status;
}

/**
 * Containers: running and paused ⇔ a live process under its monitor, runc's state (running or
 * paused as the daemon says), a bundle and a mounted root; every container listed ⇔ a record
 * and a storage layer; nothing of the kind for anything else.
 */
export async function containerMismatch(d: TestDaemon, listed: Listed[]): Promise<string | undefined> {
  const states = listed.map((c) => `${short(c.Id)} ${c.State}`).join(', ');
  const live = listed.filter((c) => c.State === 'running' || c.State === 'paused');
  for (const c of live) {
    const r = await call(d, 'GET', `/containers/${c.Id}/json`);
    const pid = r === 'killed' ? 0 : Number((JSON.parse(r.body) as { State: { Pid: number } }).State.Pid);
    if (!(pid > 0 && processAlive(pid))) return `${c.State} container ${short(c.Id)} has no process (${states})`;
    const rs = runcStatus(d, c.Id);
    if (rs !== c.State) return `container ${short(c.Id)} is ${c.State} for the daemon, ${rs ?? 'unknown'} for runc (${states})`;
  }
  const ids = live.map((c) => c.Id);
  const all = listed.map((c) => c.Id);
  if (d.conmons().length !== live.length) return `${d.conmons().length} monitors for ${live.length} running (${states})`;
  if (!same(d.runcState(), ids)) return `runc state for ${d.runcState().map(short).join(' ')}, running: ${states}`;
  const bundles = dirs(join(d.execRoot, 'containers'));
  if (!same(bundles, ids)) return `bundles ${bundles.map(short).join(' ')}, running: ${states}`;
  const merged = d.mounts().map((m) => m.split(' ')[1] as string).filter((t) => t.startsWith(join(d.storageRoot, 'containers')) && t.endsWith('/merged')).map((t) => t.split('/').at(-2) as string);
  if (!same(merged, ids)) return `root filesystems mounted for ${merged.map(short).join(' ')}, running: ${states}`;
  const layers = dirs(join(d.storageRoot, 'containers'));
  if (!same(layers, all)) return `container layers ${layers.map(short).join(' ')} for containers ${states}`;
  const records = dirs(join(d.dataRoot, 'containers'));
  if (!same(records, all)) return `container records ${records.map(short).join(' ')} for containers ${states}`;
  return undefined;
}

/** Volumes: listed ⇔ a directory of the local driver. */
export async function volumeMismatch(d: TestDaemon): Promise<string | undefined> {
  const r = await call(d, 'GET', '/volumes');
  if (r === 'killed' || r.status !== 200) return 'no volume list';
  const listed = ((JSON.parse(r.body) as { Volumes: { Name: string }[] }).Volumes ?? []).map((v) => v.Name);
  const onDisk = dirs(join(d.dataRoot, 'volumes'));
  if (!same(listed, onDisk)) return `volumes listed ${listed.join(' ')}, on disk ${onDisk.join(' ')}`;
  return undefined;
}

type Sandbox = { endpoints: { network: string; networkId: string; hostVeth: string; ip: string; chain?: string }[] };

const CUSTOM = '/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D';

/**
 * The network side: a sandbox record (namespace file, one endpoint per network), a host veth
 * per endpoint, an address on each of those networks and a nat chain for its published port
 * exist for each running container, and for nothing else; each user network the daemon lists
 * has its record and bridge, no network this run made and the daemon no longer lists has one;
 * one resolver runs while there are user networks, naming exactly the running containers on each.
 */
export async function networkMismatch(d: TestDaemon, running: string[], known: Known): Promise<string | undefined> {
  const states = running.map(short).join(' ');
  const netRoot = join(d.dataRoot, 'network');
  const records = dirs(join(netRoot, 'endpoints'));
  if (!same(records, running)) return `endpoint records ${records.map(short).join(' ')}, running: ${states}`;
  const sandboxes = new Map(records.map((id) => [id, JSON.parse(readFileSync(join(netRoot, 'endpoints', id, 'endpoint.json'), 'utf8')) as Sandbox]));
  const nsRoot = join(d.execRoot, 'netns');
  const nsFiles = dirs(nsRoot).flatMap((tag) => readdirSync(join(nsRoot, tag)));
  if (!same(nsFiles, running)) return `netns files ${nsFiles.map(short).join(' ')}, running: ${states}`;
  const ours = (prefix: string) => [...known.containers].some((id) => id.startsWith(prefix));
  const veths = d.inNetns('ip', ['-o', 'link', 'show', 'type', 'veth'])
    .split('\n')
    .map((l) => /^\d+: (vb[0-9a-f]{13})@/.exec(l)?.[1])
    .filter((v): v is string => v !== undefined && ours(v.slice(2, 11)));
  const wantVeths = [...sandboxes.values()].flatMap((sb) => sb.endpoints.map((e) => e.hostVeth));
  if (!same(veths, wantVeths)) return `host veths ${veths.join(' ')}, endpoints want ${wantVeths.join(' ')}, running: ${states}`;
  // Addresses: each network's allocations are the running containers with an endpoint on it.
  const netDirs = dirs(join(netRoot, 'networks'));
  for (const name of netDirs) {
    const ipamFile = join(netRoot, 'networks', name, 'ipam.json');
    // Written at the first allocation.
    const ipam = (existsSync(ipamFile) ? JSON.parse(readFileSync(ipamFile, 'utf8')) : { allocations: {} }) as { allocations: Record<string, { owner: string }> };
    const owners = Object.values(ipam.allocations).map((a) => a.owner);
    const on = [...sandboxes].filter(([, sb]) => sb.endpoints.some((e) => e.network === name)).map(([id]) => id);
    if (!same(owners, on)) return `addresses on ${name} held by ${owners.map(short).join(' ')}, endpoints there: ${on.map(short).join(' ')} (running: ${states})`;
  }
  const chains = d.inNetns('iptables-save', ['-t', 'nat'])
    .split('\n')
    .map((l) => /^:(BERTH-[0-9a-f]{6}-C-([0-9a-f]{12})) /.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && ours(m[2] as string))
    .map((m) => m[2] as string);
  const published = [...sandboxes].filter(([, sb]) => sb.endpoints.some((e) => e.chain)).map(([id]) => short(id));
  if (!same(chains, published)) return `port chains for ${chains.join(' ')}, endpoints publishing: ${published.join(' ')}`;

  // User networks: listed ⇔ recorded ⇔ bridge present.
  const list = await call(d, 'GET', CUSTOM);
  if (list === 'killed') return 'no network list';
  const listed = JSON.parse(list.body) as { Name: string; Id: string }[];
  for (const n of listed) known.networks.add(n.Id);
  if (!same(netDirs.filter((n) => n !== 'bridge'), listed.map((n) => n.Name))) return `network records ${netDirs.join(' ')}, listed: ${listed.map((n) => n.Name).join(' ')}`;
  const links = new Set(d.inNetns('ip', ['-o', 'link', 'show', 'type', 'bridge']).split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined));
  for (const id of known.networks) {
    const present = links.has(`br-${short(id)}`);
    const wanted = listed.some((n) => n.Id === id);
    if (present !== wanted) return `bridge br-${short(id)} ${present ? 'left behind' : 'missing'} (listed: ${listed.map((n) => n.Name).join(' ')})`;
  }
  // The resolver: one while user networks exist; its files name the running containers on each.
  const serving = resolverProcesses(d.execRoot);
  if (serving.length !== (listed.length > 0 ? 1 : 0)) return `${serving.length} resolver processes for ${listed.length} user networks`;
  const dnsRoot = join(d.execRoot, 'dns');
  for (const n of listed) {
    const file = dirs(dnsRoot).map((t) => join(dnsRoot, t, 'config', n.Id)).find((f) => existsSync(f));
    if (!file) return `no resolver file for network ${n.Name}`;
    const entries = readFileSync(file, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(' ')[0] as string);
    const on = [...sandboxes].filter(([, sb]) => sb.endpoints.some((e) => e.networkId === n.Id)).map(([id]) => id);
    if (!same(entries, on)) return `resolver entries on ${n.Name}: ${entries.map(short).join(' ')}, endpoints there: ${on.map(short).join(' ')}`;
  }
  return undefined;
}

/** Everything, in order; the first disagreement. */
export async function machineMismatch(d: TestDaemon, listed: Listed[], known: Known): Promise<string | undefined> {
  const running = listed.filter((c) => c.State === 'running' || c.State === 'paused').map((c) => c.Id);
  return (await containerMismatch(d, listed)) ?? (await volumeMismatch(d)) ?? (await networkMismatch(d, running, known));
}
