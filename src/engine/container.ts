import type { ContainerId, ImageId } from '../lib/ids.js';
import type { PortRequest, RuntimeHandle } from './ports.js';
import type { SeccompChoice } from './seccomp.js';
import type { HealthConfig, HealthState } from './health.js';

/** 2: `networks` (the networks a container is attached to) joined the record. */
export const RECORD_SCHEMA_VERSION = 2;

export type RestartPolicy = { name: 'no' | 'always' | 'unless-stopped' | 'on-failure'; maximumRetryCount: number };

export type MountSpec = {
  type: 'bind' | 'volume' | 'tmpfs';
  /** bind: the host path; volume: the volume's host folder once created ('' before); tmpfs: ''. */
  source: string;
  destination: string;
  readOnly: boolean;
  /** tmpfs: mount options (`size=`, `mode=`, `exec`). */
  options?: string[];
  /** volume: its name (chosen at create for an anonymous one). */
  name?: string;
  /** volume: made for this container without a name (`-v /path`, image VOLUME); `rm -v` removes it. */
  anonymous?: boolean;
  /** volume: do not copy the image's content into it when it is empty. */
  nocopy?: boolean;
  /** volume: labels and driver options for the volume, if this mount creates it (`--mount volume-opt=`). */
  volumeCreate?: { labels?: Record<string, string>; options?: Record<string, string> };
  /** bind: create a missing source folder at start (`-v`, or `--mount bind-create-mountpoint`). */
  createSource?: boolean;
  /** bind: mount propagation (rprivate when not given). */
  propagation?: string;
  /** The mode as Docker reports it in inspect's Mounts (`ro,Z`, `z`, ''). */
  mode?: string;
};

export type Ulimit = { name: string; soft: number; hard: number };

/**
 * Where a container's network comes from: none (its own, loopback only), the host's, the
 * default bridge network, another container's namespace (`container:<id>`), or a
 * user-defined network by name.
 */
export type NetworkMode = 'none' | 'host' | 'bridge' | `container:${string}` | UserNetworkName;

/** The name of a user-defined network (`docker network create`). */
export type UserNetworkName = string & { readonly userNetwork?: never };

/** What the container asked of its network endpoint (bridge mode). */
export type EndpointRequest = {
  /** Published ports (-p, -P), host ports not yet chosen. */
  ports: PortRequest[];
  /** Config.ExposedPorts keys (`80/tcp`), shown in NetworkSettings.Ports. */
  exposed: string[];
  /** --ip (user networks only), --mac-address: for the network of HostConfig.NetworkMode (kept in its attachment). */
  ipv4Address?: string;
  macAddress?: string;
};

/**
 * A network the container is attached to (`--network`, NetworkingConfig, `docker network
 * connect`): it gets an endpoint there at each start. The first is HostConfig.NetworkMode's.
 */
export type NetworkAttachment = {
  /** The network's name (inspect's NetworkSettings.Networks is keyed by it; looked up at each start). */
  network: string;
  /** Its id when the container was attached, shown by inspect. */
  networkId?: string;
  /** `--network-alias`, compose's service name: names that resolve to the container on this network. */
  aliases: string[];
  /** `--ip`: a static address on this network. */
  ipv4Address?: string;
  macAddress?: string;
};

/** Less common HostConfig settings, applied as given (absent: the default). */
export type HostTuning = {
  groupAdd?: string[];
  shmSize?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  cpuQuota?: number;
  cpuPeriod?: number;
  memoryReservation?: number;
  memorySwappiness?: number;
  oomKillDisable?: boolean;
  oomScoreAdj?: number;
  sysctls?: Record<string, string>;
  cgroupParent?: string;
  /** Namespaces shared with the host (--ipc/--pid/--uts host). */
  hostNamespaces?: ('ipc' | 'pid' | 'uts')[];
  devices?: { pathOnHost: string; pathInContainer: string; permissions: string }[];
  /** --security-opt no-new-privileges[=bool]; absent: the daemon's `no-new-privileges`. */
  noNewPrivileges?: boolean;
  /** --security-opt seccomp=...; absent: the daemon's `seccomp-profile`. */
  seccomp?: SeccompChoice;
  /** --blkio-weight, kept only where the kernel has blkio weights. */
  blkioWeight?: number;
};

/**
 * What the engine needs to run a container, in the engine's own terms. It is derived once,
 * at create time, from the Docker request (kept verbatim beside it for `inspect`).
 */
