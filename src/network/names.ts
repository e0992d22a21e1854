import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { invalidParameter } from '../lib/errors.js';

/**
 * Names of the kernel objects one berthd instance owns. Two daemons on one host (different
 * data roots) must never touch each other's: chains carry a tag derived from the data root,
 * netns files live under the instance's exec-root, and a veth is named after a container id,
 * which is random.
 */
export function instanceTag(dataRoot: string): string {
  return createHash('sha256').update(dataRoot).digest('hex').slice(0, 6);
}

/** Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL). */
export const IFNAMSIZ_MAX = 15;

export function hostVethName(containerId: string): string {
  if (!/^[0-9a-f]{11,}$/.test(containerId)) throw invalidParameter(`not a container id: ${containerId}`);
  return `vb${containerId.slice(0, 11)}`;
}

/**
 * Under the instance's own folder: daemons on different data roots may share an exec-root,
 * and one cleaning the namespaces it has no record of must not touch the other's.
 */
export function netnsDir(execRoot: string, tag: string): string {
  return join(execRoot, 'netns', tag);
}

export function netnsPath(execRoot: string, tag: string, containerId: string): string {
  return join(netnsDir(execRoot, tag), containerId);
}

/** iptables chain names are at most 28 characters (XT_EXTENSION_MAXNAMELEN 29 with the NUL). */
export const CHAIN_NAME_MAX = 28;

export type ChainNames = {
  /** nat: jumped to from PREROUTING and OUTPUT for local destinations; jumps to each container's chain. */
  dnat: string;
  /** nat: jumped to from POSTROUTING; outbound masquerade, loopback and hairpin masquerade. */
  post: string;
  /** filter: jumped to from the top of FORWARD. */
  forward: string;
  /** Every chain of this instance starts with this. */
  prefix: string;
  /** Per-container chain prefix (nat, DNAT rules of its published ports). */
  containerPrefix: string;
};

export function chainNames(tag: string): ChainNames {
  const prefix = `BERTH-${tag}-`;
  return { prefix, dnat: `${prefix}DNAT`, post: `${prefix}POST`, forward: `${prefix}FWD`, containerPrefix: `${prefix}C-` };
}

export function containerChain(tag: string, containerId: string): string {
  const name = `${chainNames(tag).containerPrefix}${containerId.slice(0, 12)}`;
  if (name.length > CHAIN_NAME_MAX) throw new Error(`chain name too long: ${name}`);
  return name;
}
