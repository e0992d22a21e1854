import { isRunningLike, type ContainerRecord } from '../container.js';
import type { ExecProcess, RuntimeHandle, StartContribution, StartStep } from '../ports.js';
import {
  applyProbeResult,
  limitOutput,
  MAX_OUTPUT,
  probeCommand,
  probeDelayMs,
  probeTimeoutMs,
  type HealthConfig,
  type HealthResult,
} from '../health.js';
import { newId } from '../../lib/ids.js';
import { messageOf } from '../../lib/errors.js';
import { formatGoDuration } from '../../lib/go-duration.js';
import type { ContainerContext } from './context.js';

/** Per container: the next probe's timer, or the probe running now. */
type Watch = { timer?: NodeJS.Timeout; probe?: { process?: ExecProcess; cancelled: boolean } };

/**
 * Runs each container's health check while it runs: a start step (it starts with the
 * container and stops at every exit) that is also resumed when a new daemon adopts a running
 * container. A probe is an exec in the container under its own conmon, whose timeout (`-T`)
 * bounds it even if berthd dies meanwhile. Each result is recorded (under the container's
 * lock, written to its record), so after a restart the check goes on from where it was, on
 * its schedule.
 */
export class HealthMonitor implements StartStep {
  readonly name = 'health monitor';
  readonly #x: ContainerContext;
  readonly #watches = new Map<string, Watch>();

  constructor(x: ContainerContext) {
    this.#x = x;
  }

  async start(c: ContainerRecord): Promise<StartContribution> {
    this.#cancel(c.id);
    const hc = c.spec.healthcheck;
    if (!hc) return {};
    // A start (or a restart) begins again as starting; the log of earlier runs is kept.
    c.health = { status: 'starting', failingStreak: 0, log: c.health?.log ?? [] };
    this.#schedule(c.id, probeDelayMs(hc, Date.now(), Date.now(), 'starting'));
    return {};
  }

  async stop(c: ContainerRecord): Promise<void> {
    this.#cancel(c.id);
  }

  async remove(c: ContainerRecord): Promise<void> {
    this.#cancel(c.id);
  }

  /** After a restart: the next probe when it would have come (the last one's end + the interval). */
  adopt(c: ContainerRecord): void {
    const hc = c.spec.healthcheck;
    if (!hc || !isRunningLike(c.state)) return;
    c.health ??= { status: 'starting', failingStreak: 0, log: [] };
    const startedAt = Date.parse(c.startedAt ?? '') || Date.now();
    const lastEnd = Date.parse(c.health.log[c.health.log.length - 1]?.end ?? '') || startedAt;
    const due = lastEnd + probeDelayMs(hc, startedAt, lastEnd, c.health.status);
    this.#schedule(c.id, Math.max(0, due - Date.now()));
  }

  /** Live restore: timers go; a probe in flight is left to its conmon, which bounds it. */
  release(): void {
    for (const w of this.#watches.values()) if (w.timer) clearTimeout(w.timer);
    this.#watches.clear();
  }

  #schedule(id: string, delayMs: number): void {
    const w = this.#watches.get(id) ?? {};
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => void this.#probe(id), delayMs);
    w.timer.unref();
    this.#watches.set(id, w);
  }

