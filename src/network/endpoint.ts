import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errnoCode, systemError } from '../lib/errors.js';
import { isNoSuchDevice, type NetCommands } from './commands.js';
import type { InterfaceStats } from '../engine/ports.js';

/** One container's attachment to a bridge: a persistent netns file and a veth pair. */
export type EndpointSpec = {
  /** A bind mount of the namespace under exec-root: it lives without berthd, and runc joins it by path. */
  netnsPath: string;
  hostVeth: string;
  bridge: string;
  ifName: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  mtu: number;
  /** The container's default route goes through this interface (one per namespace). */
  defaultRoute: boolean;
};

export type { InterfaceStats };

/**
 * Pure: what runs inside the namespace. Creating the veth from inside puts `eth0` where it
 * belongs at once and sends the peer to berthd's namespace (by berthd's pid: berthd may itself
 * run in a namespace other than the host's). Every line but `link add` is idempotent.
 */
export function insideLines(s: EndpointSpec, o: { createVeth: boolean; peerNetnsPid: number }): string[] {
  return [
    'link set dev lo up',
    ...(o.createVeth
      ? [`link add ${s.ifName} address ${s.mac} mtu ${s.mtu} type veth peer name ${s.hostVeth} mtu ${s.mtu} netns ${o.peerNetnsPid}`]
      : [`link set dev ${s.ifName} address ${s.mac} mtu ${s.mtu}`]),
    `addr replace ${s.ip}/${s.prefixLen} dev ${s.ifName}`,
    `link set dev ${s.ifName} up`,
    // Another network's interface reaches only its subnet (the kernel's route for the address).
    ...(s.defaultRoute ? [`route replace default via ${s.gateway} dev ${s.ifName}`] : []),
  ];
}

/** Move the default route to another interface (its network took over as the gateway). One spawn. */
export async function setDefaultRoute(cmds: NetCommands, netnsPath: string, s: { ifName: string; gateway: string }): Promise<void> {
  const r = await cmds.ipIn(netnsPath, 'enter', [`route replace default via ${s.gateway} dev ${s.ifName}`]);
  if (!r.ok) throw systemError(`cannot set the default route of ${netnsPath}: ${r.stderr.trim()}`);
}

/**
 * Pure: the host side. Hairpin mode lets a container reach its own published port through
 * the gateway: with br_netfilter on, the DNAT happens while the frame is being bridged and the
 * rewritten frame must go back out of the port it came in by.
 */
export function hostLines(s: EndpointSpec): string[] {
  return [`link set dev ${s.hostVeth} master ${s.bridge} up`, `link set dev ${s.hostVeth} type bridge_slave hairpin on`];
}

/** Interface names in berthd's namespace. /proc/self/net follows the reader's namespace; /sys/class/net follows sysfs's mount. */
export function localLinks(): Set<string> {
  return new Set(Object.keys(parseNetDev(readFileSync('/proc/self/net/dev', 'utf8'))));
}

let nsfsDev: number | undefined;

