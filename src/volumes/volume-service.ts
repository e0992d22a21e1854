import { mkdir, stat } from 'node:fs/promises';
import type { EventBus, MountSpec, RootfsAccess, VolumePort } from '../engine/ports.js';
import type { Logger } from '../lib/logger.js';
import { errnoCode, invalidParameter, isKind, messageOf } from '../lib/errors.js';
import { KeyedMutex } from '../lib/mutex.js';
import { newId } from '../lib/ids.js';
import type { LocalDriver } from './local-driver.js';
import { copyUp, isEmptyDir } from './copy-up.js';
import { dirSize } from '../lib/dir-size.js';
import {
  ANONYMOUS_LABEL,
  LOCAL_DRIVER,
  needsMount,
  validateVolumeName,
  validateVolumeOptions,
  volumeErrors,
  type VolumeInfo,
  type VolumeRecord,
} from './volume.js';

/** A container as far as volumes care: its id and its (resolved) mounts. */
export type VolumeUser = { id: string; mounts: readonly MountSpec[] };

export type VolumeCreateRequest = {
  name?: string;
  driver?: string;
  labels?: Record<string, string> | null;
  options?: Record<string, string> | null;
};

export type VolumeListFilter = { dangling?: boolean; names?: string[]; labels?: string[]; drivers?: string[] };

/** `all`: every unused volume, not only anonymous ones (API ≥ 1.42 prunes anonymous ones by default). */
export type VolumePruneFilter = { all: boolean; labels: string[]; notLabels: string[] };

export type VolumeServiceDeps = {
  driver: LocalDriver;
  /** Every container the daemon knows, whatever its state: each holds its volumes. */
  users: () => Iterable<VolumeUser>;
  events: EventBus;
  log: Logger;
};

/** `label=key` / `label=key=value`: all must match (moby's MatchKVList). */
function matchLabels(labels: Record<string, string> | null, specs: string[]): boolean {
  if (specs.length === 0) return true;
  if (!labels || Object.keys(labels).length === 0) return false;
  return specs.every((s) => {
    const eq = s.indexOf('=');
    if (eq < 0) return s in labels;
    return labels[s.slice(0, eq)] === s.slice(eq + 1);
  });
}

/** moby's Match: an exact name, or a regular expression that matches part of it. */
function matchName(name: string, patterns: string[]): boolean {
  return patterns.some((p) => {
    if (p === name) return true;
    try {
      return new RegExp(p).test(name);
    } catch {
      return false; // not a valid expression: it can only match exactly
    }
  });
}

/**
 * Volumes: the API's operations (create, inspect, list, remove, prune) and the container
 * lifecycle's port (prepare at create, setup at start, release at remove). A volume is in
 * use while any container that mounts it exists — learned from the containers themselves,
 * so it is right after a restart — or while a create that mounts it is under way.
 */
export class VolumeService implements VolumePort {
  readonly #d: VolumeServiceDeps;
  readonly #lock = new KeyedMutex();
  /** Volumes taken by creates not yet recorded as containers: container id → names. */
  readonly #pending = new Map<string, Set<string>>();
  #pruning = false;

  constructor(deps: VolumeServiceDeps) {
    this.#d = deps;
  }

  init(): Promise<void> {
    return this.#d.driver.init();
  }

  /** Graceful shutdown without live restore: unmount device volumes. */
  close(): Promise<void> {
    return this.#d.driver.unmountAll();
  }

