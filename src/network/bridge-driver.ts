import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../lib/atomic-file.js';
import { conflict, errnoCode, invalidParameter, messageOf, notFound } from '../lib/errors.js';
import { newId } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';
import { Rollback } from '../lib/rollback.js';
import { RecordStore } from '../state/index.js';
import { bridgeMac, ensureBridge, inspectExternalBridge, removeBridge } from './bridge.js';
import { NetCommands } from './commands.js';
import {
  createEndpoint,
  isNetnsMounted,
  localLinks,
  namespaceStats,
  removeEndpoint,
  removeEndpoints,
  type EndpointSpec,
  type InterfaceStats,
} from './endpoint.js';
import { Firewall } from './firewall.js';
import { IpamStore, parsePool } from './ipam.js';
import { cidrContains, formatCidr, isUnicastMac, macFromIpv4, parseCidr, parseIpv4 } from './ipv4.js';
import { NetLock } from './lock.js';
import { containerChain, hostVethName, instanceTag, netnsDir, netnsPath } from './names.js';
import { EphemeralPorts, PortReservation, bindPort, checkHeld, readSocketTables, reservePorts, type SocketTables } from './port-reservation.js';
import { ephemeralRange, type PortRequest } from './ports.js';
import { enableIpForward, enableRouteLocalnet, restoreIpForward } from './sysctl.js';
import type {
  CleanupReport,
  Connected,
  ConnectOptions,
  EndpointInfo,
  EndpointRecord,
  NetworkConfig,
  NetworkDriver,
  NetworkInfo,
  RestoreInput,
  RestoreReport,
} from './types.js';

export type BridgeDriverOptions = {
  dataRoot: string;
  execRoot: string;
  /** dockerd's `iptables`: false means no rule is ever touched. */
  iptables: boolean;
  /** dockerd's `ip-forward`. */
  ipForward: boolean;
  /** dockerd's `ip`: the host address of `-p` bindings that name none ('' or 0.0.0.0: all). */
  defaultHostIp?: string;
  log: Logger;
  /** Overrides the names' tag (tests); by default derived from the data root. */
  tag?: string;
};

type NetworkRecord = { schemaVersion: 1; config: NetworkConfig; mac: string };

/**
 * The host side of bridge networking, built from iproute2 and iptables driven directly
 * (docs/architecture.md, "Networking", says why not netavark). Layout:
 *   <data-root>/network/networks/<name>/{network.json,ipam.json}
 *   <data-root>/network/endpoints/<container id>/endpoint.json
 *   <data-root>/network/host.json             ip_forward as found before berth changed it
 *   <exec-root>/netns/<container id>           the container's namespace (bind mount)
 * Every operation runs under the instance's cross-process lock (lock.ts).
 */
export class BridgeDriver implements NetworkDriver {
  readonly cmds: NetCommands;
  readonly firewall: Firewall;
  readonly #o: BridgeDriverOptions;
  readonly #lock: NetLock;
  readonly #stateDir: string;
  readonly #endpointsStore: RecordStore<EndpointRecord>;
  readonly #networks = new Map<string, { info: NetworkInfo; ipam: IpamStore }>();
  readonly #endpoints = new Map<string, EndpointRecord>();
  /** Reservations berthd itself holds: not yet handed to a monitor, or taken back at restore. */
  readonly #held = new Map<string, PortReservation[]>();
  readonly #ephemeral: EphemeralPorts;
  readonly #tag: string;
  /** Networks a previous run set up, from their records: what the admin cleanup removes even if not configured now. */
  #recorded: NetworkRecord[] = [];