/** Whether `path` is a bind mount of a network namespace (nsfs), without a spawn. */
export function isNetnsMounted(path: string): boolean {
  nsfsDev ??= statSync('/proc/self/ns/net').dev;
  try {
    return statSync(path).dev === nsfsDev;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** The namespace's inode number (what `ip netns identify` and /proc/<pid>/ns/net name), or undefined. */
export function netnsInode(path: string): number | undefined {
  return isNetnsMounted(path) ? statSync(path).ino : undefined;
}

/**
 * Make the endpoint; two spawns when nothing exists yet. The namespace is made at the first
 * interface and reused by the next ones (one per network). Leftovers of an attempt cut short
 * (netns without veth, veth without netns) are completed or replaced; an endpoint already in
 * place is re-asserted without being recreated (the same two spawns, nothing changes).
 */
export async function createEndpoint(cmds: NetCommands, s: EndpointSpec): Promise<{ created: boolean }> {
  const links = localLinks();
  const mounted = isNetnsMounted(s.netnsPath);
  if (mounted && links.has(s.hostVeth)) {
    const r = await cmds.ipIn(s.netnsPath, 'enter', insideLines(s, { createVeth: false, peerNetnsPid: process.pid }));
    if (r.ok) {
      await cmds.must(`cannot attach ${s.hostVeth} to ${s.bridge}`, 'ip', ['-batch', '-'], `${hostLines(s).join('\n')}\n`);
      return { created: false };
    }
    // The host end is not this namespace's interface: replace it. The namespace stays (the
    // container may run in it, with its other interfaces).
    await removeLinks(cmds, [s.hostVeth]);
  } else if (links.has(s.hostVeth)) {
    await removeLinks(cmds, [s.hostVeth]);
  }
  if (!mounted) {
    mkdirSync(dirname(s.netnsPath), { recursive: true, mode: 0o700 });
    closeSync(openSync(s.netnsPath, 'a', 0o600));
  }
  const lines = insideLines(s, { createVeth: true, peerNetnsPid: process.pid });
  const r = await cmds.ipIn(s.netnsPath, mounted ? 'enter' : 'create', lines);
  if (!r.ok) throw systemError(`cannot set up the network namespace ${s.netnsPath}: ${r.stderr.trim()}`);
  await cmds.must(`cannot attach ${s.hostVeth} to ${s.bridge}`, 'ip', ['-batch', '-'], `${hostLines(s).join('\n')}\n`);
  return { created: true };
}

/** A container's namespace and the host ends of its veths (one per network). */
export type SandboxLinks = { netnsPath: string; hostVeths: string[] };

/**
 * Idempotent: deleting the host ends removes the pairs; then the namespace file is unmounted
 * and removed. What is already gone costs no spawn. The veths are deleted explicitly rather
 * than left to die with the namespace: a copy of the mount in another mount namespace would
 * keep the namespace (and its addresses on the bridges) alive.
 */
export function removeEndpoint(cmds: NetCommands, s: SandboxLinks): Promise<void> {
  return removeEndpoints(cmds, [s]);
}

/** Host veths only (one network left, the namespace stays with the running container): one spawn, none if they are gone. */
export async function removeLinks(cmds: NetCommands, veths: string[]): Promise<void> {
  const links = localLinks();
  const doomed = veths.filter((v) => v !== '' && links.has(v));
  if (doomed.length === 0) return;
  const r = await cmds.exec('ip', ['-force', '-batch', '-'], `${doomed.map((v) => `link del dev ${v}`).join('\n')}\n`);
  const errors = r.stderr.split('\n').filter((l) => l.trim() !== '' && !isNoSuchDevice(l) && !/^Command failed/.test(l));
  if (!r.ok && errors.length > 0) throw systemError(`cannot delete ${doomed.join(', ')}: ${errors.join('; ')}`);
}

/** Many at once (the restore pass after many exits): one `ip -batch` and one `umount` for all. */
export async function removeEndpoints(cmds: NetCommands, list: SandboxLinks[]): Promise<void> {
  await removeLinks(cmds, list.flatMap((s) => s.hostVeths));
  const mounted = list.map((s) => s.netnsPath).filter((p) => isNetnsMounted(p));
  if (mounted.length > 0) {
    const r = await cmds.exec('umount', mounted);
    const errors = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/not mounted|no mount point/.test(l));
    if (!r.ok && errors.length > 0) throw systemError(`cannot unmount network namespaces: ${errors.join('; ')}`);
  }
  for (const s of list) rmSync(s.netnsPath, { force: true });
}

/** /proc/net/dev → counters per interface. */
export function parseNetDev(text: string): Record<string, InterfaceStats> {
  const out: Record<string, InterfaceStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out[name] = {
      rxBytes: f[0] ?? 0,
      rxPackets: f[1] ?? 0,
      rxErrors: f[2] ?? 0,
      rxDropped: f[3] ?? 0,
      txBytes: f[8] ?? 0,
      txPackets: f[9] ?? 0,
      txErrors: f[10] ?? 0,
      txDropped: f[11] ?? 0,
    };
  }
  return out;
}

/**
 * The counters of the interfaces inside a namespace. With a pid inside it (the container's),
 * /proc/<pid>/net/dev answers without a spawn; otherwise one `nsenter ... cat`.
 */
export async function namespaceStats(cmds: NetCommands, netnsPath: string, pid?: number): Promise<Record<string, InterfaceStats>> {
  let text: string | undefined;
  if (pid !== undefined) {
    try {
      text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
    } catch {
      text = undefined;
    }
  }
  if (text === undefined) {
    const r = await cmds.must('cannot read interface counters', 'nsenter', [`--net=${netnsPath}`, 'cat', '/proc/net/dev']);
    text = r.stdout;
  }
  const all = parseNetDev(text);
  delete all['lo'];
  return all;
}
