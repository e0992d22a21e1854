import { readdir, readFile, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { StorageDriver } from '../engine/ports.js';
import { writeFileAtomic, ensureDir } from '../lib/atomic-file.js';
import { errnoCode, invalidParameter, messageOf, notFound } from '../lib/errors.js';
import { Mutex } from '../lib/mutex.js';
import type { Logger } from '../lib/logger.js';
import { extractTar } from './tar-extract.js';

/** Docker's chain id: the diff id for a base layer, else sha256 of "<parent chain id> <diff id>". */
export function chainIdOf(parent: string | undefined, diffId: string): string {
  return parent ? `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}` : diffId;
}

export type LayerMeta = {
  chainId: string;
  diffId: string;
  parent?: string;
  cacheId: string;
  size: number;
};

/**
 * Image layers, content-addressed by chain id (as Docker: the diff id for a base layer, else
 * sha256 of "<parent chain id> <diff id>"), so a layer two images share exists once.
 * Metadata lives in `<root>/<chain hex>.json`; the bytes live in the storage driver.
 */
export class LayerStore {
  readonly #root: string;
  readonly #driver: StorageDriver;
  readonly #log: Logger;
  readonly #layers = new Map<string, LayerMeta>();
  readonly #lock = new Mutex();

  constructor(root: string, driver: StorageDriver, log: Logger) {
    this.#root = root;
    this.#driver = driver;
    this.#log = log;
  }

  async init(): Promise<void> {
    await ensureDir(this.#root);
    for (const name of await readdir(this.#root)) {
      if (!name.endsWith('.json')) continue;
      try {
        const meta = JSON.parse(await readFile(join(this.#root, name), 'utf8')) as LayerMeta;
        this.#layers.set(meta.chainId, meta);
      } catch (err) {
        this.#log.error({ file: name, err: messageOf(err) }, 'unreadable layer record, ignoring it');
      }
    }
    // Layers extracted by an import that crashed before its record was written.
    const known = new Set([...this.#layers.values()].map((l) => l.cacheId));
    for (const cacheId of await this.#driver.listLayers()) {
      if (!known.has(cacheId)) {
        this.#log.info({ cacheId }, 'removing unfinished layer');
        await this.#driver.removeLayer(cacheId);
      }
    }
  }

  get(chainId: string): LayerMeta {
    const l = this.#layers.get(chainId);
    if (!l) throw notFound(`layer ${chainId} does not exist`);
    return l;
  }

  has(chainId: string): boolean {
    return this.#layers.has(chainId);
  }

  /** The layers from the base up to `top`. */
  chain(top: string): LayerMeta[] {
    const out: LayerMeta[] = [];
    for (let cur: string | undefined = top; cur; cur = this.get(cur).parent) out.unshift(this.get(cur));
    return out;
  }

  /**
   * Extract a layer diff on top of `parent`. With `expectDiffId` (a layer an image config
   * names), content that hashes differently is refused and nothing is kept.
   */
  async apply(
    tar: Readable,
    parent: string | undefined,
    opts: { signal?: AbortSignal; expectDiffId?: string } = {},
  ): Promise<LayerMeta> {
    const parentMeta = parent ? this.get(parent) : undefined;
    const cacheId = randomBytes(32).toString('hex');
    let result;
    try {
      const dir = await this.#driver.createLayer(cacheId, parentMeta?.cacheId);
      result = await extractTar(tar, dir, { signal: opts.signal, whiteouts: this.#driver.whiteouts });
      if (opts.expectDiffId !== undefined && result.diffId !== opts.expectDiffId) {
        throw invalidParameter(`invalid diffID for layer: expected "${opts.expectDiffId}", got "${result.diffId}"`);
      }
    } catch (err) {
      await this.#driver.removeLayer(cacheId);
      throw err;
    }
    const chainId = chainIdOf(parent, result.diffId);
    return this.#lock.run(async () => {
      const existing = this.#layers.get(chainId);
      if (existing) {
        await this.#driver.removeLayer(cacheId);
        return existing;
      }
      const meta: LayerMeta = { chainId, diffId: result.diffId, cacheId, size: result.size, ...(parent ? { parent } : {}) };
      await writeFileAtomic(this.#file(chainId), JSON.stringify(meta));
      this.#layers.set(chainId, meta);
      return meta;
    });
  }

  /** Remove a layer nobody uses any more (the caller checks images and containers). */
  async remove(chainId: string): Promise<void> {
    await this.#lock.run(async () => {
      const meta = this.#layers.get(chainId);
      if (!meta) return;
      if ([...this.#layers.values()].some((l) => l.parent === chainId)) return;
      // Record first: a crash after this leaves an unreferenced directory, cleaned at start.
      try {
        await rm(this.#file(chainId));
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      this.#layers.delete(chainId);
      await this.#driver.removeLayer(meta.cacheId);
    });
  }

  #file(chainId: string): string {
    return join(this.#root, `${chainId.replace(/^sha256:/, '')}.json`);
  }
}
