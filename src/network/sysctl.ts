import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../lib/errors.js';
import { ensureDir, writeFileAtomic } from '../lib/atomic-file.js';

/**
 * /proc/sys/net follows the network namespace of the process that opens it, so berthd sets
 * its own namespace's values without a spawn (and right when it runs in a namespace of its
 * own).
 */
export function readSysctl(...path: string[]): string | undefined {
  try {
    return readFileSync(join('/proc/sys', ...path), 'utf8').trim();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export function writeSysctl(path: string[], value: string): void {
  writeFileSync(join('/proc/sys', ...path), value);
}

const IP_FORWARD = ['net', 'ipv4', 'ip_forward'];

export type HostNetState = { schemaVersion: 1; ipForwardBefore?: string };

/** Put back the forwarding setting recorded before berth changed it (admin cleanup). */
export function restoreIpForward(stateDir: string): string | undefined {
  const before = readHostState(stateDir).ipForwardBefore;
  if (before !== undefined) writeSysctl(IP_FORWARD, before);
  return before;
}

/**
 * Turn on IPv4 forwarding (containers going out, and the hairpin path: with br_netfilter the
 * DNATed frame is routed back onto the bridge, which needs forwarding) and remember, once,
 * what it was before berth changed it, for the admin cleanup to put back.
 */
export async function enableIpForward(stateDir: string): Promise<{ changed: boolean; before: string | undefined }> {
  const before = readSysctl(...IP_FORWARD);
  if (before === '1') return { changed: false, before };
  const file = join(stateDir, 'host.json');
  const state = readHostState(stateDir);
  if (state.ipForwardBefore === undefined && before !== undefined) {
    await ensureDir(stateDir);
    await writeFileAtomic(file, JSON.stringify({ ...state, ipForwardBefore: before }));
  }
  writeSysctl(IP_FORWARD, '1');
  return { changed: true, before };
}

export function readHostState(stateDir: string): HostNetState {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'host.json'), 'utf8')) as HostNetState;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { schemaVersion: 1 };
    throw err;
  }
}

/** Let packets with a loopback source leave by this bridge: 127.0.0.1:port DNATed to a container. */
export function enableRouteLocalnet(bridge: string): void {
  // Segments, not a dotted key: interface names may contain dots (br.10).
  const path = ['net', 'ipv4', 'conf', bridge, 'route_localnet'];
  if (readSysctl(...path) !== '1') writeSysctl(path, '1');
}
