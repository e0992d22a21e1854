import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NetworkConfig } from '../engine/ports.js';
import { invalidParameter } from '../lib/errors.js';
import { cidrOverlaps, cidrWithin, formatCidr, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from './ipv4.js';
import { instanceTag } from './names.js';

/** The data root of a default install: its bridge is `berth0`, as dockerd's is `docker0`. */
const DEFAULT_DATA_ROOT = '/var/lib/berth';

/**
 * Default `bip` candidates: /16s of 10.0.0.0/8 away from docker0 (172.17.0.0/16), Docker's
 * default address pools (172.17–31.0.0/16, 192.168.0.0/16) and Podman's 10.88.0.0/16; the
 * first that no route of the host overlaps is taken, and then kept in the network's record.
 */
const CANDIDATES = Array.from({ length: 18 }, (_, i) => `10.${87 - i}.0.1/16`);

export type DefaultBridgeInput = {
  dataRoot: string;
  engineId: string;
  bip: string | undefined;
  /** dockerd's `bridge`: an existing bridge to use as found, `none`, or unset (berth makes one). */
  bridge: string | undefined;
  fixedCidr: string | undefined;
  mtu: number;
  icc: boolean;
  ipMasq: boolean;
  /** What the previous run set up (its record): kept when `bip` is not given. */
  recorded: NetworkConfig | undefined;
  /** IPv4 routes of the host (/proc/net/route), to find a free subnet. */
  routes: Ipv4Cidr[];
};

/** The default network `bridge`, or undefined when the daemon has none (`bridge: none`). */
export function defaultBridgeConfig(i: DefaultBridgeInput): NetworkConfig | undefined {
  if (i.bridge === 'none') return undefined;
  const external = i.bridge !== undefined && i.bridge !== '';
  const name = external ? (i.bridge as string) : defaultBridgeName(i.dataRoot);
  const id = createHash('sha256').update(`${i.engineId}/network/bridge`).digest('hex');
  const common = { name: 'bridge', id, bridge: name, external, mtu: i.mtu, icc: i.icc, ipMasq: i.ipMasq };
  if (external && i.bip === undefined) {
    // Its address is the gateway; the driver reads it from the bridge.
    return { ...common, subnet: '0.0.0.0/0', gateway: '0.0.0.0', ipRange: i.fixedCidr };
  }
  const bip = i.bip ?? keepOrPick(i);
  const cidr = parseCidr(bip, 'bip', true);
  const gateway = bip.split('/')[0] as string;
  if (parseIpv4(gateway) === cidr.base) throw invalidParameter(`invalid bip ${bip}: the bridge needs an address, not the network's own (such as ${formatIpv4(cidr.base + 1)}/${cidr.prefixLen})`);
  const subnet = formatCidr(cidr);
  if (i.fixedCidr !== undefined && !cidrWithin(parseCidr(i.fixedCidr, 'fixed-cidr', true), cidr)) {
    throw invalidParameter(`fixed-cidr ${i.fixedCidr} is not inside the bridge subnet ${subnet}`);
  }
  return { ...common, subnet, gateway, ipRange: i.fixedCidr === undefined ? undefined : formatCidr(parseCidr(i.fixedCidr, 'fixed-cidr', true)) };
}

export function defaultBridgeName(dataRoot: string): string {
  return dataRoot.replace(/\/+$/, '') === DEFAULT_DATA_ROOT ? 'berth0' : `berth-${instanceTag(dataRoot)}`;
}

function keepOrPick(i: DefaultBridgeInput): string {
  const r = i.recorded;
  if (r && !r.external && r.gateway !== '0.0.0.0') return `${r.gateway}/${parseCidr(r.subnet).prefixLen}`;
  const own = defaultBridgeName(i.dataRoot);
  for (const c of CANDIDATES) {
    const cidr = parseCidr(c, 'bip', true);
    if (!i.routes.some((route) => cidrOverlaps(route, cidr))) return c;
  }
  throw invalidParameter(`no free subnet for the default bridge ${own} (tried ${CANDIDATES[0]} to ${CANDIDATES[CANDIDATES.length - 1]}): set "bip"`);
}

/** The host's IPv4 routes but the default one, from /proc/net/route (no spawn). */
export function hostRoutes(text = readFileSync('/proc/net/route', 'utf8')): Ipv4Cidr[] {
  const out: Ipv4Cidr[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = leHex(f[1] as string);
    const mask = leHex(f[7] as string);
    if (mask === 0) continue;
    const prefixLen = 32 - Math.log2(((~mask >>> 0) + 1) >>> 0);
    if (!Number.isInteger(prefixLen)) continue;
    out.push({ base: (dest & mask) >>> 0, prefixLen });
  }
  return out;
}

/** /proc/net/route prints addresses as little-endian hex. */
function leHex(h: string): number {
  const n = Number.parseInt(h, 16);
  return (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | ((n >>> 24) & 0xff)) >>> 0;
}
