import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { run } from '../lib/exec.js';
import { systemError } from '../lib/errors.js';

/**
 * The one place berthd mounts and unmounts. Node has no mount(2), so this spawns util-linux
 * `mount`/`umount` (about 3 ms each); /proc/self/mountinfo is the truth about what is mounted.
 */

export type OverlayLayers = {
  /** Top first, as overlayfs wants them; relative to `cwd` to keep the option string short. */
  lower: string[];
  upper: string;
  work: string;
  /** Directory the relative paths above are resolved from. */
  cwd: string;
  /** Extra options, e.g. `index=off`. */
  options?: string[];
};

/** The mount data of mount(2) must fit in one page. */
const MAX_MOUNT_DATA = 4095;

export async function mountOverlay(target: string, l: OverlayLayers): Promise<void> {
  if (l.lower.length === 0) throw systemError('an overlay mount needs at least one lower layer');
  const data = [`lowerdir=${l.lower.join(':')}`, `upperdir=${l.upper}`, `workdir=${l.work}`, ...(l.options ?? [])].join(',');
  if (data.length > MAX_MOUNT_DATA) {
    throw systemError(`cannot mount ${target}: ${l.lower.length} layers make the overlay options too long`);
  }
  const r = await run('mount', ['-n', '-t', 'overlay', 'overlay', '-o', data, target], { cwd: l.cwd, timeoutMs: 30_000 });
  if (r.code !== 0) throw systemError(`cannot mount overlay on ${target}: ${r.stderr.trim() || `exit code ${String(r.code)}`}`);
}

/**
 * Unmount `target`; a target that is not mounted is fine. A busy mount (a process still has
 * its cwd there) is detached lazily, as Docker's overlay2 driver does, so removal can go on.
 */
export async function unmount(target: string): Promise<void> {
  if (!(await isMountPoint(target))) return;
  let r = await run('umount', ['-n', target], { timeoutMs: 30_000 });
  if (r.code !== 0 && /busy/i.test(r.stderr)) r = await run('umount', ['-n', '-l', target], { timeoutMs: 30_000 });
  if (r.code !== 0 && (await isMountPoint(target))) {
    throw systemError(`cannot unmount ${target}: ${r.stderr.trim() || `exit code ${String(r.code)}`}`);
  }
}

export type MountEntry = { mountPoint: string; fsType: string };

/** The mount table of this process's namespace. */
export async function mountTable(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 5 || dash < 0) continue;
    out.push({ mountPoint: unescapeOctal(f[4] as string), fsType: f[dash + 1] ?? '' });
  }
  return out;
}

export async function isMountPoint(path: string): Promise<boolean> {
  const p = resolve(path);
  return (await mountTable()).some((m) => m.mountPoint === p);
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const p = resolve(dir);
  return (await mountTable())
    .map((m) => m.mountPoint)
    .filter((m) => m === p || m.startsWith(`${p}/`))
    .sort((a, b) => b.length - a.length);
}

/** The type of the filesystem holding `path` (the longest mount point above it). */
export async function fsTypeOf(path: string): Promise<string> {
  const p = resolve(path);
  let best: MountEntry | undefined;
  for (const m of await mountTable()) {
    const covers = m.mountPoint === '/' || m.mountPoint === p || p.startsWith(`${m.mountPoint}/`);
    if (covers && (best === undefined || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best?.fsType ?? 'unknown';
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
