import { lstat, readlink, readFile, mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { errnoCode } from './errors.js';

/**
 * Resolve `path` inside `root` the way the container will see it: symlinks are followed but
 * clamped to `root` (an absolute link target or `..` can never leave it). The result is a
 * host path under root. Guards reads and writes berthd does inside images and containers.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const parts = posix.normalize('/' + path).split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const hostPath = join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = (await lstat(hostPath)).isSymbolicLink();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > 255) throw new Error(`too many levels of symbolic links: ${path}`);
    const target = await readlink(hostPath);
    if (target.startsWith('/')) resolved.length = 0;
    parts.unshift(...target.split('/').filter(Boolean));
  }
  return join(root, ...resolved);
}

export async function readFileInRoot(root: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(root, path), 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR' || errnoCode(err) === 'EISDIR') return undefined;
    throw err;
  }
}

export async function mkdirInRoot(root: string, path: string, mode = 0o755): Promise<void> {
  // Create one component at a time, re-resolving, so no component can be swapped for a link
  // that points outside between the check and the creation.
  const parts = posix.normalize('/' + path).split('/').filter(Boolean);
  let cur = '';
  for (const p of parts) {
    cur = `${cur}/${p}`;
    const host = await resolveInRoot(root, cur);
    try {
      await mkdir(host, { mode });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
}
