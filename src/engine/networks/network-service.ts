import type { EventBus } from '../events.js';
import type { AddressPool, NetworkConfig, NetworkDriver, NetworkInfo } from '../ports.js';
import type { ConnectRequest } from '../containers/networks.js';
import { BerthError, conflict, forbidden, invalidParameter, isKind, messageOf, notFound } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { Logger } from '../../lib/logger.js';
import { Mutex } from '../../lib/mutex.js';

/** A network as the API shows it: the built-in `bridge`, `host` and `none`, and user networks. */
export type NetworkView = {
  name: string;
  id: string;
  driver: 'null' | 'host' | 'bridge';
  /** RFC 3339 with nanoseconds, as dockerd prints it; the zero time for built-in ones it has no date for. */
  created: string;
  builtin: boolean;
  internal: boolean;
  attachable: boolean;
  ipam?: { subnet: string; gateway: string; ipRange?: string | undefined };
  ipamOptions: Record<string, string> | null;
  options: Record<string, string>;
  labels: Record<string, string>;
};

/** `docker network create` in the engine's terms (the API translates Docker's JSON into this). */
export type NetworkCreateRequest = {
  name: string;
  driver: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  enableIPv6: boolean;
  enableIPv4: boolean;
  configOnly: boolean;
  configFrom: string;
  ipamDriver: string;
  ipam: { subnet?: string | undefined; gateway?: string | undefined; ipRange?: string | undefined; auxAddresses?: Record<string, string> | undefined }[];
  ipamOptions: Record<string, string>;
  options: Record<string, string>;
  labels: Record<string, string>;
};

/** What the network service needs of the containers (ContainerService, by its lock). */
export type NetworkContainers = {
  connectNetwork(ref: string, network: string, req: ConnectRequest): Promise<{ id: string; name: string; network: string; networkId: string }>;
  disconnectNetwork(ref: string, network: string, force: boolean): Promise<{ id: string; name: string; network: string }>;
  nameOf(id: string): string | undefined;
};

export type NetworkServiceDeps = {
  driver: NetworkDriver;
  containers: () => NetworkContainers;
  events: EventBus;
  log: Logger;
  /** The daemon's `default-address-pools` and `mtu`. */
  defaults: () => { pools: readonly AddressPool[]; mtu: number };
  /** The built-in networks as the daemon has them (`bridge` unless `bridge: none`, `host`, `none`). */
  builtins: () => NetworkView[];
};

const BRIDGE_NAME = 'com.docker.network.bridge.name';
const ICC = 'com.docker.network.bridge.enable_icc';
const MASQ = 'com.docker.network.bridge.enable_ip_masquerade';
const MTU = 'com.docker.network.driver.mtu';
/** dockerd's bridge options berth does not implement: refused by name rather than ignored. */
const UNSUPPORTED_OPTIONS = [
  'com.docker.network.bridge.host_binding_ipv4',
  'com.docker.network.bridge.default_bridge',
  'com.docker.network.bridge.inhibit_ipv4',
  'com.docker.network.bridge.gateway_mode_ipv4',
  'com.docker.network.bridge.gateway_mode_ipv6',
  'com.docker.network.bridge.trusted_host_interfaces',
  'com.docker.network.container_iface_prefix',
  'com.docker.network.enable_ipv6',
];
/** Drivers dockerd has that berth does not: refused by name. Any other name is dockerd's missing plugin. */
const KNOWN_DRIVERS = ['overlay', 'macvlan', 'ipvlan', 'host', 'null', 'none'];

const PREDEFINED = ['bridge', 'host', 'none'];

const MAX_NAME = 245;

/**
 * The networks: `docker network create/ls/inspect/rm/prune/connect/disconnect` on top of the
 * NetworkDriver port. Creates and removals are serialised (names and subnets are chosen
 * against what exists); a container's side of connect/disconnect is the container service's,
 * under the container's lock. Events as dockerd's: create, connect, disconnect, destroy.
 */
export class NetworkService {
  readonly #d: NetworkServiceDeps;
  readonly #mutex = new Mutex();

  constructor(deps: NetworkServiceDeps) {
    this.#d = deps;
  }

