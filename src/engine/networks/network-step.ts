import { join } from 'node:path';
import { isNetworkName, isRunningLike, type ContainerRecord, type NetworkAttachment } from '../container.js';
import type { EndpointInfo, EtcFilesWriter, HeldPorts, NetworkAttach, NetworkDriver, NetworkInfo, StartContribution, StartStep } from '../ports.js';
import { conflict, messageOf, notFound } from '../../lib/errors.js';
import { shortId } from '../../lib/ids.js';
import type { Logger } from '../../lib/logger.js';

export type DnsSettings = { servers: string[]; search: string[]; options: string[] };

export type NetworkStepDeps = {
  driver: NetworkDriver;
  files: EtcFilesWriter;
  /** The daemon's dns/dns-search/dns-opts, used when a container sets none. */
  dns: () => DnsSettings | undefined;
  /** The address `--add-host name:host-gateway` stands for (the default bridge's gateway). */
  hostGateway: () => string | undefined;
  /** Another container, for `--network container:<id>`. */
  container: (id: string) => ContainerRecord | undefined;
  dirOf: (id: string) => string;
  log: Logger;
};

/**
 * A container's network at each start: an endpoint on each network it is attached to
 * (namespace, veths, addresses, published ports reserved and forwarded on the network that
 * carries its default route, names in the resolver of user networks), or the host's or another
 * container's namespace, and the /etc files that go with it. Stopped, it gives back the
 * endpoints (as Docker, the addresses too); removed, what outlives a stop. While it runs,
 * `attach`/`detach` add and remove networks (`docker network connect/disconnect`).
 */
export class NetworkStep implements StartStep, NetworkAttach {
  readonly name = 'network';
  readonly #d: NetworkStepDeps;

  constructor(deps: NetworkStepDeps) {
    this.#d = deps;
  }

  async start(c: ContainerRecord, dir: string, signal?: AbortSignal): Promise<StartContribution> {
    const s = c.spec;
    const mode = s.networkMode;
    if (mode === 'host') return { files: await this.#d.files.write({ ...this.#common(c, dir), mode: 'host' }), network: { kind: 'host' } };
    if (mode.startsWith('container:')) return this.#joinContainer(mode.slice('container:'.length));
    // Disconnected from every network it had: loopback only, as Docker.
    if (mode === 'none' || c.networks.length === 0) return { files: await this.#d.files.write({ ...this.#common(c, dir), mode: 'none', dns: s.dns ?? this.#d.dns() }) };
    const infos = c.networks.map((a) => {
      const info = this.#d.driver.network(a.network);
      if (!info) throw notFound(`network ${a.network} not found`);
      return info;
    });
    // Docker's rule: the first network that is not internal gives the default route, and the
    // published ports go there (an internal network publishes nothing).
    const gatewayAt = infos.findIndex((n) => !n.internal);
    let held: HeldPorts | undefined;
    try {
      const endpoints: EndpointInfo[] = [];
      for (const [i, att] of c.networks.entries()) {
        const info = infos[i] as NetworkInfo;
        const { endpoint, reservation } = await this.#d.driver.connect(c.id, {
          network: att.network,
          ports: i === gatewayAt ? (s.endpoint?.ports ?? []) : [],
          gatewayRoute: i === gatewayAt,
          dnsNames: dnsNames(c, att, info),
          dnsServers: s.dns?.servers ?? [],
          ...(att.macAddress ? { mac: att.macAddress } : {}),
          ...(att.ipv4Address ? { address: att.ipv4Address } : {}),
          ...(signal ? { signal } : {}),
        });
        endpoints.push(endpoint);
        if (i === gatewayAt) held = reservation;
        else reservation.close();
      }
      const files = await this.#writeFiles(c, dir, endpoints);
      return { files, network: { kind: 'join', path: (endpoints[0] as EndpointInfo).netnsPath }, ...(held ? { held } : {}) };
    } catch (err) {
      held?.close();
      await this.stop(c);
      throw err;
    }
  }

  #common(c: ContainerRecord, dir: string) {
    const s = c.spec;
    return { dir, hostname: s.hostname, domainname: s.domainname, extraHosts: this.#extraHosts(s.extraHosts) };
  }

  /**
   * /etc/hosts names the container by its first endpoint's address; resolv.conf points at the
   * resolvers of its user networks (their gateways, in the order it joined them), or at the
   * container's, the daemon's or the host's servers on the default bridge.
   */
  #writeFiles(c: ContainerRecord, dir: string, endpoints: EndpointInfo[]) {
    const resolvers = [...new Set(endpoints.filter((e) => this.#d.driver.network(e.network)?.dns).map((e) => e.gateway))];
    return this.#d.files.write({
      ...this.#common(c, dir),
      mode: 'bridge',
      ...(endpoints[0] ? { ip: endpoints[0].ip } : {}),
      dns: c.spec.dns ?? this.#d.dns(),
      ...(resolvers.length > 0 ? { resolvers } : {}),
    });
  }

