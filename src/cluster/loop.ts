import type { Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';

/**
 * A reconcile loop: `kick()` asks for a pass; passes never overlap, kicks during a pass
 * coalesce into one more, and a pass may ask to be run again after a delay (restart delays,
 * update monitors). A failing pass is logged and retried later, never thrown at the kicker.
 */
export class ReconcileLoop {
  readonly #name: string;
  readonly #pass: () => Promise<number | undefined>;
  readonly #log: Logger;
  readonly #idleMs: number;
  #running = false;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #idle: Promise<void> = Promise.resolve();

  /** `pass` returns in how many ms it wants to run again (undefined: only when kicked, or after `idleMs`). */
  constructor(name: string, pass: () => Promise<number | undefined>, log: Logger, idleMs = 5000) {
    this.#name = name;
    this.#pass = pass;
    this.#log = log;
    this.#idleMs = idleMs;
  }

  start(): void {
    this.#stopped = false;
    this.kick();
  }

  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#idle = this.#run();
  }

  async #run(): Promise<void> {
    let next: number | undefined = this.#idleMs;
    do {
      this.#again = false;
      try {
        const want = await this.#pass();
        next = Math.min(want ?? this.#idleMs, this.#idleMs);
      } catch (err) {
        this.#log.warn({ err: messageOf(err) }, `swarm: ${this.#name} pass failed`);
        next = 1000;
      }
    } while (this.#again && !this.#stopped);
    this.#running = false;
    if (!this.#stopped) this.#timer = setTimeout(() => this.kick(), Math.max(next, 20));
  }

  /** Stop kicking and wait for a pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#idle;
  }
}
