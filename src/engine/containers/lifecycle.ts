import { isRunningLike } from '../container.js';
import type { RuntimeHandle, StartContribution } from '../ports.js';
import { parseSignal } from '../signals.js';
import { validateName } from '../names.js';
import { classifyStartError } from '../start-errors.js';
import { BerthError, conflict, invalidParameter, messageOf, notFound, notModified, systemError } from '../../lib/errors.js';
import { Rollback } from '../../lib/rollback.js';
import { DEFAULT_STOP_TIMEOUT, delay, type ContainerContext } from './context.js';
import type { ExitHandling } from './exits.js';
import type { Live } from './registry.js';

export type RemoveOptions = { force: boolean; removeVolumes?: boolean };

/** How long a SIGKILL waits for the exit to be recorded (dockerd waits 10 s too). */
const KILL_WAIT_MS = 10_000;

/**
 * The container lifecycle: start, stop, kill, remove, pause, restart, rename. Every state
 * change is made under the container's lock and written to its record before it is
 * acknowledged.
 */
export class Lifecycle {
  readonly #x: ContainerContext;
  readonly #exits: ExitHandling;

  constructor(x: ContainerContext, exits: ExitHandling) {
    this.#x = x;
    this.#exits = exits;
  }

  // ---- start --------------------------------------------------------------------------

