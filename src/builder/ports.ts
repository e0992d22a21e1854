import type { Readable } from 'node:stream';

/*
 * What the builder needs of the rest of berth. The daemon wires these to the image service
 * and the container service, so a build's RUN is an ordinary container (runc + conmon) and
 * its result an ordinary image.
 */

/** An image's runtime config in Docker's spelling (Cmd, Env, WorkingDir...). */
export type RunConfig = Record<string, unknown>;

export type BuildImage = {
  id: string;
  parent?: string;
  config: RunConfig;
  /** The config the step that made it was keyed by (the classic builder's cache). */
  containerConfig?: RunConfig;
  /** Its config's history entries and layer diff ids: what a `--cache-from` image is matched by. */
  history: Record<string, unknown>[];
  diffIds: string[];
};

export type NewImage = {
  /** Undefined: a first layer on nothing (`FROM scratch`). */
  parentId?: string;
  config: RunConfig;
  containerConfig: RunConfig;
  createdBy: string;
  /** MAINTAINER's. */
  author?: string;
  /** The build container whose changes become the layer (RUN, COPY, ADD). */
  containerId?: string;
  /** A layer tar, for a first layer on scratch. */
  layer?: () => Promise<{ stream: Readable; done: Promise<void> }>;
};

export interface BuildImages {
  find(ref: string): BuildImage | undefined;
  /**
   * `progress` is the build output's, passed through as the pull's progress sink; the
   * credentials are the request's headers as they came (the registry's entry is picked there).
   */
  pull(ref: string, opts: { platform?: string; registryConfig?: string; auth?: string; progress: unknown; signal: AbortSignal }): Promise<void>;
  /**
   * The local cache's candidates on `parentId` (undefined: on scratch): images made here
   * whose parent it is, oldest first. Pulled or loaded images never are.
   */
  children(parentId: string | undefined): BuildImage[];
  commit(req: NewImage): Promise<string>;
  /** A step found in a `--cache-from` image: its history entry `index` (and layer) on `parentId`. */
  restore(req: { parentId?: string; sourceId: string; index: number; config: RunConfig; containerConfig: RunConfig }): Promise<string>;
  /** A `--cache-from` image whose last step matched becomes the child of `parentId`. */
  adopt(imageId: string, parentId: string): Promise<void>;
  tag(imageId: string, ref: string): Promise<void>;
  /** A name as it is reported (`Successfully tagged app:latest`), or an error for a bad one. */
  normalizeTag(ref: string): string;
}

export type StepContainer = {
  image: string;
  cmd: string[];
  env: string[];
  user: string;
  workingDir: string;
  networkMode: string;
  shmSize?: number;
  extraHosts: string[];
  labels: Record<string, string>;
};

export interface BuildContainers {
  create(spec: StepContainer): Promise<string>;
  /** Start it with its output sent to `out` as it comes, and wait for its exit code. */
  run(id: string, out: (stream: 'stdout' | 'stderr', data: Buffer) => void, signal: AbortSignal): Promise<number>;
  remove(id: string): Promise<void>;
  /** The container's root filesystem mounted for the time of `fn` (never while it runs). */
  withRootfs<T>(id: string, fn: (rootfs: string) => Promise<T>): Promise<T>;
}

export type BuildHost = {
  images: BuildImages;
  containers: BuildContainers;
  /** This build's private scratch directory (the same each call; removed after the build). */
  scratchDir(): Promise<string>;
  tarDirectory(dir: string): Promise<{ stream: Readable; done: Promise<void> }>;
};
