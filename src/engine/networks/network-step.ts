import { join } from 'node:path';
import { isRunningLike, type ContainerRecord } from '../container.js';
import type { EtcFilesWriter, NetworkDriver, StartContribution, StartStep } from '../ports.js';
import { conflict, messageOf, notFound } from '../../lib/errors.js';
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
 * A container's network at each start: its endpoint on the bridge (namespace, veth, address,
 * published ports reserved and forwarded), or the host's or another container's namespace,
 * and the /etc files that go with it. Stopped, it gives back the endpoint (as Docker, the
 * address too); removed, what outlives a stop.
 */
export class NetworkStep implements StartStep {
  readonly name = 'network';
  readonly #d: NetworkStepDeps;

  constructor(deps: NetworkStepDeps) {
    this.#d = deps;
  }

  async start(c: ContainerRecord, dir: string, signal?: AbortSignal): Promise<StartContribution> {
    const s = c.spec;
    const mode = s.networkMode;
    const common = { dir, hostname: s.hostname, domainname: s.domainname, extraHosts: this.#extraHosts(s.extraHosts) };
    if (mode === 'host') return { files: await this.#d.files.write({ ...common, mode: 'host' }), network: { kind: 'host' } };
    if (mode === 'none') return { files: await this.#d.files.write({ ...common, mode: 'none', dns: s.dns ?? this.#d.dns() }) };
    if (mode === 'bridge') {
      const e = s.endpoint;
      const { endpoint, reservation } = await this.#d.driver.connect(c.id, {
        network: 'bridge',
        ports: e?.ports ?? [],
        ...(e?.macAddress ? { mac: e.macAddress } : {}),
        ...(e?.ipv4Address ? { address: e.ipv4Address } : {}),
        ...(signal ? { signal } : {}),
      });
      try {
        const files = await this.#d.files.write({ ...common, mode: 'bridge', ip: endpoint.ip, dns: s.dns ?? this.#d.dns() });
        return { files, network: { kind: 'join', path: endpoint.netnsPath }, held: reservation };
      } catch (err) {
        reservation.close();
        await this.stop(c);
        throw err;
      }
    }
    if (mode.startsWith('container:')) return this.#joinContainer(mode.slice('container:'.length));
    throw notFound(`network ${mode} not found`);
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
    if (!this.#d.driver.endpoint(c.id)) return;
    await this.#d.driver.disconnect(c.id, { keepStaticAddress: true });
  }

  async remove(c: ContainerRecord): Promise<void> {
    if (!this.#d.driver.endpoint(c.id)) return;
    await this.#d.driver.disconnect(c.id, { keepStaticAddress: false }).catch((err: unknown) => {
      this.#d.log.warn({ containerId: c.id, err: messageOf(err) }, 'cannot remove the network endpoint');
      throw err;
    });
  }
}
