import { healthText, toDockerHealth, wirePorts, type ContainerRecord, type EndpointInfo, type NetworkAttachment } from '../backend.js';
import { containerStatusText } from '../../lib/human-duration.js';
import { mountPointJson } from './mount-json.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Docker's State.Status names. */
function dockerStatus(r: ContainerRecord): string {
  return r.state.status === 'removing' ? 'removing' : r.state.status;
}

function pidOf(r: ContainerRecord): number {
  return r.state.status === 'running' || r.state.status === 'paused' ? r.state.handle.container.pid : 0;
}

function command(r: ContainerRecord): { path: string; args: string[] } {
  const all = [...r.spec.entrypoint, ...r.spec.cmd];
  return { path: all[0] ?? '', args: all.slice(1) };
}

/** The container's network as the API shows it: its endpoints (running) and the ids of the networks by name. */
export type ContainerNet = { endpoints: EndpointInfo[]; networkIds: ReadonlyMap<string, string> };

const NO_NET: ContainerNet = { endpoints: [], networkIds: new Map() };

/** `GET /containers/{id}/json`. */
export function inspectJson(r: ContainerRecord, imageName: string, notAdopted?: string, net: ContainerNet = NO_NET): Record<string, unknown> {
  const { path, args } = command(r);
  const running = r.state.status === 'running' || r.state.status === 'paused';
  const config = {
    Hostname: r.spec.hostname,
    Domainname: r.spec.domainname,
    User: r.spec.user,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: r.spec.tty,
    OpenStdin: r.spec.openStdin,
    StdinOnce: r.spec.stdinOnce,
    Env: r.spec.env,
    Cmd: r.spec.cmd.length > 0 ? r.spec.cmd : null,
    Image: imageName,
    Volumes: null,
    WorkingDir: r.spec.workingDir === '/' && !r.request.config['WorkingDir'] ? '' : r.spec.workingDir,
    Entrypoint: r.spec.entrypoint.length > 0 ? r.spec.entrypoint : null,
    OnBuild: null,
    Labels: r.spec.labels,
    ...(r.spec.stopSignal !== 'SIGTERM' || r.request.config['StopSignal'] ? { StopSignal: r.spec.stopSignal } : {}),
    ...(r.spec.stopTimeout !== undefined ? { StopTimeout: r.spec.stopTimeout } : {}),
    // What the client sent, for fields berth does not model.
    ...pick(r.request.config, ['AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts', 'Volumes', 'Healthcheck', 'ArgsEscaped', 'Shell', 'MacAddress']),
    ...healthConfigJson(r),
  };
  return {
    Id: r.id,
    Created: r.created,
    Path: path,
    Args: args,
    State: {
      Status: dockerStatus(r),
      Running: running,
      Paused: r.state.status === 'paused',
      Restarting: r.state.status === 'restarting',
      OOMKilled: false,
      Dead: r.state.status === 'dead',
      Pid: pidOf(r),
      ExitCode: r.exitCode,
      Error: notAdopted ? `not adopted: ${notAdopted}` : r.error,
      StartedAt: r.startedAt ?? ZERO_TIME,
      FinishedAt: r.finishedAt ?? ZERO_TIME,
      ...healthStateJson(r),
    },
    Image: r.imageId,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath: r.logPath,
    Name: `/${r.name}`,
    RestartCount: r.restartCount,
    Driver: r.storage.driver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: hostConfigJson(r),
    GraphDriver: { Name: r.storage.driver, Data: null },
    Mounts: r.spec.mounts.map(mountPointJson),
    Config: config,
    NetworkSettings: networkSettings(r, net),
  };
}

/** Config.Healthcheck: the check the container runs (the image's merged in), as dockerd shows it. */
function healthConfigJson(r: ContainerRecord): Record<string, unknown> {
  return r.spec.healthcheck ? { Healthcheck: toDockerHealth(r.spec.healthcheck) } : {};
}

/** State.Health, once a container with a health check has started. */
function healthStateJson(r: ContainerRecord): Record<string, unknown> {
  const h = r.health;
  if (!h) return {};
  return {
    Health: {
      Status: h.status,
      FailingStreak: h.failingStreak,
      Log: h.log.map((l) => ({ Start: l.start, End: l.end, ExitCode: l.exitCode, Output: l.output })),
    },
  };
}

function hostConfigJson(r: ContainerRecord): Record<string, unknown> {
  const s = r.spec;
  return {
    Binds: null,
    ContainerIDFile: '',
    PortBindings: {},
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: s.capAdd.length ? s.capAdd : null,
    CapDrop: s.capDrop.length ? s.capDrop : null,
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    Privileged: s.privileged,
    PublishAllPorts: false,
    ReadonlyRootfs: s.readonlyRootfs,
    Memory: s.memory,
    MemorySwap: s.memorySwap,
    NanoCpus: s.nanoCpus,
    CpuShares: s.cpuShares,
    PidsLimit: s.pidsLimit || null,
    Ulimits: s.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
    Init: s.init || null,
    ...r.request.hostConfig,
    LogConfig: { Type: s.log?.driver ?? 'json-file', Config: s.log?.opts ?? {} },
    NetworkMode: s.networkMode,
    RestartPolicy: { Name: s.restartPolicy.name, MaximumRetryCount: s.restartPolicy.maximumRetryCount },
    AutoRemove: s.autoRemove,
    // dockerd fills in the default at create; records from before berth kept it ran runc.
    Runtime: s.runtime ?? 'runc',
  };
}

