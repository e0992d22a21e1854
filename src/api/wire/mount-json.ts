import type { MountSpec } from '../backend.js';

/**
 * Inspect's and ps's `Mounts` entries (moby's MountPoint): Name and Driver only for volumes,
 * Propagation only for binds, Mode as the user gave it (`z` for a volume given none).
 */
export function mountPointJson(m: MountSpec): Record<string, unknown> {
  return {
    Type: m.type,
    ...(m.type === 'volume' ? { Name: m.name ?? '' } : {}),
    Source: m.source,
    Destination: m.destination,
    ...(m.type === 'volume' ? { Driver: 'local' } : {}),
    Mode: m.mode ?? (m.readOnly ? 'ro' : ''),
    RW: !m.readOnly,
    Propagation: m.type === 'bind' ? (m.propagation ?? 'rprivate') : '',
  };
}
