import { closeSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from '../lib/atomic-file.js';
import { errnoCode, forbidden, invalidParameter, messageOf, notFound } from '../lib/errors.js';
import { newId } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';
import { Rollback } from '../lib/rollback.js';
import { RecordStore } from '../state/index.js';
import { bridgeMac, ensureBridge, inspectExternalBridge, removeBridge } from './bridge.js';
import { NetCommands } from './commands.js';
import { hostRoutes } from './default-bridge.js';
import {
  createEndpoint,
  isNetnsMounted,
  localLinks,
  namespaceStats,
  removeEndpoint,
  removeEndpoints,
  removeLinks,
  setDefaultRoute,
  type EndpointSpec,
  type InterfaceStats,
} from './endpoint.js';
import { Firewall } from './firewall.js';
import { IpamStore, parsePool } from './ipam.js';
import { cidrContains, formatCidr, isUnicastMac, macFromIpv4, parseCidr, parseIpv4 } from './ipv4.js';
import { NetLock } from './lock.js';
import { containerChain, hostVethName, instanceTag, isHostVethOf, netnsDir, netnsPath, resolverDir, userBridgeName } from './names.js';
import { migrateSandbox, NetworkRecords } from './network-records.js';
import { EphemeralPorts, PortReservation, bindPort, checkHeld, readSocketTables, reservePorts, type SocketTables } from './port-reservation.js';
import { ephemeralRange, type PortRequest } from './ports.js';
import { Resolver, type ResolverNetwork } from './resolver.js';
import { pickSubnet } from './subnets.js';
import { enableIpForward, enableRouteLocalnet, restoreIpForward } from './sysctl.js';
import type {
  AddressPool,
  CleanupReport,
  Connected,
  ConnectOptions,
  EndpointInfo,
  NetworkConfig,
  NetworkDriver,
  NetworkInfo,
  NetworkRecord,
  RestoreInput,
  RestoreReport,
  SandboxRecord,
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
  /** Where the resolver sends names that are not containers' (the daemon's `dns`, or the host's resolvers). */
  dnsUpstreams?: () => string[];
  /** The resolver's binary (tests). */
  resolverBinary?: string;
  log: Logger;
  /** Overrides the names' tag (tests); by default derived from the data root. */
  tag?: string;
};

/**
 * The host side of bridge networking, built from iproute2 and iptables driven directly
 * (docs/architecture.md, "Networking", says why not netavark), with aardvark-dns as the
 * resolver of user networks (resolver.ts). Layout:
 *   <data-root>/network/networks/<name>/{network.json,ipam.json}
 *   <data-root>/network/endpoints/<container id>/endpoint.json   its sandbox: netns + an endpoint per network
 *   <data-root>/network/host.json             ip_forward as found before berth changed it
 *   <exec-root>/netns/<tag>/<container id>    the container's namespace (bind mount)
 *   <exec-root>/dns/<tag>/                    the resolver's config files and record
 * Every operation runs under the instance's cross-process lock (lock.ts).
 */
export class BridgeDriver implements NetworkDriver {
  readonly cmds: NetCommands;
  readonly firewall: Firewall;
  readonly resolver: Resolver;
  readonly #o: BridgeDriverOptions;
  readonly #lock: NetLock;
  readonly #stateDir: string;
  readonly #sandboxStore: RecordStore<SandboxRecord>;
  readonly #records: NetworkRecords;
  readonly #networks = new Map<string, { info: NetworkInfo; ipam: IpamStore }>();
  readonly #sandboxes = new Map<string, SandboxRecord>();
  /** Reservations berthd itself holds, by `<container>/<network>`: not yet handed to a monitor, or taken back at restore. */
  readonly #held = new Map<string, PortReservation[]>();
  readonly #ephemeral: EphemeralPorts;
  readonly #tag: string;
  /** Networks a previous run set up, from their records: what start-up ensures and the admin cleanup removes. */
  #recorded: NetworkRecord[] = [];
  /** Set once the restore pass is done: before it, the resolver is left as it is (start-up ensures networks one by one). */
  #ready = false;

  constructor(o: BridgeDriverOptions) {
    this.#o = o;
    const tag = o.tag ?? instanceTag(o.dataRoot);
    this.#tag = tag;
    this.#lock = new NetLock(tag);
    this.cmds = new NetCommands({ lockFd: () => this.#lock.fd });
    this.firewall = new Firewall(this.cmds, tag, { enabled: o.iptables });
    this.#stateDir = join(o.dataRoot, 'network');
    this.#sandboxStore = new RecordStore<SandboxRecord>(join(this.#stateDir, 'endpoints'), 'endpoint.json', migrateSandbox);
    this.#records = new NetworkRecords(join(this.#stateDir, 'networks'), o.log);
    this.#ephemeral = new EphemeralPorts(ephemeralRange());
    this.resolver = new Resolver({ dir: resolverDir(o.execRoot, tag), log: o.log, ...(o.resolverBinary ? { binary: o.resolverBinary } : {}) });
  }

  async init(): Promise<void> {
    this.#recorded = this.#records.loadAll();
    const { records, failures, leftovers } = await this.#sandboxStore.loadAll();
    for (const f of failures) this.#o.log.warn({ containerId: f.id, err: f.error }, 'unreadable endpoint record');
    // A record whose write was cut short: nothing was created yet (the record comes first).
    for (const id of leftovers) await this.#sandboxStore.remove(id);
    for (const r of records) {
      this.#sandboxes.set(r.containerId, r);
      // Until the restore pass decides, every recorded container keeps its rules.
      for (const e of r.endpoints) if (e.chain) this.firewall.setContainer(r.containerId, { chain: e.chain, ip: e.ip, ports: e.ports });
    }
  }

  network(name: string): NetworkInfo | undefined {
    return this.#networks.get(name)?.info;
  }

  networks(): NetworkInfo[] {
    return [...this.#networks.values()].map((n) => n.info);
  }

  /** How a network was set up the last time, from its record (after init). */
  recordedNetwork(name: string): NetworkConfig | undefined {
    return this.#recorded.find((r) => r.config.name === name)?.config;
  }

  recordedNetworks(): { config: NetworkConfig; removing: boolean }[] {
    return this.#recorded.filter((r) => r.config.user !== undefined).map((r) => ({ config: r.config, removing: r.removing === true }));
  }

  freeSubnet(pools: readonly AddressPool[]): { subnet: string; gateway: string } {
    const ours = [...this.#networks.values()].map((n) => n.info.subnet).concat(this.#recorded.map((r) => r.config.subnet));
    const taken = [...hostRoutes(), ...ours.filter((s) => s !== '0.0.0.0/0').map((s) => parseCidr(s, 'subnet', true))];
    return pickSubnet(pools, taken);
  }

  ensureNetwork(config: NetworkConfig): Promise<NetworkInfo> {
    return this.#lock.run(async () => {
      let cfg = config;
      let mac: string;
      let action: NetworkInfo['action'];
      const known = this.#recorded.some((r) => r.config.name === cfg.name && r.config.id === cfg.id);
      if (cfg.bridge === '') cfg = { ...cfg, bridge: userBridgeName(cfg.id) };
      // A new network never takes over a link it did not make (adopting it would change its address and MAC).
      if (!known && !cfg.external && cfg.user && localLinks().has(cfg.bridge)) throw forbidden(`cannot create the bridge ${cfg.bridge}: a network interface of that name exists`);
      const dir = this.#records.dirOf(cfg.name);
      if (cfg.external) {
        const seen = await inspectExternalBridge(this.cmds, cfg.bridge);
        const subnet = formatCidr(parseCidr(`${seen.gateway}/${seen.prefixLen}`, 'subnet', true));
        cfg = { ...cfg, subnet, gateway: seen.gateway, mtu: seen.mtu };
        mac = seen.mac;
        await this.#writeRecord({ schemaVersion: 1, config: cfg, mac });
        action = 'adopted';
      } else {
        parsePool(cfg);
        mac = bridgeMac(this.#tag, cfg.bridge);
        // Recorded before the bridge exists: a daemon killed from here on knows it may.
        await this.#writeRecord({ schemaVersion: 1, config: cfg, mac });
        const prefixLen = parseCidr(cfg.subnet).prefixLen;
        action = (await ensureBridge(this.cmds, { name: cfg.bridge, mac, mtu: cfg.mtu, gateway: cfg.gateway, prefixLen })).action;
      }
      const ipam = IpamStore.open(dir, cfg.name, { subnet: cfg.subnet, gateway: cfg.gateway, ipRange: cfg.ipRange });
      if (this.#o.ipForward && !cfg.internal) await enableIpForward(this.#stateDir);
      if (this.firewall.enabled) {
        enableRouteLocalnet(cfg.bridge);
        this.firewall.setNetwork(cfg.name, firewallNetwork(cfg));
        await this.firewall.sync();
      }
      const info: NetworkInfo = { ...cfg, mac, action, ...(ipam.previousPool ? { previousPool: ipam.previousPool } : {}) };
      this.#networks.set(cfg.name, { info, ipam });
      if (this.#ready && cfg.dns) await this.#syncResolver();
      return info;
    });
  }

  async #writeRecord(rec: NetworkRecord): Promise<void> {
    await this.#records.write(rec);
    this.#recorded = [...this.#recorded.filter((r) => r.config.name !== rec.config.name), rec];
  }

  connect(containerId: string, opts: ConnectOptions): Promise<Connected> {
    return this.#lock.run(() => this.#connect(containerId, opts), { signal: opts.signal });
  }

  async #connect(containerId: string, opts: ConnectOptions): Promise<Connected> {
    const net = this.#networks.get(opts.network);
    if (!net) throw notFound(`network ${opts.network} not found`);
    if (opts.mac !== undefined && !isUnicastMac(opts.mac)) throw invalidParameter(`invalid MAC address: ${opts.mac}`);
    const existing = this.#sandboxes.get(containerId);
    const sandbox: SandboxRecord = existing ?? { schemaVersion: 2, containerId, netnsPath: netnsPath(this.#o.execRoot, this.#tag, containerId), endpoints: [] };
    const previous = sandbox.endpoints.find((e) => e.network === opts.network);
    const gatewayRoute = opts.gatewayRoute ?? (!net.info.internal && !sandbox.endpoints.some((e) => e.gatewayRoute && e.network !== opts.network));
    const key = heldKey(containerId, opts.network);
    // A reservation still held by berthd for this endpoint (a retried connect) is replaced.
    this.#closeHeld(key);

    const rb = new Rollback(this.#o.log);
    try {
      const hadAddress = net.ipam.addressOf(containerId) !== undefined;
      const ip = await net.ipam.allocate(containerId, opts.address);
      if (!hadAddress) rb.push('release address', () => net.ipam.release(containerId, { keepStatic: true }));
      const mac = (opts.mac ?? macFromIpv4(parseIpv4(ip) ?? 0)).toLowerCase();
      if (previous && (previous.ip !== ip || previous.mac !== mac)) await removeLinks(this.cmds, [previous.hostVeth]);
      const requests = opts.ports.map((p) => this.#withDefaultHostIp(p));
      const reservation = await reservePorts(requests, { ephemeral: this.#ephemeral, containerIp: ip });
      rb.push('close reservation', () => reservation.close());
      const prefixLen = parseCidr(net.info.subnet).prefixLen;
      const rec: EndpointInfo = {
        containerId,
        network: net.info.name,
        networkId: net.info.id,
        endpointId: previous?.endpointId ?? newId(),
        bridge: net.info.bridge,
        netnsPath: sandbox.netnsPath,
        hostVeth: previous?.hostVeth ?? hostVethName(containerId, net.info.id),
        ifName: previous?.ifName ?? nextIfName(sandbox),
        ip,
        prefixLen,
        gateway: net.info.gateway,
        mac,
        mtu: net.info.mtu,
        ports: reservation.mappings,
        ...(reservation.mappings.length > 0 ? { chain: containerChain(this.#tag, containerId) } : {}),
        gatewayRoute,
        dnsNames: net.info.dns ? (opts.dnsNames ?? []) : [],
        dnsServers: opts.dnsServers ?? [],
      };
      // One default route per namespace: the network that takes it takes it from the others.
      const demoted = (e: EndpointInfo) => (gatewayRoute && e.gatewayRoute ? { ...e, gatewayRoute: false } : e);
      const endpoints = previous
        ? sandbox.endpoints.map((e) => (e === previous ? rec : demoted(e)))
        : [...sandbox.endpoints.map(demoted), rec];
      const next: SandboxRecord = { ...sandbox, endpoints };
      // Written before anything is created: a daemon killed from here on finds the record and
      // cleans (or, once the container runs, adopts) what it names.
      await this.#sandboxStore.write(containerId, next);
      this.#sandboxes.set(containerId, next);
      rb.push('remove endpoint', () => this.#removeOne(containerId, opts.network));
      await createEndpoint(this.cmds, specOf(rec));
      if (rec.chain) {
        this.firewall.setContainer(containerId, { chain: rec.chain, ip, ports: rec.ports });
        await this.firewall.sync();
      } else if (previous?.chain) {
        this.firewall.setContainer(containerId, undefined);
        await this.firewall.sync();
      }
      if (net.info.dns) await this.#syncResolver();
      rb.commit();
      this.#held.set(key, [reservation]);
      return { endpoint: copyOf(rec), reservation };
    } catch (err) {
      await rb.run();
      throw err;
    }
  }

  #withDefaultHostIp(p: PortRequest): PortRequest {
    const d = this.#o.defaultHostIp ?? '';
    return p.hostIp === '' && d !== '' && d !== '0.0.0.0' ? { ...p, hostIp: d } : p;
  }

  disconnect(containerId: string, opts: { network?: string; keepStaticAddress: boolean; signal?: AbortSignal }): Promise<void> {
    return this.#lock.run(async () => {
      if (opts.network !== undefined) {
        await this.#removeOne(containerId, opts.network);
        await this.#networks.get(opts.network)?.ipam.release(containerId, { keepStatic: opts.keepStaticAddress });
      } else {
        await this.#removeAllOf(containerId);
        for (const { ipam } of this.#networks.values()) await ipam.release(containerId, { keepStatic: opts.keepStaticAddress });
      }
    }, { signal: opts.signal });
  }

  /**
   * One endpoint of a container that keeps its namespace (it may be running): its veth, its
   * rules, its resolver entry, then its record. If it carried the default route, the next
   * network that is not internal takes it over, as in Docker.
   */
  async #removeOne(containerId: string, network: string): Promise<void> {
    this.#closeHeld(heldKey(containerId, network));
    const sb = this.#sandboxes.get(containerId);
    const ep = sb?.endpoints.find((e) => e.network === network);
    if (!sb || !ep) return;
    if (ep.chain) {
      this.firewall.setContainer(containerId, undefined);
      await this.firewall.sync();
    }
    await removeLinks(this.cmds, [ep.hostVeth]);
    let rest = sb.endpoints.filter((e) => e !== ep);
    if (ep.gatewayRoute) {
      const heir = rest.find((e) => !this.#networks.get(e.network)?.info.internal);
      if (heir) {
        rest = rest.map((e) => (e === heir ? { ...e, gatewayRoute: true } : e));
        if (isNetnsMounted(sb.netnsPath)) await setDefaultRoute(this.cmds, sb.netnsPath, heir);
      }
    }
    const next = { ...sb, endpoints: rest };
    await this.#sandboxStore.write(containerId, next);
    this.#sandboxes.set(containerId, next);
    if (this.#networks.get(network)?.info.dns ?? ep.dnsNames.length > 0) await this.#syncResolver();
  }

  /** The whole sandbox (the container stopped): veths, namespace, rules, resolver entries, record. */
  async #removeAllOf(containerId: string): Promise<void> {
    const sb = this.#sandboxes.get(containerId);
    if (sb) {
      if (this.firewall.hasContainer(containerId)) {
        this.firewall.setContainer(containerId, undefined);
        await this.firewall.sync();
      }
      await removeEndpoint(this.cmds, linksOf(sb));
      await this.#forget(containerId);
      if (sb.endpoints.some((e) => e.dnsNames.length > 0 || this.#networks.get(e.network)?.info.dns)) await this.#syncResolver();
    } else {
      // No record (it was never written, or is already gone): the derived names are all there is to clean.
      const path = netnsPath(this.#o.execRoot, this.#tag, containerId);
      await removeEndpoint(this.cmds, { netnsPath: path, hostVeths: [...localLinks()].filter((l) => isHostVethOf(l, containerId)) });
    }
    for (const key of [...this.#held.keys()]) if (key.startsWith(`${containerId}/`)) this.#closeHeld(key);
  }

  async #forget(containerId: string): Promise<void> {
    await this.#sandboxStore.remove(containerId);
    this.#sandboxes.delete(containerId);
  }

  #closeHeld(key: string): void {
    for (const r of this.#held.get(key) ?? []) r.close();
    this.#held.delete(key);
  }

  endpoint(containerId: string, network?: string): EndpointInfo | undefined {
    const eps = this.#sandboxes.get(containerId)?.endpoints ?? [];
    const e = network === undefined ? eps[0] : eps.find((x) => x.network === network);
    return e ? copyOf(e) : undefined;
  }

  endpointsOf(containerId: string): EndpointInfo[] {
    return (this.#sandboxes.get(containerId)?.endpoints ?? []).map(copyOf);
  }

  endpoints(network?: string): EndpointInfo[] {
    return [...this.#sandboxes.values()].flatMap((s) => s.endpoints).filter((e) => network === undefined || e.network === network).map(copyOf);
  }

  setDnsNames(containerId: string, names: (network: string) => string[]): Promise<void> {
    return this.#lock.run(async () => {
      const sb = this.#sandboxes.get(containerId);
      if (!sb) return;
      const next = { ...sb, endpoints: sb.endpoints.map((e) => (this.#networks.get(e.network)?.info.dns ? { ...e, dnsNames: names(e.network) } : e)) };
      await this.#sandboxStore.write(containerId, next);
      this.#sandboxes.set(containerId, next);
      await this.#syncResolver();
    });
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
    const gone = [...this.#sandboxes.values()].filter((r) => !input.running.has(r.containerId));
    // Those of containers that stopped while berthd was away, all at once: one ip, one umount,
    // and their rules and resolver entries go with the final syncs.
    for (const rec of gone) this.firewall.setContainer(rec.containerId, undefined);
    await removeEndpoints(this.cmds, gone.map(linksOf));
    for (const rec of gone) {
      for (const key of [...this.#held.keys()]) if (key.startsWith(`${rec.containerId}/`)) this.#closeHeld(key);
      await this.#forget(rec.containerId);
      report.cleaned.push(rec.containerId);
    }
    let sockets: SocketTables | undefined;
    for (const sb of [...this.#sandboxes.values()]) {
      const live = input.running.get(sb.containerId);
      if (!live) continue;
      const moved = sb.endpoints.map((e) => {
        const net = this.#networks.get(e.network);
        return net ? movedFrom(e, net.info) : `network ${e.network} is not configured`;
      }).find((m) => m !== undefined);
      if (moved) {
        // Left as it is: the engine refuses to adopt the container and reports it.
        report.lost.push({ containerId: sb.containerId, reason: moved });
        continue;
      }
      const what = await this.#repair(sb, live.pid, links);
      if (what.length > 0) report.repaired.push({ containerId: sb.containerId, what });
      else report.adopted.push(sb.containerId);
      for (const rec of sb.endpoints) {
        if (rec.ports.length === 0) continue;
        sockets ??= readSocketTables();
        for (const c of checkHeld(rec.ports, live.monitorPid, sockets)) {
          if (c.state === 'held') continue;
          if (c.state === 'free') {
            // Nobody holds it: berthd does, until the container stops or berthd exits.
            try {
              const b = await bindPort(c.mapping.proto, c.mapping.hostIp, c.mapping.hostPort);
              const key = heldKey(rec.containerId, rec.network);
              const held = this.#held.get(key) ?? [];
              held.push(new PortReservation([c.mapping], [b.handle], [b.fd]));
              this.#held.set(key, held);
              report.ports.push({ containerId: rec.containerId, mapping: c.mapping, state: 'reacquired' });
              continue;
            } catch (err) {
              this.#o.log.warn({ containerId: rec.containerId, err: messageOf(err) }, 'cannot take back a published port');
            }
          }
          report.ports.push({ containerId: rec.containerId, mapping: c.mapping, state: 'taken' });
        }
      }
    }
    report.leftovers.netns = await this.#removeUnrecordedNetns(links);
    for (const [name, { ipam }] of this.#networks) {
      const running = new Set(input.running.keys());
      for (const f of await ipam.reconcile({ running, existing: input.existing })) report.addressesFreed.push({ network: name, ...f });
    }
    await this.firewall.sync();
    const wanted = new Set([...this.#sandboxes.values()].flatMap((s) => s.endpoints.map((e) => e.chain)).filter((c): c is string => c !== undefined));
    report.leftovers.chains = [...chainsBefore].filter((c) => c.startsWith(this.firewall.names.containerPrefix) && !wanted.has(c));
    this.#ready = true;
    report.resolver = (await this.#syncResolver()).action;
    return report;
  }

  /** Put back what is missing under a running container; endpoints that are whole are left untouched (no spawn). */
  async #repair(sb: SandboxRecord, pid: number, links: Set<string>): Promise<string[]> {
    const what: string[] = [];
    if (!isNetnsMounted(sb.netnsPath)) {
      // The container's own process still holds its namespace: mount it back.
      await ensureDir(netnsDir(this.#o.execRoot, this.#tag));
      closeSync(openSync(sb.netnsPath, 'a', 0o600));
      await this.cmds.must('cannot bind the container network namespace', 'mount', ['--bind', `/proc/${pid}/ns/net`, sb.netnsPath]);
      what.push('netns mount');
    }
    for (const rec of sb.endpoints) {
      if (!links.has(rec.hostVeth) || what.includes('netns mount')) {
        await createEndpoint(this.cmds, specOf(rec));
        what.push(`veth ${rec.ifName}`);
      }
    }
    return what;
  }

  async #removeUnrecordedNetns(links: Set<string>): Promise<string[]> {
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
      if (this.#sandboxes.has(name)) continue;
      const veths = /^[0-9a-f]{11,}$/.test(name) ? [...links].filter((l) => isHostVethOf(l, name)) : [];
      await removeEndpoint(this.cmds, { netnsPath: join(dir, name), hostVeths: veths });
      removed.push(join(dir, name));
    }
    return removed;
  }

  /**
   * The resolver's files from the networks and the endpoints on them: one per network with a
   * resolver, listening on its gateway, forwarding other names to the daemon's upstreams.
   */
  #resolverNetworks(): ResolverNetwork[] {
    const upstreams = this.#o.dnsUpstreams?.() ?? [];
    const entries = new Map<string, ResolverNetwork['entries']>();
    for (const sb of this.#sandboxes.values()) {
      for (const e of sb.endpoints) {
        if (e.dnsNames.length === 0) continue;
        const list = entries.get(e.network) ?? [];
        list.push({ containerId: e.containerId, ip: e.ip, names: e.dnsNames, dnsServers: e.dnsServers });
        entries.set(e.network, list);
      }
    }
    return [...this.#networks.values()]
      .filter((n) => n.info.dns)
      .map((n) => ({ key: n.info.id, listen: n.info.gateway, upstreams, entries: entries.get(n.info.name) ?? [] }));
  }

  async #syncResolver(watch = false): Promise<{ action: string }> {
    try {
      const r = await this.resolver.sync(this.#resolverNetworks());
      if (r.action === 'started' && watch) this.#o.log.warn({ pid: r.pid }, 'the name resolver had died: started it again');
      return r;
    } catch (err) {
      // Names stop resolving, nothing else does: the operation that changed them goes on.
      this.#o.log.error({ err: messageOf(err) }, 'cannot update the name resolver');
      return { action: 'failed' };
    }
  }

  checkResolver(): Promise<void> {
    if (!this.#ready) return Promise.resolve();
    return this.#lock.run(async () => {
      await this.#syncResolver(true);
    });
  }

  stopResolver(): Promise<void> {
    return this.#lock.run(async () => {
      await this.resolver.stop();
    });
  }

  async stats(containerId: string, pid?: number): Promise<Record<string, InterfaceStats>> {
    const sb = this.#sandboxes.get(containerId);
    if (!sb) return {};
    return namespaceStats(this.cmds, sb.netnsPath, pid);
  }

  removeNetwork(name: string): Promise<void> {
    return this.#lock.run(async () => {
      const net = this.#networks.get(name);
      const rec = this.#recorded.find((r) => r.config.name === name);
      const cfg = net?.info ?? rec?.config;
      if (!cfg || !rec) throw notFound(`network ${name} not found`);
      if (this.endpoints(name).length > 0) throw forbidden(`error while removing network: network ${name} id ${cfg.id} has active endpoints`);
      // Marked first: a removal cut short is finished at the next start, never half undone.
      if (!rec.removing) await this.#writeRecord({ ...rec, removing: true });
      this.firewall.setNetwork(name, undefined);
      await this.firewall.sync();
      if (!cfg.external) await removeBridge(this.cmds, cfg.bridge);
      this.#networks.delete(name);
      if (cfg.dns && this.#ready) await this.#syncResolver();
      await this.#records.remove(name);
      this.#recorded = this.#recorded.filter((r) => r.config.name !== name);
    });
  }

  removeAll(): Promise<CleanupReport> {
    return this.#lock.run(async () => {
      const endpoints: string[] = [];
      const all = [...this.#sandboxes.values()];
      const resolver = await this.resolver.stop();
      await removeEndpoints(this.cmds, all.map(linksOf));
      for (const rec of all) {
        await this.#forget(rec.containerId);
        for (const key of [...this.#held.keys()]) if (key.startsWith(`${rec.containerId}/`)) this.#closeHeld(key);
        endpoints.push(rec.containerId);
      }
      await this.#removeUnrecordedNetns(localLinks());
      const rules = await this.firewall.removeAll();
      const bridges = new Set<string>();
      for (const c of [...this.#recorded.map((r) => r.config), ...[...this.#networks.values()].map((n) => n.info)]) {
        if (c.external || bridges.has(c.bridge)) continue;
        await removeBridge(this.cmds, c.bridge);
        bridges.add(c.bridge);
      }
      this.#networks.clear();
      const ipForward = this.#o.ipForward ? restoreIpForward(this.#stateDir) : undefined;
      return { endpoints, bridges: [...bridges], rules, ipForward, resolver };
    });
  }
}

function heldKey(containerId: string, network: string): string {
  return `${containerId}/${network}`;
}

/** The lowest `ethN` the sandbox does not use: eth0 for the first network, as Docker. */
function nextIfName(sb: SandboxRecord): string {
  const used = new Set(sb.endpoints.map((e) => e.ifName));
  for (let i = 0; ; i++) if (!used.has(`eth${i}`)) return `eth${i}`;
}

function linksOf(sb: SandboxRecord): { netnsPath: string; hostVeths: string[] } {
  return { netnsPath: sb.netnsPath, hostVeths: sb.endpoints.map((e) => e.hostVeth) };
}

function firewallNetwork(cfg: NetworkConfig): { bridge: string; subnet: string; icc: boolean; ipMasq: boolean; internal: boolean; dns: boolean } {
  return { bridge: cfg.bridge, subnet: cfg.subnet, icc: cfg.icc, ipMasq: cfg.ipMasq, internal: cfg.internal === true, dns: cfg.dns === true };
}

/**
 * Why an endpoint no longer fits its network as configured now (a `bip` or `bridge` change
 * between runs), judged from the endpoint's own record so that it holds on every later run too.
 */
function movedFrom(rec: EndpointInfo, net: NetworkInfo): string | undefined {
  if (rec.bridge !== net.bridge) return `network ${net.name} now uses bridge ${net.bridge}, not ${rec.bridge}`;
  const ip = parseIpv4(rec.ip);
  if (ip === undefined || !cidrContains(parseCidr(net.subnet), ip) || rec.gateway !== net.gateway) {
    return `network ${net.name} is now ${net.subnet} via ${net.gateway}; the endpoint has ${rec.ip}/${rec.prefixLen} via ${rec.gateway}`;
  }
  return undefined;
}

function specOf(r: EndpointInfo): EndpointSpec {
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
    defaultRoute: r.gatewayRoute,
  };
}

function copyOf(r: EndpointInfo): EndpointInfo {
  return { ...r, ports: r.ports.map((p) => ({ ...p })), dnsNames: [...r.dnsNames], dnsServers: [...r.dnsServers] };
}

