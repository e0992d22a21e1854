import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  realpath,
  rm,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { errnoCode, invalidParameter, messageOf, systemError } from '../lib/errors.js';
import { classify, detectCompression, metaOf, quote, sniff, splitPath, toBuffer, type EntryData, type Headers, type Meta } from './tar-entries.js';
import { run } from '../lib/exec.js';
import { fsErrorText, underRoot } from '../lib/fs-error-text.js';
import { mkdirInRoot, resolveInRoot } from '../lib/in-root.js';
import { makeWhiteout, markOpaque } from './overlay-whiteouts.js';
import { createZstdDecompress } from './zstd.js';

/**
 * How whiteout entries (`.wh.<name>`, `.wh..wh..opq`) are treated. 'apply' deletes what they
 * hide from the directory, as a layer applied onto a copy of its parent must. 'overlay' writes
 * overlayfs's markers instead (a 0:0 character device, the `trusted.overlay.opaque` xattr), for
 * a layer extracted on its own into an overlay diff directory. 'reject' refuses them. 'plain'
 * writes them as the files they are, as dockerd's archive.Unpack does for a build's `ADD`:
 * the step's diff then carries them, and they hide what they name in the image below.
 */
export type WhiteoutMode = 'apply' | 'reject' | 'overlay' | 'plain';

/**
 * How names that reach beyond the target are met. 'refuse' (layers, contexts): `..` and a
 * parent that is a symlink fail (symlinks themselves are kept as written). 'chroot' (a build's `ADD` of a
 * local archive): as dockerd, which unpacks it chrooted into the destination, `..` stops at
 * the target, symlinks are kept as written and followed — clamped to the target — when later
 * entries go through them, hardlink targets are looked up the same way. Nothing is ever
 * written outside the target either way.
 */
export type Confinement = 'refuse' | 'chroot';

export type ExtractOptions = { signal?: AbortSignal; whiteouts?: WhiteoutMode; confine?: Confinement };

export type ExtractResult = {
  /** `sha256:<hex>` of the uncompressed tar stream: the layer's DiffID. */
  diffId: string;
  /** Length of the uncompressed tar stream. */
  tarSize: number;
  /** Sum of the sizes of the regular files written. */
  size: number;
  entries: number;
  /** Entries not materialised, each with the reason. */
  skipped: string[];
};

/**
 * Unpack a tar (plain, gzip or zstd) into the existing directory `target` without ever
 * writing outside it: `..` in names is refused, no symlink on disk is followed, and hardlink
 * targets are checked. On failure the content of `target` is undefined; the caller removes it.
 */
