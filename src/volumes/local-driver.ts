import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RecordStore } from '../state/index.js';
import type { Logger } from '../lib/logger.js';
import { errnoCode, invalidParameter, messageOf, systemError } from '../lib/errors.js';
import { isMountPoint, mountDevice, unmountPath } from './mount-table.js';
import { LOCAL_DRIVER, migrateVolumeRecord, needsMount, VOLUME_SCHEMA_VERSION, type VolumeRecord } from './volume.js';

/**
 * Docker's `local` volume driver: each volume is a folder `<root>/<name>` holding its record
 * (`volume.json`, written atomically) and its data (`_data`). A volume created with device
 * options (`-o type=tmpfs -o device=tmpfs`) has that device mounted on `_data` while in use.
 * Callers serialise operations on one name.
 */
export class LocalDriver {
  readonly root: string;
  readonly #store: RecordStore<VolumeRecord>;
  readonly #records = new Map<string, VolumeRecord>();
  readonly #log: Logger;

  constructor(root: string, log: Logger) {
    this.root = root;
    this.#store = new RecordStore<VolumeRecord>(root, 'volume.json', migrateVolumeRecord);
    this.#log = log;
  }

  /** Load every record; a folder without one is a create that never finished, and goes. */
  async init(): Promise<void> {
    await this.#store.init();
    await chmod(this.root, 0o701);
    const { records, failures, leftovers } = await this.#store.loadAll();
    for (const f of failures) this.#log.error({ volume: f.id, err: f.error }, 'cannot load volume record');
    for (const name of leftovers) {
      this.#log.info({ volume: name }, 'removing unfinished volume');
      await rm(join(this.root, name), { recursive: true, force: true });
    }
    for (const r of records) this.#records.set(r.name, r);
  }

  path(name: string): string {
    return join(this.root, name, '_data');
  }

  get(name: string): VolumeRecord | undefined {
    return this.#records.get(name);
  }

  list(): VolumeRecord[] {
    return [...this.#records.values()];
  }

  /** Create the volume, or return the one of that name (Docker keeps its labels and options). */
  async create(name: string, labels: VolumeRecord['labels'], options: VolumeRecord['options']): Promise<{ record: VolumeRecord; created: boolean }> {
    const existing = this.#records.get(name);
    if (existing) return { record: existing, created: false };
    const dir = join(this.root, name);
    const record: VolumeRecord = {
      schemaVersion: VOLUME_SCHEMA_VERSION,
      name,
      driver: LOCAL_DRIVER,
      createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels,
      options,
    };
    // Fails on a folder already there (a record that could not be read): never touch its data.
    await mkdir(dir, { mode: 0o701 }).catch((err: unknown) => {
      // A name longer than a file name may be is the request's fault, not the daemon's.
      if (errnoCode(err) === 'ENAMETOOLONG') throw invalidParameter(`create ${name}: volume name is too long`, err);
      throw systemError(`error while creating volume root path '${dir}': ${messageOf(err)}`, err);
    });
    try {
      // Data folder first: the record is the acknowledgement, so a crash leaves a leftover.
      await mkdir(this.path(name), { mode: 0o755 });
      await chmod(this.path(name), 0o755);
      await this.#store.write(name, record);
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch((e: unknown) =>
        this.#log.warn({ volume: name, err: messageOf(e) }, 'cannot remove unfinished volume'),
      );
      throw err;
    }
    this.#records.set(name, record);
    return { record, created: true };
  }

  /** Remove the volume and its data (its device unmounted first, never descended into). */
  async remove(name: string): Promise<void> {
    const r = this.#records.get(name);
    if (!r) return;
    if (needsMount(r) && (await isMountPoint(this.path(name)))) await unmountPath(this.path(name));
    await this.#store.remove(name);
    this.#records.delete(name);
  }

  /** Mount a device volume's device if it is not mounted yet; plain volumes need nothing. */
  async ensureMounted(r: VolumeRecord): Promise<void> {
    if (!needsMount(r) || !r.options) return;
    const target = this.path(r.name);
    if (await isMountPoint(target)) return;
    await mountDevice(r.options['type'] ?? '', r.options['device'] ?? '', r.options['o'] ?? '', target);
  }

  /** At shutdown without live restore: nothing runs any more, so no device stays mounted. */
  async unmountAll(): Promise<void> {
    for (const r of this.#records.values()) {
      if (!needsMount(r)) continue;
      try {
        if (await isMountPoint(this.path(r.name))) await unmountPath(this.path(r.name));
      } catch (err) {
        this.#log.warn({ volume: r.name, err: messageOf(err) }, 'cannot unmount volume');
      }
    }
  }
}
