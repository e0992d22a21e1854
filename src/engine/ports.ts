import type { ProcessIdentity } from '../lib/proc.js';
import type { RawStats } from '../runtime/cgroups.js';
import type { Change } from './changes.js';

export type { RawStats };

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
};

export type ExecProcess = {
  pid: number;
  session?: AttachSession;
  exit: Promise<number>;
  resize(height: number, width: number): Promise<void>;
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
  pause(handle: RuntimeHandle): Promise<void>;
  resume(handle: RuntimeHandle): Promise<void>;
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
  listContainerLayers(): Promise<string[]>;
}
