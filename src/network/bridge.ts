import { createHash } from 'node:crypto';
import { systemError, invalidParameter } from '../lib/errors.js';
import { isNoSuchDevice, type NetCommands } from './commands.js';

export type BridgeSpec = { name: string; mac: string; mtu: number; gateway: string; prefixLen: number };

export type LinkState = {
  kind: string | undefined;
  mac: string;
  mtu: number;
  up: boolean;
  addresses: { ip: string; prefixLen: number }[];
};

/**
 * A fixed MAC for berth's bridge, derived from the instance and the bridge name so that it is
 * the same on every run. Set explicitly, it never changes: a bridge left to itself takes the
 * lowest MAC among its ports, so containers joining and leaving would change it under the
 * running ones and leave stale ARP entries (~20 s of lost traffic measured with netavark 1.4).
 * Locally administered, unicast, and never 02:42 (the prefix of container MACs).
 */
export function bridgeMac(tag: string, name: string): string {
  const h = createHash('sha256').update(`${tag}/${name}`).digest();
  const bytes = [0x02, 0xb7, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** One spawn: the link with its addresses, or undefined if there is none. */
export async function inspectLink(cmds: NetCommands, name: string): Promise<LinkState | undefined> {
  const r = await cmds.exec('ip', ['-j', '-d', 'addr', 'show', 'dev', name]);
  if (!r.ok) {
    if (isNoSuchDevice(r.stderr)) return undefined;
    throw systemError(`cannot inspect ${name}: ${r.stderr.trim()}`);
  }
  return parseLinkJson(r.stdout);
}

export function parseLinkJson(text: string): LinkState | undefined {
  const arr = JSON.parse(text) as {
    address?: string;
    mtu?: number;
    flags?: string[];
    linkinfo?: { info_kind?: string };
    addr_info?: { family?: string; local?: string; prefixlen?: number }[];
  }[];
  const l = arr[0];
  if (!l) return undefined;
  return {
    kind: l.linkinfo?.info_kind,
    mac: (l.address ?? '').toLowerCase(),
    mtu: l.mtu ?? 0,
    up: (l.flags ?? []).includes('UP'),
    addresses: (l.addr_info ?? [])
      .filter((a) => a.family === 'inet' && a.local !== undefined)
      .map((a) => ({ ip: a.local ?? '', prefixLen: a.prefixlen ?? 32 })),
  };
}

/** Pure: the `ip -batch` lines that bring an existing (or missing) bridge to `spec`; none if it is already there. */
export function bridgePlan(spec: BridgeSpec, seen: LinkState | undefined): string[] {
  if (!seen) {
    return [
      // The address given at creation counts as set by the user: the kernel never changes it.
      `link add ${spec.name} address ${spec.mac} mtu ${spec.mtu} type bridge`,
      `addr replace ${spec.gateway}/${spec.prefixLen} dev ${spec.name}`,
      `link set dev ${spec.name} up`,
    ];
  }
  if (seen.kind !== 'bridge') throw invalidParameter(`cannot use ${spec.name} as a bridge: it exists and is a ${seen.kind ?? 'plain'} link`);
  const lines: string[] = [];
  if (seen.mac !== spec.mac) lines.push(`link set dev ${spec.name} address ${spec.mac}`);
  if (seen.mtu !== spec.mtu) lines.push(`link set dev ${spec.name} mtu ${spec.mtu}`);
  if (!seen.addresses.some((a) => a.ip === spec.gateway && a.prefixLen === spec.prefixLen)) {
    lines.push(`addr replace ${spec.gateway}/${spec.prefixLen} dev ${spec.name}`);
  }
  if (!seen.up) lines.push(`link set dev ${spec.name} up`);
  return lines;
}

/**
 * Create berth's bridge, or adopt it as it is when a previous run made it: a second apply
 * changes nothing (one spawn to look, none to write). Whatever differs from the spec (an
 * address removed by hand, a MAC changed) is put back.
 */
export async function ensureBridge(
  cmds: NetCommands,
  spec: BridgeSpec,
): Promise<{ action: 'created' | 'adopted' | 'repaired'; changes: string[] }> {
  const seen = await inspectLink(cmds, spec.name);
  const lines = bridgePlan(spec, seen);
  if (lines.length > 0) await cmds.must(`cannot set up bridge ${spec.name}`, 'ip', ['-batch', '-'], `${lines.join('\n')}\n`);
  return { action: !seen ? 'created' : lines.length === 0 ? 'adopted' : 'repaired', changes: seen ? lines : [] };
}

/** A bridge berth did not make (the `bridge` daemon option): used as found, never changed. */
export async function inspectExternalBridge(cmds: NetCommands, name: string): Promise<LinkState & { gateway: string; prefixLen: number }> {
  const seen = await inspectLink(cmds, name);
  if (!seen) throw invalidParameter(`bridge ${name} does not exist`);
  if (seen.kind !== 'bridge') throw invalidParameter(`${name} is not a bridge`);
  const addr = seen.addresses[0];
  if (!addr) throw invalidParameter(`bridge ${name} has no IPv4 address`);
  return { ...seen, gateway: addr.ip, prefixLen: addr.prefixLen };
}

/** Idempotent: a bridge that is already gone counts as removed. */
export async function removeBridge(cmds: NetCommands, name: string): Promise<void> {
  const r = await cmds.exec('ip', ['link', 'del', 'dev', name]);
  if (!r.ok && !isNoSuchDevice(r.stderr)) throw systemError(`cannot remove bridge ${name}: ${r.stderr.trim()}`);
}
