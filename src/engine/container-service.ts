import type { Readable } from 'node:stream';
import { join } from 'node:path';
import {
  isRunningLike,
  RECORD_SCHEMA_VERSION,
  type ContainerRecord,
  type CriticalOptions,
} from './container.js';
import type { AttachSession, AttachStreams, ExitInfo, OciRuntime, RawStats, RuntimeHandle, StorageDriver } from './ports.js';
import type { RecordStore } from '../state/record-store.js';
import type { ImageService } from '../images/image-service.js';
import type { LayerStore } from '../storage/layer-store.js';
import { deriveSpec, type CreateOptions, type ImageRuntimeConfig } from './create-options.js';
import { generateName, validateName } from './names.js';
import { parseSignal } from './signals.js';
import type { EventBus } from './events.js';
import { newId, shortId, type ContainerId, type ImageId } from '../lib/ids.js';
import { BerthError, conflict, invalidParameter, messageOf, notFound, notModified, systemError } from '../lib/errors.js';
import { KeyedMutex } from '../lib/mutex.js';
import { ContainerRegistry, type Live, type PendingAttach } from './container-registry.js';
import { classifyStartError } from './start-errors.js';
import { decideRestart, restartsAtDaemonStart } from './restart-policy.js';
import type { LogRotator } from '../logs/rotator.js';
import { Rollback } from '../lib/rollback.js';
import type { Logger } from '../lib/logger.js';
import { buildContainerSpec, type SpecContext } from './oci-spec.js';
import type { VolumePort } from './volume-port.js';
import { parseSize } from '../config/values.js';
import { withoutInitPaths, type Change } from './changes.js';

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';
export type WaitResult = { statusCode: number; error?: string };

/** A pending or live attachment of a client to a container's stdio. */
export type AttachRequest = {
  ready: Promise<AttachSession>;
  cancel(): void;
};

export type ContainerServiceDeps = {
  store: RecordStore<ContainerRecord>;
  runtime: OciRuntime;
  storage: StorageDriver;
  images: ImageService;
  layers: LayerStore;
  events: EventBus;
  log: Logger;
  engineVersion: string;
  specContext: () => SpecContext;
  volumes: VolumePort;
  /** The daemon's critical options now, recorded with each start (see restore/classify.ts). */
  critical: () => CriticalOptions;
  /** The daemon's default log driver and options, merged into each new container. */
  logDefaults: () => { driver: string; opts: Record<string, string> };
  rotator: LogRotator;
  /** A directory as a tar stream (`docker export`). */
  tarDirectory: (dir: string) => Promise<{ stream: Readable; done: Promise<void> }>;
};

const DEFAULT_STOP_TIMEOUT = 10;

/**
 * The container lifecycle: create, start, stop, kill, remove, wait, attach, and the exit
 * monitor. Every state change is written to the record before it is acknowledged.
 */
export class ContainerService {
  readonly #d: ContainerServiceDeps;
  readonly #reg = new ContainerRegistry();
  readonly #lock = new KeyedMutex();
  #closing = false;

  constructor(deps: ContainerServiceDeps) {
    this.#d = deps;
  }

  // ---- lookup -------------------------------------------------------------------------

