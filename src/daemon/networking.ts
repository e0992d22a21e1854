import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DaemonConfig } from '../config/types.js';
import type { NetworkBackend } from '../api/backend.js';
import { isRunningLike, type ContainerRecord } from '../engine/container.js';
import type { EventBus } from '../engine/events.js';
import type { EndpointInfo, InterfaceStats, NetworkInfo } from '../engine/ports.js';
import { NetworkStep } from '../engine/networks/network-step.js';
import { NetworkService, type NetworkContainers, type NetworkView } from '../engine/networks/network-service.js';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { BridgeDriver } from '../network/bridge-driver.js';
import { defaultBridgeConfig, hostRoutes } from '../network/default-bridge.js';
import { etcFilesWriter } from '../network/etc-files.js';

/** How often berthd checks that the resolver still runs (a /proc read; a restart only if it died). */
const RESOLVER_CHECK_MS = 5000;

/**
 * The daemon's networking: the bridge driver, the default `bridge` network and the user
 * networks made (or adopted) at start, the start step that gives containers their network,
 * the network service behind `docker network`, and a watch on the resolver.
 */
export class DaemonNetworking {
  readonly driver: BridgeDriver;
  readonly service: NetworkService;
  readonly backend: NetworkBackend;
  readonly #config: () => DaemonConfig;
  readonly #log: Logger;
  #engineId = '';
  #bridge: NetworkInfo | undefined;
  #step: NetworkStep | undefined;
  #watch: NodeJS.Timeout | undefined;

