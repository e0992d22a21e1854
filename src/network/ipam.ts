import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../lib/atomic-file.js';
import { conflict, errnoCode, invalidParameter, messageOf, systemError, unavailable } from '../lib/errors.js';
import { Mutex } from '../lib/mutex.js';
import { cidrContains, cidrSize, cidrWithin, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from './ipv4.js';
import type { IpamPool } from '../engine/ports.js';

/** Where a network's addresses come from: dockerd's `bip` / `fixed-cidr`, or `--subnet`, `--gateway`, `--ip-range`. */
export type { IpamPool };

export type Allocation = { owner: string; static: boolean };

export type IpamState = {
  schemaVersion: 1;
  pool: IpamPool;
  /** Address → who holds it. */
  allocations: Record<string, Allocation>;
  /** The last dynamic address handed out: the next search starts after it, so a freed address is not reused at once (as Docker). */
  cursor: string | null;
};

type ParsedPool = { subnet: Ipv4Cidr; gateway: number; range: Ipv4Cidr };

export function parsePool(pool: IpamPool): ParsedPool {
  const subnet = parseCidr(pool.subnet);
  if (subnet.prefixLen > 30) throw invalidParameter(`subnet ${pool.subnet} is too small: it needs room for a gateway and a container`);
  const gateway = parseIpv4(pool.gateway);
  if (gateway === undefined) throw invalidParameter(`invalid gateway address: ${pool.gateway}`);
  if (!cidrContains(subnet, gateway) || gateway === subnet.base || gateway === subnet.base + cidrSize(subnet) - 1) {
    throw invalidParameter(`no matching subnet for gateway ${pool.gateway}`);
  }
  const range = pool.ipRange ? parseCidr(pool.ipRange, 'ip-range') : subnet;
  if (!cidrWithin(range, subnet)) throw invalidParameter(`ip-range ${pool.ipRange} is not within subnet ${pool.subnet}`);
  return { subnet, gateway, range };
}

export function emptyState(pool: IpamPool): IpamState {
  parsePool(pool);
  return { schemaVersion: 1, pool, allocations: {}, cursor: null };
}

function usable(p: ParsedPool, ip: number): boolean {
  const last = p.subnet.base + cidrSize(p.subnet) - 1;
  return cidrContains(p.subnet, ip) && ip !== p.subnet.base && ip !== last && ip !== p.gateway;
}

export function addressOf(state: IpamState, owner: string): string | undefined {
  for (const [ip, a] of Object.entries(state.allocations)) if (a.owner === owner) return ip;
  return undefined;
}

/**
 * Pure: the state after giving `owner` an address. An owner holds at most one address per
 * network; asking again returns the same one, so a retried allocation never takes two.
 */
export function allocate(
  state: IpamState,
  req: { owner: string; address?: string | undefined; networkName: string },
): { state: IpamState; address: string } {
  const p = parsePool(state.pool);
  const held = addressOf(state, req.owner);
  const allocations = { ...state.allocations };
  if (req.address !== undefined) {
    const ip = parseIpv4(req.address);
    if (ip === undefined) throw invalidParameter(`invalid IPv4 address: ${req.address}`);
    if (!usable(p, ip)) {
      throw invalidParameter(`Invalid address ${req.address}: It does not belong to any of this network's subnets`);
    }
    const other = allocations[req.address];
    if (other && other.owner !== req.owner) throw conflict('Address already in use');
    if (held !== undefined && held !== req.address) delete allocations[held];
    allocations[req.address] = { owner: req.owner, static: true };
    return { state: { ...state, allocations }, address: req.address };
  }
  if (held !== undefined) return { state, address: held };
  const size = cidrSize(p.range);
  const cursor = state.cursor !== null ? parseIpv4(state.cursor) : undefined;
  const start = cursor !== undefined && cidrContains(p.range, cursor) ? cursor - p.range.base + 1 : 0;
  for (let i = 0; i < size; i++) {
    const ip = p.range.base + ((start + i) % size);
    if (!usable(p, ip)) continue;
    const s = formatIpv4(ip);
    if (allocations[s]) continue;
    allocations[s] = { owner: req.owner, static: false };
    return { state: { ...state, allocations, cursor: s }, address: s };
  }
  throw unavailable(`no available IPv4 addresses on this network's address pools: ${req.networkName}`);
}

/** Pure: free what `owner` holds; a static address survives a stop (`keepStatic`), as Docker keeps `--ip`. */
export function release(state: IpamState, owner: string, opts: { keepStatic: boolean }): IpamState {
  const allocations: Record<string, Allocation> = {};
  let changed = false;
  for (const [ip, a] of Object.entries(state.allocations)) {
    if (a.owner === owner && !(a.static && opts.keepStatic)) changed = true;
    else allocations[ip] = a;
  }
  return changed ? { ...state, allocations } : state;
}

/**
 * Pure: free addresses whose owners lost the right to them while nobody watched (a container
 * that exited or was removed while berthd was down): a dynamic address belongs to a running
 * container, a static one to any container that still exists.
 */
export function reconcile(
  state: IpamState,
  live: { running: ReadonlySet<string>; existing: ReadonlySet<string> },
): { state: IpamState; freed: { address: string; owner: string }[] } {
  const allocations: Record<string, Allocation> = {};
  const freed: { address: string; owner: string }[] = [];
  for (const [ip, a] of Object.entries(state.allocations)) {
    const keep = a.static ? live.existing.has(a.owner) : live.running.has(a.owner);
    if (keep) allocations[ip] = a;
    else freed.push({ address: ip, owner: a.owner });
  }
  return { state: freed.length > 0 ? { ...state, allocations } : state, freed };
}

export function migrateIpam(raw: Record<string, unknown>): IpamState {
  if (raw['schemaVersion'] !== 1) throw new Error(`unknown IPAM schema version ${String(raw['schemaVersion'])}`);
  return raw as unknown as IpamState;
}

/**
 * One network's allocations in `<dir>/ipam.json`, written atomically before any address is
 * returned: after a kill -9 at any instant the file holds every address ever handed out and
 * not released, so none is handed out twice.
 */
export class IpamStore {
  readonly #file: string;
  readonly #dir: string;
  readonly #name: string;
  readonly #mutex = new Mutex();
  #state: IpamState;
  /** The pool the file held when it differed from the one asked for (a `bip` change). */
  readonly previousPool: IpamPool | undefined;

  private constructor(dir: string, name: string, state: IpamState, previousPool: IpamPool | undefined) {
    this.#dir = dir;
    this.#file = join(dir, 'ipam.json');
    this.#name = name;
    this.#state = state;
    this.previousPool = previousPool;
  }

  /** Read synchronously: at start-up, before anything else waits on the event loop. */
  static open(dir: string, networkName: string, pool: IpamPool): IpamStore {
    let state: IpamState | undefined;
    try {
      state = migrateIpam(JSON.parse(readFileSync(join(dir, 'ipam.json'), 'utf8')) as Record<string, unknown>);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw systemError(`cannot read the address allocations of network ${networkName}: ${messageOf(err)}`, err);
    }
    if (!state) return new IpamStore(dir, networkName, emptyState(pool), undefined);
    const key = (p: IpamPool) => `${p.subnet} ${p.gateway} ${p.ipRange ?? ''}`;
    const same = key(state.pool) === key(pool);
    parsePool(pool);
    // Allocations of the old pool stay until their owners let go: the engine refuses to adopt
    // containers on a network whose pool changed, and their teardown releases them.
    return new IpamStore(dir, networkName, same ? state : { ...state, pool }, same ? undefined : state.pool);
  }

  get state(): IpamState {
    return this.#state;
  }

  addressOf(owner: string): string | undefined {
    return addressOf(this.#state, owner);
  }

  allocate(owner: string, address?: string): Promise<string> {
    return this.#mutex.run(async () => {
      const r = allocate(this.#state, { owner, address, networkName: this.#name });
      if (r.state !== this.#state) await this.#write(r.state);
      return r.address;
    });
  }

  release(owner: string, opts: { keepStatic: boolean }): Promise<void> {
    return this.#mutex.run(async () => {
      const next = release(this.#state, owner, opts);
      if (next !== this.#state) await this.#write(next);
    });
  }

  reconcile(live: { running: ReadonlySet<string>; existing: ReadonlySet<string> }): Promise<{ address: string; owner: string }[]> {
    return this.#mutex.run(async () => {
      const r = reconcile(this.#state, live);
      if (r.state !== this.#state || this.previousPool) await this.#write(r.state);
      return r.freed;
    });
  }

  async #write(next: IpamState): Promise<void> {
    await ensureDir(this.#dir);
    await writeFileAtomic(this.#file, JSON.stringify(next));
    this.#state = next;
  }
}
