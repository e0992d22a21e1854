import type { Readable } from 'node:stream';
import type { ContainerService } from '../engine/container-service.js';
import type { ImageService } from '../images/image-service.js';
import type { EventBus } from '../engine/events.js';
import type { ExecService } from '../engine/exec-service.js';
import type { VolumeService } from '../volumes/volume-service.js';
import type { LogBatch, LogMessage, ReadLogsOptions } from '../logs/log-reader.js';
import type { Logger } from '../lib/logger.js';

/*
 * The API's one door into the engine and the services: the narrow views the routes use,
 * and the domain types and pure helpers the wire code needs. Nothing else in api/ imports
 * engine/, images/, volumes/ or logs/ (the lint's boundary rule holds it).
 */
export type { ContainerRecord, EndpointRequest, HostTuning, MountSpec, NetworkAttachment, RestartPolicy, Ulimit } from '../engine/container.js';
export type { CreateOptions, EndpointSettings } from '../engine/create-options.js';
export type { SeccompAction, SeccompArg, SeccompCondition, SeccompProfile, SeccompProfileRule } from '../engine/seccomp.js';
export { SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_OPERATORS } from '../engine/seccomp.js';
export type { ResourceUpdate } from '../engine/resource-update.js';
export { RESOURCE_FIELDS } from '../engine/resource-update.js';
export type { HealthConfig, HealthState } from '../engine/health.js';
export { healthText } from '../engine/health.js';
export { toDockerHealth } from '../engine/create-options.js';
export type { WaitCondition } from '../engine/container-service.js';
export type { AttachSession, PathStat, RawStats } from '../engine/ports.js';
export type { EngineEvent } from '../engine/events.js';
export type { ExecConfig } from '../engine/exec-service.js';
export type { HistoryItem, ImageInfo, PruneReport } from '../images/image-service.js';
export type { VolumeInfo } from '../volumes/volume.js';
export type { ProgressEvent } from '../images/progress.js';
export type { VolumeCreateRequest, VolumeListFilter, VolumePruneFilter } from '../volumes/volume-service.js';
export { familiarString, fullString, parseReference, withDefaultTag } from '../images/reference.js';

/** The networks and containers' endpoints, as `docker network` and inspect's NetworkSettings show them. */
export type NetworkBackend = Pick<NetworkService, 'list' | 'find' | 'attached' | 'create' | 'remove' | 'prune' | 'connect' | 'disconnect'> & {
  /** A container's endpoints, in the order it joined its networks. */
  endpointsOf(containerId: string): EndpointInfo[];
  stats(containerId: string, pid?: number): Promise<Record<string, InterfaceStats>>;
};

export type { NetworkView, NetworkCreateRequest } from '../engine/networks/network-service.js';
export type { ConnectRequest } from '../engine/containers/networks.js';
export type { EndpointInfo, InterfaceStats, PortMapping } from '../engine/ports.js';
import type { EndpointInfo, InterfaceStats } from '../engine/ports.js';
import type { NetworkService } from '../engine/networks/network-service.js';
export { portRequests, wirePorts } from '../network/ports.js';

/** Reading a container's log file (conmon's k8s-file), following it while the container runs. */
export type LogBackend = {
  read(opts: ReadLogsOptions): AsyncIterable<LogMessage>;
  /** The same, a file chunk's messages at a time (never an empty batch). */
  readBatches(opts: ReadLogsOptions): AsyncIterable<LogBatch>;
};
export type { LogBatch, LogMessage };

/** The narrow views of the engine that the routes use. */
export type ContainerBackend = Pick<
  ContainerService,
  | 'create'
  | 'start'
  | 'stop'
  | 'kill'
  | 'remove'
  | 'wait'
  | 'attach'
  | 'resize'
  | 'get'
  | 'list'
  | 'exitedOrGone'
  | 'pause'
  | 'unpause'
  | 'restart'
  | 'rename'
  | 'notAdoptedReason'
  | 'stopUnadopted'
  | 'stats'
  | 'top'
  | 'prune'
  | 'layerSize'
  | 'export'
  | 'changes'
  | 'commit'
  | 'update'
  | 'statPath'
  | 'archivePath'
  | 'extractToDir'
>;

export type ImageBackend = Pick<
  ImageService,
  'importRootfs' | 'load' | 'list' | 'resolve' | 'tag' | 'remove' | 'history' | 'prune' | 'diskUsage' | 'pull' | 'push' | 'save' | 'login'
>;

export type { BuildOptions, BuildOutput } from '../builder/index.js';
export { StepFailure } from '../builder/index.js';
import type { BuildOptions, BuildOutput } from '../builder/index.js';

/** `docker build` (the classic builder): the context as the body; resolves to the image id. */
export type BuildBackend = { build(body: Readable, o: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<string> };

export type VolumeBackend = Pick<VolumeService, 'create' | 'get' | 'list' | 'remove' | 'prune' | 'usage'>;

export type SystemInfo = {
  id: string;
  name: string;
  engineVersion: string;
  gitCommit: string;
  dataRoot: string;
  storageDriver: string;
  loggingDriver: string;
  cgroupDriver: string;
  cgroupVersion: string;
  defaultRuntime: string;
  runtimes: Record<string, { path: string; runtimeArgs?: string[] }>;
  liveRestore: boolean;
  debug: boolean;
  labels: string[];
  experimental: boolean;
  /** As dockerd lists them: `name=seccomp,profile=builtin`, `name=no-new-privileges`. */
  securityOptions: string[];
  warnings: string[];
  /** insecure-registries (names and CIDRs) and registry-mirrors, as `docker info` shows them. */
  registries: { insecure: string[]; mirrors: string[] };
};

/** Swarm mode (src/cluster): the node's swarm, its services and tasks, secrets and configs. */
export type SwarmBackend = { swarm: Swarm; services: ServiceApi; secrets: SecretApi; logs: (tasks: TaskObject[]) => { containerId: string; task: TaskObject }[] };
export type { ClusterView, InitRequest } from '../cluster/swarm.js';
export type { Entry } from '../cluster/store.js';
export type { NodeObject, SecretObject, ServiceObject, TaskObject } from '../cluster/objects.js';
export type { ServiceStatus, TaskFilter } from '../cluster/services.js';
export { issuerInfo } from '../cluster/ca.js';
export type SwarmInfo = NonNullable<Awaited<ReturnType<Swarm['info']>>>;
import type { Swarm } from '../cluster/swarm.js';
import type { ServiceApi } from '../cluster/services.js';
import type { SecretApi } from '../cluster/secrets.js';
import type { TaskObject } from '../cluster/objects.js';

export type Backend = {
  containers: ContainerBackend;
  images: ImageBackend;
  volumes: VolumeBackend;
  build: BuildBackend;
  events: EventBus;
  exec: Pick<ExecService, 'create' | 'start' | 'get' | 'resize' | 'idsOf'>;
  networks: NetworkBackend;
  logs: LogBackend;
  system: () => SystemInfo;
  swarm: SwarmBackend;
  log: Logger;
};
