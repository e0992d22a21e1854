import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { syncDir } from '../lib/atomic-file.js';
import { errnoCode } from '../lib/errors.js';

export type Compression = 'none' | 'gzip' | 'zstd';

/** A layer's kept blob: the bytes a registry, an archive or berth itself has for it. */
export type BlobInfo = { digest: string; size: number; compression: Compression };

const MAGIC: { c: Compression; bytes: number[] }[] = [
  { c: 'gzip', bytes: [0x1f, 0x8b] },
  { c: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
];

export function compressionOfHead(head: Buffer): Compression {
  return MAGIC.find((m) => m.bytes.every((b, i) => head[i] === b))?.c ?? 'none';
}

export async function compressionOfFile(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return compressionOfHead(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

const TMP_PREFIX = '.tmp-';
/**
 * gzip level for layers berth compresses itself (import, commit, uncompressed archive layers):
 * zlib's default, the level dockerd pushes with, so pushed layers are as small as dockerd's.
 */
const GZIP_LEVEL = 6;

/**
 * Content-addressed blobs (`<root>/sha256/<hex>`): the compressed tar of each layer, kept so
 * that push and save send the layer's exact bytes back (see docs/architecture.md, "Layers
 * keep their blob"). A blob is moved into place before the layer record naming it is written,
 * so a crash leaves at most an unreferenced blob, which the layer store removes at start.
 */
export class BlobStore {
  readonly #dir: string;

  constructor(root: string) {
    this.#dir = join(root, 'sha256');
  }

  async init(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.#dir)) {
      if (name.startsWith(TMP_PREFIX)) await rm(join(this.#dir, name), { force: true });
    }
  }

  path(digest: string): string {
    return join(this.#dir, digest.replace(/^sha256:/, ''));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async list(): Promise<string[]> {
    return (await readdir(this.#dir)).filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /**
   * Take a verified file into the store under its digest: hard-linked, so the caller's file
   * stays readable (an archive may use one layer file for several layers) and is removed
   * with the caller's scratch directory; copied when it is on another filesystem.
   */
  async adopt(file: string, digest: string): Promise<void> {
    const fh = await open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const dest = this.path(digest);
    try {
      await link(file, dest);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return;
      if (errnoCode(err) !== 'EXDEV') throw err;
      const tmp = join(this.#dir, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
      await copyFile(file, tmp);
      await rename(tmp, dest);
    }
    await syncDir(this.#dir);
  }

  /** Move a file this store wrote (a writer's temporary file) into place. */
  async move(tmp: string, digest: string): Promise<void> {
    await rename(tmp, this.path(digest));
    await syncDir(this.#dir);
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /**
   * A writer that keeps what it is given as a blob: compressed input byte for byte, an
   * uncompressed tar gzip-compressed. Nothing is in the store until `commit()`.
   */
  writer(): BlobWriter {
    return new BlobWriter(join(this.#dir, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`), this);
  }
}

export class BlobWriter {
  readonly #tmp: string;
  readonly #store: BlobStore;
  readonly #input = new PassThrough();
  readonly #hash = createHash('sha256');
  #size = 0;
  #compression: Compression = 'none';
  readonly #done: Promise<void>;

  constructor(tmp: string, store: BlobStore) {
    this.#tmp = tmp;
    this.#store = store;
    this.#done = this.#run();
    // Seen by finish(); until then a failure must not count as unhandled.
    this.#done.catch(() => undefined);
  }

  /** Where the tee writes: the bytes as they arrive. */
  get input(): Writable {
    return this.#input;
  }

  async #run(): Promise<void> {
    const it = this.#input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const first: Buffer[] = [];
    let length = 0;
    while (length < 4) {
      const r = await it.next();
      if (r.done) break;
      first.push(r.value);
      length += r.value.length;
    }
    const head = Buffer.concat(first);
    this.#compression = compressionOfHead(head);
    const keep = this.#compression !== 'none';
    if (!keep) this.#compression = 'gzip';
    async function* all(): AsyncGenerator<Buffer> {
      if (head.length > 0) yield head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    }
    const tap = new Transform({
      transform: (chunk: Buffer, _e, cb) => {
        this.#hash.update(chunk);
        this.#size += chunk.length;
        cb(null, chunk);
      },
    });
    const out = createWriteStream(this.#tmp, { mode: 0o600 });
    if (keep) await pipeline(all(), tap, out);
    else await pipeline(all(), createGzip({ level: GZIP_LEVEL }), tap, out);
  }

  /** Called if keeping the bytes fails (disk full...), so the producer stops. */
  onError(cb: (err: unknown) => void): void {
    this.#done.catch(cb);
  }

  /** After the input ended: the blob's identity. */
  async finish(): Promise<BlobInfo> {
    await this.#done;
    return { digest: `sha256:${this.#hash.digest('hex')}`, size: this.#size, compression: this.#compression };
  }

  async commit(info: BlobInfo): Promise<void> {
    const fh = await open(this.#tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.#store.move(this.#tmp, info.digest);
  }

  async abort(): Promise<void> {
    this.#input.destroy();
    await this.#done.catch(() => undefined);
    await rm(this.#tmp, { force: true });
  }
}
