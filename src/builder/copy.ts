import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, lchown, lstat, chmod, lutimes, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { resolveInRoot } from '../lib/in-root.js';
import { errnoCode, invalidParameter } from '../lib/errors.js';
import { globMatch, hasWildcards } from './dockerignore.js';

/** A source of COPY / ADD found in its root (the context, or another image's filesystem). */
export type Source = { host: string; rel: string; dir: boolean };

export type Owner = { uid: number; gid: number };

/**
 * COPY's sources, each within `root`: a name that climbs out of it is refused, symlinks are
 * followed only within it (clamped, as in the container), wildcards match with Go's
 * filepath.Match against paths relative to the root.
 */
export async function findSources(root: string, patterns: string[], kw: string, where: 'context' | 'image'): Promise<Source[]> {
  const out: Source[] = [];
  for (const p of patterns) {
    const clean = posix.normalize(p.replace(/^\/+/, '') || '.');
    if (clean === '..' || clean.startsWith('../')) throw invalidParameter(`${kw} failed: forbidden path outside the build context: ${p} ()`);
    if (hasWildcards(clean)) {
      const found = await walkMatching(root, '', clean);
      out.push(...found);
      continue;
    }
    let host: string;
    try {
      host = await resolveInRoot(root, clean);
    } catch (err) {
      // As dockerd, whose scoped resolution fails so for a file on the way (`COPY a.txt/x`).
      if (errnoCode(err) === undefined) throw err;
      throw invalidParameter(`${kw} failed: forbidden path outside the build context: ${clean} ()`);
    }
    let st;
    try {
      st = await lstat(host);
    } catch (err) {
      if (!['ENOENT', 'ENOTDIR'].includes(errnoCode(err) ?? '')) throw err;
      throw invalidParameter(
        where === 'context'
          ? `${kw} failed: file not found in build context or excluded by .dockerignore: stat ${clean}: file does not exist`
          : `${kw} failed: stat ${clean}: file does not exist`,
      );
    }
    out.push({ host, rel: clean, dir: st.isDirectory() });
  }
  if (out.length === 0) throw invalidParameter(`${kw} failed: no source files were specified`);
  return out;
}