  #managed(ref: string): Live {
    return this.#reg.managed(ref);
  }

  #find(ref: string): Live {
    return this.#reg.find(ref);
  }

  get(ref: string): ContainerRecord {
    return this.#find(ref).record;
  }

  list(): ContainerRecord[] {
    return this.#reg.all().map((l) => l.record);
  }

  /** Containers using an image, for `rmi`'s conflict rules. */
  usersOf(imageId: string): { id: string; running: boolean }[] {
    return this.list()
      .filter((r) => r.imageId === imageId)
      .map((r) => ({ id: r.id, running: isRunningLike(r.state) }));
  }

  /** A promise that settles when the container next exits (or is removed). */
  exitedOrGone(ref: string): Promise<void> {
    const c = this.#find(ref);
    if (!isRunningLike(c.record.state)) return Promise.resolve();
    return new Promise((resolve) => {
      c.events.once('exited', () => resolve());
      c.events.once('removed', () => resolve());
    });
  }

  // ---- restore bookkeeping ------------------------------------------------------------

  /**
   * Register a record loaded at start-up. The restore pass calls this first for every
   * record (so names are taken), then settles each one's state.
   */
  register(record: ContainerRecord): void {
    this.#reg.add(record);
  }

  /** Take a container that is really running (checked against the machine) under watch. */
  watch(id: string): void {
    const c = this.#reg.get(id);
    if (c && isRunningLike(c.record.state)) this.#monitor(c, c.record.state.handle);
  }

  markNotAdopted(id: string, reason: string): void {
    const c = this.#reg.get(id);
    if (!c) return;
    c.notAdopted = reason;
    this.#watchUnadopted();
  }

  /** Why a container is not managed by this daemon, if it is not. */
  notAdoptedReason(id: string): string | undefined {
    return this.#reg.get(id)?.notAdopted;
  }

  #unadoptedTimer: NodeJS.Timeout | undefined;

  /**
   * Unadopted containers are not monitored through their (foreign) monitor; a slow poll of
   * the machine notices when one is gone and records its end.
   */
  #watchUnadopted(): void {
    if (this.#unadoptedTimer) return;
    this.#unadoptedTimer = setInterval(() => {
      const pending = this.#reg.all().filter((c) => c.notAdopted && isRunningLike(c.record.state));
      if (pending.length === 0) {
        clearInterval(this.#unadoptedTimer);
        this.#unadoptedTimer = undefined;
        return;
      }
      for (const c of pending) void this.#checkUnadopted(c);
    }, 2000);
    this.#unadoptedTimer.unref();
  }

  async #checkUnadopted(c: Live): Promise<void> {
    const st = c.record.state;
    if (!isRunningLike(st)) return;
    const probe = await this.#d.runtime.probe(st.handle);
    if (probe.state === 'running') return;
    await this.#lock.run(c.record.id, async () => {
      if (!c.notAdopted || !isRunningLike(c.record.state)) return;
      const exit =
        probe.state === 'exited' ? probe.exit : { exitCode: 255, finishedAt: new Date().toISOString(), oomKilled: false };
      c.exitRequested = true;
      await this.recordExit(c.record.id, exit, st.handle);
    });
  }

  /**
   * Stop containers this daemon refused to adopt: stop signal, then SIGKILL after `timeout`
   * seconds, checked against each process's start time; then record the exit and clean the
   * runtime state. Returns the ids handled.
   */
  async stopUnadopted(refs: string[], timeout: number): Promise<string[]> {
    const targets = refs.length > 0 ? refs.map((r) => this.#find(r)) : this.#reg.all().filter((c) => c.notAdopted);
    for (const c of targets) if (!c.notAdopted) throw conflict(`container ${c.record.name} is managed by this daemon: use docker stop`);
    await Promise.all(
      targets.map(async (c) => {
        const st = c.record.state;
        if (!isRunningLike(st)) return;
        c.exitRequested = true;
        await this.#d.runtime.kill(st.handle, parseSignal(c.record.spec.stopSignal));
        const deadline = Date.now() + timeout * 1000;
        while (Date.now() < deadline && (await this.#d.runtime.probe(st.handle)).state === 'running') await delay(100);
        if ((await this.#d.runtime.probe(st.handle)).state === 'running') await this.#d.runtime.kill(st.handle, 9);
        for (let i = 0; i < 100 && (await this.#d.runtime.probe(st.handle)).state === 'running'; i++) await delay(100);
        await this.#checkUnadopted(c);
        c.record.manuallyStopped = true;
        await this.#persist(c);
      }),
    );
    return targets.map((c) => c.record.id);
  }

  /** Stop a running container found at start-up when live restore is off, as dockerd does. */
  async stopFound(id: string): Promise<void> {
    const c = this.#reg.get(id);
    if (!c || !isRunningLike(c.record.state)) return;
    this.#monitor(c, c.record.state.handle);
    c.exitRequested = true;
    await this.#stopProcess(c, parseSignal(c.record.spec.stopSignal), c.record.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT);
  }

  /** Register a record just created by this daemon and watch it. */
  adopt(record: ContainerRecord): void {
    this.register(record);
    this.watch(record.id);
  }

  // ---- create -------------------------------------------------------------------------

  async create(o: CreateOptions): Promise<{ id: string; warnings: string[] }> {
    if (o.platform && !/^linux(\/|$)/.test(o.platform)) {
      throw invalidParameter(`image operating system "${o.platform.split('/')[0]}" cannot be used on this platform: operating system is not supported`);
    }
    const image = this.#d.images.resolve(o.image);
    const id = newId() as ContainerId;
    const name = o.name !== undefined && o.name !== '' ? validateName(o.name) : generateName((n) => this.#reg.nameTaken(n));
    const runtimeConfig = (image.image.config.config ?? {}) as ImageRuntimeConfig;
    const spec = deriveSpec(o, runtimeConfig, shortId(id));
    const defaults = this.#d.logDefaults();
    spec.log =
      o.logConfig && o.logConfig.driver !== '' && o.logConfig.driver !== defaults.driver
        ? { driver: o.logConfig.driver, opts: o.logConfig.opts }
        : { driver: defaults.driver, opts: { ...defaults.opts, ...(o.logConfig?.opts ?? {}) } };

    // Reserved before any await so two concurrent creates cannot both take it.
    const releaseName = this.#reg.reserveName(name, id);
    const rb = new Rollback(this.#d.log);
    rb.push('release name', releaseName);
    try {
      const top = image.topLayer;
      if (!top) throw invalidParameter(`image ${image.image.id} has no layers`);
      const layer = this.#d.layers.get(top);
      await this.#d.storage.createContainerLayer(id, layer.cacheId, this.#chainCacheIds(top));
      rb.push('remove container layer', () => this.#d.storage.removeContainerLayer(id));
      spec.mounts = await this.#d.volumes.prepare(id, spec.mounts, {
        mount: async () => (await this.#d.storage.mount(id, this.#chainCacheIds(top))).path,
        unmount: () => this.#d.storage.unmount(id),
      });
      rb.push('release volumes', () => this.#d.volumes.release(id, spec.mounts, { removeAnonymous: true }));
      const record: ContainerRecord = {
        schemaVersion: RECORD_SCHEMA_VERSION,
        id,
        name,
        created: new Date().toISOString(),
        engineVersion: this.#d.engineVersion,
        imageId: image.image.id as ImageId,
        spec,
        request: o.request,
        state: { status: 'created' },
        exitCode: 0,
        error: '',
        restartCount: 0,
        hasBeenStarted: false,
        manuallyStopped: false,
        storage: { driver: this.#d.storage.name, layerId: top },
        logPath: join(this.#d.store.dirOf(id), 'container.log'),
      };
      rb.push('remove record', () => this.#d.store.remove(id));
      await this.#d.store.write(id, record);
      rb.commit();
      this.adopt(record);
      this.#d.events.emit('container', 'create', id, this.#attrs(record));
      return { id, warnings: [] };
    } catch (err) {
      await rb.run();
      throw err;
    }
  }

  #chainCacheIds(top: string): string[] {
    return this.#d.layers.chain(top).map((l) => l.cacheId);
  }

  #attrs(r: ContainerRecord): Record<string, string> {
    return { ...r.spec.labels, image: r.spec.image, name: r.name };
  }

  // ---- start --------------------------------------------------------------------------

  start(ref: string): Promise<void> {
    const c = this.#managed(ref);
    return this.#lock.run(c.record.id, async () => {
      if (c.record.state.status === 'restarting') throw notModified('container already started');
      await this.#start(c, false);
      this.#d.events.emit('container', 'start', c.record.id, this.#attrs(c.record));
    });
  }

  async #start(c: Live, byPolicy: boolean): Promise<void> {
    if (this.#closing) throw systemError('the daemon is shutting down');
    const r = c.record;
    switch (r.state.status) {
      case 'running':
        throw notModified('container already started');
      case 'paused':
        throw conflict('cannot start a paused container, try unpause instead');
      case 'removing':
        throw conflict(`container is marked for removal and cannot be started`);
      case 'dead':
        throw conflict(`container is marked for removal and cannot be started`);
      default:
        break;
    }
    const rb = new Rollback(this.#d.log);
    let handle: RuntimeHandle;
    try {
      const rootfs = await this.#d.storage.mount(r.id, this.#chainCacheIds(r.storage.layerId));
      rb.push('unmount rootfs', () => this.#d.storage.unmount(r.id));
      const mounts = await this.#d.volumes.setup(r.id, r.spec.mounts);
      const req = await buildContainerSpec({ ...r, spec: { ...r.spec, mounts } }, rootfs.path, this.#d.store.dirOf(r.id), this.#d.specContext());
      handle = await this.#d.runtime.start(req, async (h) => {
        for (const p of [...c.pendingAttach]) {
          c.pendingAttach.delete(p);
          try {
            p.resolve(await this.#d.runtime.attach(h, p.streams));
          } catch (err) {
            // The container runs on; only this client's streams are lost: say so.
            this.#d.log.error({ err: messageOf(err), containerId: r.id }, 'cannot attach to the container');
            p.reject(err);
          }
        }
      });
    } catch (err) {
      await rb.run();
      const failure = classifyStartError(err, [...r.spec.entrypoint, ...r.spec.cmd][0] ?? '');
      r.exitCode = failure.exitCode;
      r.error = failure.error.message;
      await this.#persist(c).catch((e: unknown) => this.#d.log.error({ err: messageOf(e), containerId: r.id }, 'cannot record start failure'));
      for (const p of [...c.pendingAttach]) p.reject(failure.error);
      c.pendingAttach.clear();
      // dockerd removes an --rm container whose start failed: `docker run --rm` waits for that.
      if (r.spec.autoRemove) {
        await this.#remove(c, { force: true }).catch((e: unknown) =>
          this.#d.log.error({ err: messageOf(e), containerId: r.id }, 'cannot auto-remove container'),
        );
      }
      throw failure.error;
    }
    r.state = { status: 'running', handle };
    r.startedAt = handle.startedAt;
    r.startedBy = { engineVersion: this.#d.engineVersion, critical: this.#d.critical() };
    r.hasBeenStarted = true;
    r.manuallyStopped = false;
    r.exitCode = 0;
    r.error = '';
    if (byPolicy) r.restartCount++;
    else {
      r.restartCount = 0;
      c.restartDelayMs = 0;
    }
    c.exitRequested = false;
    try {
      await this.#persist(c);
    } catch (err) {
      // Not recorded means not acknowledged: take the container down again.
      await this.#d.runtime.kill(handle, 9);
      throw err;
    }
    this.#monitor(c, handle);
  }

  async #persist(c: Live): Promise<void> {
    await this.#d.store.write(c.record.id, c.record);
  }

  // ---- exit monitor -------------------------------------------------------------------

  #monitor(c: Live, handle: RuntimeHandle): void {
    const ac = new AbortController();
    c.monitor = ac;
    const opts = c.record.spec.log?.opts ?? {};
    if (opts['max-size']) {
      this.#d.rotator.track(c.record.id, {
        logPath: c.record.logPath,
        maxSize: parseSize(opts['max-size']),
        maxFile: Number(opts['max-file'] ?? '1'),
        reopen: () => this.#d.runtime.reopenLog(handle),
      });
    }
    this.#d.runtime.waitExit(handle, ac.signal).then(
      (exit) => this.#lock.run(c.record.id, () => this.#onExit(c, handle, exit)),
      (err: unknown) => {
        if (!ac.signal.aborted) this.#d.log.error({ err: messageOf(err), containerId: c.record.id }, 'exit monitor failed');
      },
    );
  }

  async #onExit(c: Live, handle: RuntimeHandle, exit: ExitInfo): Promise<void> {
    const r = c.record;
    if (!isRunningLike(r.state) || r.state.handle.conmon.pid !== handle.conmon.pid) return;
    await this.recordExit(c.record.id, exit, handle);
  }

  /**
   * Record that the container exited and release what it held, then apply its restart
   * policy or --rm. Used by the monitor and by the restore pass for containers that exited
   * while the daemon was away.
   */
  async recordExit(id: string, exit: ExitInfo, handle: RuntimeHandle | undefined, error?: string): Promise<void> {
    const c = this.#reg.get(id);
    if (!c) return;
    const r = c.record;
    this.#d.rotator.untrack(id);
    c.notAdopted = undefined;
    if (error) r.error = error;
    const ranForMs = r.startedAt ? Date.parse(exit.finishedAt) - Date.parse(r.startedAt) : 0;
    const decision = decideRestart(r.spec.restartPolicy, {
      exitCode: exit.exitCode,
      exitRequested: c.exitRequested || this.#closing,
      manuallyStopped: r.manuallyStopped,
      restartCount: r.restartCount,
      ranForMs,
      previousDelayMs: c.restartDelayMs,
    });
    r.state = decision.restart ? { status: 'restarting' } : { status: 'exited' };
    r.exitCode = exit.exitCode;
    r.finishedAt = exit.finishedAt;
    try {
      await this.#persist(c);
    } catch (err) {
      this.#d.log.error({ err: messageOf(err), containerId: id }, 'cannot record container exit');
    }
    await this.#release(id, handle);
    this.#d.log.debug({ containerId: id, exitCode: exit.exitCode, restart: decision.restart }, 'container exited');
    this.#d.events.emit('container', 'die', id, { ...this.#attrs(r), exitCode: String(exit.exitCode) });
    c.events.emit('exited', exit);
    if (decision.restart) {
      this.#scheduleRestart(c, decision.delayMs);
      return;
    }
    if (r.spec.autoRemove && !this.#closing) {
      try {
        await this.#remove(c, { force: true });
      } catch (err) {
        this.#d.log.error({ err: messageOf(err), containerId: id }, 'cannot auto-remove container');
      }
    }
  }

  #scheduleRestart(c: Live, delayMs: number): void {
    c.restartDelayMs = delayMs;
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      void this.#lock.run(c.record.id, async () => {
        if (c.record.state.status !== 'restarting' || this.#closing) return;
        try {
          await this.#start(c, true);
          this.#d.events.emit('container', 'restart', c.record.id, this.#attrs(c.record));
        } catch (err) {
          this.#d.log.error({ err: messageOf(err), containerId: c.record.id }, 'restart policy: start failed');
          c.record.state = { status: 'exited' };
          await this.#persist(c).catch(() => undefined);
          c.events.emit('exited');
        }
      });
    }, delayMs);
    c.restartTimer.unref();
  }

  /** Stop a pending policy restart; the container settles as exited. */
  async #cancelRestart(c: Live): Promise<void> {
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    if (c.record.state.status === 'restarting') {
      c.record.state = { status: 'exited' };
      await this.#persist(c);
    }
  }

  /**
   * Start the stopped containers whose policy brings them back when the daemon starts
   * (restore pass, after every container's state is settled).
   */
  async restartAtDaemonStart(id: string): Promise<boolean> {
    const c = this.#reg.get(id);
    if (!c) return false;
    const r = c.record;
    if (r.state.status !== 'exited' && r.state.status !== 'restarting') return false;
    if (!restartsAtDaemonStart(r.spec.restartPolicy, r)) {
      if (r.state.status === 'restarting') await this.#cancelRestart(c);
      return false;
    }
    await this.#lock.run(id, async () => {
      await this.#start(c, true);
    });
    this.#d.events.emit('container', 'start', id, this.#attrs(r));
    return true;
  }

  async #release(id: string, handle: RuntimeHandle | undefined): Promise<void> {
    try {
      await this.#d.runtime.cleanup(id, handle);
    } catch (err) {
      this.#d.log.warn({ err: messageOf(err), containerId: id }, 'runtime cleanup failed');
    }
    try {
      await this.#d.storage.unmount(id);
    } catch (err) {
      this.#d.log.warn({ err: messageOf(err), containerId: id }, 'unmount failed');
    }
  }

  // ---- stop / kill --------------------------------------------------------------------

  async stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const c = this.#managed(ref);
    const r = c.record;
    if (r.state.status === 'restarting') {
      r.manuallyStopped = true;
      await this.#lock.run(r.id, () => this.#cancelRestart(c));
      this.#d.events.emit('container', 'stop', r.id, this.#attrs(r));
      return;
    }
    if (!isRunningLike(r.state)) throw notModified();
    const timeout = opts.timeout ?? r.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
    const sig = parseSignal(opts.signal ?? r.spec.stopSignal);
    c.exitRequested = true;
    r.manuallyStopped = true;
    await this.#stopProcess(c, sig, timeout);
    this.#d.events.emit('container', 'stop', r.id, this.#attrs(r));
  }

  /** Signal, wait up to `timeout` seconds (-1: forever), then SIGKILL and wait. */
  async #stopProcess(c: Live, sig: number, timeout: number): Promise<void> {
    const state = c.record.state;
    if (!isRunningLike(state)) return;
    const exited = this.#nextExit(c);
    if (state.status === 'paused') await this.#d.runtime.resume(state.handle).catch(() => undefined);
    await this.#d.runtime.kill(state.handle, sig);
    if (timeout < 0) {
      await exited;
      return;
    }
    const done = await Promise.race([exited.then(() => true), delay(timeout * 1000).then(() => false)]);
    if (done) return;
    this.#d.log.info({ containerId: c.record.id }, `Container failed to exit within ${timeout}s of signal ${sig} - using the force`);
    await this.#d.runtime.kill(state.handle, 9);
    await exited;
  }

  #nextExit(c: Live): Promise<void> {
    if (!isRunningLike(c.record.state)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        c.events.off('exited', done);
        c.events.off('removed', done);
        resolve();
      };
      c.events.on('exited', done);
      c.events.on('removed', done);
    });
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.#managed(ref);
    const sig = parseSignal(signal);
    const state = c.record.state;
    if (!isRunningLike(state)) {
      throw conflict(`Cannot kill container: ${ref}: Container ${c.record.id} is not running`);
    }
    // dockerd: any kill marks the container manually stopped; its stop signal or SIGKILL also
    // cancels the restart policy for this exit.
    c.record.manuallyStopped = true;
    if (sig === 9 || sig === parseSignal(c.record.spec.stopSignal)) c.exitRequested = true;
    const delivered = await this.#d.runtime.kill(state.handle, sig);
    if (!delivered) throw conflict(`Cannot kill container: ${ref}: Container ${c.record.id} is not running`);
    this.#d.events.emit('container', 'kill', c.record.id, { ...this.#attrs(c.record), signal: String(sig) });
  }

  // ---- remove -------------------------------------------------------------------------

  async remove(ref: string, opts: { force: boolean; removeVolumes?: boolean }): Promise<void> {
    const c = this.#managed(ref);
    if (isRunningLike(c.record.state)) {
      if (!opts.force) {
        if (c.record.state.status === 'paused') {
          throw conflict(`cannot remove container "/${c.record.name}": container is paused and must be unpaused first`);
        }
        throw conflict(
          `cannot remove container "/${c.record.name}": container is running: stop the container before removing or force remove`,
        );
      }
      c.exitRequested = true;
      await this.#stopProcess(c, 9, -1);
    }
    await this.#lock.run(c.record.id, async () => {
      await this.#cancelRestart(c);
      await this.#remove(c, opts);
    });
  }

  async #remove(c: Live, opts: { force: boolean; removeVolumes?: boolean }): Promise<void> {
    const r = c.record;
    if (!this.#reg.has(r.id)) return;
    if (r.state.status === 'removing') throw conflict(`removal of container ${r.id} is already in progress`);
    if (isRunningLike(r.state)) {
      // It started again between the stop and the lock.
      throw conflict(
        `cannot remove container "/${r.name}": container is running: stop the container before removing or force remove`,
      );
    }
    // Marked first: a crash from here on is finished by the next start, never half-undone.
    r.state = { status: 'removing' };
    await this.#persist(c);
    await this.finishRemoval(r.id, opts.removeVolumes);
  }

  /**
   * `docker export`: the container's filesystem as a tar stream. A container that is not
   * running is mounted for the time of the copy and unmounted after, unless it started meanwhile.
   */
  async export(ref: string): Promise<{ stream: Readable; done: Promise<void> }> {
    const c = this.#managed(ref);
    const r = c.record;
    if (r.state.status === 'removing' || r.state.status === 'dead') throw conflict(`container ${ref} is marked for removal and cannot be exported`);
    const rootfs = await this.#lock.run(r.id, () => this.#d.storage.mount(r.id, this.#chainCacheIds(r.storage.layerId)));
    const release = () =>
      this.#lock.run(r.id, async () => {
        if (this.#reg.has(r.id) && !isRunningLike(c.record.state)) await this.#d.storage.unmount(r.id);
      });
    let tar: { stream: Readable; done: Promise<void> };
    try {
      tar = await this.#d.tarDirectory(rootfs.path);
    } catch (err) {
      await release().catch(() => undefined);
      throw err;
    }
    this.#d.events.emit('container', 'export', r.id, this.#attrs(r));
    const done = tar.done.finally(() =>
      release().catch((err: unknown) => this.#d.log.warn({ containerId: r.id, err: messageOf(err) }, 'export: cannot unmount the container')),
    );
    return { stream: tar.stream, done };
  }

  /** `docker diff`: what the container changed against its image. */
  async changes(ref: string): Promise<Change[]> {
    const r = this.#managed(ref).record;
    return withoutInitPaths(await this.#d.storage.changes(r.id, this.#chainCacheIds(r.storage.layerId)));
  }

  /** Bytes in the container's own layer (`SizeRw`). */
  layerSize(ref: string): Promise<number> {
    return this.#d.storage.containerLayerSize(this.#find(ref).record.id);
  }

  /**
   * `container prune`: every container that is not running (created, exited, dead) and that
   * `select` keeps; one that cannot be removed is skipped, as dockerd does.
   */
  async prune(select: (r: ContainerRecord) => boolean): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const deleted: string[] = [];
    let spaceReclaimed = 0;
    for (const c of this.#reg.all()) {
      const r = c.record;
      const status = r.state.status;
      if (status !== 'created' && status !== 'exited' && status !== 'dead') continue;
      if (!select(r)) continue;
      try {
        const size = await this.#d.storage.containerLayerSize(r.id);
        await this.#lock.run(r.id, async () => {
          await this.#cancelRestart(c);
          await this.#remove(c, { force: false });
        });
        deleted.push(r.id);
        spaceReclaimed += size;
      } catch (err) {
        this.#d.log.warn({ containerId: r.id, err: messageOf(err) }, 'container prune: cannot remove container');
      }
    }
    this.#d.events.emit('container', 'prune', '', { reclaimed: String(spaceReclaimed) });
    return { deleted, spaceReclaimed };
  }

  /** The tail of a removal; also run by the restore pass for records left in `removing`. */
  async finishRemoval(id: string, removeVolumes?: boolean): Promise<void> {
    const c = this.#reg.get(id);
    if (!c) return;
    const r = c.record;
    c.monitor?.abort();
    await this.#d.runtime.cleanup(id, undefined).catch((err: unknown) =>
      this.#d.log.warn({ err: messageOf(err), containerId: id }, 'runtime cleanup failed'),
    );
    await this.#d.storage.unmount(id).catch(() => undefined);
    await this.#d.storage.removeContainerLayer(id);
    await this.#d.store.remove(id);
    this.#reg.delete(id);
    // Anonymous volumes go with `rm -v`, and with `--rm` as in Docker; named ones stay.
    await this.#d.volumes.release(id, r.spec.mounts, { removeAnonymous: removeVolumes ?? r.spec.autoRemove });
    for (const p of c.pendingAttach) p.reject(notFound(`No such container: ${id}`));
    c.pendingAttach.clear();
    this.#d.events.emit('container', 'destroy', id, this.#attrs(r));
    c.events.emit('removed');
  }

  // ---- wait ---------------------------------------------------------------------------

  /**
   * Validate now (so a missing container is a 404 before the API commits to a 200), and
   * return the waiting part as a promise.
   */
  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult> {
    const c = this.#find(ref);
    const result = (): WaitResult => ({
      statusCode: c.record.exitCode,
      ...(c.record.error ? { error: c.record.error } : {}),
    });
    if (condition === 'not-running' && !isRunningLike(c.record.state) && c.record.state.status !== 'restarting') {
      return Promise.resolve(result());
    }
    const event = condition === 'removed' ? 'removed' : 'exited';
    return new Promise((resolve, reject) => {
      const onEvent = () => {
        cleanup();
        resolve(result());
      };
      const onRemoved = () => {
        // Removed before it exited again: report what it last had.
        cleanup();
        resolve(result());
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      const cleanup = () => {
        c.events.off(event, onEvent);
        c.events.off('removed', onRemoved);
        signal?.removeEventListener('abort', onAbort);
      };
      c.events.on(event, onEvent);
      if (event !== 'removed') c.events.on('removed', onRemoved);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- attach -------------------------------------------------------------------------

  attach(ref: string, streams: AttachStreams): AttachRequest {
    const c = this.#managed(ref);
    const state = c.record.state;
    if (state.status === 'paused') throw conflict(`container ${ref} is paused, unpause the container before attach`);
    if (state.status === 'running') {
      const ready = this.#d.runtime.attach(state.handle, streams).catch((err: unknown) => {
        this.#d.log.error({ err: messageOf(err), containerId: c.record.id }, 'cannot attach to the container');
        throw err;
      });
      return { ready, cancel: () => undefined };
    }
    // Not running yet: connect when it starts, before its first instruction runs.
    let pending!: PendingAttach;
    const ready = new Promise<AttachSession>((resolve, reject) => {
      pending = { streams, resolve, reject };
    });
    c.pendingAttach.add(pending);
    return {
      ready,
      cancel: () => {
        c.pendingAttach.delete(pending);
      },
    };
  }

  async stats(ref: string): Promise<RawStats | undefined> {
    const st = this.#find(ref).record.state;
    return isRunningLike(st) ? this.#d.runtime.stats(st.handle) : undefined;
  }

  async top(ref: string, psArgs: string): Promise<{ titles: string[]; processes: string[][] }> {
    const c = this.#managed(ref);
    const st = c.record.state;
    if (!isRunningLike(st)) throw conflict(`Container ${c.record.id} is not running`);
    return this.#d.runtime.top(st.handle, psArgs);
  }

  /** The container for a new exec: running and managed by this daemon (Docker's 409s otherwise). */
  forExec(ref: string): ContainerRecord {
    const c = this.#managed(ref);
    const st = c.record.state.status;
    if (st === 'paused') throw conflict(`Container ${c.record.id} is paused, unpause the container before exec`);
    if (st !== 'running') throw conflict(`container ${c.record.id} is not running`);
    return c.record;
  }

  async pause(ref: string): Promise<void> {
    const c = this.#managed(ref);
    await this.#lock.run(c.record.id, async () => {
      const st = c.record.state;
      if (st.status === 'paused') throw conflict(`Container ${c.record.id} is already paused`);
      if (st.status !== 'running') throw conflict(`Container ${c.record.id} is not running`);
      await this.#d.runtime.pause(st.handle);
      c.record.state = { status: 'paused', handle: st.handle };
      await this.#persist(c);
    });
    this.#d.events.emit('container', 'pause', c.record.id, this.#attrs(c.record));
  }

  async unpause(ref: string): Promise<void> {
    const c = this.#managed(ref);
    await this.#lock.run(c.record.id, async () => {
      const st = c.record.state;
      if (st.status !== 'paused') throw conflict(`Container ${c.record.id} is not paused`);
      await this.#d.runtime.resume(st.handle);
      c.record.state = { status: 'running', handle: st.handle };
      await this.#persist(c);
    });
    this.#d.events.emit('container', 'unpause', c.record.id, this.#attrs(c.record));
  }

  /** `docker restart`: stop (if running) with the given timeout, then start. */
  async restart(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const c = this.#managed(ref);
    if (isRunningLike(c.record.state) || c.record.state.status === 'restarting') {
      try {
        await this.stop(ref, opts);
      } catch (err) {
        if (!(err instanceof BerthError && err.kind === 'NotModified')) throw err;
      }
    }
    await this.#lock.run(c.record.id, () => this.#start(c, false));
    this.#d.events.emit('container', 'restart', c.record.id, this.#attrs(c.record));
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.#find(ref);
    const name = validateName(newName);
    const old = c.record.name;
    if (name === old) throw invalidParameter('Renaming a container with the same name as its current name');
    const release = this.#reg.reserveName(name, c.record.id);
    try {
      c.record.name = name;
      await this.#persist(c);
    } catch (err) {
      c.record.name = old;
      release();
      throw err;
    }
    this.#reg.releaseName(old, c.record.id);
    this.#d.events.emit('container', 'rename', c.record.id, { ...this.#attrs(c.record), oldName: `/${old}` });
  }

  async resize(ref: string, height: number, width: number): Promise<void> {
    const c = this.#managed(ref);
    const state = c.record.state;
    if (!isRunningLike(state)) throw conflict(`Container ${c.record.id} is not running`);
    if (!c.record.spec.tty) return;
    await this.#d.runtime.resize(state.handle, height, width);
  }

  // ---- shutdown -----------------------------------------------------------------------

  /** Stop every running container in parallel, bounded as dockerd bounds it. */
  async stopAll(shutdownTimeout: number): Promise<void> {
    this.#closing = true;
    for (const c of this.#reg.all()) if (c.restartTimer) clearTimeout(c.restartTimer);
    const running = this.#reg.all().filter((c) => isRunningLike(c.record.state));
    if (running.length === 0) return;
    const timeouts = running.map((c) => c.record.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT);
    const forever = shutdownTimeout < 0 || timeouts.some((t) => t < 0);
    const bound = Math.max(shutdownTimeout, ...timeouts.map((t) => t + 5));
    const all = Promise.all(
      running.map(async (c) => {
        c.exitRequested = true;
        try {
          await this.#stopProcess(c, parseSignal(c.record.spec.stopSignal), c.record.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT);
        } catch (err) {
          this.#d.log.error({ err: messageOf(err), containerId: c.record.id }, 'cannot stop container');
        }
      }),
    );
    if (forever) {
      await all;
      return;
    }
    const finished = await Promise.race([all.then(() => true), delay(bound * 1000).then(() => false)]);
    if (!finished) this.#d.log.warn('Force shutdown daemon');
  }

  /** Live restore: let go of every container without touching it. */
  detachAll(): void {
    this.#closing = true;
    for (const c of this.#reg.all()) {
      c.monitor?.abort();
      if (c.restartTimer) clearTimeout(c.restartTimer);
    }
    this.#d.rotator.stop();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
