import type { EndpointRequest, NetworkAttachment, NetworkMode } from '../container.js';
import type { EndpointSettings } from '../create-options.js';
import { invalidParameter } from '../../lib/errors.js';

export type ModeContext = {
  /** Whether the daemon has its default bridge network (the `bridge` option is not `none`). */
  bridgeEnabled: boolean;
  /** Docker's lookup of another container (id, name or unique id prefix); throws if missing. */
  containerId: (ref: string) => string;
  /** A network by name, id or id prefix, if it exists now. */
  network?: (ref: string) => { name: string; id: string; user: boolean; subnetGiven: boolean } | undefined;
};

/** What of the create request depends on the network mode. */
export type ModeRequest = {
  endpoint?: EndpointRequest | undefined;
  hostnameGiven: boolean;
  dnsGiven: boolean;
  extraHostsGiven: boolean;
  /** NetworkingConfig.EndpointsConfig, by the network names the client used. */
  endpointsConfig?: Record<string, EndpointSettings> | undefined;
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
  const builtin = requested === '' || requested === 'default' || requested === 'bridge' || requested === 'host' || requested === 'none' || requested.startsWith('container:');
  if (req.endpoint?.ipv4Address && builtin) throw invalidParameter('user specified IP address is supported on user defined networks only');
  if (requested === '' || requested === 'default') return { mode: ctx.bridgeEnabled ? 'bridge' : 'none', warnings };
  // Without a default bridge, `bridge` is a network that does not exist: the start fails (below).
  if (requested === 'bridge') return { mode: 'bridge', warnings };
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
  // CLI takes a 404 from create for a missing image and would try to pull it. One that exists
  // is kept by name, also when asked for by id.
  const net = ctx.network?.(requested);
  if (net?.user && req.endpoint?.ipv4Address && !net.subnetGiven) {
    throw invalidParameter('user specified IP address is supported only when connecting to networks with user configured subnets');
  }
  return { mode: (net?.name ?? requested) as NetworkMode, warnings };
}

/**
 * The networks a new container is attached to: its network mode's first (with the --ip and
 * --mac-address of the request), then the other networks NetworkingConfig names, each with its
 * aliases. Aliases are refused on the default bridge, as in Docker.
 */
export function initialAttachments(
  mode: NetworkMode,
  requested: string,
  req: Pick<ModeRequest, 'endpoint' | 'endpointsConfig'>,
  ctx: Pick<ModeContext, 'network'>,
): NetworkAttachment[] {
  if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) return [];
  const given = req.endpointsConfig ?? {};
  const keys = Object.keys(given);
  const primaryKey = [requested, mode, 'default'].find((k) => k in given) ?? (keys.length === 1 ? keys[0] : undefined);
  const settings = (name: string, s: EndpointSettings | undefined, primary: boolean): NetworkAttachment => {
    const net = ctx.network?.(name);
    const aliases = [...new Set(s?.aliases ?? [])];
    if (aliases.length > 0 && (name === 'bridge' || (net !== undefined && !net.user))) {
      throw invalidParameter('network-scoped alias is supported only for containers in user defined networks');
    }
    const ip = primary ? (req.endpoint?.ipv4Address ?? s?.ipv4Address) : s?.ipv4Address;
    const mac = primary ? (req.endpoint?.macAddress ?? s?.macAddress) : s?.macAddress;
    return {
      network: net?.name ?? name,
      ...(net ? { networkId: net.id } : {}),
      aliases,
      ...(ip ? { ipv4Address: ip } : {}),
      ...(mac ? { macAddress: mac } : {}),
    };
  };
  const out = [settings(mode, primaryKey === undefined ? undefined : given[primaryKey], true)];
  for (const k of keys) {
    if (k === primaryKey) continue;
    const att = settings(k, given[k], false);
    if (att.network === 'host' || att.network === 'none') throw invalidParameter(`container cannot be connected to network ${att.network} and to another network`);
    if (!out.some((a) => a.network === att.network)) out.push(att);
  }
  return out;
}
