import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Change } from '../engine/ports.js';

const stat = (p: string): Stats | undefined => lstatSync(p, { throwIfNoEntry: false });

function sorted(out: Change[]): Change[] {
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * overlay2: everything in the container's upper dir is a change. A whiteout (a 0/0 character
 * device) is a deletion; anything else is a modification when some lower layer has the path,
 * an addition otherwise. `lowers` are the image's layer dirs.
 */
export function overlayChanges(upper: string, lowers: string[]): Change[] {
  const out: Change[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(upper, rel))) {
      const p = `${rel}/${name}`;
      const st = stat(join(upper, p));
      if (!st) continue;
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ path: p, kind: 2 });
        continue;
      }
      out.push({ path: p, kind: lowers.some((l) => stat(join(l, p)) !== undefined) ? 0 : 1 });
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return sorted(out);
}

/**
 * vfs: the container's full copy against the image's, as dockerd's naive diff does: added
 * and deleted paths, and paths whose type, mode, owner, size, time or link target differ.
 */
export function treeChanges(base: string, current: string): Change[] {
  const out: Change[] = [];
  const walk = (rel: string): void => {
    const names = readdirSync(join(current, rel));
    for (const name of names) {
      const p = `${rel}/${name}`;
      const now = stat(join(current, p));
      if (!now) continue;
      const was = stat(join(base, p));
      if (!was) out.push({ path: p, kind: 1 });
      else if (differs(was, now, join(base, p), join(current, p))) out.push({ path: p, kind: 0 });
      if (now.isDirectory()) {
        if (was?.isDirectory()) walk(p);
        else addAll(p);
      }
    }
    const here = new Set(names);
    const before = stat(join(base, rel))?.isDirectory() ? readdirSync(join(base, rel)) : [];
    for (const name of before) if (!here.has(name)) out.push({ path: `${rel}/${name}`, kind: 2 });
  };
  const addAll = (rel: string): void => {
    for (const name of readdirSync(join(current, rel))) {
      const p = `${rel}/${name}`;
      out.push({ path: p, kind: 1 });
      if (stat(join(current, p))?.isDirectory()) addAll(p);
    }
  };
  walk('');
  return sorted(out);
}

function differs(a: Stats, b: Stats, aPath: string, bPath: string): boolean {
  if ((a.mode & 0o170000) !== (b.mode & 0o170000) || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return true;
  if (a.isSymbolicLink()) return readlinkSync(aPath) !== readlinkSync(bPath);
  if (a.isDirectory()) return a.mtimeMs !== b.mtimeMs;
  return a.size !== b.size || a.mtimeMs !== b.mtimeMs || a.rdev !== b.rdev;
}
