import type { Readable } from 'node:stream';
import { isRunningLike } from '../container.js';
import type { FilesView, PathStat } from '../ports.js';
import { conflict, isKind, messageOf, notFound } from '../../lib/errors.js';
import type { ContainerContext } from './context.js';
import type { Live } from './registry.js';

type Opened = { view: FilesView; release: () => Promise<void> };

/**
 * `docker cp`: a container's files read and written through the ContainerFiles port. A
 * running (or paused) container is reached in its own mount namespace, so its volumes and
 * binds are where it sees them; a stopped one has its rootfs mounted for the copy, its volumes
 * and binds put in place on it by the copy alone, and unmounted after unless it started meanwhile.
 */
export class ContainerArchive {
  readonly #x: ContainerContext;

  constructor(x: ContainerContext) {
    this.#x = x;
  }

  async stat(ref: string, path: string): Promise<PathStat> {
    const c = this.#container(ref);
    const o = await this.#open(c);
    try {
      return await this.#x.d.files.stat(o.view, path).catch(missing(path, ref));
    } finally {
      await o.release();
    }
  }

  async get(ref: string, path: string): Promise<{ stat: PathStat; stream: Readable; done: Promise<void> }> {
    const x = this.#x;
    const c = this.#container(ref);
    const o = await this.#open(c);
    let tar;
    try {
      tar = await x.d.files.archive(o.view, path).catch(missing(path, ref));
    } catch (err) {
      await o.release();
      throw err;
    }
    x.emit('archive-path', c.record);
    return { ...tar, done: tar.done.finally(o.release) };
  }

  async put(ref: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    const x = this.#x;
    const c = this.#container(ref);
    const r = c.record;
    const o = await this.#open(c);
    try {
      await x.d.files
        .extract(o.view, path, tar, {
          noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
          readonlyRootfs: r.spec.readonlyRootfs,
          ...(opts.copyUIDGID && r.spec.user ? { chownToUser: r.spec.user } : {}),
        })
        .catch(missing(path, ref));
    } finally {
      await o.release();
    }
    x.emit('extract-to-dir', r);
  }

  #container(ref: string): Live {
    const c = this.#x.reg.managed(ref);
    const st = c.record.state.status;
    if (st === 'removing' || st === 'dead') throw conflict(`container ${c.record.id} is marked for removal and cannot be copied to or from`);
    return c;
  }

  async #open(c: Live): Promise<Opened> {
    const x = this.#x;
    const r = c.record;
    return x.lock.run(r.id, async () => {
      if (isRunningLike(r.state)) return { view: { running: r.state.handle.container }, release: async () => undefined };
      const rootfs = await x.d.storage.mount(r.id, x.layerChain(r));
      const release = () =>
        x.lock
          .run(r.id, async () => {
            if (x.reg.has(r.id) && !isRunningLike(c.record.state)) await x.d.storage.unmount(r.id);
          })
          .catch((err: unknown) => x.d.log.warn({ containerId: r.id, err: messageOf(err) }, 'docker cp: cannot unmount the container'));
      try {
        const mounts = (await x.d.volumes.setup(r.id, r.spec.mounts))
          .filter((m) => (m.type === 'bind' || m.type === 'volume') && m.source !== '')
          .map((m) => ({ source: m.source, destination: m.destination, readOnly: m.readOnly }));
        return { view: { rootfs: rootfs.path, mounts }, release };
      } catch (err) {
        await release();
        throw err;
      }
    });
  }
}

/** Docker's words for a path that is not there. */
function missing(path: string, ref: string): (err: unknown) => never {
  return (err) => {
    if (isKind(err, 'NotFound')) throw notFound(`Could not find the file ${path} in container ${ref}`, err);
    throw err;
  };
}
