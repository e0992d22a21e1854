import { conflict, invalidParameter, notFound } from '../lib/errors.js';

export const VOLUME_SCHEMA_VERSION = 1;

/** The label Docker puts on a volume created without a name; prune removes only these by default. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export const LOCAL_DRIVER = 'local';

/**
 * One volume's record (`<data-root>/volumes/<name>/volume.json`, its data beside it in
 * `_data`). Labels and options are kept as received: `null` when the request had none, as
 * Docker shows them.
 */
export type VolumeRecord = {
  schemaVersion: number;
  name: string;
  driver: typeof LOCAL_DRIVER;
  createdAt: string;
  labels: Record<string, string> | null;
  options: Record<string, string> | null;
};

/** A volume as the API shows it. */
export type VolumeInfo = VolumeRecord & { mountpoint: string; scope: 'local' };

export function migrateVolumeRecord(raw: Record<string, unknown>): VolumeRecord {
  if (raw['schemaVersion'] !== VOLUME_SCHEMA_VERSION) {
    throw new Error(`unsupported volume record schema version ${String(raw['schemaVersion'])}`);
  }
  if (typeof raw['name'] !== 'string' || raw['driver'] !== LOCAL_DRIVER) throw new Error('malformed volume record');
  return raw as unknown as VolumeRecord;
}

const NAME_CHARS = '[a-zA-Z0-9][a-zA-Z0-9_.-]';
const NAME_RE = new RegExp(`^${NAME_CHARS}+$`);

/** Go's %q for the names we print (ASCII; JSON's escaping agrees with Go's on it). */
const quote = (s: string) => JSON.stringify(s);

/** Docker's sentences about volumes, matched by clients and scripts. */
export const volumeErrors = {
  noSuchVolume: (name: string) => notFound(`get ${name}: no such volume`),
  inUse: (name: string, refs: string[]) => conflict(`remove ${name}: volume is in use - [${refs.join(', ')}]`),
  pluginNotFound: (name: string, driver: string) =>
    notFound(`create ${name}: error looking up volume plugin ${driver}: plugin ${quote(driver)} not found`),
  pruneRunning: () => conflict('a prune operation is already running'),
};

/** The local driver's name rule, with the `create <name>: ` prefix moby's store adds. */
export function validateVolumeName(name: string): void {
  if (name.length === 1) {
    throw invalidParameter(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`);
  }
  if (!NAME_RE.test(name)) {
    throw invalidParameter(
      `create ${name}: ${quote(name)} includes invalid characters for a local volume name, only ${quote(NAME_CHARS)} are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

const VALID_OPTIONS = new Set(['type', 'o', 'device', 'size']);
const MANDATORY: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device', 'type'] };

/**
 * The local driver's options (`-o type=tmpfs -o device=tmpfs -o o=size=64m`): the volume is
 * a mount of that device. berth has no quota support, so `size` is refused as on a dockerd
 * without project quotas.
 */
export function validateVolumeOptions(name: string, opts: Record<string, string> | null): void {
  if (!opts) return;
  const fail = (msg: string) => invalidParameter(`create ${name}: ${msg}`);
  for (const k of Object.keys(opts)) if (!VALID_OPTIONS.has(k)) throw fail(`invalid option: ${quote(k)}`);
  if (opts['size'] !== undefined) {
    if (!/^\s*\d+(\.\d+)?\s*([kmgtp]i?b?|b)?\s*$/i.test(opts['size'])) throw fail(`invalid size: '${opts['size']}'`);
    if (parseFloat(opts['size']) > 0) throw fail('quota size requested but no quota support');
  }
  for (const [k, needs] of Object.entries(MANDATORY)) {
    if (opts[k] === undefined) continue;
    for (const n of needs) if (opts[n] === undefined) throw fail(`missing required option: ${quote(n)}`);
  }
}

/** Whether the volume is a mount of a device (options given) rather than a plain folder. */
export function needsMount(r: VolumeRecord): boolean {
  return !!r.options && (r.options['type'] !== undefined || r.options['device'] !== undefined);
}