async function walkMatching(root: string, rel: string, pattern: string): Promise<Source[]> {
  const out: Source[] = [];
  let entries;
  try {
    entries = await readdir(rel === '' ? root : join(root, rel), { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return out;
    throw err;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (globMatch(pattern, r)) out.push({ host: join(root, r), rel: r, dir: e.isDirectory() });
    else if (e.isDirectory()) out.push(...(await walkMatching(root, r, pattern)));
  }
  return out;
}

/**
 * A digest of what the sources would copy (names, types, modes, owners, contents, link
 * targets; not times), the cache's key for COPY and ADD as the classic builder's `file:<sum>`.
 */
export async function sourcesDigest(sources: Source[]): Promise<string> {
  const h = createHash('sha256');
  const add = async (host: string, rel: string) => {
    const st = await lstat(host);
    h.update(`${rel}\0${st.mode}\0${st.uid}:${st.gid}\0`);
    if (st.isSymbolicLink()) h.update(`l${await readlink(host)}\0`);
    else if (st.isFile()) {
      for await (const c of createReadStream(host)) h.update(c as Buffer);
      h.update('\0');
    } else if (st.isDirectory()) {
      const names = (await readdir(host)).sort();
      for (const n of names) await add(join(host, n), `${rel}/${n}`);
    }
  };
  for (const s of sources) await add(s.host, s.dir ? '.' : posix.basename(s.rel));
  return h.digest('hex');
}

/** `owner` 'preserve': each file keeps the owner it has in the source (COPY --from without --chown, as dockerd). */
export type CopyOptions = { owner: Owner | 'preserve'; chmod?: number };

/**
 * Copy the sources to `dest` (an absolute container path; a trailing `/` means a directory)
 * inside `rootfs`. Every path in the image is resolved within rootfs (its symlinks clamped to
 * it); the last component is never followed but replaced, so nothing is written outside.
 */
export async function copySources(rootfs: string, sources: Source[], dest: string, o: CopyOptions, kw: string): Promise<void> {
  const intoDir = dest.endsWith('/') || dest.endsWith('/.') || sources.length > 1 || sources.some((s) => s.dir);
  if (sources.length > 1 && !(dest.endsWith('/') || dest.endsWith('/.'))) {
    throw invalidParameter(`When using ${kw} with more than one source file, the destination must be a directory and end with a /`);
  }
  const target = posix.normalize(dest);
  // Resolved whole first, as dockerd does: a file on the way fails as `lstat /etc/passwd/x: not a directory`.
  await resolveInRoot(rootfs, target);
  for (const s of sources) {
    if (s.dir) {
      await ensureDir(rootfs, target, o);
      await copyTree(rootfs, s.host, target, o);
      continue;
    }
    let to = intoDir ? posix.join(target, posix.basename(s.rel)) : target;
    if (!intoDir && (await isDirIn(rootfs, to))) to = posix.join(to, posix.basename(s.rel));
    await ensureDir(rootfs, posix.dirname(to), o);
    await copyEntry(rootfs, s.host, to, o);
  }
}

async function isDirIn(rootfs: string, path: string): Promise<boolean> {
  try {
    return (await lstat(await resolveInRoot(rootfs, path))).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Create `path` and its missing parents in rootfs (new ones owned by the copy's owner, root
 * when it preserves). Something other than a directory in the way fails as Go's MkdirAll does.
 */
export async function ensureDir(rootfs: string, path: string, o: CopyOptions): Promise<void> {
  await resolveInRoot(rootfs, path);
  const owner = o.owner === 'preserve' ? { uid: 0, gid: 0 } : o.owner;
  const parts = path.split('/').filter(Boolean);
  let cur = '/';
  for (const p of parts) {
    cur = posix.join(cur, p);
    const host = await resolveInRoot(rootfs, cur);
    try {
      await mkdir(host, { mode: 0o755 });
      await lchown(host, owner.uid, owner.gid);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      if (!(await lstat(host)).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${host}'`), { code: 'ENOTDIR', syscall: 'mkdir', path: host });
    }
  }
}

async function copyTree(rootfs: string, srcDir: string, to: string, o: CopyOptions): Promise<void> {
  const names = (await readdir(srcDir)).sort();
  for (const n of names) await copyEntry(rootfs, join(srcDir, n), posix.join(to, n), o);
}

/** One entry at container path `to`: its parent resolved in rootfs, itself replaced (never followed). */
async function copyEntry(rootfs: string, src: string, to: string, o: CopyOptions): Promise<void> {
  const st = await lstat(src);
  const host = join(await resolveInRoot(rootfs, posix.dirname(to)), posix.basename(to));
  const existing = await lstat(host).catch(() => undefined);
  const mode = o.chmod ?? st.mode & 0o7777;
  const { uid, gid } = o.owner === 'preserve' ? st : o.owner;
  if (st.isDirectory()) {
    if (existing && !existing.isDirectory()) await rm(host, { force: true });
    if (!existing?.isDirectory()) await mkdir(host);
    await lchown(host, uid, gid);
    await chmod(host, mode);
    await copyTree(rootfs, src, to, o);
    await lutimes(host, st.atime, st.mtime);
    return;
  }
  if (existing) await rm(host, { recursive: true, force: true });
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), host);
    await lchown(host, uid, gid);
  } else if (st.isFile()) {
    await copyFile(src, host);
    await lchown(host, uid, gid);
    await chmod(host, mode);
  } else {
    // Devices, sockets and FIFOs in a context are not copied.
    return;
  }
  await lutimes(host, st.atime, st.mtime);
}
