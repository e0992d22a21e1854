import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { RootfsMount, StorageDriver } from '../../engine/ports.js';
import { errnoCode, messageOf, systemError } from '../../lib/errors.js';
import { KeyedMutex } from '../../lib/mutex.js';
import { fsTypeOf, isMountPoint, mountOverlay, unmount } from '../mounter.js';
import { makeWhiteout, markOpaque } from '../overlay-whiteouts.js';
import { dirSize } from '../../lib/dir-size.js';
import { overlayChanges } from '../changes.js';
import type { Change } from '../../engine/ports.js';
import { listDir } from '../list-dir.js';
import { overlayDiffTar, type TarStream } from '../tar-pack.js';

/** Names under the driver root that are not layers. */
const LINKS_DIR = 'l';
const CONTAINERS_DIR = 'containers';
const RESERVED = new Set([LINKS_DIR, CONTAINERS_DIR]);
const PROBE_PREFIX = '.probe-';
const PROBE_OK = '.overlay-ok-boot';

/**
 * overlay2, Docker's layout with fewer files:
 *
 *   <root>/<cacheId>/diff            a layer's own changes, whiteouts as overlayfs markers
 *   <root>/l/<short> -> ../<cacheId>/diff
 *   <root>/containers/<id>/{upper,work,merged}
 *
 * A container's rootfs is an overlay mount on `merged`, its lowerdirs given as the short
 * links (`l/<26 chars>`) relative to the root, so 128 layers fit in the one page mount(2)
 * accepts. The short name is derived from the cache id, so no `link` file has to be kept in
 * step with the symlink; the lower chain comes from the layer store at each mount, so there is
 * no `lower` file either.
 */
export class OverlayDriver implements StorageDriver {
  readonly name = 'overlay2';
  readonly whiteouts = 'overlay' as const;
  readonly #root: string;
  readonly #containers: string;
  readonly #lock = new KeyedMutex();
  #options: string[] = [];

  constructor(root: string) {
    this.#root = root;
    this.#containers = join(root, CONTAINERS_DIR);
  }