  #cancel(id: string): void {
    const w = this.#watches.get(id);
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    if (w.probe) {
      w.probe.cancelled = true;
      void w.probe.process?.kill();
    }
    this.#watches.delete(id);
  }

  async #probe(id: string): Promise<void> {
    const x = this.#x;
    const w = this.#watches.get(id);
    const c = x.reg.get(id);
    if (!w || !c || x.closing) return;
    w.timer = undefined;
    const r = c.record;
    const hc = r.spec.healthcheck;
    if (!hc) return;
    // The monitor starts with the container's start steps, before the runtime has it running:
    // on a busy machine the first probe can come due while the start is still under way. (Every
    // exit stops the monitor, so a watch still here means a start in progress.)
    if (!isRunningLike(r.state)) {
      this.#schedule(id, probeDelayMs(hc, Date.now(), Date.now(), 'starting'));
      return;
    }
    const startedAtMs = Date.parse(r.startedAt ?? '') || Date.now();
    // A paused container is not probed (dockerd stops the monitor); the schedule goes on.
    if (r.state.status === 'paused') {
      this.#schedule(id, probeDelayMs(hc, startedAtMs, Date.now(), r.health?.status ?? 'starting'));
      return;
    }
    const handle = r.state.handle;
    const probe: NonNullable<Watch['probe']> = { cancelled: false };
    w.probe = probe;
    const result = await this.#run(r, handle, hc, probe);
    if (w.probe === probe) w.probe = undefined;
    if (probe.cancelled || this.#watches.get(id) !== w) return;
    await x.lock.run(id, async () => {
      const st = c.record.state;
      if (!isRunningLike(st) || st.handle.conmon.pid !== handle.conmon.pid || !c.record.health) return;
      const before = c.record.health.status;
      c.record.health = applyProbeResult(c.record.health, result, hc, startedAtMs);
      await x.persist(c).catch((err: unknown) => x.d.log.warn({ err: messageOf(err), containerId: id }, 'cannot record a health check result'));
      if (c.record.health.status !== before) x.emit(`health_status: ${c.record.health.status}`, c.record);
    });
    if (this.#watches.get(id) === w && !x.closing) {
      this.#schedule(id, probeDelayMs(hc, startedAtMs, Date.now(), c.record.health?.status ?? 'starting'));
    }
  }

  /** One probe, as an exec: its exit code and output, or why it did not run or did not finish. */
  async #run(r: ContainerRecord, handle: RuntimeHandle, hc: HealthConfig, probe: NonNullable<Watch['probe']>): Promise<HealthResult> {
    const x = this.#x;
    const start = new Date().toISOString();
    const cmd = probeCommand(hc);
    const execId = newId();
    const timeoutMs = probeTimeoutMs(hc);
    const attrs = { execID: execId };
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    // The probe's whole run, its exec's set-up included, is bounded by its timeout: a set-up
    // that never ends (conmon starved on a busy machine) must not stop the schedule.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const timeoutResult = (out: string): HealthResult => {
      const msg = `Health check exceeded timeout (${formatGoDuration(timeoutMs * 1e6)})`;
      x.emit('exec_die', r, { ...attrs, exitCode: '-1' });
      return { start, end: new Date().toISOString(), exitCode: -1, output: out ? `${msg}: ${out}` : msg };
    };
    try {
      x.emit(`exec_create: ${cmd.join(' ')}`, r, attrs);
      const launching = x.d.runtime.exec(handle, {
        execId,
        args: cmd,
        env: [],
        tty: false,
        stdin: false,
        privileged: false,
        attach: { stdin: false, stdout: true, stderr: true },
        // conmon's own bound, a second over ours: it ends the probe if berthd is gone by then.
        timeoutSeconds: Math.ceil(timeoutMs / 1000) + 1,
      });
      const launched = await Promise.race([launching, timedOut]);
      if (launched === 'timeout') {
        // Whenever it does start, it is ended at once.
        void launching.then(
          (late) => {
            void late.kill();
            late.session?.close();
          },
          () => undefined,
        );
        return timeoutResult('');
      }
      const proc = launched;
      probe.process = proc;
      if (probe.cancelled) await proc.kill();
      // conmon closes the session once it has passed on all the output.
      const drained = new Promise<void>((resolve) => (proc.session ? proc.session.onClose(resolve) : resolve()));
      x.emit(`exec_start: ${cmd.join(' ')}`, r, attrs);
      proc.session?.onData((_stream, data) => {
        const room = MAX_OUTPUT - kept;
        if (data.length > room) truncated = true;
        if (room > 0) {
          chunks.push(data.subarray(0, room));
          kept += Math.min(room, data.length);
        }
      });
      const outcome = await Promise.race([proc.exit, timedOut]);
      if (outcome === 'timeout') {
        await proc.kill();
        // It is gone within moments; its session closes with it.
        await Promise.race([proc.exit, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
        proc.session?.close();
        return timeoutResult(limitOutput(chunks, truncated));
      }
      // The exit comes on conmon's sync pipe; the last output may still be on its way.
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      proc.session?.close();
      x.emit('exec_die', r, { ...attrs, exitCode: String(outcome) });
      return { start, end: new Date().toISOString(), exitCode: outcome, output: limitOutput(chunks, truncated) };
    } catch (err) {
      return { start, end: new Date().toISOString(), exitCode: -1, output: messageOf(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}
