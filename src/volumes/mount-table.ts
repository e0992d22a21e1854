import { readFile } from 'node:fs/promises';
import { run } from '../lib/exec.js';
import { systemError } from '../lib/errors.js';

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Whether something is mounted exactly at `path` (from /proc/self/mountinfo). */
export async function isMountPoint(path: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((l) => unescape(l.split(' ')[4] ?? '') === path);
}

/** `mount -t <type> [-o <opts>] <device> <target>`; the error names the volume, as dockerd's. */
export async function mountDevice(type: string, device: string, opts: string, target: string): Promise<void> {
  const args = [...(type ? ['-t', type] : []), ...(opts ? ['-o', opts] : []), device, target];
  const r = await run('mount', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw systemError(`failed to mount local volume: mount ${device}:${target}, flags: ${opts}: ${r.stderr.trim()}`);
}

export async function unmountPath(target: string): Promise<void> {
  const r = await run('umount', [target], { timeoutMs: 60_000 });
  if (r.code !== 0 && (await isMountPoint(target))) throw systemError(`cannot unmount ${target}: ${r.stderr.trim()}`);
}
