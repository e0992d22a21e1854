import { mkdir, rm, access } from 'node:fs/promises';
import { join } from 'node:path';
import type { RootfsMount, StorageDriver } from '../../engine/ports.js';
import { run } from '../../lib/exec.js';
import { systemError } from '../../lib/errors.js';
import { dirSize } from '../../lib/dir-size.js';
import { treeChanges } from '../changes.js';
import type { Change } from '../../engine/ports.js';
import { listDir } from '../list-dir.js';
import { vfsDiffTar, type TarStream } from '../tar-pack.js';

/**
 * vfs: every layer is a full copy of the tree (parent + diff), and a container's writable
 * layer is a copy of its image's top layer. Slow and large, but needs no kernel support,
 * which makes it the fallback and the reference for the storage suite.
 */
export class VfsDriver implements StorageDriver {
  readonly name = 'vfs';
  readonly whiteouts = 'apply' as const;
  readonly #layers: string;
  readonly #containers: string;

  constructor(root: string) {
    this.#layers = join(root, 'layers');
    this.#containers = join(root, 'containers');
  }

  async init(): Promise<void> {
    await mkdir(this.#layers, { recursive: true, mode: 0o700 });
    await mkdir(this.#containers, { recursive: true, mode: 0o700 });
  }

  async createLayer(cacheId: string, parentCacheId: string | undefined): Promise<string> {
    const dir = join(this.#layers, cacheId);
    if (parentCacheId) await copyTree(join(this.#layers, parentCacheId), dir);
    else await mkdir(dir, { mode: 0o755 });
    return dir;
  }

  async removeLayer(cacheId: string): Promise<void> {
    await rm(join(this.#layers, cacheId), { recursive: true, force: true });
  }

  listLayers(): Promise<string[]> {
    return listDir(this.#layers);
  }

  async createContainerLayer(containerId: string, imageTopCacheId: string): Promise<void> {
    await copyTree(join(this.#layers, imageTopCacheId), join(this.#containers, containerId));
  }

  async mount(containerId: string): Promise<RootfsMount> {
    const path = join(this.#containers, containerId);
    try {
      await access(path);
    } catch {
      throw systemError(`container layer ${containerId} is missing`);
    }
    return { path };
  }

  async unmount(): Promise<void> {
    // Nothing is mounted for vfs.
  }

  async changes(containerId: string, parentChain: string[]): Promise<Change[]> {
    const top = parentChain[parentChain.length - 1];
    if (top === undefined) throw systemError(`container ${containerId} has no image layers`);
    return treeChanges(join(this.#layers, top), join(this.#containers, containerId));
  }

  async diffTar(containerId: string, parentChain: string[], exclude: string[]): Promise<TarStream> {
    const current = join(this.#containers, containerId);
    return vfsDiffTar(current, await this.changes(containerId, parentChain), exclude);
  }

  containerLayerSize(containerId: string): Promise<number> {
    return dirSize(join(this.#containers, containerId));
  }

  async removeContainerLayer(containerId: string): Promise<void> {
    await rm(join(this.#containers, containerId), { recursive: true, force: true });
  }

  listContainerLayers(): Promise<string[]> {
    return listDir(this.#containers);
  }
}

async function copyTree(src: string, dst: string): Promise<void> {
  // cp -a keeps owners, modes, links, times and special files; reflink makes it cheap where
  // the filesystem can share extents.
  const r = await run('cp', ['-a', '--reflink=auto', src, dst], { timeoutMs: 10 * 60_000 });
  if (r.code !== 0) {
    await rm(dst, { recursive: true, force: true });
    throw systemError(`copying ${src} failed: ${r.stderr.trim()}`);
  }
}
