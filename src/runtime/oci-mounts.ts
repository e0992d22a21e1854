import type { MountSpec } from '../engine/ports.js';
import { cleanPath } from '../lib/clean-path.js';
import type { OciMount } from './spec.js';

/** Shallow mounts first, so `/etc` is mounted before `/etc/app` and does not hide it. */
function depth(m: MountSpec): number {
  return cleanPath(m.destination).split('/').length - 1;
}

const TMPFS_DEFAULTS = ['noexec', 'nosuid', 'nodev'];
const OPPOSITE: Record<string, string> = {
  exec: 'noexec', noexec: 'exec', suid: 'nosuid', nosuid: 'suid', dev: 'nodev', nodev: 'dev', ro: 'rw', rw: 'ro',
  atime: 'noatime', noatime: 'atime', diratime: 'nodiratime', nodiratime: 'diratime',
};

/** Later tmpfs options win (`exec` undoes the default `noexec`; the last `size=` counts), as moby's MergeTmpfsOptions. */
export function mergeTmpfsOptions(options: string[]): string[] {
  const out: string[] = [];
  for (const o of options) {
    const key = o.includes('=') ? o.slice(0, o.indexOf('=') + 1) : o;
    const drop = (x: string) => x === o || x === OPPOSITE[o] || (key.endsWith('=') && x.startsWith(key));
    for (let i = out.length - 1; i >= 0; i--) if (drop(out[i] as string)) out.splice(i, 1);
    out.push(o);
  }
  return out;
}

/** The user's mounts, resolved to host paths, as OCI mounts in a safe order. */
export function ociUserMounts(mounts: readonly MountSpec[]): OciMount[] {
  const sorted = [...mounts].sort((a, b) => depth(a) - depth(b));
  return sorted.map((m) => {
    if (m.type === 'tmpfs') {
      return { destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions([...TMPFS_DEFAULTS, ...(m.options ?? [])]) };
    }
    return {
      destination: m.destination,
      type: 'bind',
      source: m.source,
      options: ['rbind', m.readOnly ? 'ro' : 'rw', m.propagation || 'rprivate'],
    };
  });
}

/**
 * The container's /etc/hosts, /etc/hostname and /etc/resolv.conf go on top of the user's
 * mounts (a volume on /etc must not hide them), unless the user mounts one of them.
 */
export function withNetworkFiles(user: OciMount[], etc: OciMount[]): OciMount[] {
  const taken = new Set(user.map((m) => m.destination));
  return [...user, ...etc.filter((m) => !taken.has(m.destination))];
}
