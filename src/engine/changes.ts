import type { Change } from './ports.js';

export type { Change };

const INIT_FILES = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/etc/mtab', '/.dockerenv'];
const INIT_DIRS = ['/dev', '/proc', '/sys'];

/** What `docker commit` leaves out of the new layer: berth's mount points and what is under them. */
export const INIT_PATHS = [...INIT_FILES, ...INIT_DIRS];

/**
 * The mount points berth itself makes in a container's layer (/etc/hosts and friends, /dev,
 * /proc, /sys) are not the container's changes: dockerd keeps them in a separate init layer
 * and does not list them either. A directory marked changed only because one of them was
 * made in it goes too.
 */
export function withoutInitPaths(all: Change[]): Change[] {
  const ours = (p: string) => INIT_FILES.includes(p) || INIT_DIRS.some((d) => p === d || p.startsWith(`${d}/`));
  const kept = all.filter((c) => !ours(c.path));
  const parentsOfOurs = new Set(all.filter((c) => ours(c.path)).map((c) => c.path.slice(0, c.path.lastIndexOf('/'))));
  return kept.filter((c) => !(c.kind === 0 && parentsOfOurs.has(c.path) && !kept.some((o) => o.path.startsWith(`${c.path}/`))));
}
