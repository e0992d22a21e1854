import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CriticalOptions } from '../engine/container.js';
import { RECORD_SCHEMA_VERSION } from '../engine/container.js';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode } from '../lib/errors.js';

export type Fingerprint = { schemaVersion: number; engineVersion: string; critical: CriticalOptions };

const FILE = 'engine.json';

/**
 * The data root remembers which berth and which critical options last ran on it, so a start
 * can say what changed (old and new value) before any container is touched.
 */
export async function readFingerprint(dataRoot: string): Promise<Fingerprint | undefined> {
  try {
    return JSON.parse(await readFile(join(dataRoot, FILE), 'utf8')) as Fingerprint;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export function currentFingerprint(engineVersion: string, critical: CriticalOptions): Fingerprint {
  return { schemaVersion: RECORD_SCHEMA_VERSION, engineVersion, critical };
}

export function fingerprintChanges(prev: Fingerprint, now: Fingerprint): string[] {
  const out: string[] = [];
  if (prev.engineVersion !== now.engineVersion) out.push(`berth version changed from ${prev.engineVersion} to ${now.engineVersion}`);
  if (prev.schemaVersion !== now.schemaVersion) out.push(`state schema changed from ${prev.schemaVersion} to ${now.schemaVersion}`);
  const keys = new Set([...Object.keys(prev.critical), ...Object.keys(now.critical)]) as Set<keyof CriticalOptions>;
  for (const k of keys) {
    const a = prev.critical[k] ?? '(default)';
    const b = now.critical[k] ?? '(default)';
    if (a !== b) out.push(`${k} changed from ${a} to ${b}`);
  }
  return out;
}

export function writeFingerprint(dataRoot: string, f: Fingerprint): Promise<void> {
  return writeFileAtomic(join(dataRoot, FILE), JSON.stringify(f), 0o600);
}

/**
 * Like dockerd, keep using the storage driver the data root was last run with when none was
 * chosen explicitly: switching silently would hide every image and container. Returns the
 * driver it fell back to, if it did.
 */
export async function keepPreviousStorageDriver(config: { dataRoot: string; storageDriver: string }, explicit: boolean): Promise<string | undefined> {
  if (explicit) return undefined;
  const prev = (await readFingerprint(config.dataRoot))?.critical['storage-driver'];
  if (!prev || prev === config.storageDriver) return undefined;
  config.storageDriver = prev;
  return prev;
}