  start(ref: string): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    return x.lock.run(c.record.id, async () => {
      if (c.record.state.status === 'restarting') throw notModified('container already started');
      await this.startNow(c, false);
      x.emit('start', c.record);
    });
  }

  /**
   * Mount the rootfs, set up volumes and start steps, start the process under its monitor,
   * record it running and watch it. Call under the container's lock.
   */
  async startNow(c: Live, byPolicy: boolean): Promise<void> {
    const x = this.#x;
    const { d } = x;
    if (x.closing) throw systemError('the daemon is shutting down');
    const r = c.record;
    switch (r.state.status) {
      case 'running':
        throw notModified('container already started');
      case 'paused':
        throw conflict('cannot start a paused container, try unpause instead');
      case 'removing':
      case 'dead':
        throw conflict(`container is marked for removal and cannot be started`);
      default:
        break;
    }
    const rb = new Rollback(d.log);
    let handle: RuntimeHandle;
    try {
      const rootfs = await d.storage.mount(r.id, x.layerChain(r));
      rb.push('unmount rootfs', () => d.storage.unmount(r.id));
      const mounts = await d.volumes.setup(r.id, r.spec.mounts);
      const contributions: StartContribution[] = [];
      for (const step of x.steps) {
        contributions.push(await step.start(r, x.dirOf(r.id)));
        rb.push(`stop ${step.name}`, () => step.stop(r));
      }
      // berthd's copies of held descriptors (port reservations) close once the monitor has its own.
      rb.push('close held descriptors', async () => closeHeld(contributions));
      const req = await d.specs.build(r, rootfs.path, mounts, contributions);
      const started = d.runtime.start(req, async (h) => {
        for (const p of [...c.pendingAttach]) {
          c.pendingAttach.delete(p);
          try {
            p.resolve(await d.runtime.attach(h, p.streams));
          } catch (err) {
            // The container runs on; only this client's streams are lost: say so.
            d.log.error({ err: messageOf(err), containerId: r.id }, 'cannot attach to the container');
            p.reject(err);
          }
        }
      });
      try {
        handle = await started;
      } finally {
        closeHeld(contributions);
      }
    } catch (err) {
      await rb.run();
      const failure = classifyStartError(err, [...r.spec.entrypoint, ...r.spec.cmd][0] ?? '');
      r.exitCode = failure.exitCode;
      r.error = failure.error.message;
      await x.persist(c).catch((e: unknown) => d.log.error({ err: messageOf(e), containerId: r.id }, 'cannot record start failure'));
      for (const p of [...c.pendingAttach]) p.reject(failure.error);
      c.pendingAttach.clear();
      // dockerd removes an --rm container whose start failed: `docker run --rm` waits for that.
      if (r.spec.autoRemove) {
        await this.removeNow(c, { force: true }).catch((e: unknown) =>
          d.log.error({ err: messageOf(e), containerId: r.id }, 'cannot auto-remove container'),
        );
      }
      throw failure.error;
    }
    r.state = { status: 'running', handle };
    r.startedAt = handle.startedAt;
    r.startedBy = { engineVersion: d.engineVersion, critical: d.critical() };
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
      await x.persist(c);
    } catch (err) {
      // Not recorded means not acknowledged: take the container down again.
      await d.runtime.kill(handle, 9);
      throw err;
    }
    this.#exits.monitor(c, handle);
  }

  // ---- stop / kill --------------------------------------------------------------------

  async stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    const r = c.record;
    if (r.state.status === 'restarting') {
      r.manuallyStopped = true;
      await x.lock.run(r.id, () => this.#exits.cancelRestart(c));
      x.emit('stop', r);
      return;
    }
    if (!isRunningLike(r.state)) throw notModified();
    const timeout = opts.timeout ?? r.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
    const sig = parseSignal(opts.signal ?? r.spec.stopSignal);
    c.exitRequested = true;
    r.manuallyStopped = true;
    await this.stopProcess(c, sig, timeout);
    x.emit('stop', r);
  }

  /** Signal, wait up to `timeout` seconds (-1: forever), then SIGKILL and wait. */
  async stopProcess(c: Live, sig: number, timeout: number): Promise<void> {
    const { d } = this.#x;
    const state = c.record.state;
    if (!isRunningLike(state)) return;
    const exited = nextExit(c);
    if (state.status === 'paused') await d.runtime.resume(state.handle).catch(() => undefined);
    await d.runtime.kill(state.handle, sig);
    if (timeout < 0) {
      await exited;
      return;
    }
    const done = await Promise.race([exited.then(() => true), delay(timeout * 1000).then(() => false)]);
    if (done) return;
    d.log.info({ containerId: c.record.id }, `Container failed to exit within ${timeout}s of signal ${sig} - using the force`);
    await d.runtime.kill(state.handle, 9);
    await exited;
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    const sig = parseSignal(signal);
    const state = c.record.state;
    if (!isRunningLike(state)) {
      throw conflict(`Cannot kill container: ${ref}: Container ${c.record.id} is not running`);
    }
    // dockerd: any kill marks the container manually stopped; its stop signal or SIGKILL also
    // cancels the restart policy for this exit.
    c.record.manuallyStopped = true;
    if (sig === 9 || sig === parseSignal(c.record.spec.stopSignal)) c.exitRequested = true;
    const exited = sig === 9 ? nextExit(c) : undefined;
    const delivered = await x.d.runtime.kill(state.handle, sig);
    if (!delivered) throw conflict(`Cannot kill container: ${ref}: Container ${c.record.id} is not running`);
    x.emit('kill', c.record, { signal: String(sig) });
    // As dockerd: a SIGKILL returns once the exit is recorded, so an inspect right after it
    // shows the container stopped with 137 (clients' test suites rely on it). Bounded: a
    // process stuck in the kernel must not hang the request.
    if (exited) await Promise.race([exited, delay(KILL_WAIT_MS)]);
  }

  // ---- remove -------------------------------------------------------------------------

  async remove(ref: string, opts: RemoveOptions): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    const r = c.record;
    if (!opts.force) {
      if (r.state.status === 'restarting') {
        // Between an exit and the policy's restart: removing it would race the restart.
        throw conflict(`cannot remove container "/${r.name}": container is restarting: stop the container before removing or force remove`);
      }
      if (r.state.status === 'paused') {
        throw conflict(`cannot remove container "/${r.name}": container is paused and must be unpaused first`);
      }
      if (isRunningLike(r.state)) {
        throw conflict(`cannot remove container "/${r.name}": container is running: stop the container before removing or force remove`);
      }
    }
    // Forced: no policy restart from here on. A restart already under way finishes first
    // (it holds the lock); then the container is stopped again and removed.
    for (;;) {
      if (opts.force) c.exitRequested = true;
      if (isRunningLike(c.record.state)) await this.stopProcess(c, 9, -1);
      const removed = await x.lock.run(c.record.id, async () => {
        await this.#exits.cancelRestart(c);
        if (opts.force && isRunningLike(c.record.state)) return false;
        await this.removeNow(c, opts);
        return true;
      });
      if (removed) return;
    }
  }

  /** Remove a container that is not running. Call under the container's lock. */
  async removeNow(c: Live, opts: RemoveOptions): Promise<void> {
    const x = this.#x;
    const r = c.record;
    if (!x.reg.has(r.id)) return;
    if (r.state.status === 'removing') throw conflict(`removal of container ${r.id} is already in progress`);
    if (isRunningLike(r.state)) {
      // It started again between the stop and the lock.
      throw conflict(
        `cannot remove container "/${r.name}": container is running: stop the container before removing or force remove`,
      );
    }
    // Marked first: a crash from here on is finished by the next start, never half-undone.
    r.state = { status: 'removing' };
    await x.persist(c);
    await this.finishRemoval(r.id, opts.removeVolumes);
  }

  /** The tail of a removal; also run by the restore pass for records left in `removing`. */
  async finishRemoval(id: string, removeVolumes?: boolean): Promise<void> {
    const x = this.#x;
    const { d } = x;
    const c = x.reg.get(id);
    if (!c) return;
    const r = c.record;
    c.monitor?.abort();
    await d.runtime.cleanup(id, undefined).catch((err: unknown) =>
      d.log.warn({ err: messageOf(err), containerId: id }, 'runtime cleanup failed'),
    );
    for (const step of [...x.steps].reverse()) {
      await step.remove(r).catch((err: unknown) =>
        d.log.warn({ err: messageOf(err), containerId: id, step: step.name }, 'start step: remove failed'),
      );
    }
    await d.storage.unmount(id).catch(() => undefined);
    await d.storage.removeContainerLayer(id);
    await d.store.remove(id);
    x.reg.delete(id);
    // Anonymous volumes go with `rm -v`, and with `--rm` as in Docker; named ones stay.
    await d.volumes.release(id, r.spec.mounts, { removeAnonymous: removeVolumes ?? r.spec.autoRemove });
    for (const p of c.pendingAttach) p.reject(notFound(`No such container: ${id}`));
    c.pendingAttach.clear();
    x.emit('destroy', r);
    c.events.emit('removed');
  }

  // ---- pause / restart / rename / resize ----------------------------------------------

  async pause(ref: string): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    await x.lock.run(c.record.id, async () => {
      const st = c.record.state;
      if (st.status === 'paused') throw conflict(`Container ${c.record.id} is already paused`);
      if (st.status !== 'running') throw conflict(`Container ${c.record.id} is not running`);
      await x.d.runtime.pause(st.handle);
      c.record.state = { status: 'paused', handle: st.handle };
      await x.persist(c);
    });
    x.emit('pause', c.record);
  }

  async unpause(ref: string): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    await x.lock.run(c.record.id, async () => {
      const st = c.record.state;
      if (st.status !== 'paused') throw conflict(`Container ${c.record.id} is not paused`);
      await x.d.runtime.resume(st.handle);
      c.record.state = { status: 'running', handle: st.handle };
      await x.persist(c);
    });
    x.emit('unpause', c.record);
  }

  /** `docker restart`: stop (if running) with the given timeout, then start. */
  async restart(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    if (isRunningLike(c.record.state) || c.record.state.status === 'restarting') {
      try {
        await this.stop(ref, opts);
      } catch (err) {
        if (!(err instanceof BerthError && err.kind === 'NotModified')) throw err;
      }
    }
    await x.lock.run(c.record.id, () => this.startNow(c, false));
    x.emit('restart', c.record);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const x = this.#x;
    const c = x.reg.find(ref);
    const name = validateName(newName);
    const old = c.record.name;
    if (name === old) throw invalidParameter('Renaming a container with the same name as its current name');
    const release = x.reg.reserveName(name, c.record.id);
    try {
      c.record.name = name;
      await x.persist(c);
    } catch (err) {
      c.record.name = old;
      release();
      throw err;
    }
    x.reg.releaseName(old, c.record.id);
    // Its name resolves on its user networks: the resolver's entries follow (best effort: the rename is done).
    if (isRunningLike(c.record.state)) {
      await x.d.network?.renamed(c.record).catch((err: unknown) => x.d.log.warn({ containerId: c.record.id, err: messageOf(err) }, 'cannot update the container names in the resolver'));
    }
    x.emit('rename', c.record, { oldName: `/${old}` });
  }

  async resize(ref: string, height: number, width: number): Promise<void> {
    const x = this.#x;
    const c = x.reg.managed(ref);
    const state = c.record.state;
    if (!isRunningLike(state)) throw conflict(`Container ${c.record.id} is not running`);
    if (!c.record.spec.tty) return;
    await x.d.runtime.resize(state.handle, height, width);
  }

  // ---- the daemon starting and stopping -----------------------------------------------

  /** Stop a running container found at start-up when live restore is off, as dockerd does. */
  async stopFound(id: string): Promise<void> {
    const c = this.#x.reg.get(id);
    if (!c || !isRunningLike(c.record.state)) return;
    this.#exits.monitor(c, c.record.state.handle);
    c.exitRequested = true;
    await this.stopProcess(c, parseSignal(c.record.spec.stopSignal), c.record.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT);
  }

  /** Stop every running container in parallel, bounded as dockerd bounds it. */
  async stopAll(shutdownTimeout: number): Promise<void> {
    const x = this.#x;
    x.closing = true;
    for (const c of x.reg.all()) if (c.restartTimer) clearTimeout(c.restartTimer);
    const running = x.reg.all().filter((c) => isRunningLike(c.record.state));
    if (running.length === 0) return;
    const timeouts = running.map((c) => c.record.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT);
    const forever = shutdownTimeout < 0 || timeouts.some((t) => t < 0);
    const bound = Math.max(shutdownTimeout, ...timeouts.map((t) => t + 5));
    const all = Promise.all(
      running.map(async (c) => {
        c.exitRequested = true;
        try {
          await this.stopProcess(c, parseSignal(c.record.spec.stopSignal), c.record.spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT);
        } catch (err) {
          x.d.log.error({ err: messageOf(err), containerId: c.record.id }, 'cannot stop container');
        }
      }),
    );
    if (forever) {
      await all;
      return;
    }
    const finished = await Promise.race([all.then(() => true), delay(bound * 1000).then(() => false)]);
    if (!finished) x.d.log.warn('Force shutdown daemon');
  }

  /** Live restore: let go of every container without touching it. */
  detachAll(): void {
    const x = this.#x;
    x.closing = true;
    for (const c of x.reg.all()) {
      c.monitor?.abort();
      if (c.restartTimer) clearTimeout(c.restartTimer);
    }
    for (const step of x.steps) step.release?.();
    x.d.rotator.stop();
  }
}

/** Settles when the container next exits or is removed. */
export function nextExit(c: Live): Promise<void> {
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

function closeHeld(contributions: StartContribution[]): void {
  for (const c of contributions) c.held?.close();
}