  /** The containers holding a volume, in the order Docker's message lists them. */
  refs(name: string): string[] {
    const out: string[] = [];
    for (const u of this.#d.users()) {
      if (u.mounts.some((m) => m.type === 'volume' && m.name === name)) out.push(u.id);
    }
    for (const [id, names] of this.#pending) if (names.has(name) && !out.includes(id)) out.push(id);
    return out;
  }

  #info(r: VolumeRecord): VolumeInfo {
    return { ...r, mountpoint: this.#d.driver.path(r.name), scope: 'local' };
  }

  // ---- the API's operations -----------------------------------------------------------

  /** `docker volume create`: without a name, an anonymous volume with a random one. */
  async create(req: VolumeCreateRequest): Promise<VolumeInfo> {
    const name = req.name || newId();
    const labels = req.name ? (req.labels ?? null) : { ...(req.labels ?? {}), [ANONYMOUS_LABEL]: '' };
    if (req.driver && req.driver !== LOCAL_DRIVER) throw volumeErrors.pluginNotFound(name, req.driver);
    const r = await this.#lock.run(name, () => this.#create(name, labels, req.options ?? null));
    return this.#info(r);
  }

  async #create(name: string, labels: VolumeRecord['labels'], options: VolumeRecord['options']): Promise<VolumeRecord> {
    validateVolumeName(name);
    const existing = this.#d.driver.get(name);
    if (existing) return existing;
    validateVolumeOptions(name, options);
    const { record, created } = await this.#d.driver.create(name, labels, options);
    if (created) this.#d.events.emit('volume', 'create', name, { driver: LOCAL_DRIVER });
    return record;
  }

  get(name: string): VolumeInfo {
    const r = this.#d.driver.get(name);
    if (!r) throw volumeErrors.noSuchVolume(name);
    return this.#info(r);
  }

