// Named network namespaces cabled to one switch, for the multi-node swarm bench's dockerd
// cluster: the same layout as the berth test harness (test/helpers/swarm-cluster.ts). The
// switch is a bridge in a namespace of its own, because the root namespace's FORWARD policy
// may be DROP with br_netfilter on, which would drop bridged frames there. Nothing of the
// host's own network changes: every link lives inside a namespace made here.
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { killQuietly, run } from './util.mjs';

async function ipBatch(netns, lines) {
  const r = await run('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`ip ${netns ? `-n ${netns} ` : ''}-batch: ${r.stderr.trim()}\n${lines.join('\n')}`);
}

/** The inode of /run/netns/<name>, which identifies it in /proc/<pid>/ns/net; undefined if absent. */
export function netnsInode(name) {
  try {
    return statSync(`/run/netns/${name}`).ino;
  } catch {
    return undefined;
  }
}

/**
 * `ip netns add` for the switch and each node, the bridge br0 in the switch, and for each node
 * a veth `eth0` (address `ip`/24) whose other end (`port`, at most 15 characters) is on br0.
 * Returns the namespaces' inodes by name.
 */
export async function makeSwitch(switchNs, nodes) {
  const inodes = {};
  for (const ns of [switchNs, ...nodes.map((n) => n.netns)]) {
    const r = await run('ip', ['netns', 'add', ns], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr.trim()}`);
    inodes[ns] = netnsInode(ns);
  }
  await ipBatch(switchNs, ['link set lo up', 'link add br0 type bridge', 'link set br0 up']);
  for (const n of nodes) {
    await ipBatch(n.netns, ['link set lo up', `link add eth0 type veth peer name ${n.port} netns ${switchNs}`, `addr add ${n.ip}/24 dev eth0`, 'link set eth0 up']);
  }
  await ipBatch(switchNs, nodes.flatMap((n) => [`link set ${n.port} master br0`, `link set ${n.port} up`]));
  return inodes;
}

/** PIDs of live processes whose network namespace has one of these inodes. */
export function processesInNetns(inodes) {
  const wanted = new Set(inodes.filter(Boolean).map((ino) => `net:[${ino}]`));
  const out = [];
  if (wanted.size === 0) return out;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (wanted.has(readlinkSync(`/proc/${pid}/ns/net`))) out.push(Number(pid));
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

/** SIGKILL whatever still runs in these namespaces (only ever processes of ours); their PIDs. */
export function killInNetns(inodes) {
  const pids = processesInNetns(inodes);
  for (const pid of pids) killQuietly(pid);
  return pids;
}

/** `ip netns del` of each that exists; notes of failures. */
export async function deleteNetns(names) {
  const notes = [];
  for (const ns of names) {
    if (netnsInode(ns) === undefined) continue;
    const r = await run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
    if (r.code !== 0) notes.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
  }
  return notes;
}

/** Names in `ip netns list` that start with `base`. */
export async function netnsWithPrefix(base) {
  const r = await run('ip', ['netns', 'list'], { timeoutMs: 10_000 });
  return r.stdout.split('\n').map((l) => l.trim().split(' ')[0]).filter((n) => n && n.startsWith(base));
}
