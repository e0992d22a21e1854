import type { EndpointRequest, NetworkMode } from '../container.js';
import { invalidParameter, notFound } from '../../lib/errors.js';

export type ModeContext = {
  /** Whether the daemon has its default bridge network (the `bridge` option is not `none`). */
  bridgeEnabled: boolean;
  /** Docker's lookup of another container (id, name or unique id prefix); throws if missing. */
  containerId: (ref: string) => string;
};

/** What of the create request depends on the network mode. */
export type ModeRequest = {
  endpoint?: EndpointRequest | undefined;
  hostnameGiven: boolean;
  dnsGiven: boolean;
  extraHostsGiven: boolean;
};

/**
 * HostConfig.NetworkMode as given → the mode the container runs with, checked as dockerd
 * checks it at create. `default` is the bridge (or none when the daemon has no bridge);
 * `container:<ref>` is resolved to the other container's id, so a rename does not break it.
 * Another name is a user-defined network, looked up at each start.
 */
export function resolveNetworkMode(requested: string, req: ModeRequest, ctx: ModeContext): { mode: NetworkMode; warnings: string[] } {
  const warnings: string[] = [];
  const ports = req.endpoint?.ports ?? [];
  if (req.endpoint?.ipv4Address) throw invalidParameter('user specified IP address is supported on user defined networks only');
  if (requested === '' || requested === 'default') return { mode: ctx.bridgeEnabled ? 'bridge' : 'none', warnings };
  if (requested === 'bridge') {
    if (!ctx.bridgeEnabled) throw notFound('network bridge not found');
    return { mode: 'bridge', warnings };
  }
  if (requested === 'host' || requested === 'none') {
    if (ports.length > 0 && requested === 'host') warnings.push('Published ports are discarded when using host network mode');
    return { mode: requested, warnings };
  }
  if (requested.startsWith('container:')) {
    const ref = requested.slice('container:'.length);
    if (ref === '') throw invalidParameter('invalid network mode: container: needs a container name or id');
    const conflicting = (what: string) => invalidParameter(`conflicting options: ${what} and the network mode`);
    if (req.hostnameGiven) throw conflicting('hostname');
    if (req.dnsGiven) throw conflicting('dns');
    if (req.extraHostsGiven) throw conflicting('custom host-to-IP mapping');
    if (req.endpoint?.macAddress) throw conflicting('mac-address');
    if (ports.length > 0) throw invalidParameter('conflicting options: port publishing and the container type network mode');
    return { mode: `container:${ctx.containerId(ref)}`, warnings };
  }
  // A network that does not exist (yet) fails the start, not the create, as in dockerd: the
  // CLI takes a 404 from create for a missing image and would try to pull it.
  return { mode: requested as NetworkMode, warnings };
}