  /** `--network container:<id>`: its namespace, its /etc files and its hostname, as Docker. */
  #joinContainer(id: string): StartContribution {
    const other = this.#d.container(id);
    if (!other || !isRunningLike(other.state)) throw conflict(`cannot join network of a non running container: ${id}`);
    const otherDir = this.#d.dirOf(other.id);
    const files = [
      { source: join(otherDir, 'resolv.conf'), destination: '/etc/resolv.conf' },
      { source: join(otherDir, 'hostname'), destination: '/etc/hostname' },
      { source: join(otherDir, 'hosts'), destination: '/etc/hosts' },
    ];
    const hostname = other.spec.hostname;
    if (other.spec.networkMode === 'host') return { files, network: { kind: 'host' } };
    const endpoint = this.#d.driver.endpoint(other.id);
    const path = endpoint ? endpoint.netnsPath : `/proc/${other.state.handle.container.pid}/ns/net`;
    return { files, network: { kind: 'join', path }, hostname };
  }

  #extraHosts(entries: string[] | undefined): string[] | undefined {
    if (!entries?.some((e) => e.endsWith(':host-gateway'))) return entries;
    const gw = this.#d.hostGateway();
    if (!gw) throw conflict('unable to derive the IP value for host-gateway: there is no default bridge network');
    return entries.map((e) => (e.endsWith(':host-gateway') ? `${e.slice(0, -'host-gateway'.length)}${gw}` : e));
  }

  async stop(c: ContainerRecord): Promise<void> {
    if (this.#d.driver.endpointsOf(c.id).length === 0) return;
    await this.#d.driver.disconnect(c.id, { keepStaticAddress: true });
  }

  async remove(c: ContainerRecord): Promise<void> {
    // Also without an endpoint: a stopped container's --ip addresses stay reserved until now.
    if (!isNetworkName(c.spec.networkMode) && this.#d.driver.endpointsOf(c.id).length === 0) return;
    await this.#d.driver.disconnect(c.id, { keepStaticAddress: false }).catch((err: unknown) => {
      this.#d.log.warn({ containerId: c.id, err: messageOf(err) }, 'cannot remove the network endpoint');
      throw err;
    });
  }

  // ---- a running container's networks changing (NetworkAttach) -------------------------

  async attach(c: ContainerRecord, att: NetworkAttachment, signal?: AbortSignal): Promise<void> {
    const info = this.#d.driver.network(att.network);
    if (!info) throw notFound(`network ${att.network} not found`);
    const before = this.#d.driver.endpointsOf(c.id);
    const { reservation } = await this.#d.driver.connect(c.id, {
      network: att.network,
      ports: [],
      // It takes the default route only from nobody (a container so far only on internal networks).
      gatewayRoute: !info.internal && !before.some((e) => e.gatewayRoute),
      dnsNames: dnsNames(c, att, info),
      dnsServers: c.spec.dns?.servers ?? [],
      ...(att.macAddress ? { mac: att.macAddress } : {}),
      ...(att.ipv4Address ? { address: att.ipv4Address } : {}),
      ...(signal ? { signal } : {}),
    });
    reservation.close();
    try {
      await this.#writeFiles(c, this.#d.dirOf(c.id), this.#d.driver.endpointsOf(c.id));
    } catch (err) {
      await this.#d.driver.disconnect(c.id, { network: att.network, keepStaticAddress: false });
      throw err;
    }
  }

  async detach(c: ContainerRecord, network: string): Promise<void> {
    await this.#d.driver.disconnect(c.id, { network, keepStaticAddress: false });
    if (isRunningLike(c.state)) await this.#writeFiles(c, this.#d.dirOf(c.id), this.#d.driver.endpointsOf(c.id));
  }

  async renamed(c: ContainerRecord): Promise<void> {
    if (this.#d.driver.endpointsOf(c.id).length === 0) return;
    await this.#d.driver.setDnsNames(c.id, (network) => {
      const att = c.networks.find((a) => a.network === network);
      const info = this.#d.driver.network(network);
      return att && info ? dnsNames(c, att, info) : [];
    });
  }

  describe(network: string): { name: string; id: string; user: boolean; internal: boolean; subnetGiven: boolean } | undefined {
    const n = this.#d.driver.network(network);
    return n ? { name: n.name, id: n.id, user: n.user !== undefined, internal: n.internal === true, subnetGiven: n.user?.subnetGiven === true } : undefined;
  }
}

/**
 * What resolves to a container on a network with a resolver, as Docker's DNSNames: its name,
 * its aliases there, its short id and its hostname. None on the default bridge.
 */
export function dnsNames(c: ContainerRecord, att: NetworkAttachment, net: { dns?: boolean | undefined }): string[] {
  if (!net.dns) return [];
  return [...new Set([c.name, ...att.aliases, shortId(c.id), c.spec.hostname].filter((n) => n !== ''))];
}