export type ContainerSpec = {
  image: string;
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  hostname: string;
  domainname: string;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  labels: Record<string, string>;
  stopSignal: string;
  stopTimeout?: number;
  autoRemove: boolean;
  networkMode: NetworkMode;
  /** Bridge mode: what the endpoint is asked for. */
  endpoint?: EndpointRequest;
  restartPolicy: RestartPolicy;
  memory: number;
  memorySwap: number;
  nanoCpus: number;
  cpuShares: number;
  pidsLimit: number;
  readonlyRootfs: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  ulimits: Ulimit[];
  mounts: MountSpec[];
  init: boolean;
  /** --dns/--dns-search/--dns-option (empty: from the host or the daemon's dns options). */
  dns?: { servers: string[]; search: string[]; options: string[] };
  tuning?: HostTuning;
  /** --add-host entries as `name:ip`. */
  extraHosts?: string[];
  /** The OCI runtime's name in the daemon's `runtimes`, chosen at create (absent in old records: the default). */
  runtime?: string;
  /** Log driver and options (daemon defaults merged in at create). */
  log?: { driver: string; opts: Record<string, string> };
  /** Initial terminal size [height, width] (the CLI sends it so output is right from the start). */
  consoleSize?: [number, number];
  /** The health check, the request's over the image's; absent: none (or NONE). */
  healthcheck?: HealthConfig;
};

/**
 * The container's lifecycle as a discriminated union: each state carries exactly what is
 * true in it, so "running but not started" cannot be written down.
 */
export type ContainerState =
  | { status: 'created' }
  | { status: 'running'; handle: RuntimeHandle }
  | { status: 'paused'; handle: RuntimeHandle }
  | { status: 'restarting' }
  | { status: 'exited' }
  | { status: 'removing' }
  | { status: 'dead' };

export type ContainerStatus = ContainerState['status'];

/**
 * Daemon options a running container depends on. A daemon whose options differ cannot
 * manage it safely (its rootfs, network or runtime live elsewhere).
 */
export type CriticalOptions = {
  'storage-driver'?: string;
  bip?: string;
  bridge?: string;
  'default-runtime'?: string;
  'data-root'?: string;
};

export type StartedBy = { engineVersion: string; critical: CriticalOptions };

export type ContainerRecord = {
  schemaVersion: number;
  id: ContainerId;
  name: string;
  created: string;
  /** The berth version that created it: live restore refuses to adopt across minor versions. */
  engineVersion: string;
  imageId: ImageId;
  spec: ContainerSpec;
  /** The create request's Config and HostConfig as received, returned as-is by inspect. */
  request: { config: Record<string, unknown>; hostConfig: Record<string, unknown> };
  state: ContainerState;
  /** History that outlives a state: Docker's inspect shows them after exit too. */
  startedAt?: string;
  finishedAt?: string;
  exitCode: number;
  error: string;
  restartCount: number;
  hasBeenStarted: boolean;
  manuallyStopped: boolean;
  storage: { driver: string; layerId: string };
  logPath: string;
  /** The berth version and critical options of the daemon that last started it. */
  startedBy?: StartedBy;
  /** The networks it is attached to, in order; empty with `none`, `host` or `container:`. */
  networks: NetworkAttachment[];
  /**
   * Set while `docker commit --pause` has (or is about to have) the container frozen: the
   * restore pass unfreezes such a container, and keeps a pause the user asked for.
   */
  pausedFor?: 'commit';
  /** State.Health: set when a container with a health check starts, kept after it stops. */
  health?: HealthState;
};

export function isRunningLike(state: ContainerState): state is Extract<ContainerState, { handle: RuntimeHandle }> {
  return state.status === 'running' || state.status === 'paused';
}

/** Whether a network mode names a network the container gets an endpoint on (the default bridge or a user network). */
export function isNetworkName(mode: string): boolean {
  return mode !== 'none' && mode !== 'host' && mode !== '' && mode !== 'default' && !mode.startsWith('container:');
}

/**
 * Records are read through numbered migrations, one per schema change, so a newer berth reads
 * every older record (a downgrade is refused by the version check):
 *   1 → 2: the container's networks, from its network mode and the --ip/--mac-address it had.
 */
export function migrateRecord(raw: Record<string, unknown>): ContainerRecord {
  let rec = raw;
  if (rec['schemaVersion'] === 1) rec = migrate1to2(rec);
  const version = rec['schemaVersion'];
  if (version !== RECORD_SCHEMA_VERSION) {
    throw new Error(`unsupported container record schema version ${String(version)}`);
  }
  return rec as unknown as ContainerRecord;
}

function migrate1to2(raw: Record<string, unknown>): Record<string, unknown> {
  const spec = raw['spec'] as ContainerSpec;
  const e = spec.endpoint;
  const networks: NetworkAttachment[] = isNetworkName(spec.networkMode)
    ? [{ network: spec.networkMode, aliases: [], ...(e?.ipv4Address ? { ipv4Address: e.ipv4Address } : {}), ...(e?.macAddress ? { macAddress: e.macAddress } : {}) }]
    : [];
  return { ...raw, schemaVersion: 2, networks };
}