/**
 * NetworkSettings as API 1.47 has it: one entry in Networks per network the container is
 * attached to, with its endpoint while it runs (empty values when stopped, as dockerd). The
 * top-level address fields are the default bridge's only, as in Docker (empty for a
 * container on user networks only).
 */
function networkSettings(r: ContainerRecord, net: ContainerNet): Record<string, unknown> {
  const running = r.state.status === 'running' || r.state.status === 'paused';
  const eps = running ? net.endpoints : [];
  const onBridge = eps.find((e) => e.network === 'bridge');
  const withPorts = eps.find((e) => e.ports.length > 0);
  const first = eps[0];
  const mode = r.spec.networkMode;
  const entry = (name: string, att: NetworkAttachment | undefined): Record<string, unknown> => {
    const ep = eps.find((e) => e.network === name);
    return {
      IPAMConfig: att?.ipv4Address ? { IPv4Address: att.ipv4Address } : null,
      Links: null,
      Aliases: att && att.aliases.length > 0 ? att.aliases : null,
      MacAddress: ep?.mac ?? '',
      DriverOpts: null,
      NetworkID: ep?.networkId ?? net.networkIds.get(name) ?? att?.networkId ?? '',
      EndpointID: ep?.endpointId ?? '',
      Gateway: ep?.gateway ?? '',
      IPAddress: ep?.ip ?? '',
      IPPrefixLen: ep?.prefixLen ?? 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      DNSNames: ep && ep.dnsNames.length > 0 ? ep.dnsNames : null,
    };
  };
  let networks: Record<string, unknown>;
  if (mode.startsWith('container:')) networks = {};
  else if (mode === 'host' || mode === 'none') networks = { [mode]: entry(mode, undefined) };
  else networks = Object.fromEntries(r.networks.map((a) => [a.network, entry(a.network, a)]));
  return {
    Bridge: '',
    SandboxID: first ? first.endpointId : '',
    SandboxKey: first?.netnsPath ?? '',
    Ports: running ? wirePorts(withPorts?.ports ?? [], r.spec.endpoint?.exposed ?? []) : {},
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: onBridge?.endpointId ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPv6Gateway: '',
    IPAddress: onBridge?.ip ?? '',
    IPPrefixLen: onBridge?.prefixLen ?? 0,
    Gateway: onBridge?.gateway ?? '',
    MacAddress: onBridge?.mac ?? '',
    Networks: networks,
  };
}

/** The PORTS column of `docker ps`: published ports, then exposed ones without a host port. */
function summaryPorts(r: ContainerRecord, eps: EndpointInfo[]): Record<string, unknown>[] {
  const running = r.state.status === 'running' || r.state.status === 'paused';
  const published = running ? eps.flatMap((e) => e.ports) : [];
  const out: Record<string, unknown>[] = published.map((m) => ({
    IP: m.hostIp === '' ? '0.0.0.0' : m.hostIp,
    PrivatePort: m.containerPort,
    PublicPort: m.hostPort,
    Type: m.proto,
  }));
  for (const key of r.spec.endpoint?.exposed ?? []) {
    const [port, proto = 'tcp'] = key.split('/');
    if (!published.some((m) => String(m.containerPort) === port && m.proto === proto)) out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

/** One entry of `GET /containers/json`. */
export function summaryJson(r: ContainerRecord, imageName: string, nowMs: number, notAdopted?: string, net: ContainerNet = NO_NET): Record<string, unknown> {
  const all = [...r.spec.entrypoint, ...r.spec.cmd];
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: imageName,
    ImageID: r.imageId,
    // dockerd quotes arguments that contain a space, and nothing else.
    Command: [all[0] ?? '', ...all.slice(1).map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' '),
    Created: Math.floor(Date.parse(r.created) / 1000),
    Ports: summaryPorts(r, net.endpoints),
    Labels: r.spec.labels,
    State: dockerStatus(r),
    Status: statusText(r, nowMs, notAdopted),
    HostConfig: { NetworkMode: r.spec.networkMode },
    NetworkSettings: { Networks: networkSettings(r, net)['Networks'] as Record<string, unknown> },
    Mounts: r.spec.mounts.map(mountPointJson),
  };
}

/** Docker's status text, plus why berth does not manage the container when it does not. */
function statusText(r: ContainerRecord, nowMs: number, notAdopted: string | undefined): string {
  const text = containerStatusText(
    {
      status: r.state.status,
      ...(r.startedAt ? { startedAtMs: Date.parse(r.startedAt) } : {}),
      ...(r.finishedAt ? { finishedAtMs: Date.parse(r.finishedAt) } : {}),
      exitCode: r.exitCode,
      ...(r.health && r.spec.healthcheck ? { health: healthText(r.health.status) } : {}),
    },
    nowMs,
  );
  return notAdopted ? `${text} (not adopted: ${notAdopted})` : text;
}
