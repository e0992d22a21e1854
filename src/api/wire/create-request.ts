import { portRequests, type CreateOptions, type EndpointRequest, type EndpointSettings, type MountSpec, type RestartPolicy, type Ulimit } from '../backend.js';
import { ULIMIT_NAMES } from '../../config/values.js';
import { parseRequestMounts } from './mounts.js';
import { parseHostTuning } from './host-tuning.js';
import { parseHealthcheck } from './healthcheck.js';
import { invalidParameter } from '../../lib/errors.js';
import { isIP } from 'node:net';
import { checkLogDriver, validateLogOpts } from '../../config/validate.js';

import { field, isBool, isInt, isObj, isStr, isStrArr, isStrMap, jsType, strSlice, type Json } from './json-fields.js';

const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * Translate a `POST /containers/create` body into the engine's create options, rejecting
 * malformed or unsupported values with Docker's 400 messages.
 */
export function parseCreateBody(body: unknown, name: string | undefined, platform: string | undefined): CreateOptions {
  if (!isObj(body)) throw invalidParameter('invalid JSON: expected an object');
  const config = body;
  const hostConfig = isObj(body['HostConfig']) ? body['HostConfig'] : {};
  if (body['HostConfig'] !== undefined && body['HostConfig'] !== null && !isObj(body['HostConfig'])) {
    throw invalidParameter(`json: cannot unmarshal ${jsType(body['HostConfig'])} into Go value of type container.HostConfig`);
  }
  const C = 'Config';
  const H = 'HostConfig';
  const image = field(config, 'Image', C, isStr, 'string');
  if (!image) throw invalidParameter('Config.Image is required: no image specified');

  const rawEntrypoint = strSlice(config, 'Entrypoint', C);
  const entrypointReset = rawEntrypoint !== undefined && rawEntrypoint.length === 1 && rawEntrypoint[0] === '';
  const entrypoint = rawEntrypoint === undefined ? undefined : entrypointReset ? [] : rawEntrypoint;

  const restart = parseRestartPolicy(hostConfig['RestartPolicy']);
  const autoRemove = field(hostConfig, 'AutoRemove', H, isBool, 'bool') ?? false;
  if (autoRemove && restart.name !== 'no') {
    throw invalidParameter("can't create 'AutoRemove' container with restart policy");
  }

  const memory = field(hostConfig, 'Memory', H, isInt, 'int64') ?? 0;
  // dockerd's test is `!= 0`: a negative limit is refused with the same message.
  if (memory !== 0 && memory < MIN_MEMORY) throw invalidParameter('Minimum memory limit allowed is 6MB');
  const memorySwap = field(hostConfig, 'MemorySwap', H, isInt, 'int64') ?? 0;
  if (memory > 0 && memorySwap > 0 && memorySwap < memory) {
    throw invalidParameter('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  const nanoCpus = field(hostConfig, 'NanoCpus', H, isInt, 'int64') ?? 0;
  if (nanoCpus < 0) throw invalidParameter('invalid value for NanoCPUs: must be positive');
  const pidsLimit = field(hostConfig, 'PidsLimit', H, isInt, 'int64') ?? 0;

  const stopTimeout = field(config, 'StopTimeout', C, isInt, 'int');
  const networkMode = field(hostConfig, 'NetworkMode', H, isStr, 'container.NetworkMode') ?? '';
  const endpoint = parseEndpoint(body, config, hostConfig, networkMode);

  return {
    ...(name ? { name } : {}),
    image,
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    ...(strSlice(config, 'Cmd', C) !== undefined ? { cmd: strSlice(config, 'Cmd', C) } : {}),
    inheritCmd: rawEntrypoint === undefined || rawEntrypoint.length === 0,
    env: field(config, 'Env', C, isStrArr, '[]string') ?? [],
    ...optional('workingDir', field(config, 'WorkingDir', C, isStr, 'string')),
    ...optional('user', field(config, 'User', C, isStr, 'string')),
    ...optional('hostname', field(config, 'Hostname', C, isStr, 'string')),
    ...optional('domainname', field(config, 'Domainname', C, isStr, 'string')),
    tty: field(config, 'Tty', C, isBool, 'bool') ?? false,
    openStdin: field(config, 'OpenStdin', C, isBool, 'bool') ?? false,
    stdinOnce: field(config, 'StdinOnce', C, isBool, 'bool') ?? false,
    labels: field(config, 'Labels', C, isStrMap, 'map[string]string') ?? {},
    ...optional('stopSignal', field(config, 'StopSignal', C, isStr, 'string')),
    ...(stopTimeout !== undefined ? { stopTimeout } : {}),
    autoRemove,
    networkMode,
    ...(endpoint ? { endpoint } : {}),
    ...optional('endpointsConfig', endpointsConfig(body)),
    restartPolicy: restart,
    memory,
    memorySwap,
    nanoCpus,
    cpuShares: field(hostConfig, 'CpuShares', H, isInt, 'int64') ?? 0,
    pidsLimit: pidsLimit < 0 ? 0 : pidsLimit,
    readonlyRootfs: field(hostConfig, 'ReadonlyRootfs', H, isBool, 'bool') ?? false,
    privileged: field(hostConfig, 'Privileged', H, isBool, 'bool') ?? false,
    capAdd: strSlice(hostConfig, 'CapAdd', H) ?? [],
    capDrop: strSlice(hostConfig, 'CapDrop', H) ?? [],
    ulimits: parseUlimits(hostConfig['Ulimits']),
    mounts: withTmpfs(
      parseRequestMounts(
        field(hostConfig, 'Binds', H, isStrArr, '[]string') ?? [],
        field(hostConfig, 'Mounts', H, Array.isArray, '[]mount.Mount') ?? [],
        field(config, 'Volumes', C, isObj, 'map[string]struct {}') ?? {},
        field(hostConfig, 'VolumeDriver', H, isStr, 'string') ?? '',
      ),
      field(hostConfig, 'Tmpfs', H, isStrMap, 'map[string]string') ?? {},
    ),
    init: field(hostConfig, 'Init', H, isBool, 'bool') ?? false,
    ...consoleSize(hostConfig['ConsoleSize']),
    ...logConfig(hostConfig['LogConfig']),
    ...dnsConfig(hostConfig),
    ...parseHostTuning(config, hostConfig),
    ...extraHosts(field(hostConfig, 'ExtraHosts', H, isStrArr, '[]string') ?? []),
    ...optional('runtime', field(hostConfig, 'Runtime', H, isStr, 'string')),
    ...volumesFrom(field(hostConfig, 'VolumesFrom', H, isStrArr, '[]string') ?? []),
    ...parseHealthcheck(config),
    ...optional('platform', platform),
    request: { config: stripHostConfig(config), hostConfig },
  };
}

function optional<K extends string, V>(key: K, v: V | undefined): { [k in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: V };
}

function stripHostConfig(body: Json): Json {
  const { HostConfig: _h, NetworkingConfig: _n, ...config } = body;
  return config;
}

/**
 * What the container asks of its endpoint: published ports (HostConfig.PortBindings, -P over
 * Config.ExposedPorts), and from NetworkingConfig's entry for its network (the CLI names it
 * by --network, or `default`) its --ip and --mac-address (Config.MacAddress before API 1.44).
 */
function parseEndpoint(body: Json, config: Json, hostConfig: Json, networkMode: string): EndpointRequest | undefined {
  const publishAll = field(hostConfig, 'PublishAllPorts', 'HostConfig', isBool, 'bool') ?? false;
  const exposedRaw = field(config, 'ExposedPorts', 'Config', isObj, 'nat.PortSet') ?? {};
  const ports = portRequests({ portBindings: hostConfig['PortBindings'], exposedPorts: exposedRaw, publishAll });
  const exposed = Object.keys(exposedRaw);
  const networking = body['NetworkingConfig'];
  const endpoints = isObj(networking) && isObj(networking['EndpointsConfig']) ? networking['EndpointsConfig'] : {};
  const name = networkMode === '' ? 'default' : networkMode;
  const entry = endpoints[name] ?? endpoints['default'] ?? (Object.keys(endpoints).length === 1 ? Object.values(endpoints)[0] : undefined);
  const ipam = isObj(entry) && isObj(entry['IPAMConfig']) ? entry['IPAMConfig'] : {};
  const ip = typeof ipam['IPv4Address'] === 'string' && ipam['IPv4Address'] !== '' ? ipam['IPv4Address'] : undefined;
  const macEntry = isObj(entry) && typeof entry['MacAddress'] === 'string' && entry['MacAddress'] !== '' ? entry['MacAddress'] : undefined;
  const macConfig = typeof config['MacAddress'] === 'string' && config['MacAddress'] !== '' ? config['MacAddress'] : undefined;
  const mac = macEntry ?? macConfig;
  if (ports.length === 0 && exposed.length === 0 && ip === undefined && mac === undefined) return undefined;
  return { ports, exposed, ...(ip ? { ipv4Address: ip } : {}), ...(mac ? { macAddress: mac } : {}) };
}

/**
 * NetworkingConfig.EndpointsConfig: per network, its aliases (`--network-alias`, compose's
 * service name), --ip and --mac-address. Several networks at create since API 1.44.
 */
function endpointsConfig(body: Json): Record<string, EndpointSettings> | undefined {
  const networking = body['NetworkingConfig'];
  if (networking === undefined || networking === null) return undefined;
  if (!isObj(networking)) throw invalidParameter(`json: cannot unmarshal ${jsType(networking)} into Go value of type network.NetworkingConfig`);
  const all = field(networking, 'EndpointsConfig', 'NetworkingConfig', isObj, 'map[string]*network.EndpointSettings');
  if (!all) return undefined;
  const out: Record<string, EndpointSettings> = {};
  for (const [name, e] of Object.entries(all)) {
    if (e === null || e === undefined) {
      out[name] = { aliases: [] };
      continue;
    }
    if (!isObj(e)) throw invalidParameter(`json: cannot unmarshal ${jsType(e)} into Go value of type network.EndpointSettings`);
    const aliases = field(e, 'Aliases', 'EndpointSettings', isStrArr, '[]string') ?? [];
    const ipam = field(e, 'IPAMConfig', 'EndpointSettings', isObj, 'network.EndpointIPAMConfig') ?? {};
    const ip = field(ipam, 'IPv4Address', 'EndpointIPAMConfig', isStr, 'string');
    const mac = field(e, 'MacAddress', 'EndpointSettings', isStr, 'string');
    out[name] = { aliases: aliases.filter((a) => a !== ''), ...(ip ? { ipv4Address: ip } : {}), ...(mac ? { macAddress: mac } : {}) };
  }
  return out;
}

export function parseRestartPolicy(v: unknown): RestartPolicy {
  if (v === undefined || v === null) return { name: 'no', maximumRetryCount: 0 };
  if (!isObj(v)) throw invalidParameter('json: cannot unmarshal into Go struct field HostConfig.RestartPolicy');
  const name = v['Name'] ?? '';
  const max = v['MaximumRetryCount'] ?? 0;
  if (typeof name !== 'string' || !isInt(max)) throw invalidParameter('invalid restart policy');
  const n = name === '' ? 'no' : name;
  if (n !== 'no' && n !== 'always' && n !== 'unless-stopped' && n !== 'on-failure') {
    throw invalidParameter(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (max < 0) throw invalidParameter('invalid restart policy: maximum retry count cannot be negative');
  if (max > 0 && n !== 'on-failure') {
    throw invalidParameter(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  return { name: n, maximumRetryCount: max };
}

function parseUlimits(v: unknown): Ulimit[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidParameter('json: cannot unmarshal into Go struct field HostConfig.Ulimits');
  return v.map((u: unknown) => {
    if (!isObj(u) || !isStr(u['Name']) || !isInt(u['Soft']) || !isInt(u['Hard'])) {
      throw invalidParameter('invalid ulimit: expected {"Name","Soft","Hard"}');
    }
    if (!(ULIMIT_NAMES as readonly string[]).includes(u['Name'])) throw invalidParameter(`invalid ulimit type: ${u['Name']}`);
    if (u['Soft'] > u['Hard']) {
      throw invalidParameter(`ulimit soft limit must be less than or equal to hard limit: ${u['Soft']} > ${u['Hard']}`);
    }
    return { name: u['Name'], soft: u['Soft'], hard: u['Hard'] };
  });
}

function consoleSize(v: unknown): { consoleSize?: [number, number] } {
  if (v === undefined || v === null) return {};
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => isInt(n) && n >= 0)) {
    throw invalidParameter('invalid ConsoleSize: expected [height, width]');
  }
  const [h, w] = v as [number, number];
  return h > 0 && w > 0 ? { consoleSize: [h, w] } : {};
}

/** HostConfig.LogConfig: json-file and local are stored in conmon's k8s-file format, none in no file. */
function logConfig(v: unknown): { logConfig?: { driver: string; opts: Record<string, string> } } {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw invalidParameter('json: cannot unmarshal into Go struct field HostConfig.LogConfig');
  const type = v['Type'] ?? '';
  const config = v['Config'] ?? {};
  if (typeof type !== 'string' || !isStrMap(config)) throw invalidParameter('invalid LogConfig');
  if (type === '' && Object.keys(config).length === 0) return {};
  if (type !== '') checkLogDriver(type);
  validateLogOpts(type || 'json-file', config);
  return { logConfig: { driver: type, opts: config } };
}

/** `--tmpfs /path[:opts]` arrives as HostConfig.Tmpfs {"/path": "opts"}. */
function withTmpfs(mounts: MountSpec[], tmpfs: Record<string, string>): MountSpec[] {
  const out = [...mounts];
  for (const [path, opts] of Object.entries(tmpfs)) {
    if (!path.startsWith('/')) throw invalidParameter(`invalid mount config for type "tmpfs": invalid mount path: '${path}' mount path must be absolute`);
    const destination = path.replace(/\/+$/, '') || '/';
    if (destination === '/') throw invalidParameter(`invalid specification: destination can't be '/'`);
    if (out.some((m) => m.destination === destination)) throw invalidParameter(`Duplicate mount point: ${destination}`);
    const options = opts.split(',').map((o) => o.trim()).filter(Boolean);
    out.push({ type: 'tmpfs', source: '', destination, readOnly: options.includes('ro'), options, mode: '' });
  }
  return out;
}

function dnsConfig(h: Json): { dns?: { servers: string[]; search: string[]; options: string[] } } {
  const servers = field(h, 'Dns', 'HostConfig', isStrArr, '[]string') ?? [];
  const search = field(h, 'DnsSearch', 'HostConfig', isStrArr, '[]string') ?? [];
  const options = field(h, 'DnsOptions', 'HostConfig', isStrArr, '[]string') ?? [];
  for (const s of servers) if (isIP(s) === 0) throw invalidParameter(`${s} is not an ip address`);
  return servers.length + search.length + options.length > 0 ? { dns: { servers, search, options } } : {};
}

/** `--add-host name:ip` (Docker also accepts `name=ip`). */
function extraHosts(list: string[]): { extraHosts?: string[] } {
  const out = list.map((e) => {
    const m = /^([^:=]+)[:=](.+)$/.exec(e);
    if (!m || (isIP(m[2] as string) === 0 && m[2] !== 'host-gateway')) throw invalidParameter(`invalid IP address in add-host: "${m?.[2] ?? e}"`);
    return `${m[1]}:${m[2]}`;
  });
  return out.length > 0 ? { extraHosts: out } : {};
}

/** `--volumes-from ctr[:ro|:rw]`. */
function volumesFrom(list: string[]): { volumesFrom?: { container: string; readOnly: boolean | undefined }[] } {
  const out = list.map((spec) => {
    if (spec === '') throw invalidParameter('volumes-from specification cannot be an empty string');
    const i = spec.indexOf(':');
    const container = i < 0 ? spec : spec.slice(0, i);
    const mode = i < 0 ? '' : spec.slice(i + 1);
    if (mode !== '' && mode !== 'ro' && mode !== 'rw') throw invalidParameter(`invalid mode: ${mode}`);
    return { container, readOnly: mode === 'ro' ? true : undefined };
  });
  return out.length > 0 ? { volumesFrom: out } : {};
}
