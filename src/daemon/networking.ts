import { createHash } from 'node:crypto';
import type { DaemonConfig } from '../config/types.js';
import type { NetworkBackend, NetworkView } from '../api/backend.js';
import { isRunningLike, type ContainerRecord } from '../engine/container.js';
import type { EndpointInfo, InterfaceStats, NetworkInfo } from '../engine/ports.js';
import { NetworkStep } from '../engine/networks/network-step.js';
import type { Logger } from '../lib/logger.js';
import { BridgeDriver } from '../network/bridge-driver.js';
import { defaultBridgeConfig, hostRoutes } from '../network/default-bridge.js';
import { etcFilesWriter } from '../network/etc-files.js';


/**
 * The daemon's networking: the bridge driver, the default `bridge` network made (or adopted)
 * at start, the start step that gives containers their network, and the network views.
 */
export class DaemonNetworking implements NetworkBackend {
  readonly driver: BridgeDriver;
  readonly #config: () => DaemonConfig;
  readonly #log: Logger;
  #engineId = '';
  #bridge: NetworkInfo | undefined;

  constructor(o: { config: () => DaemonConfig; log: Logger }) {
    this.#config = o.config;
    this.#log = o.log;
    const c = o.config();
    this.driver = new BridgeDriver({
      dataRoot: c.dataRoot,
      execRoot: c.execRoot,
      iptables: c.iptables,
      ipForward: c.ipForward,
      defaultHostIp: c.ip,
      log: o.log,
    });
  }

  /** Load the endpoint records, then make or adopt the default bridge (before the restore pass). */
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
    if (!cfg) return;
    this.#bridge = await this.driver.ensureNetwork(cfg);
    const b = this.#bridge;
    this.#log.info({ bridge: b.bridge, subnet: b.subnet, gateway: b.gateway, action: b.action }, `default bridge network: ${b.bridge} ${b.subnet}`);
    if (b.previousPool) {
      this.#log.warn(`the bridge network was ${b.previousPool.subnet} and is now ${b.subnet}: containers started on the old one keep their addresses until they stop`);
    }
  }

  get bridgeEnabled(): boolean {
    return this.#bridge !== undefined;
  }

  step(deps: { container: (id: string) => ContainerRecord | undefined; dirOf: (id: string) => string }): NetworkStep {
    return new NetworkStep({
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
  }

  /**
   * After the restore pass: endpoints of running containers are adopted as they are; those of
   * containers that stopped or went away while berthd was down are removed, their addresses
   * freed; a published port someone else took meanwhile is reported.
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
  }

  networks(): NetworkView[] {
    const idOf = (name: string) => createHash('sha256').update(`${this.#engineId}/network/${name}`).digest('hex');
    const out: NetworkView[] = [];
    const b = this.#bridge;
    if (b) {
      out.push({
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
    out.push({ name: 'host', id: idOf('host'), driver: 'host', options: {} }, { name: 'none', id: idOf('none'), driver: 'null', options: {} });
    return out;
  }

  endpoint(containerId: string): EndpointInfo | undefined {
    return this.driver.endpoint(containerId);
  }

  stats(containerId: string, pid?: number): Promise<Record<string, InterfaceStats>> {
    return this.driver.stats(containerId, pid);
  }
}
