import type { ConnectRequest, NetworkCreateRequest, NetworkView } from '../backend.js';
import { invalidParameter } from '../../lib/errors.js';
import { matchLabel, parseFilters } from './filters.js';
import { parseDockerTime } from '../../lib/docker-time.js';
import { field, isBool, isObj, isStr, isStrArr, isStrMap, jsType, type Json } from './json-fields.js';

const N = 'CreateRequest';

/** `POST /networks/create` → the engine's request, with Go's type errors for wrong types. */
export function parseNetworkCreate(body: unknown): NetworkCreateRequest {
  if (!isObj(body)) throw invalidParameter('invalid JSON: expected an object');
  const name = field(body, 'Name', N, isStr, 'string') ?? '';
  const ipamRaw = field(body, 'IPAM', N, isObj, 'network.IPAM') ?? {};
  const configs = field(ipamRaw, 'Config', 'IPAM', Array.isArray, '[]network.IPAMConfig') ?? [];
  const ipam = configs.map((c: unknown) => {
    if (!isObj(c)) throw invalidParameter(`json: cannot unmarshal ${jsType(c)} into Go struct field IPAM.Config of type network.IPAMConfig`);
    const opt = (k: string) => {
      const v = field(c, k, 'IPAMConfig', isStr, 'string');
      return v === undefined || v === '' ? undefined : v;
    };
    return { subnet: opt('Subnet'), gateway: opt('Gateway'), ipRange: opt('IPRange'), auxAddresses: field(c, 'AuxiliaryAddresses', 'IPAMConfig', isStrMap, 'map[string]string') };
  });
  const configFrom = field(body, 'ConfigFrom', N, isObj, 'network.ConfigReference');
  return {
    name,
    driver: field(body, 'Driver', N, isStr, 'string') ?? '',
    internal: field(body, 'Internal', N, isBool, 'bool') ?? false,
    attachable: field(body, 'Attachable', N, isBool, 'bool') ?? false,
    ingress: field(body, 'Ingress', N, isBool, 'bool') ?? false,
    enableIPv6: field(body, 'EnableIPv6', N, isBool, 'bool') ?? false,
    enableIPv4: field(body, 'EnableIPv4', N, isBool, 'bool') ?? true,
    configOnly: field(body, 'ConfigOnly', N, isBool, 'bool') ?? false,
    configFrom: configFrom && isStr(configFrom['Network']) ? configFrom['Network'] : '',
    ipamDriver: field(ipamRaw, 'Driver', 'IPAM', isStr, 'string') ?? '',
    ipam,
    ipamOptions: field(ipamRaw, 'Options', 'IPAM', isStrMap, 'map[string]string') ?? {},
    options: field(body, 'Options', N, isStrMap, 'map[string]string') ?? {},
    labels: field(body, 'Labels', N, isStrMap, 'map[string]string') ?? {},
  };
}

/** `POST /networks/{id}/connect`'s body: the container and its endpoint settings there. */
export function parseConnect(body: unknown): { container: string; req: ConnectRequest } {
  if (!isObj(body)) throw invalidParameter('invalid JSON: expected an object');
  const container = field(body, 'Container', 'NetworkConnect', isStr, 'string') ?? '';
  if (container === '') throw invalidParameter('no container given to connect');
  const ep: Json = field(body, 'EndpointConfig', 'NetworkConnect', isObj, 'network.EndpointSettings') ?? {};
  const ipam: Json = field(ep, 'IPAMConfig', 'EndpointSettings', isObj, 'network.EndpointIPAMConfig') ?? {};
  const ip = field(ipam, 'IPv4Address', 'EndpointIPAMConfig', isStr, 'string');
  const mac = field(ep, 'MacAddress', 'EndpointSettings', isStr, 'string');
  if ((field(ep, 'Links', 'EndpointSettings', isStrArr, '[]string') ?? []).length > 0) throw invalidParameter('links (--link) are not supported by berth: containers on a user network resolve each other by name');
  return {
    container,
    req: {
      aliases: (field(ep, 'Aliases', 'EndpointSettings', isStrArr, '[]string') ?? []).filter((a) => a !== ''),
      ...(ip ? { ipv4Address: ip } : {}),
      ...(mac ? { macAddress: mac } : {}),
    },
  };
}

