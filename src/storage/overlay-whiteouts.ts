import { run } from '../lib/exec.js';
import { errnoCode, messageOf, systemError } from '../lib/errors.js';

/**
 * overlayfs's own whiteouts, which OCI whiteouts become in an overlay layer: a 0/0 character
 * device hides a name of the lower layers, and `trusted.overlay.opaque=y` on a directory hides
 * the lower layers' content of that directory. Node has neither mknod(2) nor setxattr(2), so
 * these spawn `mknod` (coreutils) and `setfattr` (Debian `attr`).
 */

export async function makeWhiteout(path: string, signal?: AbortSignal): Promise<void> {
  await tool('mknod', [path, 'c', '0', '0'], `cannot create whiteout ${path}`, signal);
}

/** Mark directories opaque, a batch per process; symlinks are never followed. */
export async function markOpaque(dirs: string[], signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < dirs.length; i += 500) {
    const batch = dirs.slice(i, i + 500);
    await tool('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', '--', ...batch], 'cannot mark directories opaque', signal);
  }
}

async function tool(cmd: string, args: string[], what: string, signal: AbortSignal | undefined): Promise<void> {
  let r;
  try {
    r = await run(cmd, args, signal ? { signal } : {});
  } catch (err) {
    signal?.throwIfAborted();
    const hint = errnoCode(err) === 'ENOENT' ? ` (${cmd} is not installed)` : '';
    throw systemError(`${what}: ${messageOf(err)}${hint}`, err);
  }
  if (r.code !== 0) throw systemError(`${what}: ${r.stderr.trim() || `exit code ${String(r.code)}`}`);
}