export async function extractTar(
  input: NodeJS.ReadableStream | Readable,
  target: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const { signal } = opts;
  const src = input instanceof Readable ? input : new Readable().wrap(input);
  // Without an error argument: the caller may not listen for 'error' on its own stream.
  const stopInput = () => {
    src.destroy();
    // A wrapper does not pass destroy() on to the old-style stream it wraps.
    if (src !== input && 'destroy' in input && typeof input.destroy === 'function') input.destroy();
  };
  let tearDown = (_reason: unknown): void => stopInput();
  const onAbort = () => tearDown(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let done: Promise<void> | undefined;
  let root = target;
  try {
    signal?.throwIfAborted();
    root = await realpath(target);
    const { head, body } = await sniff(src);
    signal?.throwIfAborted();
    const compression = detectCompression(head);

    const hash = createHash('sha256');
    const counted = { bytes: 0 };
    // Loaded on first use: berthd starts faster without it.
    const tar = (await import('tar-stream')).default;
    const extract = tar.extract();
    tearDown = (reason) => {
      stopInput();
      extract.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    };
    const inflate = compression === 'gzip' ? [createGunzip()] : compression === 'zstd' ? [await createZstdDecompress()] : [];
    const stages = [body, ...inflate, hashTap(hash, counted), extract];
    done = pipeline(stages);
    // The loop below sees the same failure first and reports it; this only keeps the
    // rejection from counting as unhandled when the loop ends early.
    done.catch(() => undefined);

    const writer = new LayerWriter(root, opts.whiteouts ?? 'reject', signal, opts.confine ?? 'refuse');
    for await (const entry of extract) await writer.add(entry.header as Headers, entry);
    await done;
    await writer.finish();
    return { diffId: `sha256:${hash.digest('hex')}`, tarSize: counted.bytes, ...writer.result() };
  } catch (err) {
    tearDown(err);
    if (signal?.aborted) throw signal.reason;
    throw classify(await rootCause(err, done), underRoot(root));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * When the archive breaks mid-entry (truncated, bad gzip) the entry reader only learns that
 * its stream was destroyed; the pipeline holds the error worth reporting. Every stage is
 * destroyed by now, so waiting for it to settle is short.
 */
async function rootCause(err: unknown, done: Promise<void> | undefined): Promise<unknown> {
  if (done === undefined || !isStreamTeardown(err)) return err;
  return done.then(
    () => err,
    (pipelineErr: unknown) => (isStreamTeardown(pipelineErr) ? err : pipelineErr),
  );
}

function isStreamTeardown(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'STREAM_DESTROYED' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

function hashTap(hash: Hash, counted: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      counted.bytes += chunk.length;
      cb(null, chunk);
    },
  });
}

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';

const FILE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW;

/**
 * Materialises entries one at a time. Paths are handled relative to the root ('' is the
 * root) and every parent is proven to be a real directory before anything is created in it.
 */
class LayerWriter {
  readonly #root: string;
  readonly #whiteouts: WhiteoutMode;
  readonly #signal: AbortSignal | undefined;
  readonly #chroot: boolean;
  /** Relative paths proven to be real directories (not symlinks) during this extraction. */
  readonly #dirs = new Set<string>(['']);
  /** Directory metadata, applied at the end so writing children does not reset mtimes. */
  readonly #dirMeta = new Map<string, Meta>();
  /** Paths this archive wrote, and their ancestors: opaque directories keep these. */
  readonly #fromArchive = new Set<string>(['']);
  readonly #opaqueDone = new Set<string>();
  /** 'overlay' mode: directories to mark opaque at the end, and the whiteout devices made. */
  readonly #opaqueDirs = new Set<string>();
  readonly #whiteoutDevices = new Set<string>();
  #size = 0;
  #entries = 0;
  readonly #skipped: string[] = [];

  constructor(root: string, whiteouts: WhiteoutMode, signal: AbortSignal | undefined, confine: Confinement) {
    this.#root = root;
    this.#whiteouts = whiteouts;
    this.#signal = signal;
    this.#chroot = confine === 'chroot';
  }

  result(): Omit<ExtractResult, 'diffId' | 'tarSize'> {
    return { size: this.#size, entries: this.#entries, skipped: this.#skipped };
  }

  async add(h: Headers, data: EntryData): Promise<void> {
    this.#signal?.throwIfAborted();
    this.#entries++;
    try {
      await this.#place(h, data);
      // Data nothing used (a whiteout or an unknown entry with content) must still be read
      // for the archive to move on.
      await drain(data);
    } catch (err) {
      if (!isFsError(err) || this.#signal?.aborted) throw err;
      // Paths as inside the target: where berthd keeps it is nobody's business.
      throw systemError(`failed to extract ${quote(h.name)}: ${fsErrorText(err, underRoot(this.#root)) ?? messageOf(err)}`, err);
    }
  }

  async #place(h: Headers, data: EntryData): Promise<void> {
    const name = h.name;
    let parts = this.#chroot ? posix.normalize(`/${name}`).split('/').filter(Boolean) : splitPath(name, () => `invalid tar entry ${quote(name)}: path escapes the target directory`);
    const type = h.type;
    const base = parts[parts.length - 1];

    if (base !== undefined && base.startsWith(WHITEOUT_PREFIX) && this.#whiteouts !== 'plain') return this.#whiteout(parts, base, name);

    if (parts.length === 0) {
      if (type !== 'directory') {
        throw invalidParameter(`invalid tar entry ${quote(name)}: the root can only be a directory`);
      }
      this.#dirMeta.set('', metaOf(h, 0o755));
      return;
    }

    const subject = `invalid tar entry ${quote(name)}`;
    if (this.#chroot) parts = await this.#resolveParents(parts);
    else await this.#ensureParents(parts, subject, true);
    const rel = parts.join('/');
    switch (type) {
      case 'file':
      case 'contiguous-file':
        await this.#file(rel, h, data);
        break;
      case 'directory':
        await this.#directory(rel, h);
        break;
      case 'symlink':
        await this.#symlink(rel, h);
        break;
      case 'link':
        await this.#hardlink(rel, h);
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await this.#device(rel, h);
        break;
      default:
        this.#skipped.push(`${name}: unsupported entry type ${h.type ?? 'unknown'}`);
        return;
    }
    this.#markFromArchive(rel);
  }

  async #file(rel: string, h: Headers, data: EntryData): Promise<void> {
    const path = this.#abs(rel);
    await this.#removeExisting(rel);
    const meta = metaOf(h, 0o644);
    const fh = await open(path, FILE_FLAGS, 0o600);
    try {
      for await (const chunk of data) {
        const buf = toBuffer(chunk);
        for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      }
      await fh.chown(meta.uid, meta.gid);
      // After chown, which clears setuid/setgid.
      await fh.chmod(meta.mode);
      await fh.utimes(meta.mtime, meta.mtime);
    } finally {
      await fh.close();
    }
    this.#size += h.size ?? 0;
  }

  async #directory(rel: string, h: Headers): Promise<void> {
    const path = this.#abs(rel);
    const st = await lstatIfExists(path);
    if (st === undefined || !st.isDirectory()) {
      // A directory replacing this archive's own whiteout must still hide the lower one's content.
      if (this.#whiteoutDevices.has(rel)) this.#opaqueDirs.add(rel);
      if (st !== undefined) await this.#removeExisting(rel);
      await mkdir(path, 0o755);
    }
    this.#dirs.add(rel);
    this.#dirMeta.set(rel, metaOf(h, 0o755));
  }

  async #symlink(rel: string, h: Headers): Promise<void> {
    const target = h.linkname ?? '';
    if (target === '') throw invalidParameter(`invalid symlink ${quote(h.name)}: empty link target`);
    // Kept as written, whatever it names, as dockerd keeps it (its unpack runs chrooted in
    // the target, where `..` stops at the root): a relative link climbing past the root,
    // common in images, is the root in a container. Nothing berthd does follows one out:
    // this writer never goes through a link (parents are proven real directories, files
    // are opened O_NOFOLLOW), and every other path taken into an image or a container is
    // resolved in its root (lib/in-root.ts, the cp helper's openat2 RESOLVE_IN_ROOT).
    const path = this.#abs(rel);
    await this.#removeExisting(rel);
    await symlink(target, path);
    const meta = metaOf(h, 0o777);
    await lchown(path, meta.uid, meta.gid);
    await lutimes(path, meta.mtime, meta.mtime);
  }

  /** Hardlinks share the target's inode, so the target's metadata is theirs too. */
  async #hardlink(rel: string, h: Headers): Promise<void> {
    const linkname = h.linkname ?? '';
    const subject = `invalid hardlink ${quote(h.name)} -> ${quote(linkname)}`;
    let targetParts = this.#chroot ? posix.normalize(`/${linkname}`).split('/').filter(Boolean) : splitPath(linkname, () => `${subject}: link target escapes the target directory`);
    if (targetParts.length === 0) throw invalidParameter(`${subject}: cannot link to the root directory`);
    let exists = true;
    if (this.#chroot) targetParts = await this.#resolveParents(targetParts, false);
    else exists = await this.#ensureParents(targetParts, subject, false);
    const targetRel = targetParts.join('/');
    const st = exists ? await lstatIfExists(this.#abs(targetRel)) : undefined;
    if (st === undefined) throw invalidParameter(`${subject}: link target does not exist`);
    if (st.isDirectory()) throw invalidParameter(`${subject}: link target is a directory`);
    if (targetRel === rel) return;
    await this.#removeExisting(rel);
    // link(2) does not follow a symlink named as the target, so this cannot reach outside.
    await link(this.#abs(targetRel), this.#abs(rel));
  }

  /** Device nodes and FIFOs need mknod(2), which node lacks; they are rare enough to spawn. */
  async #device(rel: string, h: Headers): Promise<void> {
    const path = this.#abs(rel);
    await this.#removeExisting(rel);
    const args =
      h.type === 'fifo'
        ? [path, 'p']
        : [path, h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
    let failure: string | undefined;
    try {
      const r = await run('mknod', args, this.#signal ? { signal: this.#signal } : {});
      if (r.code !== 0) failure = r.stderr.trim() || `exit code ${String(r.code)}`;
    } catch (err) {
      this.#signal?.throwIfAborted();
      failure = messageOf(err);
    }
    if (failure !== undefined) {
      this.#skipped.push(`${h.name}: mknod failed: ${failure}`);
      return;
    }
    const meta = metaOf(h, 0o644);
    await lchown(path, meta.uid, meta.gid);
    await chmod(path, meta.mode);
    await utimes(path, meta.mtime, meta.mtime);
  }

  async #whiteout(parts: string[], base: string, name: string): Promise<void> {
    if (this.#whiteouts === 'reject') {
      throw invalidParameter(`invalid tar entry ${quote(name)}: whiteout files are not allowed in this archive`);
    }
    await this.#ensureParents(parts, `invalid tar entry ${quote(name)}`, true);
    const dir = parts.slice(0, -1).join('/');
    if (base === WHITEOUT_OPAQUE) {
      if (this.#whiteouts === 'overlay') this.#opaqueDirs.add(dir);
      else await this.#opaque(dir);
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) {
      this.#skipped.push(`${name}: aufs metadata`);
      return;
    }
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') {
      throw invalidParameter(`invalid tar entry ${quote(name)}: invalid whiteout name`);
    }
    const rel = dir === '' ? hidden : `${dir}/${hidden}`;
    // A whiteout hides only what lower layers put there (OCI image spec), not this archive's own entries.
    if (this.#fromArchive.has(rel)) return;
    if (this.#whiteouts === 'overlay') {
      await this.#removeExisting(rel);
      await makeWhiteout(this.#abs(rel), this.#signal);
      this.#whiteoutDevices.add(rel);
      return;
    }
    const st = await lstatIfExists(this.#abs(rel));
    if (st === undefined) return;
    await rm(this.#abs(rel), { recursive: true, force: true });
    this.#forget(rel, st.isDirectory());
  }

  /** Remove what the directory held before this archive; what this archive wrote stays. */
  async #opaque(dir: string): Promise<void> {
    if (this.#opaqueDone.has(dir)) return;
    this.#opaqueDone.add(dir);
    const walk = async (rel: string): Promise<void> => {
      for (const d of await readdir(this.#abs(rel), { withFileTypes: true })) {
        const child = rel === '' ? d.name : `${rel}/${d.name}`;
        if (!this.#fromArchive.has(child)) {
          await rm(this.#abs(child), { recursive: true, force: true });
          this.#forget(child, d.isDirectory());
        } else if (d.isDirectory()) {
          await walk(child);
        }
      }
    };
    await walk(dir);
  }

  /**
   * Prove each parent of `parts` is a real directory inside the root, creating missing ones
   * when `create`. Returns false when one is missing and may not be created.
   */
  async #ensureParents(parts: string[], subject: string, create: boolean): Promise<boolean> {
    let rel = '';
    for (const part of parts.slice(0, -1)) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (this.#dirs.has(rel)) continue;
      const path = this.#abs(rel);
      const st = await lstatIfExists(path);
      if (st === undefined) {
        if (!create) return false;
        await mkdir(path, 0o755);
      } else if (st.isSymbolicLink()) {
        throw invalidParameter(`${subject}: parent ${quote(rel)} is a symbolic link`);
      } else if (!st.isDirectory()) {
        throw invalidParameter(`${subject}: parent ${quote(rel)} is not a directory`);
      }
      this.#dirs.add(rel);
    }
    return true;
  }

  /**
   * Chrooted: the entry's parents resolved as the kernel would inside the target (symlinks
   * followed, clamped to it; missing ones created when `create`), and the entry's own name on
   * the result. Returns the real path relative to the root; its parents are real directories.
   */
  async #resolveParents(parts: string[], create = true): Promise<string[]> {
    const base = parts[parts.length - 1] as string;
    const parentPath = parts.slice(0, -1).join('/');
    if (create) await mkdirInRoot(this.#root, parentPath);
    const parent = await resolveInRoot(this.#root, parentPath);
    const rel = posix.relative(this.#root, parent);
    if (rel.startsWith('..') || posix.isAbsolute(rel)) throw systemError(`${quote(parentPath)} resolved outside the target`);
    if (create) {
      const st = await lstatIfExists(parent);
      if (!st?.isDirectory()) throw invalidParameter(`invalid tar entry ${quote(parts.join('/'))}: parent ${quote(parentPath)} is not a directory`);
    }
    return [...(rel === '' ? [] : rel.split('/')), base];
  }

  /** Clear the way for a non-directory: whatever stands at `rel` goes, a directory with its content. */
  async #removeExisting(rel: string): Promise<void> {
    const path = this.#abs(rel);
    const st = await lstatIfExists(path);
    if (st === undefined) return;
    if (st.isDirectory()) await rm(path, { recursive: true, force: true });
    else await unlink(path);
    this.#forget(rel, st.isDirectory());
  }

  /**
   * Drop what we knew about a removed path. Essential: a cached directory later replaced by a
   * symlink must be checked again, or the next entry beneath it would be written through it.
   */
  #forget(rel: string, wasDir: boolean): void {
    this.#dirs.delete(rel);
    this.#dirMeta.delete(rel);
    this.#whiteoutDevices.delete(rel);
    if (!wasDir) return;
    const prefix = `${rel}/`;
    for (const set of [this.#dirs, this.#opaqueDirs, this.#whiteoutDevices]) {
      for (const d of set) if (d.startsWith(prefix)) set.delete(d);
    }
    for (const d of this.#dirMeta.keys()) if (d.startsWith(prefix)) this.#dirMeta.delete(d);
  }

  #markFromArchive(rel: string): void {
    for (let p = rel; p !== '' && !this.#fromArchive.has(p); p = parentOf(p)) this.#fromArchive.add(p);
  }

  /** Directory metadata, deepest first so setting a child's mtime cannot disturb its parent's. */
  async finish(): Promise<void> {
    this.#signal?.throwIfAborted();
    const dirs = [...this.#dirMeta].sort(([a], [b]) => depth(b) - depth(a));
    for (const [rel, meta] of dirs) {
      const path = this.#abs(rel);
      // chmod and utimes follow symlinks: only touch what is still a real directory.
      const st = await lstatIfExists(path);
      if (st === undefined || !st.isDirectory()) continue;
      await lchown(path, meta.uid, meta.gid);
      await chmod(path, meta.mode);
      await utimes(path, meta.mtime, meta.mtime);
    }
    const opaque: string[] = [];
    for (const rel of this.#opaqueDirs) if ((await lstatIfExists(this.#abs(rel)))?.isDirectory()) opaque.push(this.#abs(rel));
    await markOpaque(opaque, this.#signal);
  }

  #abs(rel: string): string {
    return rel === '' ? this.#root : posix.join(this.#root, rel);
  }
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

function depth(rel: string): number {
  return rel === '' ? 0 : rel.split('/').length;
}

function isFsError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { syscall?: unknown }).syscall === 'string';
}

async function lstatIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function drain(data: EntryData): Promise<void> {
  for await (const chunk of data) void chunk;
}
