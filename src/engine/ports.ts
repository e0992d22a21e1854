import type { Readable } from 'node:stream';
import type { ProcessIdentity } from '../lib/proc.js';
import type { ContainerRecord, MountSpec, NetworkAttachment } from './container.js';
import type { ImageRuntimeConfig } from './create-options.js';
import type { HeldPorts } from './network-port.js';
import type { ResourceLimits } from './resource-update.js';

/*
 * The engine's ports: what it needs from the world, as interfaces the adapters (runtime/,
 * storage/, network/, images/, volumes/, state/, logs/) implement. Adapters import the
 * engine only through this file; the domain types they need are re-exported here.
 */
export type { ContainerRecord, ContainerSpec, HostTuning, MountSpec, NetworkAttachment } from './container.js';
export type { SeccompAction, SeccompArg, SeccompChoice, SeccompCondition, SeccompProfile } from './seccomp.js';
export type { VolumePort, RootfsAccess } from './volume-port.js';
export type { EventBus } from './events.js';
export type { ImageRuntimeConfig } from './create-options.js';
export type * from './network-port.js';
export type { HostResources, ResourceLimits } from './resource-update.js';

/** One entry of `docker diff`: Docker's kinds, 0 changed, 1 added, 2 deleted. */
export type Change = { path: string; kind: 0 | 1 | 2 };

/** Resource usage read from a container's cgroups (`docker stats`). */
export type RawStats = {
  cpuTotalNs: number;
  cpuPerCpuNs: number[];
  cpuUserNs: number;
  cpuKernelNs: number;
  systemCpuNs: number;
  onlineCpus: number;
  throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  memoryUsage: number;
  memoryMaxUsage: number;
  memoryLimit: number;
  memoryStat: Record<string, number>;
  pids: number;
  pidsLimit: number;
  /** Block I/O per device and operation (bytes, and operations), from the blkio cgroup. */
  blkio: { serviceBytes: BlkioEntry[]; serviced: BlkioEntry[] };
};

export type BlkioEntry = { major: number; minor: number; op: string; value: number };


/**
 * What the engine needs from the OCI runtime adapter. The handle is persisted in the
 * container record: with it, a later daemon finds the running container again without
 * asking the runtime (no process spawned per container at restore).
 */
export type RuntimeHandle = {
  handleVersion: 1;
  id: string;
  runtime: string;
  runtimePath: string;
  runtimeRoot: string;
  conmon: ProcessIdentity;
  container: ProcessIdentity;
  bundle: string;
  exitFile: string;
  persistDir: string;
  attachSocket: string;
  ctlFifo: string;
  startedAt: string;
};

export type ExitInfo = { exitCode: number; finishedAt: string; oomKilled: boolean };

export type StartRequest = {
  id: string;
  ociSpec: Record<string, unknown>;
  /** Descriptors the monitor inherits and keeps (published-port reservations). */
  inheritFds?: readonly number[];
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  logPath: string;
  runtime: { name: string; path: string; args: string[] };
};

export type AttachStreams = { stdin: boolean; stdout: boolean; stderr: boolean };

/** A live connection to a container's stdio through its monitor. */
export interface AttachSession {
  /** Output chunks from the container, tagged by stream. */
  onData(cb: (stream: 'stdout' | 'stderr', data: Buffer) => void): void;
  onClose(cb: () => void): void;
  write(data: Buffer): void;
  closeStdin(): void;
  close(): void;
}

/** What the container process is doing, learned from the machine, not from our record. */
export type ProbeResult =
  | { state: 'running' }
  | { state: 'exited'; exit: ExitInfo }
  /** The monitor is gone and left no exit file; the container may still be alive. */
  | { state: 'monitor-lost'; containerAlive: boolean };