  constructor(o: BridgeDriverOptions) {
    this.#o = o;
    const tag = o.tag ?? instanceTag(o.dataRoot);
    this.#tag = tag;
    this.#lock = new NetLock(tag);
    this.cmds = new NetCommands({ lockFd: () => this.#lock.fd });
    this.firewall = new Firewall(this.cmds, tag, { enabled: o.iptables });
    this.#stateDir = join(o.dataRoot, 'network');
    this.#endpointsStore = new RecordStore<EndpointRecord>(join(this.#stateDir, 'endpoints'), 'endpoint.json', migrateEndpoint);
    this.#ephemeral = new EphemeralPorts(ephemeralRange());
  }

  async init(): Promise<void> {
    this.#recorded = loadNetworkRecords(join(this.#stateDir, 'networks'), this.#o.log);
    const { records, failures, leftovers } = await this.#endpointsStore.loadAll();
    for (const f of failures) this.#o.log.warn({ containerId: f.id, err: f.error }, 'unreadable endpoint record');
    // A record whose write was cut short: nothing was created yet (the record comes first).
    for (const id of leftovers) await this.#endpointsStore.remove(id);
    for (const r of records) {
      this.#endpoints.set(r.containerId, r);
      // Until the restore pass decides, every recorded container keeps its rules.
      if (r.chain) this.firewall.setContainer(r.containerId, { chain: r.chain, ip: r.ip, ports: r.ports });
    }
  }

  network(name: string): NetworkInfo | undefined {
    return this.#networks.get(name)?.info;
  }

  /** How a network was set up the last time, from its record (after init). */
  recordedNetwork(name: string): NetworkConfig | undefined {
    return this.#recorded.find((r) => r.config.name === name)?.config;
  }

  ensureNetwork(config: NetworkConfig): Promise<NetworkInfo> {
    return this.#lock.run(async () => {
      let cfg = config;
      let mac: string;
      let action: NetworkInfo['action'];
      if (cfg.external) {
        const seen = await inspectExternalBridge(this.cmds, cfg.bridge);
        const subnet = formatCidr(parseCidr(`${seen.gateway}/${seen.prefixLen}`, 'subnet', true));
        cfg = { ...cfg, subnet, gateway: seen.gateway, mtu: seen.mtu };
        mac = seen.mac;
        action = 'adopted';
      } else {
        parsePool(cfg);
        mac = bridgeMac(this.#tag, cfg.bridge);
        const prefixLen = parseCidr(cfg.subnet).prefixLen;
        action = (await ensureBridge(this.cmds, { name: cfg.bridge, mac, mtu: cfg.mtu, gateway: cfg.gateway, prefixLen })).action;
      }
      const dir = join(this.#stateDir, 'networks', cfg.name);
      const ipam = IpamStore.open(dir, cfg.name, { subnet: cfg.subnet, gateway: cfg.gateway, ipRange: cfg.ipRange });
      await this.#writeNetworkRecord(dir, { schemaVersion: 1, config: cfg, mac });
      if (this.#o.ipForward) await enableIpForward(this.#stateDir);
      if (this.firewall.enabled) {
        enableRouteLocalnet(cfg.bridge);
        this.firewall.setNetwork(cfg.name, { bridge: cfg.bridge, subnet: cfg.subnet, icc: cfg.icc, ipMasq: cfg.ipMasq });
        await this.firewall.sync();
      }
      const info: NetworkInfo = { ...cfg, mac, action, ...(ipam.previousPool ? { previousPool: ipam.previousPool } : {}) };
      this.#networks.set(cfg.name, { info, ipam });
      return info;
    });
  }

  async #writeNetworkRecord(dir: string, rec: NetworkRecord): Promise<void> {
    const file = join(dir, 'network.json');
    const text = JSON.stringify(rec);
    try {
      if (readFileSync(file, 'utf8') === text) return;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    await ensureDir(dir);
    await writeFileAtomic(file, text);
  }

  connect(containerId: string, opts: ConnectOptions): Promise<Connected> {
    return this.#lock.run(() => this.#connect(containerId, opts), { signal: opts.signal });
  }

  async #connect(containerId: string, opts: ConnectOptions): Promise<Connected> {
    const net = this.#networks.get(opts.network);
    if (!net) throw notFound(`network ${opts.network} not found`);
    if (opts.mac !== undefined && !isUnicastMac(opts.mac)) throw invalidParameter(`invalid MAC address: ${opts.mac}`);
    const previous = this.#endpoints.get(containerId);
    if (previous && previous.network !== opts.network) await this.#disconnect(containerId, { keepStaticAddress: true });
    // A reservation still held by berthd for this container (a retried connect) is replaced.
    this.#closeHeld(containerId);

    const rb = new Rollback(this.#o.log);
    try {
      const hadAddress = net.ipam.addressOf(containerId) !== undefined;
      const ip = await net.ipam.allocate(containerId, opts.address);
      if (!hadAddress) rb.push('release address', () => net.ipam.release(containerId, { keepStatic: true }));
      const mac = (opts.mac ?? macFromIpv4(parseIpv4(ip) ?? 0)).toLowerCase();
      if (previous && (previous.ip !== ip || previous.mac !== mac)) await removeEndpoint(this.cmds, previous);
      const requests = opts.ports.map((p) => this.#withDefaultHostIp(p));
      const reservation = await reservePorts(requests, { ephemeral: this.#ephemeral, containerIp: ip });
      rb.push('close reservation', () => reservation.close());
      const prefixLen = parseCidr(net.info.subnet).prefixLen;
      const rec: EndpointRecord = {
        schemaVersion: 1,
        containerId,
        network: net.info.name,
        networkId: net.info.id,
        endpointId: previous?.endpointId ?? newId(),
        bridge: net.info.bridge,
        netnsPath: netnsPath(this.#o.execRoot, this.#tag, containerId),
        hostVeth: hostVethName(containerId),
        ifName: 'eth0',
        ip,
        prefixLen,
        gateway: net.info.gateway,
        mac,
        mtu: net.info.mtu,
        ports: reservation.mappings,
        ...(reservation.mappings.length > 0 ? { chain: containerChain(this.#tag, containerId) } : {}),
      };
      // Written before anything is created: a daemon killed from here on finds the record and
      // cleans (or, once the container runs, adopts) what it names.
      await this.#endpointsStore.write(containerId, rec);
      this.#endpoints.set(containerId, rec);
      rb.push('remove endpoint', () => this.#teardown(rec));
      await createEndpoint(this.cmds, specOf(rec));
      if (rec.chain) {
        this.firewall.setContainer(containerId, { chain: rec.chain, ip, ports: rec.ports });
        await this.firewall.sync();
      } else if (this.firewall.hasContainer(containerId)) {
        this.firewall.setContainer(containerId, undefined);
        await this.firewall.sync();
      }
      rb.commit();
      this.#held.set(containerId, [reservation]);
      return { endpoint: infoOf(rec), reservation };
    } catch (err) {
      await rb.run();
      throw err;
    }
  }

  #withDefaultHostIp(p: PortRequest): PortRequest {
    const d = this.#o.defaultHostIp ?? '';
    return p.hostIp === '' && d !== '' && d !== '0.0.0.0' ? { ...p, hostIp: d } : p;
  }

  /** Kernel objects, rules and record of one endpoint; the address is the caller's business. */
  async #teardown(rec: EndpointRecord): Promise<void> {
    if (this.firewall.hasContainer(rec.containerId)) {
      this.firewall.setContainer(rec.containerId, undefined);
      await this.firewall.sync();
    }
    await removeEndpoint(this.cmds, rec);
    await this.#forget(rec.containerId);
  }

  async #forget(containerId: string): Promise<void> {
    await this.#endpointsStore.remove(containerId);
    this.#endpoints.delete(containerId);
  }

  disconnect(containerId: string, opts: { keepStaticAddress: boolean; signal?: AbortSignal }): Promise<void> {
    return this.#lock.run(() => this.#disconnect(containerId, opts), { signal: opts.signal });
  }

  async #disconnect(containerId: string, opts: { keepStaticAddress: boolean }): Promise<void> {
    const rec = this.#endpoints.get(containerId);
    if (rec) await this.#teardown(rec);
    else {
      // No record (it was never written, or is already gone): the derived names are all there is to clean.
      await removeEndpoint(this.cmds, { netnsPath: netnsPath(this.#o.execRoot, this.#tag, containerId), hostVeth: hostVethName(containerId) });
    }
    this.#closeHeld(containerId);
    for (const { ipam } of this.#networks.values()) await ipam.release(containerId, { keepStatic: opts.keepStaticAddress });
  }

  #closeHeld(containerId: string): void {
    for (const r of this.#held.get(containerId) ?? []) r.close();
    this.#held.delete(containerId);
  }

  endpoint(containerId: string): EndpointInfo | undefined {
    const r = this.#endpoints.get(containerId);
    return r ? infoOf(r) : undefined;
  }

  endpoints(network?: string): EndpointInfo[] {
    return [...this.#endpoints.values()].filter((r) => network === undefined || r.network === network).map(infoOf);
  }

  restore(input: RestoreInput): Promise<RestoreReport> {
    return this.#lock.run(() => this.#restore(input));
  }

  async #restore(input: RestoreInput): Promise<RestoreReport> {
    const report: RestoreReport = { adopted: [], repaired: [], cleaned: [], addressesFreed: [], ports: [], lost: [], leftovers: { netns: [], chains: [] } };
    // Read at most once per start-up: ensureNetwork has usually just done it.
    if (this.firewall.enabled) await this.firewall.known();
    const chainsBefore = new Set(this.firewall.ownChains());
    const links = localLinks();
    const gone = [...this.#endpoints.values()].filter((r) => !input.running.has(r.containerId));
    // Those of containers that stopped while berthd was away, all at once: one ip, one umount,
    // and their rules go with the final sync.
    for (const rec of gone) this.firewall.setContainer(rec.containerId, undefined);
    await removeEndpoints(this.cmds, gone);
    for (const rec of gone) {
      this.#closeHeld(rec.containerId);
      await this.#forget(rec.containerId);
      report.cleaned.push(rec.containerId);
    }
    let sockets: SocketTables | undefined;
    for (const rec of [...this.#endpoints.values()]) {
      const live = input.running.get(rec.containerId);
      const net = this.#networks.get(rec.network);
      if (!live) continue;
      const moved = net ? movedFrom(rec, net.info) : `network ${rec.network} is not configured`;
      if (moved) {
        // Left as it is: the engine refuses to adopt the container and reports it.
        report.lost.push({ containerId: rec.containerId, reason: moved });
        continue;
      }
      const what = await this.#repair(rec, live.pid, links);
      if (what.length > 0) report.repaired.push({ containerId: rec.containerId, what });
      else report.adopted.push(rec.containerId);
      if (rec.ports.length > 0) sockets ??= readSocketTables();
      for (const c of checkHeld(rec.ports, live.monitorPid, sockets)) {
        if (c.state === 'held') continue;
        if (c.state === 'free') {
          // Nobody holds it: berthd does, until the container stops or berthd exits.
          try {
            const b = await bindPort(c.mapping.proto, c.mapping.hostIp, c.mapping.hostPort);
            const held = this.#held.get(rec.containerId) ?? [];
            held.push(new PortReservation([c.mapping], [b.handle], [b.fd]));
            this.#held.set(rec.containerId, held);
            report.ports.push({ containerId: rec.containerId, mapping: c.mapping, state: 'reacquired' });
            continue;
          } catch (err) {
            this.#o.log.warn({ containerId: rec.containerId, err: messageOf(err) }, 'cannot take back a published port');
          }
        }
        report.ports.push({ containerId: rec.containerId, mapping: c.mapping, state: 'taken' });
      }
    }
    report.leftovers.netns = await this.#removeUnrecordedNetns();
    for (const [name, { ipam }] of this.#networks) {
      const running = new Set(input.running.keys());
      for (const f of await ipam.reconcile({ running, existing: input.existing })) report.addressesFreed.push({ network: name, ...f });
    }
    await this.firewall.sync();
    const wanted = new Set([...this.#endpoints.values()].map((r) => r.chain).filter((c): c is string => c !== undefined));
    report.leftovers.chains = [...chainsBefore].filter((c) => c.startsWith(this.firewall.names.containerPrefix) && !wanted.has(c));
    return report;
  }

  /** Put back what is missing under a running container; an endpoint that is whole is left untouched (no spawn). */
  async #repair(rec: EndpointRecord, pid: number, links: Set<string>): Promise<string[]> {
    const what: string[] = [];
    if (!isNetnsMounted(rec.netnsPath)) {
      // The container's own process still holds its namespace: mount it back.
      await ensureDir(netnsDir(this.#o.execRoot, this.#tag));
      closeSync(openSync(rec.netnsPath, 'a', 0o600));
      await this.cmds.must('cannot bind the container network namespace', 'mount', ['--bind', `/proc/${pid}/ns/net`, rec.netnsPath]);
      what.push('netns mount');
    }
    if (!links.has(rec.hostVeth) || what.length > 0) {
      await createEndpoint(this.cmds, specOf(rec));
      what.push('veth');
    }
    return what;
  }

  async #removeUnrecordedNetns(): Promise<string[]> {
    const dir = netnsDir(this.#o.execRoot, this.#tag);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const removed: string[] = [];
    for (const name of names) {
      if (this.#endpoints.has(name)) continue;
      const hostVeth = /^[0-9a-f]{11,}$/.test(name) ? hostVethName(name) : '';
      await removeEndpoint(this.cmds, { netnsPath: join(dir, name), hostVeth });
      removed.push(join(dir, name));
    }
    return removed;
  }

  async stats(containerId: string, pid?: number): Promise<Record<string, InterfaceStats>> {
    const rec = this.#endpoints.get(containerId);
    if (!rec) return {};
    return namespaceStats(this.cmds, rec.netnsPath, pid);
  }

  removeNetwork(name: string): Promise<void> {
    return this.#lock.run(async () => {
      const net = this.#networks.get(name);
      if (!net) throw notFound(`network ${name} not found`);
      if (this.endpoints(name).length > 0) throw conflict(`error while removing network: network ${name} id ${net.info.id} has active endpoints`);
      this.firewall.setNetwork(name, undefined);
      await this.firewall.sync();
      if (!net.info.external) await removeBridge(this.cmds, net.info.bridge);
      this.#networks.delete(name);
      this.#recorded = this.#recorded.filter((r) => r.config.name !== name);
      await rm(join(this.#stateDir, 'networks', name), { recursive: true, force: true });
    });
  }

  removeAll(): Promise<CleanupReport> {
    return this.#lock.run(async () => {
      const endpoints: string[] = [];
      const all = [...this.#endpoints.values()];
      await removeEndpoints(this.cmds, all);
      for (const rec of all) {
        await this.#forget(rec.containerId);
        this.#closeHeld(rec.containerId);
        endpoints.push(rec.containerId);
      }
      await this.#removeUnrecordedNetns();
      const rules = await this.firewall.removeAll();
      const bridges = new Set<string>();
      for (const c of [...this.#recorded.map((r) => r.config), ...[...this.#networks.values()].map((n) => n.info)]) {
        if (c.external || bridges.has(c.bridge)) continue;
        await removeBridge(this.cmds, c.bridge);
        bridges.add(c.bridge);
      }
      this.#networks.clear();
      const ipForward = this.#o.ipForward ? restoreIpForward(this.#stateDir) : undefined;
      return { endpoints, bridges: [...bridges], rules, ipForward };
    });
  }
}

function loadNetworkRecords(dir: string, log: Logger): NetworkRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: NetworkRecord[] = [];
  for (const name of names) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, name, 'network.json'), 'utf8')) as NetworkRecord);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') log.warn({ network: name, err: messageOf(err) }, 'unreadable network record');
    }
  }
  return out;
}

/**
 * Why an endpoint no longer fits its network as configured now (a `bip` or `bridge` change
 * between runs), judged from the endpoint's own record so that it holds on every later run too.
 */
function movedFrom(rec: EndpointRecord, net: NetworkInfo): string | undefined {
  if (rec.bridge !== net.bridge) return `network ${net.name} now uses bridge ${net.bridge}, not ${rec.bridge}`;
  const ip = parseIpv4(rec.ip);
  if (ip === undefined || !cidrContains(parseCidr(net.subnet), ip) || rec.gateway !== net.gateway) {
    return `network ${net.name} is now ${net.subnet} via ${net.gateway}; the endpoint has ${rec.ip}/${rec.prefixLen} via ${rec.gateway}`;
  }
  return undefined;
}

function specOf(r: EndpointRecord): EndpointSpec {
  return {
    netnsPath: r.netnsPath,
    hostVeth: r.hostVeth,
    bridge: r.bridge,
    ifName: r.ifName,
    ip: r.ip,
    prefixLen: r.prefixLen,
    gateway: r.gateway,
    mac: r.mac,
    mtu: r.mtu,
  };
}

function infoOf(r: EndpointRecord): EndpointInfo {
  const { schemaVersion: _v, ...info } = r;
  return { ...info, ports: info.ports.map((p) => ({ ...p })) };
}

function migrateEndpoint(raw: Record<string, unknown>): EndpointRecord {
  if (raw['schemaVersion'] !== 1) throw new Error(`unknown endpoint schema version ${String(raw['schemaVersion'])}`);
  return raw as unknown as EndpointRecord;
}
