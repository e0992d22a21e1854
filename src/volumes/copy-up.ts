import { readdir, stat } from 'node:fs/promises';
import { resolveInRoot } from '../lib/in-root.js';
import { run } from '../lib/exec.js';
import { errnoCode, systemError } from '../lib/errors.js';

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/**
 * Docker's copy-up: the image's content at `destination` (resolved inside the rootfs, links
 * clamped to it) is copied into an empty volume, with owners, modes, times, links and
 * special files, and the folder's own mode and owner. Nothing happens if the volume is not
 * empty or the image has no folder there.
 */
export async function copyUp(rootfs: string, destination: string, volumePath: string): Promise<boolean> {
  const src = await resolveInRoot(rootfs, destination);
  try {
    if (!(await stat(src)).isDirectory()) return false;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw err;
  }
  if (!(await isEmptyDir(volumePath))) return false;
  const r = await run('cp', ['-a', '--', `${src}/.`, `${volumePath}/`], { timeoutMs: 30 * 60_000 });
  if (r.code !== 0) throw systemError(`failed to populate volume: ${r.stderr.trim()}`);
  return true;
}
