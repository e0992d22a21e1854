import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { run } from '../lib/exec.js';
import type { Change } from '../engine/ports.js';

export type TarStream = { stream: Readable; done: Promise<void> };

/** One entry of a layer diff: a path written from `root`, or a whiteout for a deleted one. */
type DiffEntry = { path: string; whiteout?: boolean; opaque?: boolean };

const WHITEOUT_PREFIX = '.wh.';
/** Entries without content are written whole (tar-stream waits for a stream's end otherwise). */
const NOTHING = Buffer.alloc(0);
const OPAQUE = '.wh..wh..opq';

/**
 * A container's changes as an OCI layer tar (what `docker commit` stores): each entry with
 * its owner, mode, time and link target, hard links kept as links, deletions as `.wh.<name>`
 * files and opaque directories as `.wh..wh..opq`, the way dockerd's archive package writes them.
 * `exclude` are paths berth itself made (mount points of /etc/hosts and friends).
 */
async function packDiff(root: string, entries: DiffEntry[]): Promise<TarStream> {
  const tar = (await import('tar-stream')).default;
  const pack = tar.pack();
  const out = new PassThrough();
  const done = (async () => {
    const written = pipeline(pack, out);
    // A reader that goes away fails this while an entry is being written, before it is
    // awaited below: handled here, or it would be an unhandled rejection ending berthd.
    written.catch(() => undefined);
    const links = new Map<string, string>();
    for (const e of entries) {
      const rel = e.path.replace(/^\/+/, '');
      const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : '';
      const base = rel.slice(dir.length);
      if (e.whiteout) {
        pack.entry({ name: `${dir}${WHITEOUT_PREFIX}${base}`, type: 'file', mode: 0o600, mtime: new Date(0) }, NOTHING);
        continue;
      }
      const st = await lstat(join(root, rel)).catch(() => undefined);
      if (!st) continue;
      const common = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (st.isDirectory()) {
        pack.entry({ ...common, name: `${rel}/`, type: 'directory' }, NOTHING);
        if (e.opaque) pack.entry({ ...common, name: `${rel}/${OPAQUE}`, type: 'file' }, NOTHING);
      } else if (st.isSymbolicLink()) {
        pack.entry({ ...common, name: rel, type: 'symlink', linkname: await readlink(join(root, rel)) }, NOTHING);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          pack.entry({ ...common, name: rel, type: 'link', linkname: first }, NOTHING);
          continue;
        }
        if (st.nlink > 1) links.set(key, rel);
        const entry = pack.entry({ ...common, name: rel, type: 'file', size: st.size });
        await pipeline(createReadStream(join(root, rel)), entry);
      } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
        pack.entry({ ...common, name: rel, type: deviceType(st), devmajor: major(st.rdev), devminor: minor(st.rdev) }, NOTHING);
      }
      // Sockets are not archived (dockerd's archive skips them too).
    }
    pack.finalize();
    await written;
  })();
  done.catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return { stream: out, done };
}

function deviceType(st: Stats): 'character-device' | 'block-device' | 'fifo' {
  return st.isCharacterDevice() ? 'character-device' : st.isBlockDevice() ? 'block-device' : 'fifo';
}

function major(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff);
}

function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & ~0xff);
}

function excluded(path: string, exclude: string[]): boolean {
  return exclude.some((x) => path === x || path.startsWith(`${x}/`));
}

/**
 * overlay2: the upper directory is the diff. Its whiteouts (0/0 character devices) become
 * `.wh.` files, directories marked opaque (`trusted.overlay.opaque=y`) get `.wh..wh..opq`.
 */
export async function overlayDiffTar(upper: string, exclude: string[]): Promise<TarStream> {
  const opaque = await opaqueDirs(upper);
  const entries: DiffEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(upper, rel))).sort()) {
      const p = `${rel}/${name}`;
      if (excluded(p, exclude)) continue;
      const st = await lstat(join(upper, p));
      if (st.isCharacterDevice() && st.rdev === 0) {
        entries.push({ path: p, whiteout: true });
        continue;
      }
      entries.push({ path: p, ...(st.isDirectory() && opaque.has(p) ? { opaque: true } : {}) });
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk('');
  return packDiff(upper, entries);
}

/** Directories of the upper dir with overlayfs's opaque mark, in one `getfattr` run. */
async function opaqueDirs(upper: string): Promise<Set<string>> {
  // Exit status 1 only says some files lack the attribute.
  const named = await run('getfattr', ['-R', '-P', '--absolute-names', '-n', 'trusted.overlay.opaque', '-e', 'text', upper], { timeoutMs: 120_000 });
  const out = new Set<string>();
  let file: string | undefined;
  for (const line of named.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8);
    else if (file && /^trusted\.overlay\.opaque="y"/.test(line)) out.add(file.slice(upper.length) || '/');
  }
  return out;
}

/** vfs: the container's copy against its image's, as dockerd's naive diff exports it. */
export function vfsDiffTar(current: string, changes: Change[], exclude: string[]): Promise<TarStream> {
  const entries = changes
    .filter((c) => !excluded(c.path, exclude))
    .map((c): DiffEntry => (c.kind === 2 ? { path: c.path, whiteout: true } : { path: c.path }));
  return packDiff(current, entries);
}
