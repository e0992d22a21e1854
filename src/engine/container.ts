import type { ContainerId, ImageId } from '../lib/ids.js';
import type { RuntimeHandle } from './ports.js';

export const RECORD_SCHEMA_VERSION = 1;

export type RestartPolicy = { name: 'no' | 'always' | 'unless-stopped' | 'on-failure'; maximumRetryCount: number };

export type MountSpec = {
  type: 'bind' | 'volume' | 'tmpfs';
  source: string;
  destination: string;
  readOnly: boolean;
  options?: string[];
};

export type Ulimit = { name: string; soft: number; hard: number };

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
  networkMode: 'none' | 'host';
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
  /** Initial terminal size [height, width] (the CLI sends it so output is right from the start). */
  consoleSize?: [number, number];
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
};

export function isRunningLike(state: ContainerState): state is Extract<ContainerState, { handle: RuntimeHandle }> {
  return state.status === 'running' || state.status === 'paused';
}

export function migrateRecord(raw: Record<string, unknown>): ContainerRecord {
  const version = raw['schemaVersion'];
  if (version !== RECORD_SCHEMA_VERSION) {
    throw new Error(`unsupported container record schema version ${String(version)}`);
  }
  return raw as unknown as ContainerRecord;
}
