import { Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import { BerthError, errnoCode, invalidParameter, messageOf, systemError } from '../lib/errors.js';
import { fsErrorText } from '../lib/fs-error-text.js';

/*
 * What every tar berthd reads shares, whatever it writes the entries into (a layer directory,
 * or a container through the cp helper): the format sniffed, entry names split with `..`
 * refused, ids and times taken from pax records, malformed input blamed on the client.
 */

/**
 * tar-stream's declared header is the ustar ideal; at run time an unknown typeflag gives a null
 * type, a missing link name is null, and pax records ride along.
 */
export type Headers = Omit<Header, 'type' | 'linkname' | 'pax'> & {
  type: Header['type'] | null;
  linkname: string | null;
  pax?: Record<string, string> | null;
};

/** Entry data as tar-stream yields it. */
export type EntryData = AsyncIterable<unknown>;

export type Meta = { uid: number; gid: number; mode: number; mtime: number };

export type Compression = 'none' | 'gzip' | 'zstd';

const MAGIC: { name: Exclude<Format, 'none'>; bytes: number[] }[] = [
  { name: 'gzip', bytes: [0x1f, 0x8b] },
  { name: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { name: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
];
const MAGIC_LEN = 6;

/** Every format Docker's DecompressStream reads, by its magic bytes. */
export type Format = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

export function formatOf(head: Buffer): Format {
  return MAGIC.find((m) => m.bytes.every((b, i) => head[i] === b))?.name ?? 'none';
}

/** A layer's compression: what registries serve (bzip2 and xz are refused by name). */
export function detectCompression(head: Buffer): Compression {
  const found = formatOf(head);
  if (found === 'none' || found === 'gzip' || found === 'zstd') return found;
  throw invalidParameter(`unsupported compression format: ${found}`);
}

/** Read the first bytes to learn the format, then hand back a stream of the whole input. */
export async function sniff(src: Readable): Promise<{ head: Buffer; body: Readable }> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < MAGIC_LEN) {
    const r = await it.next();
    if (r.done) break;
    const chunk = toBuffer(r.value);
    chunks.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(chunks);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield toBuffer(r.value);
      }
    } finally {
      // Destroys `src` when the pipeline stops early.
      await it.return?.();
    }
  }
  return { head, body: Readable.from(rest(), { objectMode: false }) };
}

export function toBuffer(chunk: unknown): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
}

/**
 * Malformed input is the client's fault; a failing disk or input stream is ours. `show` puts a
 * failed call's host path in the reader's terms (see fsErrorText).
 */
export function classify(err: unknown, show?: (hostPath: string) => string): unknown {
  if (err instanceof BerthError) return err;
  const code = errnoCode(err);
  // tar-stream raises plain Errors for bad headers and truncation; zlib uses Z_* codes.
  if (code === undefined || code.startsWith('Z_')) {
    return invalidParameter(`invalid tar archive: ${messageOf(err)}`, err);
  }
  return systemError(`failed to extract archive: ${(show && fsErrorText(err, show)) ?? messageOf(err)}`, err);
}

/** Components of an entry path: leading `/` and `./`, `//` and `/./` dropped; `..` refused. */
export function splitPath(name: string, escapeMessage: () => string): string[] {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw invalidParameter(escapeMessage());
    parts.push(p);
  }
  return parts;
}

/**
 * Whether a relative symlink target climbs out of the directory extracted into, resolved
 * lexically from the link's own directory (absolute targets resolve inside the root).
 */
export function symlinkEscapes(parts: string[], target: string): boolean {
  if (target.startsWith('/')) return false;
  const stack = parts.slice(0, -1);
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c !== '..') stack.push(c);
    else if (stack.pop() === undefined) return true;
  }
  return false;
}

/** pax records, when present, carry ids and times that do not fit the ustar fields. */
export function metaOf(h: Headers, defaultMode: number): Meta {
  const pax = h.pax ?? {};
  const num = (v: string | undefined, fallback: number) => {
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : fallback;
  };
  return {
    uid: num(pax.uid, h.uid ?? 0),
    gid: num(pax.gid, h.gid ?? 0),
    mode: (h.mode ?? defaultMode) & 0o7777,
    mtime: num(pax.mtime, h.mtime ? h.mtime.getTime() / 1000 : 0),
  };
}

export function quote(s: string): string {
  return JSON.stringify(s);
}