export type ExecRequest = {
  execId: string;
  args: string[];
  env: string[];
  cwd?: string;
  user?: string;
  tty: boolean;
  stdin: boolean;
  privileged: boolean;
  consoleSize?: [number, number];
  /** Attach the caller's stdio (otherwise the process runs detached, output discarded). */
  attach?: AttachStreams;
  /**
   * Seconds after which the process's monitor kills it, whether or not berthd is still there
   * (health probes: none may outlive a crash of the daemon for longer than that).
   */
  timeoutSeconds?: number;
};

export type ExecProcess = {
  pid: number;
  session?: AttachSession;
  /** The exit code; -1 when it is not known (the monitor killed it on its timeout). */
  exit: Promise<number>;
  resize(height: number, width: number): Promise<void>;
  /** SIGKILL the process and its process group (checked to be the one started). */
  kill(): Promise<void>;
};

export interface OciRuntime {
  /**
   * Create the container under its monitor, then call `beforeStart` (attach clients connect
   * there so they miss no output), then start it.
   */
  start(req: StartRequest, beforeStart: (handle: RuntimeHandle) => Promise<void>, signal?: AbortSignal): Promise<RuntimeHandle>;
  kill(handle: RuntimeHandle, signal: number): Promise<boolean>;
  /** Resolves once the container has exited and its monitor recorded the exit. */
  waitExit(handle: RuntimeHandle, signal?: AbortSignal): Promise<ExitInfo>;
  probe(handle: RuntimeHandle): Promise<ProbeResult>;
  attach(handle: RuntimeHandle, streams: AttachStreams): Promise<AttachSession>;
  resize(handle: RuntimeHandle, height: number, width: number): Promise<void>;
  /** Resource usage from the container's cgroups. */
  stats(handle: RuntimeHandle): Promise<RawStats>;
  /** `ps` output restricted to the container's processes (docker top). */
  top(handle: RuntimeHandle, psArgs: string): Promise<{ titles: string[]; processes: string[][] }>;
  /** Run a process in the running container, under its own monitor. */
  exec(handle: RuntimeHandle, req: ExecRequest): Promise<ExecProcess>;
  /** Make the monitor reopen the container's log file (after a rotation). */
  reopenLog(handle: RuntimeHandle): Promise<void>;
  /** Apply new cgroup limits to the running container (`docker update`). */
  update(handle: RuntimeHandle, limits: ResourceLimits): Promise<void>;
  pause(handle: RuntimeHandle): Promise<void>;
  resume(handle: RuntimeHandle): Promise<void>;
  /** Whether the runtime has the container frozen (paused); undefined when it cannot tell. */
  frozen(handle: RuntimeHandle): Promise<boolean | undefined>;
  /** Remove the runtime's state and the runtime files; idempotent. */
  cleanup(id: string, handle: RuntimeHandle | undefined): Promise<void>;
  /** Force-remove whatever the runtime still has for an id we know nothing about. */
  cleanupOrphan(id: string): Promise<void>;
  /**
   * The data root of the daemon that started this runtime state, and whether its monitor
   * still runs: exec-root may be shared by daemons on different data roots.
   */
  ownerOf(id: string): Promise<{ dataRoot: string; monitorAlive: boolean } | undefined>;
}

export type RootfsMount = { path: string };

/**
 * A storage driver keeps image layers (each identified by a cache id) and one writable
 * layer per container on top of an image's top layer.
 */
