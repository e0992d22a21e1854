import type { ContainerRecord, StartContribution, StartStep } from '../engine/ports.js';
import { writeEtcFiles } from './etc-files.js';

export type DnsSettings = { servers: string[]; search: string[]; options: string[] };

/**
 * Each start writes the container's /etc/hostname, /etc/hosts and /etc/resolv.conf afresh
 * (the daemon's dns settings may have changed since); they live in the container's folder
 * and go with it.
 */
export class NetworkFilesStep implements StartStep {
  readonly name = 'network files';
  readonly #dns: () => DnsSettings | undefined;

  /** `dns`: the daemon's dns/dns-search/dns-opts, used when a container sets none. */
  constructor(dns: () => DnsSettings | undefined) {
    this.#dns = dns;
  }

  async start(c: ContainerRecord, containerDir: string): Promise<StartContribution> {
    const s = c.spec;
    const files = await writeEtcFiles({
      dir: containerDir,
      hostname: s.hostname,
      domainname: s.domainname,
      networkMode: s.networkMode,
      dns: s.dns ?? this.#dns(),
      extraHosts: s.extraHosts,
    });
    return { files };
  }

  async stop(): Promise<void> {}

  async remove(): Promise<void> {}
}
