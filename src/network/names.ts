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

/**
 * The host end of a container's veth on a network: `vb` + 9 hex of the container id + 4 of
 * the network id (15 bytes), one per (container, network) so that a container on several
 * networks has one per interface. Records made before user networks named the one endpoint
 * `vb` + 11 hex of the container id ({@link legacyHostVethName}); records keep the name they
 * were made with.
 */
export function hostVethName(containerId: string, networkId: string): string {
  if (!/^[0-9a-f]{11,}$/.test(containerId)) throw invalidParameter(`not a container id: ${containerId}`);
  if (!/^[0-9a-f]{4,}$/.test(networkId)) throw invalidParameter(`not a network id: ${networkId}`);
  return `vb${containerId.slice(0, 9)}${networkId.slice(0, 4)}`;
}

export function legacyHostVethName(containerId: string): string {
  if (!/^[0-9a-f]{11,}$/.test(containerId)) throw invalidParameter(`not a container id: ${containerId}`);
  return `vb${containerId.slice(0, 11)}`;
}

/** Host veths that may belong to a container (any network, either naming), for cleanups without a record. */
export function isHostVethOf(link: string, containerId: string): boolean {
  return link.length <= IFNAMSIZ_MAX && (link === `vb${containerId.slice(0, 11)}` || (link.length === 15 && link.startsWith(`vb${containerId.slice(0, 9)}`)));
}

/** A user network's bridge when `com.docker.network.bridge.name` does not name one: `br-` + 12 hex of its id, as dockerd's. */
export function userBridgeName(networkId: string): string {
  return `br-${networkId.slice(0, 12)}`;
}

/** The resolver's folder (its config, its record), per instance like the netns folder. */
export function resolverDir(execRoot: string, tag: string): string {
  return join(execRoot, 'dns', tag);
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
  /** filter: traffic leaving one network for another of this instance's bridges is dropped here. */
  isolation: string;
  /** filter: jumped to from the top of INPUT; lets containers reach the resolver on their gateway. */
  input: string;
};

export function chainNames(tag: string): ChainNames {
  const prefix = `BERTH-${tag}-`;
  return { prefix, dnat: `${prefix}DNAT`, post: `${prefix}POST`, forward: `${prefix}FWD`, containerPrefix: `${prefix}C-`, isolation: `${prefix}ISO`, input: `${prefix}IN` };
}

export function containerChain(tag: string, containerId: string): string {
  const name = `${chainNames(tag).containerPrefix}${containerId.slice(0, 12)}`;
  if (name.length > CHAIN_NAME_MAX) throw new Error(`chain name too long: ${name}`);
  return name;
}