export interface StorageDriver {
  readonly name: string;
  /** How whiteouts in layer tarballs are materialised: deleted (vfs) or kept as overlay markers. */
  readonly whiteouts: 'apply' | 'overlay';
  init(): Promise<void>;
  /** Make an empty layer directory (vfs: a copy of the parent) and return where to extract the diff. */
  createLayer(cacheId: string, parentCacheId: string | undefined): Promise<string>;
  removeLayer(cacheId: string): Promise<void>;
  listLayers(): Promise<string[]>;
  createContainerLayer(containerId: string, imageTopCacheId: string, parentChain: string[]): Promise<void>;
  mount(containerId: string, parentChain: string[]): Promise<RootfsMount>;
  unmount(containerId: string): Promise<void>;
  removeContainerLayer(containerId: string): Promise<void>;
  /** Bytes that removing the container layer frees (overlay: its upper dir; vfs: its copy). */
  containerLayerSize(containerId: string): Promise<number>;
  /** What the container changed against its image (`docker diff`), sorted by path. */
  changes(containerId: string, parentChain: string[]): Promise<Change[]>;
  /**
   * The container's changes as an OCI layer tar, whiteouts included (`docker commit`),
   * without the paths in `exclude` (berth's own mount points).
   */
  diffTar(containerId: string, parentChain: string[], exclude: string[]): Promise<{ stream: Readable; done: Promise<void> }>;
  listContainerLayers(): Promise<string[]>;
}

/** Where container records live: written atomically, one folder per container. */
export interface StateStore<T> {
  write(id: string, record: T): Promise<void>;
  remove(id: string): Promise<void>;
  /** The container's folder (its log, its network files). */
  dirOf(id: string): string;
}

/** An image as the container lifecycle needs it. */
export type ImageForContainer = {
  id: string;
  /** The image's `config` (Cmd, Env, Volumes...), the container's defaults. */
  runtimeConfig: ImageRuntimeConfig;
  /** Chain id of its top layer; undefined for an image without layers. */
  topLayer: string | undefined;
};

/** `docker commit`: what the new image is made of, besides the container's changes. */
export type CommitRequest = {
  containerId: string;
  imageId: string;
  /** The container's configuration in Docker's spelling (Cmd, Env...), before the changes. */
  config: Record<string, unknown>;
  /** The request body's Config, laid over `config` (API clients may send one). */
  override?: Record<string, unknown>;
  /** Dockerfile instructions (`--change`). */
  changes: string[];
  /** History's created_by: the container's command. */
  createdBy: string;
  author: string;
  comment: string;
  repo?: string;
  tag?: string;
};

/** Images and their layers, seen from the container lifecycle. */
export interface ImagePort {
  resolve(ref: string): ImageForContainer;
  /** The storage driver's cache ids of the layers under `topLayer`, lowest first. */
  layerCacheIds(topLayer: string): string[];
  /**
   * Make an image of the parent image plus the layer `diff` produces; the request is checked
   * (names, changes) before `diff` is called, so a bad request never pauses a container.
   */
  commit(req: CommitRequest, diff: () => Promise<{ stream: Readable; done: Promise<void> }>): Promise<string>;
}

/** Rotation of a container's log file by size, done while the container runs. */
export interface LogRotation {
  track(id: string, o: { logPath: string; maxSize: number; maxFile: number; reopen: () => Promise<void> }): void;
  untrack(id: string): void;
  stop(): void;
}

/** A file bind-mounted into the container by a start step (its /etc/hosts, /etc/resolv.conf...). */
export type ContainerFile = { source: string; destination: string };

/** Where the container's network namespace comes from; absent: a new, empty one. */
export type NetworkNamespace = { kind: 'host' } | { kind: 'join'; path: string };

/** What a start step adds to the container it prepares. */
export type StartContribution = {
  /** Go on top of the user's mounts (a volume on /etc must not hide them), unless the user mounts one there. */
  files?: ContainerFile[];
  network?: NetworkNamespace;
  /** The hostname inside, when it is not the container's own (another container's network). */
  hostname?: string;
  /**
   * Descriptors the container's monitor holds for the container's lifetime (bound sockets
   * that reserve its published ports). The engine passes them at start, then closes its copies.
   */
  held?: HeldPorts;
};

/** The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, as a network mode wants them. */
export type EtcFilesRequest = {
  dir: string;
  hostname: string;
  domainname: string;
  /** host: the host's files; none: loopback only; bridge: also the container's own address. */
  mode: 'host' | 'none' | 'bridge';
  ip?: string;
  dns?: { servers: string[]; search: string[]; options: string[] } | undefined;
  /**
   * On networks with a resolver: its addresses (the networks' gateways) are the container's
   * only nameservers; `dns` then gives only search domains and options (the resolver forwards
   * other names to the container's own servers).
   */
  resolvers?: string[] | undefined;
  /** `name:ip` entries, `host-gateway` already replaced by an address. */
  extraHosts?: string[] | undefined;
};

