import { isRunningLike } from '../container.js';
import type { ExitInfo, RuntimeHandle } from '../ports.js';
import { decideRestart, restartsAtDaemonStart } from '../restart-policy.js';
import { messageOf } from '../../lib/errors.js';
import { logRotation } from '../log-config.js';
import type { ContainerContext } from './context.js';
import type { Live } from './registry.js';

/** What exit handling needs from the lifecycle: a start by the restart policy, a removal for --rm. */
export type ExitActions = {
  restart(c: Live): Promise<void>;
  autoRemove(c: Live): Promise<void>;
};

/**
 * Exits and what follows them: the monitor that waits for each container's exit, the
 * record of the exit, the release of what the container held, and its restart policy or
 * `--rm`.
 */
export class ExitHandling {
  readonly #x: ContainerContext;
  readonly #actions: ExitActions;

  constructor(x: ContainerContext, actions: ExitActions) {
    this.#x = x;
    this.#actions = actions;
  }

  /** Watch a running container: its exit, and its log rotation meanwhile. */
  monitor(c: Live, handle: RuntimeHandle): void {
    const { d, lock } = this.#x;
    const ac = new AbortController();
    c.monitor = ac;
    const rotation = logRotation(c.record.spec.log);
    if (rotation && c.record.logPath) {
      d.rotator.track(c.record.id, { logPath: c.record.logPath, ...rotation, reopen: () => d.runtime.reopenLog(handle) });
    }
    d.runtime.waitExit(handle, ac.signal).then(
      (exit) => lock.run(c.record.id, () => this.#onExit(c, handle, exit)),
      (err: unknown) => {
        if (!ac.signal.aborted) d.log.error({ err: messageOf(err), containerId: c.record.id }, 'exit monitor failed');
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
    const x = this.#x;
    const c = x.reg.get(id);
    if (!c) return;
    const r = c.record;
    x.d.rotator.untrack(id);
    c.notAdopted = undefined;
    if (error) r.error = error;
    const ranForMs = r.startedAt ? Date.parse(exit.finishedAt) - Date.parse(r.startedAt) : 0;
    const decision = decideRestart(r.spec.restartPolicy, {
      exitCode: exit.exitCode,
      exitRequested: c.exitRequested || x.closing,
      manuallyStopped: r.manuallyStopped,
      restartCount: r.restartCount,
      ranForMs,
      previousDelayMs: c.restartDelayMs,
    });
    r.state = decision.restart ? { status: 'restarting' } : { status: 'exited' };
    r.exitCode = exit.exitCode;
    r.finishedAt = exit.finishedAt;
    try {
      await x.persist(c);
    } catch (err) {
      x.d.log.error({ err: messageOf(err), containerId: id }, 'cannot record container exit');
    }
    await this.release(c, handle);
    x.d.log.debug({ containerId: id, exitCode: exit.exitCode, restart: decision.restart }, 'container exited');
    x.emit('die', r, { exitCode: String(exit.exitCode) });
    c.events.emit('exited', exit);
    if (decision.restart) {
      this.#scheduleRestart(c, decision.delayMs);
      return;
    }
    if (r.spec.autoRemove && !x.closing) {
      try {
        await this.#actions.autoRemove(c);
      } catch (err) {
        x.d.log.error({ err: messageOf(err), containerId: id }, 'cannot auto-remove container');
      }
    }
  }

  /** What a stopped container no longer holds: runtime state, its start steps' resources, its rootfs mount. */
  async release(c: Live, handle: RuntimeHandle | undefined): Promise<void> {
    const { d } = this.#x;
    const id = c.record.id;
    try {
      await d.runtime.cleanup(id, handle);
    } catch (err) {
      d.log.warn({ err: messageOf(err), containerId: id }, 'runtime cleanup failed');
    }
    for (const step of [...this.#x.steps].reverse()) {
      try {
        await step.stop(c.record);
      } catch (err) {
        d.log.warn({ err: messageOf(err), containerId: id, step: step.name }, 'start step: stop failed');
      }
    }
    try {
      await d.storage.unmount(id);
    } catch (err) {
      d.log.warn({ err: messageOf(err), containerId: id }, 'unmount failed');
    }
  }

  #scheduleRestart(c: Live, delayMs: number): void {
    const x = this.#x;
    c.restartDelayMs = delayMs;
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      void x.lock.run(c.record.id, async () => {
        if (c.record.state.status !== 'restarting' || x.closing) return;
        try {
          await this.#actions.restart(c);
          x.emit('restart', c.record);
        } catch (err) {
          x.d.log.error({ err: messageOf(err), containerId: c.record.id }, 'restart policy: start failed');
          c.record.state = { status: 'exited' };
          await x.persist(c).catch(() => undefined);
          c.events.emit('exited');
        }
      });
    }, delayMs);
    c.restartTimer.unref();
  }

  /** Stop a pending policy restart; the container settles as exited. */
  async cancelRestart(c: Live): Promise<void> {
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    if (c.record.state.status === 'restarting') {
      c.record.state = { status: 'exited' };
      await this.#x.persist(c);
    }
  }

  /**
   * Start a stopped container whose policy brings it back when the daemon starts (restore
   * pass, after every container's state is settled).
   */
  async restartAtDaemonStart(id: string): Promise<boolean> {
    const x = this.#x;
    const c = x.reg.get(id);
    if (!c) return false;
    const r = c.record;
    if (r.state.status !== 'exited' && r.state.status !== 'restarting') return false;
    if (!restartsAtDaemonStart(r.spec.restartPolicy, r)) {
      if (r.state.status === 'restarting') await this.cancelRestart(c);
      return false;
    }
    await x.lock.run(id, () => this.#actions.restart(c));
    x.emit('start', r);
    return true;
  }
}
