import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ContainerFiles, ExtractIntoOptions, FilesView, PathStat } from '../engine/ports.js';
import { classify, createZstdDecompress, detectCompression, metaOf, sniff, splitPath, symlinkEscapes, toBuffer, type Headers } from '../storage/index.js';
import { BerthError, invalidParameter, messageOf, notFound, systemError } from '../lib/errors.js';
import { resolveUser } from './user.js';

/*
 * `docker cp` through berth-cp (native/berth-cp.c), a small helper that works from inside the
 * container's root with openat2(RESOLVE_IN_ROOT): no path it touches can lead out of the
 * container, however the container swaps its symlinks meanwhile (an lstat walk here could not
 * promise that). It speaks frames of [type u8][length u32][payload] on its stdio; the tar
 * format is this side's business.
 */

type Frame = { type: string; payload: Buffer };

/** Frames as they come out of the helper; the stream is paused while a megabyte waits. */
class FrameReader {
  readonly #stream: Readable;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(stream: Readable) {
    this.#stream = stream;
    stream.on('data', (c: Buffer) => {
      this.#buf = this.#buf.length === 0 ? c : Buffer.concat([this.#buf, c]);
      if (this.#buf.length > 1024 * 1024) stream.pause();
      this.#poke();
    });
    const end = () => {
      this.#ended = true;
      this.#poke();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async next(): Promise<Frame | undefined> {
    for (;;) {
      if (this.#buf.length >= 5) {
        const len = this.#buf.readUInt32BE(1);
        if (this.#buf.length >= 5 + len) {
          const type = String.fromCharCode(this.#buf[0] as number);
          const payload = this.#buf.subarray(5, 5 + len);
          this.#buf = this.#buf.subarray(5 + len);
          if (this.#buf.length < 256 * 1024) this.#stream.resume();
          return { type, payload };
        }
      }
      if (this.#ended) return undefined;
      this.#stream.resume();
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** Reads the fields of one frame's payload in order. */
class Fields {
  #p = 0;
  readonly #b: Buffer;
  constructor(b: Buffer) {
    this.#b = b;
  }
  u8(): number {
    return this.#b.readUInt8(this.#p++);
  }
  u32(): number {
    const v = this.#b.readUInt32BE(this.#p);
    this.#p += 4;
    return v;
  }
  u64(): number {
    const v = Number(this.#b.readBigUInt64BE(this.#p));
    this.#p += 8;
    return v;
  }
  str(): string {
    const len = this.#b.readUInt16BE(this.#p);
    const s = this.#b.toString('utf8', this.#p + 2, this.#p + 2 + len);
    this.#p += 2 + len;
    return s;
  }
}

const KIND = { system: 0, notFound: 1, notDir: 2, rootfsRo: 3, volumeRo: 4, overwrite: 5, invalid: 6 } as const;

/** The helper's error, as the API should see it. */
function helperError(f: Frame, op: 'read' | 'extract'): BerthError {
  const r = new Fields(f.payload);
  const kind = r.u8();
  const errno = r.u32();
  const msg = r.str();
  // A path with a name past NAME_MAX is the request's fault (a 500 found by the fuzzer, seed 1036784667).
  if (errno === constants.errno.ENAMETOOLONG) return invalidParameter('file name too long');
  switch (kind) {
    case KIND.notFound:
      return notFound('no such file or directory');
    case KIND.notDir:
      return op === 'extract' ? invalidParameter('extraction point is not a directory') : notFound('not a directory');
    case KIND.rootfsRo:
      return invalidParameter('container rootfs is marked read-only');
    case KIND.volumeRo:
      return invalidParameter('mounted volume is marked read-only');
    case KIND.overwrite:
    case KIND.invalid:
      return invalidParameter(msg);
    default:
      return systemError(`docker cp: ${msg}`);
  }
}

/** A path as Docker reads it: absolute, with a trailing `/` or `/.` meaning "what it leads to". */
export function containerPath(path: string): { parent: string; base: string; follow: boolean; name: string } {
  const clean = posix.join('/', path);
  const dotted = path === '.' || path.endsWith('/.');
  const slashed = path.endsWith('/') && clean !== '/';
  const base = clean === '/' ? '' : posix.basename(clean);
  // Go's filepath.Base of the path with its trailing `/.` or `/` kept: how entries are named.
  const name = dotted ? '.' : clean === '/' ? '/' : base;
  return { parent: posix.dirname(clean), base, follow: dotted || slashed, name };
}

/** RFC 3339 with nanoseconds, trailing zeros dropped, as Go writes a time. */
function rfc3339(sec: number, nsec: number): string {
  const base = new Date(sec * 1000).toISOString().slice(0, 19);
  const frac = nsec > 0 ? `.${String(nsec).padStart(9, '0').replace(/0+$/, '')}` : '';
  return `${base}${frac}Z`;
}

const FILE_TYPES: Record<number, 'file' | 'directory' | 'symlink' | 'character-device' | 'block-device' | 'fifo'> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o020000: 'character-device',
  0o060000: 'block-device',
  0o010000: 'fifo',
};

const CHUNK = 64 * 1024;

export class HelperContainerFiles implements ContainerFiles {
  readonly #helper: string;

  /** `helper`: the berth-cp binary (built next to berthd's bundle). */
  constructor(helper: string) {
    this.#helper = helper;
  }

  async stat(view: FilesView, path: string): Promise<PathStat> {
    const p = containerPath(path);
    const h = this.#run(view, ['stat', p.parent, p.base, p.follow ? '1' : '0']);
    try {
      const stat = await readStat(h, p.name);
      await h.exited;
      return stat;
    } finally {
      h.child.kill('SIGKILL');
    }
  }

  async archive(view: FilesView, path: string): Promise<{ stat: PathStat; stream: Readable; done: Promise<void> }> {
    const p = containerPath(path);
    const h = this.#run(view, ['archive', p.parent, p.base, p.follow ? '1' : '0']);
    let stat: PathStat;
    try {
      stat = await readStat(h, p.name);
    } catch (err) {
      h.child.kill('SIGKILL');
      throw err;
    }
    // Loaded on first use: berthd starts faster without it.
    const tar = (await import('tar-stream')).default;
    const pack = tar.pack();
    const done = writeArchive(h, pack, p.name).then(
      () => {
        pack.finalize();
        return h.exited;
      },
      (err: unknown) => {
        h.child.kill('SIGKILL');
        pack.destroy(err instanceof Error ? err : new Error(String(err)));
        throw err;
      },
    );
    done.catch(() => undefined);
    return { stat, stream: pack as unknown as Readable, done };
  }

  async extract(view: FilesView, dir: string, input: Readable, o: ExtractIntoOptions): Promise<void> {
    const args = ['extract', posix.join('/', dir)];
    if (o.noOverwriteDirNonDir) args.push('--no-overwrite-dir-non-dir');
    if (o.readonlyRootfs) args.push('--readonly-rootfs');
    if (o.chownToUser) {
      const root = 'running' in view ? `/proc/${view.running.pid}/root` : view.rootfs;
      const u = await resolveUser(root, o.chownToUser);
      args.push('--chown', `${u.uid}:${u.gid}`);
    }
    const h = this.#run(view, args);
    try {
      const ready = await h.frames.next();
      if (!ready) throw await h.failure();
      if (ready.type === 'E') throw helperError(ready, 'extract');
      try {
        await sendEntries(input, h.child.stdin as Writable);
      } catch (err) {
        // The helper refused something: its reason is better than a broken pipe.
        const f = await h.frames.next();
        if (f?.type === 'E') throw helperError(f, 'extract');
        throw err;
      }
      const end = await h.frames.next();
      if (!end) throw await h.failure();
      if (end.type === 'E') throw helperError(end, 'extract');
      await h.exited;
    } finally {
      h.child.kill('SIGKILL');
    }
  }

  #run(view: FilesView, op: string[]): Helper {
    const target =
      'running' in view
        ? ['--pid', String(view.running.pid), view.running.startTime]
        : [
            '--root',
            view.rootfs,
            // Parents before what is mounted inside them.
            ...[...view.mounts]
              .sort((a, b) => a.destination.split('/').length - b.destination.split('/').length)
              .flatMap((m) => ['--bind', m.source, m.destination, m.readOnly ? 'ro' : 'rw']),
          ];
    const child = spawn(this.#helper, [...target, ...op], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 4096)));
    child.stdin?.on('error', () => undefined);
    const exited = new Promise<void>((resolve, reject) => {
      child.on('error', (err) => reject(systemError(`cannot run ${this.#helper}: ${err.message}`, err)));
      child.on('close', (code) => (code === 0 ? resolve() : reject(systemError(`docker cp helper exited with ${code}: ${stderr.trim()}`))));
    });
    exited.catch(() => undefined);
    return {
      child,
      frames: new FrameReader(child.stdout as Readable),
      exited,
      failure: () => exited.then(() => systemError('docker cp helper ended early'), (err: unknown) => err as Error),
    };
  }
}

type Helper = { child: ChildProcess; frames: FrameReader; exited: Promise<void>; failure: () => Promise<Error> };

async function readStat(h: Helper, name: string): Promise<PathStat> {
  const f = await h.frames.next();
  if (!f) throw await h.failure();
  if (f.type === 'E') throw helperError(f, 'read');
  if (f.type !== 'S') throw systemError(`docker cp helper: unexpected frame ${f.type}`);
  const r = new Fields(f.payload);
  const mode = r.u32();
  const size = r.u64();
  const sec = r.u64();
  const nsec = r.u32();
  const resolved = r.str();
  const raw = r.str();
  const parentPath = r.str();
  // A link that leads nowhere: where it would lead, read as written.
  const linkTarget = (mode & 0o170000) === 0o120000 ? resolved || posix.join(raw.startsWith('/') ? '/' : parentPath || '/', raw) : '';
  return { name, size, mode, mtime: rfc3339(sec, nsec), linkTarget };
}

/** What is used of tar-stream's pack (a streamx stream, not a Node one). */
type TarSink = {
  write(b: Buffer): boolean;
  end(data?: unknown): unknown;
  once(event: 'drain' | 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  readonly destroyed: boolean;
};
type TarPack = { entry(header: never, cb: (err?: Error | null) => void): TarSink };

/** Entries from the helper into the tar pack, named from `name`; hard links as links. */
async function writeArchive(h: Helper, pack: TarPack, name: string): Promise<void> {
  const seen = new Map<string, string>();
  for (;;) {
    const f = await h.frames.next();
    if (!f) throw await h.failure();
    if (f.type === 'Z') return;
    if (f.type === 'E') throw helperError(f, 'read');
    if (f.type !== 'H') throw systemError(`docker cp helper: unexpected frame ${f.type}`);
    const r = new Fields(f.payload);
    const mode = r.u32();
    const uid = r.u32();
    const gid = r.u32();
    const sec = r.u64();
    const nsec = r.u32();
    const size = r.u64();
    const devmajor = r.u32();
    const devminor = r.u32();
    const dev = r.u64();
    const ino = r.u64();
    const nlink = r.u32();
    const rel = r.str();
    const linkname = r.str();
    const type = FILE_TYPES[mode & 0o170000];
    if (!type) continue;
    const entryName = rel === '' ? name : name === '/' ? `/${rel}` : `${name}/${rel}`;
    const header: Record<string, unknown> = {
      name: type === 'directory' && !entryName.endsWith('/') ? `${entryName}/` : entryName,
      mode: mode & 0o7777,
      uid,
      gid,
      mtime: new Date(sec * 1000 + Math.floor(nsec / 1e6)),
      type,
      size: 0,
    };
    if (type === 'symlink') header['linkname'] = linkname;
    if (type === 'character-device' || type === 'block-device') Object.assign(header, { devmajor, devminor });
    const key = `${dev}:${ino}`;
    const first = type === 'file' && nlink > 1 ? seen.get(key) : undefined;
    if (type === 'file' && nlink > 1 && !first) seen.set(key, entryName);
    if (first) Object.assign(header, { type: 'link', linkname: first });
    else if (type === 'file') header['size'] = size;
    const entry = await new Promise<{ sink: ReturnType<TarPack['entry']>; written: Promise<void> }>((resolve) => {
      let settle!: (err?: Error | null) => void;
      const written = new Promise<void>((ok, bad) => (settle = (err) => (err ? bad(err) : ok())));
      // Settled with an error when the pack is destroyed (a client gone) while this loop
      // awaits the helper: awaited below or not, never an unhandled rejection.
      written.catch(() => undefined);
      const sink = pack.entry(header as never, settle);
      // The same destruction fails the entry with an 'error' event: reported through `written`;
      // unlistened, it would end the daemon.
      sink.on('error', () => undefined);
      resolve({ sink, written });
    });
    if (type === 'file') {
      let left = size;
      while (left > 0) {
        const d = await h.frames.next();
        if (!d) throw await h.failure();
        if (d.type === 'E') throw helperError(d, 'read');
        if (d.type !== 'D') throw systemError(`docker cp helper: unexpected frame ${d.type} in file data`);
        left -= d.payload.length;
        if (first) continue;
        if (!entry.sink.write(d.payload)) {
          // A destroyed entry never drains: its close ends the wait, and `written` tells why.
          await new Promise((resolve) => {
            entry.sink.once('drain', resolve);
            entry.sink.once('close', resolve);
          });
          if (entry.sink.destroyed) await entry.written;
        }
      }
      if (!first) entry.sink.end();
    }
    await entry.written;
  }
}

const KIND_CHAR: Record<string, string> = {
  file: '0',
  'contiguous-file': '0',
  directory: '5',
  symlink: '2',
  link: '1',
  'character-device': '3',
  'block-device': '4',
  fifo: '6',
};

/** Reads the archive (plain, gzip or zstd) and hands each entry to the helper, names checked as for every tar berthd reads. */
async function sendEntries(input: Readable, out: Writable): Promise<void> {
  const { head, body } = await sniff(input);
  const tar = (await import('tar-stream')).default;
  const extract = tar.extract();
  const compression = detectCompression(head);
  const inflate = compression === 'gzip' ? [createGunzip()] : compression === 'zstd' ? [await createZstdDecompress()] : [];
  const done = pipeline([body, ...inflate, extract]);
  done.catch(() => undefined);
  const write = async (type: string, payload: Buffer) => {
    const head5 = Buffer.alloc(5);
    head5.write(type, 0, 'latin1');
    head5.writeUInt32BE(payload.length, 1);
    if (!out.write(Buffer.concat([head5, payload]))) {
      await new Promise<void>((resolve, reject) => {
        out.once('drain', resolve);
        out.once('error', reject);
        out.once('close', () => reject(new Error('docker cp helper stopped reading')));
      });
    }
  };
  try {
    for await (const entry of extract) {
      const hd = entry.header as Headers;
      const kind = KIND_CHAR[hd.type ?? ''];
      const parts = splitPath(hd.name, () => `invalid tar entry ${JSON.stringify(hd.name)}: path escapes the target directory`);
      if (!kind || parts.length === 0) {
        for await (const chunk of entry) void chunk;
        continue;
      }
      let link = hd.linkname ?? '';
      if (kind === '1') link = splitPath(link, () => `invalid hardlink ${JSON.stringify(hd.name)}: link target escapes the target directory`).join('/');
      if (kind === '2' && symlinkEscapes(parts, link)) {
        throw invalidParameter(`invalid symlink ${JSON.stringify(hd.name)} -> ${JSON.stringify(link)}: link escapes the target directory`);
      }
      const meta = metaOf(hd, kind === '5' ? 0o755 : 0o644);
      const size = kind === '0' ? (hd.size ?? 0) : 0;
      const rel = Buffer.from(parts.join('/'));
      const lk = Buffer.from(link);
      const b = Buffer.alloc(1 + 4 * 3 + 8 + 4 + 8 + 4 * 2 + 2 + rel.length + 2 + lk.length);
      let o = b.write(kind, 0, 'latin1');
      for (const v of [meta.mode, meta.uid, meta.gid]) o = b.writeUInt32BE(v >>> 0, o);
      o = b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(meta.mtime))), o);
      o = b.writeUInt32BE(Math.max(0, Math.round((meta.mtime % 1) * 1e9)) % 1e9, o);
      o = b.writeBigUInt64BE(BigInt(size), o);
      o = b.writeUInt32BE(hd.devmajor ?? 0, o);
      o = b.writeUInt32BE(hd.devminor ?? 0, o);
      o = b.writeUInt16BE(rel.length, o);
      o += rel.copy(b, o);
      o = b.writeUInt16BE(lk.length, o);
      lk.copy(b, o);
      await write('h', b);
      let sent = 0;
      for await (const chunk of entry) {
        if (kind !== '0') continue;
        const data = toBuffer(chunk);
        for (let i = 0; i < data.length && sent < size; i += CHUNK) {
          const piece = data.subarray(i, Math.min(data.length, i + CHUNK, i + size - sent));
          await write('d', piece);
          sent += piece.length;
        }
      }
      if (sent < size) throw invalidParameter(`invalid tar archive: ${hd.name} is truncated`);
    }
    await done;
    await write('z', Buffer.alloc(0));
    out.end();
  } catch (err) {
    extract.destroy();
    throw classify(err instanceof BerthError ? err : new Error(messageOf(err)));
  }
}