  constructor(o: { config: () => DaemonConfig; log: Logger; events: EventBus; containers: () => NetworkContainers }) {
    this.#config = o.config;
    this.#log = o.log;
    const c = o.config();
    this.driver = new BridgeDriver({
      dataRoot: c.dataRoot,
      execRoot: c.execRoot,
      iptables: c.iptables,
      ipForward: c.ipForward,
      defaultHostIp: c.ip,
      dnsUpstreams: () => upstreams(this.#config()),
      log: o.log,
    });
    this.service = new NetworkService({
      driver: this.driver,
      containers: o.containers,
      events: o.events,
      log: o.log,
      defaults: () => ({ pools: this.#config().defaultAddressPools, mtu: this.#config().mtu }),
      builtins: () => this.#builtins(),
    });
    const s = this.service;
    this.backend = {
      list: () => s.list(),
      find: (ref) => s.find(ref),
      attached: (name) => s.attached(name),
      create: (req) => s.create(req),
      remove: (ref) => s.remove(ref),
      prune: (select) => s.prune(select),
      connect: (ref, container, req) => s.connect(ref, container, req),
      disconnect: (ref, container, force) => s.disconnect(ref, container, force),
      endpointsOf: (id) => this.driver.endpointsOf(id),
      stats: (id, pid) => this.driver.stats(id, pid),
    };
  }

  /**
   * Load the endpoint records, then make or adopt the default bridge and the user networks
   * (before the restore pass, so restarts by policy can connect); finish removals cut short.
   */
  async start(engineId: string): Promise<void> {
    this.#engineId = engineId;
    await this.driver.init();
    const c = this.#config();
    const recorded = this.driver.recordedNetwork('bridge');
    const cfg = defaultBridgeConfig({
      dataRoot: c.dataRoot,
      engineId,
      bip: c.bip,
      bridge: c.bridge,
      fixedCidr: c.fixedCidr,
      mtu: c.mtu,
      icc: c.icc,
      ipMasq: c.ipMasq,
      recorded,
      routes: c.bip === undefined && !recorded ? hostRoutes() : [],
    });
    if (cfg) {
      this.#bridge = await this.driver.ensureNetwork(cfg);
      const b = this.#bridge;
      this.#log.info({ bridge: b.bridge, subnet: b.subnet, gateway: b.gateway, action: b.action }, `default bridge network: ${b.bridge} ${b.subnet}`);
      if (b.previousPool) {
        this.#log.warn(`the bridge network was ${b.previousPool.subnet} and is now ${b.subnet}: containers started on the old one keep their addresses until they stop`);
      }
    }
    for (const { config, removing } of this.driver.recordedNetworks()) {
      try {
        if (removing) await this.driver.removeNetwork(config.name);
        else await this.driver.ensureNetwork(config);
      } catch (err) {
        // One network that cannot come up (its bridge name taken meanwhile) does not stop the daemon.
        this.#log.error({ network: config.name, err: messageOf(err) }, `cannot set up network ${config.name}`);
      }
    }
    await this.#notePools(c);
  }

  /** A change of default-address-pools between runs: existing networks keep their subnets (said once). */
  async #notePools(c: DaemonConfig): Promise<void> {
    const file = join(c.dataRoot, 'network', 'pools.json');
    const now = JSON.stringify(c.defaultAddressPools);
    let before: string | undefined;
    try {
      before = readFileSync(file, 'utf8');
    } catch {
      before = undefined;
    }
    if (before === now) return;
    if (before !== undefined && this.driver.recordedNetworks().length > 0) {
      this.#log.warn(`default-address-pools changed since the last start (${before} → ${now}): existing networks keep their subnets, new ones come from the new pools`);
    }
    // With `bridge: none` nothing else has made the network folder yet.
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, now);
  }

  get bridgeEnabled(): boolean {
    return this.#bridge !== undefined;
  }

  step(deps: { container: (id: string) => ContainerRecord | undefined; dirOf: (id: string) => string }): NetworkStep {
    this.#step ??= new NetworkStep({
      driver: this.driver,
      files: etcFilesWriter,
      dns: () => {
        const cfg = this.#config();
        return cfg.dns.length + cfg.dnsSearch.length + cfg.dnsOpts.length > 0 ? { servers: cfg.dns, search: cfg.dnsSearch, options: cfg.dnsOpts } : undefined;
      },
      hostGateway: () => this.#bridge?.gateway,
      container: deps.container,
      dirOf: deps.dirOf,
      log: this.#log,
    });
    return this.#step;
  }

  /**
   * After the restore pass: endpoints of running containers are adopted as they are; those of
   * containers that stopped or went away while berthd was down are removed, their addresses
   * freed and their names dropped from the resolver; a published port someone else took
   * meanwhile is reported. Then the resolver is watched.
   */
  async restore(containers: ContainerRecord[]): Promise<void> {
    const running = new Map<string, { pid: number; monitorPid: number }>();
    for (const r of containers) {
      if (isRunningLike(r.state)) running.set(r.id, { pid: r.state.handle.container.pid, monitorPid: r.state.handle.conmon.pid });
    }
    const report = await this.driver.restore({ running, existing: new Set(containers.map((r) => r.id)) });
    for (const p of report.ports) {
      if (p.state === 'taken') {
        this.#log.error(
          { containerId: p.containerId, port: p.mapping },
          `published port ${p.mapping.hostIp || '0.0.0.0'}:${p.mapping.hostPort}/${p.mapping.proto} of container ${p.containerId.slice(0, 12)} was taken by another process while berthd was down: its DNAT rule stays, the port is not reserved`,
        );
      }
    }
    for (const l of report.lost) this.#log.warn({ containerId: l.containerId }, `network endpoint not adopted: ${l.reason}`);
    if (report.cleaned.length + report.leftovers.netns.length + report.leftovers.chains.length > 0) {
      this.#log.info({ cleaned: report.cleaned, leftovers: report.leftovers }, 'network: removed what belonged to containers gone while the daemon was down');
    }
    if (report.resolver && report.resolver !== 'none') this.#log.info({ resolver: report.resolver }, `name resolver: ${report.resolver}`);
    let checking = false;
    this.#watch = setInterval(() => {
      // One check at a time: a long network operation holding the lock must not pile them up.
      if (checking) return;
      checking = true;
      this.driver
        .checkResolver()
        .catch((err: unknown) => this.#log.warn({ err: messageOf(err) }, 'cannot check the name resolver'))
        .finally(() => (checking = false));
    }, RESOLVER_CHECK_MS);
    this.#watch.unref();
  }

  /**
   * At shutdown. With live restore the resolver keeps serving the containers left running;
   * without it every container has stopped, so it goes too.
   */
  async shutdown(liveRestore: boolean): Promise<void> {
    if (this.#watch) clearInterval(this.#watch);
    this.#watch = undefined;
    if (!liveRestore) await this.driver.stopResolver().catch((err: unknown) => this.#log.warn({ err: messageOf(err) }, 'cannot stop the name resolver'));
  }

  #builtins(): NetworkView[] {
    const idOf = (name: string) => createHash('sha256').update(`${this.#engineId}/network/${name}`).digest('hex');
    const plain = { created: '0001-01-01T00:00:00Z', builtin: true, internal: false, attachable: false, ipamOptions: null, labels: {} };
    const out: NetworkView[] = [];
    const b = this.#bridge;
    if (b) {
      out.push({
        ...plain,
        name: 'bridge',
        id: b.id,
        driver: 'bridge',
        ipam: { subnet: b.subnet, gateway: b.gateway, ...(b.ipRange ? { ipRange: b.ipRange } : {}) },
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': String(b.icc),
          'com.docker.network.bridge.enable_ip_masquerade': String(b.ipMasq),
          'com.docker.network.bridge.host_binding_ipv4': this.#config().ip,
          'com.docker.network.bridge.name': b.bridge,
          'com.docker.network.driver.mtu': String(b.mtu),
        },
      });
    }
    out.push({ ...plain, name: 'host', id: idOf('host'), driver: 'host', options: {} }, { ...plain, name: 'none', id: idOf('none'), driver: 'null', options: {} });
    return out;
  }

  endpoint(containerId: string): EndpointInfo | undefined {
    return this.driver.endpoint(containerId);
  }

  stats(containerId: string, pid?: number): Promise<Record<string, InterfaceStats>> {
    return this.driver.stats(containerId, pid);
  }
}

/**
 * Where the resolver of user networks forwards names that are not containers': the daemon's
 * `dns`, else the host's resolvers. Loopback ones are kept: unlike a container, the resolver
 * runs in berthd's network namespace, where they answer (a local caching resolver on
 * 127.0.0.53 is what the host itself uses), as dockerd's embedded DNS forwards to them from the host's namespace.
 */
export function upstreams(c: Pick<DaemonConfig, 'dns'>, resolvConf?: string): string[] {
  if (c.dns.length > 0) return c.dns;
  let text = resolvConf;
  if (text === undefined) {
    try {
      text = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      text = '';
    }
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m?.[1] && !m[1].includes('%')) out.push(m[1]);
  }
  return out;
}
