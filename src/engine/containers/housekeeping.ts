import type { Readable } from 'node:stream';
import { isRunningLike, type ContainerRecord } from '../container.js';
import type { Change } from '../ports.js';
import { INIT_PATHS, withoutInitPaths } from '../changes.js';
import { conflict, messageOf } from '../../lib/errors.js';
import type { ContainerContext } from './context.js';
import type { Live } from './registry.js';

/** Removal as the lifecycle does it, for prune. */
export type RemoveNow = (c: Live) => Promise<void>;

/** What users do to containers' filesystems and leftovers: prune, export, diff, sizes. */
export class Housekeeping {
  readonly #x: ContainerContext;
  readonly #remove: RemoveNow;

  constructor(x: ContainerContext, remove: RemoveNow) {
    this.#x = x;
    this.#remove = remove;
  }

  /**
   * `docker export`: the container's filesystem as a tar stream. A container that is not
   * running is mounted for the time of the copy and unmounted after, unless it started meanwhile.
   */
  async export(ref: string): Promise<{ stream: Readable; done: Promise<void> }> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    const r = c.record;
    if (r.state.status === 'removing' || r.state.status === 'dead') throw conflict(`container ${ref} is marked for removal and cannot be exported`);
    const rootfs = await x.lock.run(r.id, () => x.d.storage.mount(r.id, x.layerChain(r)));
    const release = () =>
      x.lock.run(r.id, async () => {
        if (x.reg.has(r.id) && !isRunningLike(c.record.state)) await x.d.storage.unmount(r.id);
      });
    let tar: { stream: Readable; done: Promise<void> };
    try {
      tar = await x.d.tarDirectory(rootfs.path);
    } catch (err) {
      await release().catch(() => undefined);
      throw err;
    }
    x.emit('export', r);
    const done = tar.done.finally(() =>
      release().catch((err: unknown) => x.d.log.warn({ containerId: r.id, err: messageOf(err) }, 'export: cannot unmount the container')),
    );
    return { stream: tar.stream, done };
  }

  /**
   * A stopped container's root filesystem mounted for the time of `fn` (the builder's COPY
   * writes there), unmounted after unless it started meanwhile.
   */
  async withRootfs<T>(ref: string, fn: (rootfs: string) => Promise<T>): Promise<T> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    const r = c.record;
    if (isRunningLike(r.state)) throw conflict(`container ${r.id} is running`);
    const rootfs = await x.lock.run(r.id, () => x.d.storage.mount(r.id, x.layerChain(r)));
    try {
      return await fn(rootfs.path);
    } finally {
      await x.lock.run(r.id, async () => {
        if (x.reg.has(r.id) && !isRunningLike(c.record.state)) await x.d.storage.unmount(r.id);
      });
    }
  }

  /** The container's changes as a layer tar (what `commit` stores), without berth's mount points. */
  diffTar(ref: string): Promise<{ stream: Readable; done: Promise<void> }> {
    const x = this.#x;
    const r = x.reg.managed(ref).record;
    return x.d.storage.diffTar(r.id, x.layerChain(r), INIT_PATHS);
  }

  /** `docker diff`: what the container changed against its image. */
  async changes(ref: string): Promise<Change[]> {
    const x = this.#x;
    const r = x.reg.managed(ref).record;
    return withoutInitPaths(await x.d.storage.changes(r.id, x.layerChain(r)));
  }

  /** Bytes in the container's own layer (`SizeRw`). */
  layerSize(ref: string): Promise<number> {
    return this.#x.d.storage.containerLayerSize(this.#x.reg.find(ref).record.id);
  }

  /**
   * `container prune`: every container that is not running (created, exited, dead) and that
   * `select` keeps; one that cannot be removed is skipped, as dockerd does.
   */
  async prune(select: (r: ContainerRecord) => boolean): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const x = this.#x;
    const deleted: string[] = [];
    let spaceReclaimed = 0;
    for (const c of x.reg.all()) {
      const r = c.record;
      const status = r.state.status;
      if (status !== 'created' && status !== 'exited' && status !== 'dead') continue;
      if (!select(r)) continue;
      try {
        const size = await x.d.storage.containerLayerSize(r.id);
        await x.lock.run(r.id, () => this.#remove(c));
        deleted.push(r.id);
        spaceReclaimed += size;
      } catch (err) {
        x.d.log.warn({ containerId: r.id, err: messageOf(err) }, 'container prune: cannot remove container');
      }
    }
    x.d.events.emit('container', 'prune', '', { reclaimed: String(spaceReclaimed) });
    return { deleted, spaceReclaimed };
  }
}