  async init(): Promise<void> {
    await mkdir(join(this.#root, LINKS_DIR), { recursive: true, mode: 0o700 });
    await mkdir(this.#containers, { recursive: true, mode: 0o700 });
    // As Docker does: with overlayfs's inode index on, a container layer can fail to mount
    // again once its lower layers were used under another upper directory.
    if (existsSync('/sys/module/overlay/parameters/index')) this.#options = ['index=off'];
    await this.#probe();
    await this.#removeDanglingLinks();
  }

  async createLayer(cacheId: string): Promise<string> {
    if (RESERVED.has(cacheId) || cacheId.startsWith('.') || cacheId.includes('/')) {
      throw systemError(`invalid layer cache id ${cacheId}`);
    }
    const dir = join(this.#root, cacheId);
    await mkdir(dir, { mode: 0o700 });
    const diff = join(dir, 'diff');
    try {
      await mkdir(diff, { mode: 0o755 });
      await symlink(join('..', cacheId, 'diff'), this.#link(cacheId));
    } catch (err) {
      await this.removeLayer(cacheId);
      throw err;
    }
    return diff;
  }

  /** The link goes first: a link without its layer would break a mount, a layer without a link is just removed again. */
  async removeLayer(cacheId: string): Promise<void> {
    await rm(this.#link(cacheId), { force: true });
    await rm(join(this.#root, cacheId), { recursive: true, force: true });
  }

  async listLayers(): Promise<string[]> {
    return (await listDir(this.#root)).filter((n) => !RESERVED.has(n));
  }

  async createContainerLayer(containerId: string, imageTopCacheId: string, parentChain: string[]): Promise<void> {
    for (const cacheId of parentChain) await this.#checkLayer(cacheId);
    if (parentChain[parentChain.length - 1] !== imageTopCacheId) {
      throw systemError(`layer chain of container ${containerId} does not end at its image's top layer`);
    }
    const dir = join(this.#containers, containerId);
    await mkdir(dir, { mode: 0o700 });
    try {
      for (const sub of ['upper', 'work', 'merged']) await mkdir(join(dir, sub), { mode: 0o755 });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  mount(containerId: string, parentChain: string[]): Promise<RootfsMount> {
    return this.#lock.run(containerId, async () => {
      const dir = join(this.#containers, containerId);
      const merged = join(dir, 'merged');
      const rel = join(CONTAINERS_DIR, containerId);
      try {
        await stat(merged);
      } catch {
        throw systemError(`container layer ${containerId} is missing`);
      }
      // Idempotent: a mount left by an earlier start (or an earlier daemon) is reused.
      if (await isMountPoint(merged)) return { path: merged };
      for (const cacheId of parentChain) await this.#checkLayer(cacheId);
      await mountOverlay(merged, {
        lower: [...parentChain].reverse().map((c) => join(LINKS_DIR, shortName(c))),
        upper: join(rel, 'upper'),
        work: join(rel, 'work'),
        cwd: this.#root,
        options: this.#options,
      });
      return { path: merged };
    });
  }

  unmount(containerId: string): Promise<void> {
    return this.#lock.run(containerId, () => unmount(join(this.#containers, containerId, 'merged')));
  }

  async changes(containerId: string, parentChain: string[]): Promise<Change[]> {
    const lowers = [...parentChain].reverse().map((c) => join(this.#root, c, 'diff'));
    return overlayChanges(join(this.#containers, containerId, 'upper'), lowers);
  }

  diffTar(containerId: string, _parentChain: string[], exclude: string[]): Promise<TarStream> {
    return overlayDiffTar(join(this.#containers, containerId, 'upper'), exclude);
  }

  containerLayerSize(containerId: string): Promise<number> {
    return dirSize(join(this.#containers, containerId, 'upper'));
  }

  removeContainerLayer(containerId: string): Promise<void> {
    return this.#lock.run(containerId, async () => {
      const dir = join(this.#containers, containerId);
      // Never rm -r through a live mount: unmount() throws if the mount stays.
      await unmount(join(dir, 'merged'));
      await rm(dir, { recursive: true, force: true });
    });
  }

  listContainerLayers(): Promise<string[]> {
    return listDir(this.#containers);
  }

  #link(cacheId: string): string {
    return join(this.#root, LINKS_DIR, shortName(cacheId));
  }

  async #checkLayer(cacheId: string): Promise<void> {
    try {
      await stat(this.#link(cacheId));
    } catch {
      throw systemError(`layer ${cacheId} is missing from the overlay2 store`);
    }
  }

  /**
   * Prove that this kernel and the filesystem under the root do what the driver relies on: an
   * overlay mount with two lowers, a whiteout device and an opaque directory hiding lower
   * content, and a write landing in the upper directory. Fails start-up with a clear message.
   */
  async #probe(): Promise<void> {
    for (const name of await readdir(this.#root)) {
      if (name.startsWith(PROBE_PREFIX)) await removeProbe(join(this.#root, name));
    }
    // Once per boot is enough (the kernel and the filesystem do not change under us): a
    // restart, the live-restore case, skips the test mount.
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
    const marker = join(this.#root, PROBE_OK);
    if (bootId !== '' && (await readFile(marker, 'utf8').catch(() => '')) === bootId) return;
    const dir = join(this.#root, `${PROBE_PREFIX}${randomBytes(4).toString('hex')}`);
    const p = (...s: string[]) => join(dir, ...s);
    try {
      for (const d of ['l1/opq', 'l2/opq', 'upper', 'work', 'merged']) await mkdir(p(d), { recursive: true });
      await writeFile(p('l1/gone'), 'x');
      await writeFile(p('l1/opq/hidden'), 'x');
      await makeWhiteout(p('l2/gone'));
      await markOpaque([p('l2/opq')]);
      await mountOverlay(p('merged'), { lower: ['l2', 'l1'], upper: 'upper', work: 'work', cwd: dir, options: this.#options });
      try {
        if (await exists(p('merged/gone'))) throw new Error('whiteout devices do not hide lower files');
        if ((await readdir(p('merged/opq'))).length !== 0) throw new Error('opaque directories do not hide lower content');
        await writeFile(p('merged/new'), 'x');
        if (!(await exists(p('upper/new')))) throw new Error('writes do not reach the upper directory');
      } finally {
        await unmount(p('merged'));
      }
    } catch (err) {
      const fs = await fsTypeOf(this.#root).catch(() => 'unknown');
      throw systemError(
        `the overlay2 storage driver does not work on this machine (${this.#root} is on ${fs}): ${messageOf(err)}; use --storage-driver vfs`,
        err,
      );
    } finally {
      await removeProbe(dir);
    }
    if (bootId !== '') await writeFile(marker, bootId);
  }

  /** Links whose layer is gone: left by a crash between removing a layer's link and its directory. */
  async #removeDanglingLinks(): Promise<void> {
    const links = join(this.#root, LINKS_DIR);
    for (const name of await listDir(links)) {
      const target = await readlink(join(links, name)).catch(() => undefined);
      if (target === undefined || !(await exists(join(links, target)))) await rm(join(links, name), { force: true });
    }
  }
}

/** 26 characters, like Docker's link names: short enough for long lower chains. */
function shortName(cacheId: string): string {
  return createHash('sha256').update(cacheId).digest('hex').slice(0, 26);
}

async function removeProbe(dir: string): Promise<void> {
  await unmount(join(dir, 'merged'));
  await rm(dir, { recursive: true, force: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
