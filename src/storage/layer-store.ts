import { readdir, readFile, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import type { StorageDriver } from '../engine/ports.js';
import { writeFileAtomic, ensureDir } from '../lib/atomic-file.js';
import { errnoCode, invalidParameter, messageOf, notFound } from '../lib/errors.js';
import { Mutex } from '../lib/mutex.js';
import type { Logger } from '../lib/logger.js';
import { extractTar } from './tar-extract.js';
import { BlobStore, compressionOfFile, type BlobInfo, type BlobWriter } from './blob-store.js';

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
  /**
   * The layer's compressed tar as kept in the blob store, and the length of the uncompressed
   * tar (whose sha256 is the diff id). Absent for layers stored before berth kept blobs:
   * those cannot be pushed or saved (berth never re-tars a layer).
   */
  blob?: BlobInfo;
  tarSize?: number;
};

/** A verified file holding the layer's bytes as they came (a downloaded or archived blob). */
export type BlobFile = { file: string; digest: string; size: number };

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
  readonly blobs: BlobStore;

  constructor(root: string, driver: StorageDriver, log: Logger, blobsRoot: string) {
    this.#root = root;
    this.#driver = driver;
    this.#log = log;
    this.blobs = new BlobStore(blobsRoot);
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
    // Blobs moved into place by a pull or load that crashed before its layer record was written.
    await this.blobs.init();
    const referenced = new Set([...this.#layers.values()].map((l) => l.blob?.digest));
    for (const digest of await this.blobs.list()) {
      if (!referenced.has(digest)) {
        this.#log.info({ digest }, 'removing unreferenced blob');
        await this.blobs.remove(digest);
      }
    }
  }

  /** Where a layer's kept blob is, if it has one. */
  blobPath(meta: LayerMeta): string | undefined {
    return meta.blob ? this.blobs.path(meta.blob.digest) : undefined;
  }

  get(chainId: string): LayerMeta {
    const l = this.#layers.get(chainId);
    if (!l) throw notFound(`layer ${chainId} does not exist`);
    return l;
  }

  has(chainId: string): boolean {
    return this.#layers.has(chainId);
  }

  all(): LayerMeta[] {
    return [...this.#layers.values()];
  }

  /** The layers from the base up to `top`. */
  chain(top: string): LayerMeta[] {
    const out: LayerMeta[] = [];
    for (let cur: string | undefined = top; cur; cur = this.get(cur).parent) out.unshift(this.get(cur));
    return out;
  }

  /**
   * Extract a layer diff on top of `parent` and keep its blob. With `expectDiffId` (a layer an
   * image config names), content that hashes differently is refused and nothing is kept.
   * `blob` names a verified file holding exactly the input's bytes: a compressed one is moved
   * into the blob store as it is; otherwise the input is kept as it streams (gzip-compressed
   * when it is a plain tar).
   */
  async apply(
    tar: Readable,
    parent: string | undefined,
    opts: { signal?: AbortSignal; expectDiffId?: string; blob?: BlobFile } = {},
  ): Promise<LayerMeta> {
    const parentMeta = parent ? this.get(parent) : undefined;
    const cacheId = randomBytes(32).toString('hex');
    const given = opts.blob && (await compressionOfFile(opts.blob.file)) !== 'none' ? opts.blob : undefined;
    const writer = given ? undefined : this.blobs.writer();
    let result;
    let blob: BlobInfo | undefined;
    try {
      const dir = await this.#driver.createLayer(cacheId, parentMeta?.cacheId);
      const input = writer ? tee(tar, writer) : tar;
      result = await extractTar(input, dir, { signal: opts.signal, whiteouts: this.#driver.whiteouts });
      if (opts.expectDiffId !== undefined && result.diffId !== opts.expectDiffId) {
        throw invalidParameter(`invalid diffID for layer: expected "${opts.expectDiffId}", got "${result.diffId}"`);
      }
      blob = given ? { digest: given.digest, size: given.size, compression: await compressionOfFile(given.file) } : await (writer as BlobWriter).finish();
    } catch (err) {
      await writer?.abort();
      await this.#driver.removeLayer(cacheId);
      throw err;
    }
    const chainId = chainIdOf(parent, result.diffId);
    const kept = blob;
    const tarSize = result.tarSize;
    return this.#lock.run(async () => {
      const existing = this.#layers.get(chainId);
      if (existing && existing.blob) {
        await writer?.abort();
        await this.#driver.removeLayer(cacheId);
        return existing;
      }
      try {
        if (given) await this.blobs.adopt(given.file, kept.digest);
        else await (writer as BlobWriter).commit(kept);
      } catch (err) {
        await writer?.abort();
        await this.#driver.removeLayer(cacheId);
        throw err;
      }
      if (existing) {
        // A layer stored before blobs were kept gets one now: it becomes pushable.
        const upgraded: LayerMeta = { ...existing, blob: kept, tarSize };
        await writeFileAtomic(this.#file(chainId), JSON.stringify(upgraded));
        this.#layers.set(chainId, upgraded);
        await this.#driver.removeLayer(cacheId);
        return upgraded;
      }
      const meta: LayerMeta = { chainId, diffId: result.diffId, cacheId, size: result.size, blob: kept, tarSize, ...(parent ? { parent } : {}) };
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
      const digest = meta.blob?.digest;
      if (digest && ![...this.#layers.values()].some((l) => l.blob?.digest === digest)) await this.blobs.remove(digest);
    });
  }

  #file(chainId: string): string {
    return join(this.#root, `${chainId.replace(/^sha256:/, '')}.json`);
  }
}

/**
 * The input as it streams, copied to the blob writer on the way (its backpressure held), so
 * that extraction and keeping read the bytes once.
 */
function tee(input: Readable, writer: BlobWriter): Readable {
  const out = writer.input;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (out.write(chunk)) cb(null, chunk);
      else out.once('drain', () => cb(null, chunk));
    },
    flush(cb) {
      out.end();
      cb();
    },
  });
  // Either side failing ends both; the callers see the failure through extractTar or finish().
  pipeline(input, t).catch(() => out.destroy());
  writer.onError((err) => t.destroy(err instanceof Error ? err : new Error(String(err))));
  return t;
}
