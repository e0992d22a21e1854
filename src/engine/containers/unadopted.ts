import { isRunningLike } from '../container.js';
import { parseSignal } from '../signals.js';
import { conflict } from '../../lib/errors.js';
import { delay, type ContainerContext } from './context.js';
import type { ExitHandling } from './exits.js';
import type { Live } from './registry.js';

/**
 * Containers found running at start-up that this daemon refused to adopt (another
 * major.minor started them, or a critical option changed): visible, not managed, and stopped
 * only by `berth stop-unadopted`.
 */
export class Unadopted {
  readonly #x: ContainerContext;
  readonly #exits: ExitHandling;
  #timer: NodeJS.Timeout | undefined;

  constructor(x: ContainerContext, exits: ExitHandling) {
    this.#x = x;
    this.#exits = exits;
  }

  mark(id: string, reason: string): void {
    const c = this.#x.reg.get(id);
    if (!c) return;
    c.notAdopted = reason;
    this.#watch();
  }

  /** Why a container is not managed by this daemon, if it is not. */
  reason(id: string): string | undefined {
    return this.#x.reg.get(id)?.notAdopted;
  }

  /**
   * Their (foreign) monitor's protocol is not trusted: a slow poll of the machine notices
   * when one is gone and records its end.
   */
  #watch(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      const pending = this.#x.reg.all().filter((c) => c.notAdopted && isRunningLike(c.record.state));
      if (pending.length === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
        return;
      }
      for (const c of pending) void this.#check(c);
    }, 2000);
    this.#timer.unref();
  }

  async #check(c: Live): Promise<void> {
    const x = this.#x;
    const st = c.record.state;
    if (!isRunningLike(st)) return;
    const probe = await x.d.runtime.probe(st.handle);
    if (probe.state === 'running') return;
    await x.lock.run(c.record.id, async () => {
      if (!c.notAdopted || !isRunningLike(c.record.state)) return;
      const exit =
        probe.state === 'exited' ? probe.exit : { exitCode: 255, finishedAt: new Date().toISOString(), oomKilled: false };
      c.exitRequested = true;
      await this.#exits.recordExit(c.record.id, exit, st.handle);
    });
  }

  /**
   * Stop them: stop signal, then SIGKILL after `timeout` seconds, checked against each
   * process's start time; then record the exit and clean the runtime state. Returns the ids
   * handled.
   */
  async stop(refs: string[], timeout: number): Promise<string[]> {
    const x = this.#x;
    const { runtime } = x.d;
    const targets = refs.length > 0 ? refs.map((r) => x.reg.find(r)) : x.reg.all().filter((c) => c.notAdopted);
    for (const c of targets) if (!c.notAdopted) throw conflict(`container ${c.record.name} is managed by this daemon: use docker stop`);
    await Promise.all(
      targets.map(async (c) => {
        const st = c.record.state;
        if (!isRunningLike(st)) return;
        c.exitRequested = true;
        await runtime.kill(st.handle, parseSignal(c.record.spec.stopSignal));
        const deadline = Date.now() + timeout * 1000;
        while (Date.now() < deadline && (await runtime.probe(st.handle)).state === 'running') await delay(100);
        if ((await runtime.probe(st.handle)).state === 'running') await runtime.kill(st.handle, 9);
        for (let i = 0; i < 100 && (await runtime.probe(st.handle)).state === 'running'; i++) await delay(100);
        await this.#check(c);
        c.record.manuallyStopped = true;
        await x.persist(c);
      }),
    );
    return targets.map((c) => c.record.id);
  }
}
