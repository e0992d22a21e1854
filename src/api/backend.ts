import type { ContainerService } from '../engine/container-service.js';
import type { ImageService } from '../images/image-service.js';
import type { EventBus } from '../engine/events.js';
import type { ExecService } from '../engine/exec-service.js';
import type { VolumeService } from '../volumes/volume-service.js';

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
  /** As dockerd lists them: `name=seccomp,profile=builtin`, `name=no-new-privileges`. */
  securityOptions: string[];
  warnings: string[];
};

export type Backend = {
  containers: ContainerBackend;
  images: ImageBackend;
  volumes: VolumeBackend;
  events: EventBus;
  exec: Pick<ExecService, 'create' | 'start' | 'get' | 'resize' | 'idsOf'>;
  system: () => SystemInfo;
  log: import('../lib/logger.js').Logger;
};
