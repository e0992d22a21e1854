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
export type { ContainerRecord, HostTuning, MountSpec, RestartPolicy, Ulimit } from '../engine/container.js';
export type { CreateOptions } from '../engine/create-options.js';
export type { ResourceUpdate } from '../engine/resource-update.js';
export type { HealthConfig, HealthState } from '../engine/health.js';
export { healthText } from '../engine/health.js';
export { toDockerHealth } from '../engine/create-options.js';
export type { WaitCondition } from '../engine/container-service.js';
export type { AttachSession, PathStat, RawStats } from '../engine/ports.js';
export type { EngineEvent } from '../engine/events.js';
export type { ExecConfig } from '../engine/exec-service.js';
export type { HistoryItem, ImageInfo, PruneReport } from '../images/image-service.js';
export type { VolumeInfo } from '../volumes/volume.js';
export type { VolumeCreateRequest, VolumeListFilter, VolumePruneFilter } from '../volumes/volume-service.js';
export { familiarString, fullString, parseReference, withDefaultTag } from '../images/reference.js';

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
  | 'update'
  | 'statPath'
  | 'archivePath'
  | 'extractToDir'
>;

export type ImageBackend = Pick<ImageService, 'importRootfs' | 'load' | 'list' | 'resolve' | 'tag' | 'remove' | 'history' | 'prune' | 'diskUsage'>;

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
  warnings: string[];
};

export type Backend = {
  containers: ContainerBackend;
  images: ImageBackend;
  volumes: VolumeBackend;
  events: EventBus;
  exec: Pick<ExecService, 'create' | 'start' | 'get' | 'resize' | 'idsOf'>;
  logs: LogBackend;
  system: () => SystemInfo;
  log: Logger;
};
