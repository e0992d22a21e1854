import { messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { keys, now, type Heartbeat } from './objects.js';
import type { ClusterStore } from './store.js';

/** swarmkit's default `Dispatcher.HeartbeatPeriod`. */
export const DEFAULT_HEARTBEAT_MS = 5000;
/** A floor, so that a tiny period from `swarm update` cannot spin the loops. */
const MIN_HEARTBEAT_MS = 100;

/** The heartbeat period of a cluster spec (`Dispatcher.HeartbeatPeriod`, nanoseconds), in ms. */
export function heartbeatPeriodMs(spec: Record<string, unknown> | undefined): number {
  const ns = Number((spec?.['Dispatcher'] as { HeartbeatPeriod?: number } | undefined)?.HeartbeatPeriod ?? 0);
  return ns > 0 ? Math.max(MIN_HEARTBEAT_MS, ns / 1e6) : DEFAULT_HEARTBEAT_MS;
}

export type HeartbeatOptions = {
  store: ClusterStore;
  nodeId: string;
  /** Read before each beat: a `swarm update --dispatcher-heartbeat` applies at the next one. */
  periodMs: () => number;
  log: Logger;
};

/**
 * A manager's own heartbeat: `keys.heartbeat(nodeId)` written once per period (workers' keys
 * are written by the dispatcher that hears from them). Only the leader reads them, by the
 * time it sees each write (liveness.ts), so the `at` inside is for people, not for decisions.
 * A beat the store refuses (no quorum) is just missed; the next one is on time.
 */
export class HeartbeatWriter {
  readonly #o: HeartbeatOptions;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #stopped = true;
  #beating: Promise<void> = Promise.resolve();
  /** When the first of the beats refused since the last one written was refused; 0: none. */
  #failingSince = 0;

  constructor(o: HeartbeatOptions) {
    this.#o = o;
  }

  /** How long beats have been refused (0: the last one was written). */
  failingForMs(): number {
    return this.#failingSince === 0 ? 0 : Date.now() - this.#failingSince;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** The period changed: beat now and keep the new rhythm from here. */
  kick(): void {
    if (!this.#stopped) this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#beating;
  }

  #schedule(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#beating = this.#beat().finally(() => {
        if (!this.#stopped && !this.#timer) this.#schedule(this.#o.periodMs());
      });
    }, ms);
  }

  async #beat(): Promise<void> {
    const value: Heartbeat = { at: now(), seq: ++this.#seq };
    try {
      await this.#o.store.txn([], [{ put: keys.heartbeat(this.#o.nodeId), value }]);
      if (this.#failingSince !== 0) this.#o.log.info('swarm: heartbeats written again');
      this.#failingSince = 0;
    } catch (err) {
      if (this.#failingSince === 0) {
        this.#o.log.warn({ err: messageOf(err) }, 'swarm: cannot write this node\'s heartbeat; trying each period');
        this.#failingSince = Date.now();
      }
    }
  }
}
