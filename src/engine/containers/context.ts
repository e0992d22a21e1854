import type { Readable } from 'node:stream';
import type { ContainerRecord, CriticalOptions } from '../container.js';
import type { ContainerFiles, HostResources, ImagePort, LogRotation, NetworkAttach, OciRuntime, SpecBuilder, StartStep, StateStore, StorageDriver, VolumePort } from '../ports.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../../lib/logger.js';
import { KeyedMutex } from '../../lib/mutex.js';
import { ContainerRegistry, type Live } from './registry.js';

export type ContainerServiceDeps = {
  store: StateStore<ContainerRecord>;
  runtime: OciRuntime;
  storage: StorageDriver;
  images: ImagePort;
  events: EventBus;
  log: Logger;
  engineVersion: string;
  specs: SpecBuilder;
  /** What a start needs besides rootfs and volumes, in order (network files, endpoints...). */
  steps: readonly StartStep[];
  volumes: VolumePort;
  /** The daemon's critical options now, recorded with each start (see restore/classify.ts). */
  critical: () => CriticalOptions;
  /** Whether the daemon has its default bridge network (`bridge` is not `none`). */
  bridgeEnabled: () => boolean;
  /** Networks changing under running containers (connect, disconnect, rename); absent in tests without networking. */
  network?: NetworkAttach;
  /** The daemon's runtimes: its default and every name a container may ask for. */
  runtimes: () => { defaultName: string; names: string[] };
  /** The daemon's default log driver and options, merged into each new container. */
  logDefaults: () => { driver: string; opts: Record<string, string> };
  rotator: LogRotation;
  /** The machine's cpus and cgroup features, for `docker update`'s checks. */
  host: () => HostResources;
  /** A container's files for `docker cp`. */
  files: ContainerFiles;
  /** A directory as a tar stream (`docker export`). */
  tarDirectory: (dir: string) => Promise<{ stream: Readable; done: Promise<void> }>;
};

export const DEFAULT_STOP_TIMEOUT = 10;

/**
 * What the parts of the container service share: the ports, the known containers, one lock
 * per container (every state change of a container happens under it), and whether the
 * daemon is closing.
 */
export class ContainerContext {
  readonly d: ContainerServiceDeps;
  readonly reg = new ContainerRegistry();
  readonly lock = new KeyedMutex();
  /** The daemon's start steps, then the engine's own (the health monitor). */
  steps: readonly StartStep[];
  closing = false;

  constructor(deps: ContainerServiceDeps) {
    this.d = deps;
    this.steps = deps.steps;
  }

  /** Written before the change is acknowledged: the record on disk is the truth after a crash. */
  persist(c: Live): Promise<void> {
    return this.d.store.write(c.record.id, c.record);
  }

  /** Event attributes, as dockerd sets them: the labels, the image and the name. */
  attrs(r: ContainerRecord): Record<string, string> {
    return { ...r.spec.labels, image: r.spec.image, name: r.name };
  }

  emit(action: string, r: ContainerRecord, extra: Record<string, string> = {}): void {
    this.d.events.emit('container', action, r.id, { ...this.attrs(r), ...extra });
  }

  /** The storage driver's cache ids of the container's image layers. */
  layerChain(r: ContainerRecord): string[] {
    return this.d.images.layerCacheIds(r.storage.layerId);
  }

  dirOf(id: string): string {
    return this.d.store.dirOf(id);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
