import type { MountSpec } from './container.js';

/** Access to a container's root filesystem while it is not running (copy-up at create). */
export type RootfsAccess = {
  mount(): Promise<string>;
  unmount(): Promise<void>;
};

/**
 * What the container lifecycle needs from volumes. A container holds a reference on every
 * volume it mounts from `prepare` until `release`, so a volume in use cannot be removed.
 */
export interface VolumePort {
  /**
   * At create: create the named volumes that are missing and one volume per anonymous mount,
   * check bind sources, and copy the image's content into empty volumes (unless `nocopy`).
   * Returns the mounts with volume names and host paths filled in. On failure it undoes
   * what it did.
   */
  prepare(containerId: string, mounts: readonly MountSpec[], rootfs: RootfsAccess): Promise<MountSpec[]>;
  /** At start: the mounts with host paths ready to bind (volumes present, bind sources made). */
  setup(containerId: string, mounts: readonly MountSpec[]): Promise<MountSpec[]>;
  /** At remove: drop the container's references and, if asked, its anonymous volumes. Never throws. */
  release(containerId: string, mounts: readonly MountSpec[], opts: { removeAnonymous: boolean }): Promise<void>;
}
