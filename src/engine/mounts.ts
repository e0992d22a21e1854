import type { MountSpec } from './container.js';
import { cleanPath } from '../lib/clean-path.js';

/**
 * An anonymous volume for each image VOLUME that no mount of the request already covers
 * (Docker skips those silently: the user's mount wins).
 */
export function withImageVolumes(mounts: MountSpec[], imageVolumes: Record<string, unknown> | null | undefined): MountSpec[] {
  const taken = new Set(mounts.map((m) => m.destination));
  const out = [...mounts];
  for (const raw of Object.keys(imageVolumes ?? {})) {
    const destination = cleanPath(raw);
    if (taken.has(destination)) continue;
    taken.add(destination);
    out.push({ type: 'volume', source: '', destination, readOnly: false, anonymous: true, mode: '' });
  }
  return out;
}

/** A container whose mounts `--volumes-from` takes, and the mode asked (undefined: each mount's own). */
export type VolumesFromSource = { mounts: readonly MountSpec[]; readOnly: boolean | undefined };

/**
 * `--volumes-from`: the volumes and binds of other containers, at the same destinations, read-only
 * if asked (`:ro`) or if they were; the container's own mounts win at a destination. The copies
 * are never anonymous here (`rm -v` of this container keeps them) and copy nothing up.
 */
export function withVolumesFrom(own: MountSpec[], sources: readonly VolumesFromSource[]): MountSpec[] {
  const taken = new Set(own.map((m) => m.destination));
  const out = [...own];
  for (const src of sources) {
    for (const m of src.mounts) {
      if ((m.type !== 'volume' && m.type !== 'bind') || taken.has(m.destination)) continue;
      taken.add(m.destination);
      const { anonymous: _a, volumeCreate: _v, createSource: _c, ...rest } = m;
      out.push({ ...rest, readOnly: src.readOnly ?? m.readOnly, nocopy: true, mode: '' });
    }
  }
  return out;
}