  list(f: VolumeListFilter = {}): VolumeInfo[] {
    return this.#d.driver
      .list()
      .filter(
        (r) =>
          (!f.drivers?.length || f.drivers.includes(r.driver)) &&
          (!f.names?.length || matchName(r.name, f.names)) &&
          matchLabels(r.labels, f.labels ?? []) &&
          (f.dangling === undefined || (this.refs(r.name).length === 0) === f.dangling),
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((r) => this.#info(r));
  }

  /** `docker system df`: bytes under the volume (-1 when it is a mounted device) and its users. */
  async usage(name: string): Promise<{ size: number; refCount: number }> {
    const r = this.#d.driver.get(name);
    if (!r) throw volumeErrors.noSuchVolume(name);
    const size = needsMount(r) ? -1 : await dirSize(this.#d.driver.path(name));
    return { size, refCount: this.refs(name).length };
  }

  /** `docker volume rm [-f]`: refused while any container holds it; `force` ignores a missing one. */
  remove(name: string, opts: { force: boolean }): Promise<void> {
    return this.#lock.run(name, () => this.#remove(name, opts.force));
  }

  async #remove(name: string, force: boolean): Promise<void> {
    if (!this.#d.driver.get(name)) {
      if (force) return;
      throw volumeErrors.noSuchVolume(name);
    }
    const refs = this.refs(name);
    if (refs.length > 0) throw volumeErrors.inUse(name, refs);
    await this.#d.driver.remove(name);
    this.#d.events.emit('volume', 'destroy', name, { driver: LOCAL_DRIVER });
  }

  /** `docker volume prune`: unused local volumes without device options that match the filter. */
  async prune(f: VolumePruneFilter): Promise<{ deleted: string[]; reclaimed: number }> {
    if (this.#pruning) throw volumeErrors.pruneRunning();
    this.#pruning = true;
    try {
      const labels = f.all ? f.labels : [...f.labels, ANONYMOUS_LABEL];
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const r of this.#d.driver.list()) {
        if (needsMount(r) || !matchLabels(r.labels, labels)) continue;
        if (f.notLabels.length > 0 && matchLabels(r.labels, f.notLabels)) continue;
        await this.#lock
          .run(r.name, async () => {
            if (!this.#d.driver.get(r.name) || this.refs(r.name).length > 0) return;
            const size = await dirSize(this.#d.driver.path(r.name));
            await this.#remove(r.name, true);
            deleted.push(r.name);
            reclaimed += size;
          })
          .catch((err: unknown) => this.#d.log.warn({ volume: r.name, err: messageOf(err) }, 'Could not remove volume'));
      }
      this.#d.events.emit('volume', 'prune', '', { reclaimed: String(reclaimed) });
      return { deleted, reclaimed };
    } finally {
      this.#pruning = false;
    }
  }

  // ---- the container lifecycle's port ------------------------------------------------

  async prepare(containerId: string, mounts: readonly MountSpec[], rootfs: RootfsAccess): Promise<MountSpec[]> {
    const held = this.#pending.get(containerId) ?? new Set<string>();
    this.#pending.set(containerId, held);
    const out: MountSpec[] = [];
    let rootPath: string | undefined;
    try {
      for (const m of mounts) {
        if (m.type === 'bind' && !m.createSource) await checkBindSource(m.source);
        if (m.type !== 'volume') {
          out.push({ ...m });
          continue;
        }
        const name = m.name ?? newId();
        // Held before the first await, so a concurrent `volume rm` sees it.
        held.add(name);
        const labels = m.anonymous ? { ...(m.volumeCreate?.labels ?? {}), [ANONYMOUS_LABEL]: '' } : (m.volumeCreate?.labels ?? null);
        const record = await this.#lock.run(name, () => this.#create(name, labels, m.volumeCreate?.options ?? null));
        const resolved: MountSpec = { ...m, name, source: this.#d.driver.path(name) };
        out.push(resolved);
        if (m.nocopy) continue;
        await this.#lock.run(name, async () => {
          await this.#d.driver.ensureMounted(record);
          if (!(await isEmptyDir(resolved.source))) return;
          rootPath ??= await rootfs.mount();
          await copyUp(rootPath, m.destination, resolved.source);
        });
      }
    } catch (err) {
      await this.release(containerId, out, { removeAnonymous: true });
      throw err;
    } finally {
      if (rootPath !== undefined) {
        await rootfs.unmount().catch((err: unknown) => this.#d.log.warn({ containerId, err: messageOf(err) }, 'cannot unmount rootfs after copy-up'));
      }
    }
    return out;
  }

  async setup(containerId: string, mounts: readonly MountSpec[]): Promise<MountSpec[]> {
    const out: MountSpec[] = [];
    for (const m of mounts) {
      if (m.type === 'bind' && m.createSource) await makeBindSource(m.source);
      if (m.type !== 'volume') {
        out.push(m);
        continue;
      }
      const name = m.name ?? '';
      const record = this.#d.driver.get(name);
      if (!record) throw volumeErrors.noSuchVolume(name);
      await this.#lock.run(name, () => this.#d.driver.ensureMounted(record));
      out.push({ ...m, source: this.#d.driver.path(name) });
      this.#d.events.emit('volume', 'mount', name, {
        container: containerId,
        destination: m.destination,
        driver: LOCAL_DRIVER,
        propagation: '',
        'read/write': String(!m.readOnly),
      });
    }
    return out;
  }

  async release(containerId: string, mounts: readonly MountSpec[], opts: { removeAnonymous: boolean }): Promise<void> {
    this.#pending.delete(containerId);
    if (!opts.removeAnonymous) return;
    for (const m of mounts) {
      if (m.type !== 'volume' || !m.anonymous || !m.name) continue;
      try {
        await this.remove(m.name, { force: true });
      } catch (err) {
        // Another container uses it too (`--volumes-from`, or mounted by name): it stays.
        const level = isKind(err, 'Conflict') ? 'debug' : 'warn';
        this.#d.log[level]({ containerId, volume: m.name, err: messageOf(err) }, 'anonymous volume not removed');
      }
    }
  }
}

/** `--mount type=bind` refuses a missing source (dockerd checks it at create). */
async function checkBindSource(source: string): Promise<void> {
  try {
    await stat(source);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    throw invalidParameter(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
  }
}

/** `-v /host:/ctr` makes a missing host folder, as dockerd does; a file already there is fine. */
async function makeBindSource(source: string): Promise<void> {
  try {
    await mkdir(source, { recursive: true, mode: 0o755 });
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST' && errnoCode(err) !== 'ENOTDIR') throw err;
  }
}