export function parseDisconnect(body: unknown): { container: string; force: boolean } {
  if (!isObj(body)) throw invalidParameter('invalid JSON: expected an object');
  const container = field(body, 'Container', 'NetworkDisconnect', isStr, 'string') ?? '';
  if (container === '') throw invalidParameter('no container given to disconnect');
  return { container, force: field(body, 'Force', 'NetworkDisconnect', isBool, 'bool') ?? false };
}

export type AttachedJson = { id: string; name: string; endpointId: string; mac: string; ipv4: string };

/** A network as `GET /networks/{id}` (and, without Containers, `GET /networks`) shows it in API 1.47. */
export function networkJson(n: NetworkView, containers: AttachedJson[] | undefined): Record<string, unknown> {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: n.ipamOptions,
      Config: n.ipam ? [{ Subnet: n.ipam.subnet, Gateway: n.ipam.gateway, ...(n.ipam.ipRange ? { IPRange: n.ipam.ipRange } : {}) }] : [],
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: Object.fromEntries(
      (containers ?? []).map((c) => [c.id, { Name: c.name, EndpointID: c.endpointId, MacAddress: c.mac, IPv4Address: c.ipv4, IPv6Address: '' }]),
    ),
    Options: n.options,
    Labels: n.labels,
  };
}

const LIST_FILTERS = ['driver', 'id', 'label', 'name', 'scope', 'type', 'dangling'] as const;

/**
 * `GET /networks?filters=`: dockerd's filters — name and id by substring and prefix, label
 * (`k` or `k=v`), driver, scope, type (custom/builtin), dangling (no container on it).
 */
export function networkSelection(raw: string | null, inUse: (n: NetworkView) => boolean): (n: NetworkView) => boolean {
  const f = parseFilters(raw, LIST_FILTERS);
  for (const t of f.get('type') ?? []) {
    if (t !== 'custom' && t !== 'builtin') throw invalidParameter(`invalid filter: 'type'='${t}'`);
  }
  for (const v of f.get('dangling') ?? []) {
    if (!['true', 'false', '1', '0'].includes(v)) throw invalidParameter(`invalid filter 'dangling=${v}'`);
  }
  const any = (key: string, test: (v: string) => boolean) => {
    const values = f.get(key);
    return values === undefined || values.some(test);
  };
  return (n) =>
    any('name', (v) => n.name.includes(v)) &&
    any('id', (v) => n.id.startsWith(v)) &&
    any('driver', (v) => v === n.driver) &&
    any('scope', (v) => v === 'local') &&
    any('type', (v) => (v === 'builtin') === n.builtin) &&
    // Built-in networks are never dangling, as in dockerd.
    any('dangling', (v) => (v === 'true' || v === '1') === (!n.builtin && !inUse(n))) &&
    (f.get('label') ?? []).every((l) => matchLabel(n.labels, l));
}

/** `POST /networks/prune?filters=`: created before `until` (Docker's time forms), with (or without) labels. */
export function networkPruneSelection(raw: string | null, nowMs = Date.now()): (n: NetworkView) => boolean {
  const f = parseFilters(raw, ['until', 'label', 'label!']);
  const untilValues = f.get('until') ?? [];
  if (untilValues.length > 1) throw invalidParameter('more than one until filter specified');
  const until = untilValues[0];
  const untilMs = until === undefined ? undefined : Number(parseDockerTime(until, BigInt(nowMs) * 1_000_000n) / 1_000_000n);
  return (n) =>
    (untilMs === undefined || Date.parse(n.created) < untilMs) &&
    (f.get('label') ?? []).every((l) => matchLabel(n.labels, l)) &&
    (f.get('label!') ?? []).every((l) => !matchLabel(n.labels, l));
}

