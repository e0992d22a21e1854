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
