import type { AddressPool } from '../engine/ports.js';
import { unavailable } from '../lib/errors.js';
import { cidrOverlaps, cidrSize, formatCidr, formatIpv4, parseCidr, type Ipv4Cidr } from './ipv4.js';

/**
 * dockerd's default address pools for local networks, used when the daemon has no
 * `default-address-pools`: a /16 at a time from 172.17–31, then /20s of 192.168. berth's
 * default bridge stays out of them (it takes a 10.x/16), so these are the user networks'.
 */
export const DOCKER_DEFAULT_POOLS: readonly AddressPool[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

/**
 * Pure: the first block of the pools (in order, each cut into blocks of its `size`) that
 * overlaps nothing taken — this daemon's networks and every route of the host, so another
 * engine's bridges (docker0, dockerd's networks, another berthd's) are left alone. The
 * gateway is the block's first address, as Docker's.
 */
export function pickSubnet(pools: readonly AddressPool[], taken: readonly Ipv4Cidr[]): { subnet: string; gateway: string } {
  for (const pool of pools.length > 0 ? pools : DOCKER_DEFAULT_POOLS) {
    // A network needs room for a gateway and a container (ipam.ts refuses smaller ones).
    if (pool.size > 30) continue;
    const base = parseCidr(pool.base, 'address pool', true);
    const step = 2 ** (32 - pool.size);
    const count = cidrSize(base) / step;
    for (let i = 0; i < count; i++) {
      const block: Ipv4Cidr = { base: base.base + i * step, prefixLen: pool.size };
      if (taken.some((t) => cidrOverlaps(t, block))) continue;
      return { subnet: formatCidr(block), gateway: formatIpv4(block.base + 1) };
    }
  }
  throw unavailable('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}