export interface EtcFilesWriter {
  write(r: EtcFilesRequest): Promise<ContainerFile[]>;
}

/**
 * A part of a container's start that lives outside the runtime and the storage driver: its
 * network files, its health monitor; network endpoints and published-port reservations as
 * they come. Steps run in order before the runtime starts the container; their `stop`
 * runs in reverse order after a failed start and at every exit (also exits the restore pass
 * records), their `remove` when the container is removed. Both are idempotent.
 */
export interface StartStep {
  readonly name: string;
  start(c: ContainerRecord, containerDir: string, signal?: AbortSignal): Promise<StartContribution>;
  stop(c: ContainerRecord): Promise<void>;
  remove(c: ContainerRecord): Promise<void>;
  /** A running container taken over again by a new daemon (live restore): resume what runs beside it. */
  adopt?(c: ContainerRecord): void;
  /** The daemon lets go of its containers (live restore): stop what runs here, touch nothing else. */
  release?(): void;
}

/**
 * Where `docker cp` finds a container's files: a running container's own view (its mount
 * namespace and root, volumes included), or a stopped one's rootfs with its volumes and binds
 * put in place for the copy.
 */
export type FilesView =
  | { running: ProcessIdentity }
  | { rootfs: string; mounts: { source: string; destination: string; readOnly: boolean }[] };

/** Docker's ContainerPathStat; `mode` as st_mode (the API turns it into Go's FileMode). */
export type PathStat = { name: string; size: number; mode: number; mtime: string; linkTarget: string };

export type ExtractIntoOptions = {
  noOverwriteDirNonDir: boolean;
  /** The container's root is read-only: only its volumes may be written. */
  readonlyRootfs: boolean;
  /** `cp -a`: owned by the container's user (resolved in the container) instead of the archive's ids. */
  chownToUser?: string;
};

/**
 * The file side of `docker cp`. Paths are the container's, resolved inside its root however
 * its symlinks change meanwhile. A missing path is a NotFound error (its message is the
 * engine's to write).
 */
export interface ContainerFiles {
  stat(view: FilesView, path: string): Promise<PathStat>;
  /** The path (not followed if it is a symlink) as a tar stream, entries named after it. */
  archive(view: FilesView, path: string): Promise<{ stat: PathStat; stream: Readable; done: Promise<void> }>;
  /** A tar (plain or gzip) unpacked into the directory `dir` (symlinks followed, last one too). */
  extract(view: FilesView, dir: string, tar: Readable, o: ExtractIntoOptions): Promise<void>;
}

/**
 * Networks of a running container changing under it (`docker network connect/disconnect`, a
 * rename changing its names): implemented by the network start step.
 */
export interface NetworkAttach {
  /** Give the running container an endpoint on one more network; its /etc files follow. */
  attach(c: ContainerRecord, attachment: NetworkAttachment, signal?: AbortSignal): Promise<void>;
  /** Remove its endpoint on a network (its static address goes too). */
  detach(c: ContainerRecord, network: string): Promise<void>;
  /** Its names changed (rename): the resolver's entries follow. */
  renamed(c: ContainerRecord): Promise<void>;
  /** What a network is to a container being attached: undefined if there is no such network. */
  describe(network: string): { name: string; id: string; user: boolean; internal: boolean; subnetGiven: boolean } | undefined;
}

/** Turns a container, its mounted rootfs and its prepared mounts into what the runtime starts. */
export interface SpecBuilder {
  build(c: ContainerRecord, rootfs: string, mounts: MountSpec[], contributions: StartContribution[]): Promise<StartRequest>;
}