  list(): NetworkView[] {
    const user = this.#d.driver.networks().filter((n) => n.user !== undefined).map(viewOf);
    return [...this.#d.builtins(), ...user];
  }

  /** As dockerd looks one up: full id, name, then a unique id prefix. */
  find(ref: string): NetworkView {
    const all = this.list();
    const n = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref);
    if (n) return n;
    const byPrefix = ref.length > 0 ? all.filter((x) => x.id.startsWith(ref)) : [];
    if (byPrefix.length > 1) throw notFound(`network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
    if (byPrefix[0]) return byPrefix[0];
    throw notFound(`network ${ref} not found`);
  }

  /** Running containers' endpoints on a network, as inspect's `Containers` lists them. */
  attached(name: string): { id: string; name: string; endpointId: string; mac: string; ipv4: string }[] {
    const c = this.#d.containers();
    return this.#d.driver.endpoints(name).map((e) => ({
      id: e.containerId,
      name: c.nameOf(e.containerId) ?? '',
      endpointId: e.endpointId,
      mac: e.mac,
      ipv4: `${e.ip}/${e.prefixLen}`,
    }));
  }

  create(req: NetworkCreateRequest): Promise<{ id: string; warning: string }> {
    return this.#mutex.run(async () => {
      const cfg = this.#configOf(req);
      try {
        await this.#d.driver.ensureNetwork(cfg);
      } catch (err) {
        // Nothing of a network that failed to come up is left, as a refused create.
        await this.#d.driver.removeNetwork(cfg.name).catch((e: unknown) => {
          if (!isKind(e, 'NotFound')) this.#d.log.warn({ network: cfg.name, err: messageOf(e) }, 'cannot remove a network whose creation failed');
        });
        throw err;
      }
      this.#d.events.emit('network', 'create', cfg.id, { name: cfg.name, type: 'bridge' });
      return { id: cfg.id, warning: '' };
    });
  }

  #configOf(req: NetworkCreateRequest): NetworkConfig {
    const name = req.name;
    if (name === '') throw invalidParameter('network name is empty');
    if (PREDEFINED.includes(name)) throw forbidden(`operation is not permitted on predefined ${name} network`);
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidParameter(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    // The network's folder is named after it, and its removal renames it `.removing-<name>`:
    // both must fit NAME_MAX (255). Docker sets no limit, but no one names a network so long.
    if (name.length > MAX_NAME) throw invalidParameter(`invalid network name "${name.slice(0, 32)}…": longer than ${MAX_NAME} characters`);
    if (this.list().some((n) => n.name === name)) throw conflict(`network with name ${name} already exists`);
    const driver = req.driver === '' ? 'bridge' : req.driver;
    if (driver !== 'bridge') {
      if (driver === 'null' || driver === 'host') throw forbidden(`only one instance of "${driver}" network is allowed`);
      if (KNOWN_DRIVERS.includes(driver)) throw invalidParameter(`network driver "${driver}" is not supported by berth: only "bridge" networks can be created`);
      throw notFound(`plugin "${driver}" not found`);
    }
    if (req.ingress || req.configOnly || req.configFrom !== '') throw invalidParameter('ingress, config-only and config-from networks need swarm mode, which berth does not have');
    if (req.enableIPv6 || req.ipam.some((c) => c.subnet?.includes(':') || c.gateway?.includes(':'))) throw invalidParameter('IPv6 networks are not supported by berth yet');
    if (!req.enableIPv4) throw invalidParameter('IPv4 cannot be disabled on berth networks');
    if (req.ipamDriver !== '' && req.ipamDriver !== 'default') throw invalidParameter(`IPAM driver "${req.ipamDriver}" is not supported by berth: only "default"`);
    if (req.ipam.length > 1) throw invalidParameter('berth networks have one IPv4 subnet: more than one IPAM config given');
    for (const key of Object.keys(req.options)) {
      if (UNSUPPORTED_OPTIONS.includes(key)) throw invalidParameter(`network option ${key} is not supported by berth`);
    }
    const ipam = req.ipam[0] ?? {};
    if (ipam.auxAddresses && Object.keys(ipam.auxAddresses).length > 0) throw invalidParameter('auxiliary addresses are not supported by berth');
    const d = this.#d.defaults();
    let subnet: string;
    let gateway: string;
    if (ipam.subnet) {
      subnet = ipam.subnet;
      gateway = ipam.gateway ?? firstHost(subnet);
      for (const n of this.#d.driver.networks()) {
        if (overlaps(n.subnet, subnet)) throw forbidden('Pool overlaps with other one on this address space');
      }
    } else {
      if (ipam.gateway || ipam.ipRange) throw invalidParameter('a gateway or an IP range needs a subnet (--subnet)');
      ({ subnet, gateway } = this.#d.driver.freeSubnet(d.pools));
    }
    const bridge = req.options[BRIDGE_NAME] ?? '';
    if (bridge !== '') {
      if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw invalidParameter(`invalid bridge name ${bridge}: at most 15 of [a-zA-Z0-9_.-]`);
      if (this.#d.driver.networks().some((n) => n.bridge === bridge)) throw forbidden(`bridge name ${bridge} is already used by another network`);
    }
    const id = newId();
    return {
      name,
      id,
      bridge,
      external: false,
      subnet,
      gateway,
      ...(ipam.ipRange ? { ipRange: ipam.ipRange } : {}),
      mtu: intOption(req.options, MTU) ?? d.mtu,
      icc: boolOption(req.options, ICC) ?? true,
      ipMasq: boolOption(req.options, MASQ) ?? true,
      internal: req.internal,
      dns: true,
      user: {
        created: nowRfc3339Nano(),
        labels: req.labels,
        options: req.options,
        attachable: req.attachable,
        subnetGiven: ipam.subnet !== undefined,
        ipamOptions: req.ipamOptions,
      },
    };
  }

  remove(ref: string): Promise<void> {
    return this.#mutex.run(() => this.#remove(this.find(ref)));
  }

  async #remove(n: NetworkView): Promise<void> {
    if (n.builtin) throw forbidden(`${n.name} is a pre-defined network and cannot be removed`);
    await this.#d.driver.removeNetwork(n.name);
    this.#d.events.emit('network', 'destroy', n.id, { name: n.name, type: n.driver });
  }

  /** `docker network prune`: user networks no running container is on, among those `select` keeps. */
  prune(select: (n: NetworkView) => boolean): Promise<string[]> {
    return this.#mutex.run(async () => {
      const deleted: string[] = [];
      for (const n of this.list()) {
        if (n.builtin || !select(n) || this.#d.driver.endpoints(n.name).length > 0) continue;
        try {
          await this.#remove(n);
          deleted.push(n.name);
        } catch (err) {
          // In use since the check (a container started meanwhile): left, as dockerd does.
          if (!(err instanceof BerthError)) throw err;
          this.#d.log.warn({ network: n.name, err: err.message }, 'network prune: cannot remove network');
        }
      }
      return deleted;
    });
  }

  async connect(ref: string, container: string, req: ConnectRequest): Promise<void> {
    const n = this.find(ref);
    if (n.driver === 'host') throw forbidden('container cannot be disconnected from host network or connected to host network');
    if (n.driver === 'null') throw forbidden('container cannot be connected to multiple networks with one of the networks in private (none) mode');
    const r = await this.#d.containers().connectNetwork(container, n.name, req);
    this.#d.events.emit('network', 'connect', n.id, { container: r.id, name: n.name, type: n.driver });
  }

  async disconnect(ref: string, container: string, force: boolean): Promise<void> {
    let n: NetworkView | undefined;
    try {
      n = this.find(ref);
    } catch (err) {
      // -f: the network may be gone while a container's record still names it.
      if (!force) throw err;
    }
    const r = await this.#d.containers().disconnectNetwork(container, n?.name ?? ref, force);
    if (n) this.#d.events.emit('network', 'disconnect', n.id, { container: r.id, name: n.name, type: n.driver });
  }
}

function viewOf(n: NetworkInfo): NetworkView {
  const u = n.user;
  return {
    name: n.name,
    id: n.id,
    driver: 'bridge',
    created: u?.created ?? '0001-01-01T00:00:00Z',
    builtin: u === undefined,
    internal: n.internal === true,
    attachable: u?.attachable ?? false,
    ipam: { subnet: n.subnet, gateway: n.gateway, ...(n.ipRange ? { ipRange: n.ipRange } : {}) },
    ipamOptions: u?.ipamOptions ?? null,
    options: u?.options ?? {},
    labels: u?.labels ?? {},
  };
}

function boolOption(o: Record<string, string>, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw invalidParameter(`invalid value for ${key}: ${v} (a boolean is expected)`);
}

function intOption(o: Record<string, string>, key: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 68 || n > 65535) throw invalidParameter(`invalid value for ${key}: ${v}`);
  return n;
}

/** IPv4 arithmetic the engine needs for defaults (the adapter checks the rest). */
function toInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw invalidParameter(`invalid IPv4 address: ${ip}`);
  return (((p[0] as number) << 24) | ((p[1] as number) << 16) | ((p[2] as number) << 8) | (p[3] as number)) >>> 0;
}

function cidr(s: string): { base: number; len: number } {
  const [ip, len] = s.split('/');
  const l = Number(len);
  if (ip === undefined || len === undefined || !Number.isInteger(l) || l < 0 || l > 32) throw invalidParameter(`invalid subnet: ${s}`);
  const mask = l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0;
  return { base: (toInt(ip) & mask) >>> 0, len: l };
}

function overlaps(a: string, b: string): boolean {
  if (a === '0.0.0.0/0') return false;
  const x = cidr(a);
  const y = cidr(b);
  const len = Math.min(x.len, y.len);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((x.base & mask) >>> 0) === ((y.base & mask) >>> 0);
}

function firstHost(subnet: string): string {
  const n = cidr(subnet).base + 1;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function nowRfc3339Nano(): string {
  const ms = Date.now();
  const iso = new Date(ms).toISOString();
  const nanos = String(Number(process.hrtime.bigint() % 1_000_000n)).padStart(6, '0');
  return `${iso.slice(0, 23)}${nanos}Z`;
}
