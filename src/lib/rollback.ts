import type { Logger } from './logger.js';
import { messageOf } from './errors.js';

/**
 * Every side effect pushes its undo; on failure the undos run in reverse order, each one
 * best-effort and logged, so one failing undo does not leave the rest undone.
 */
export class Rollback {
  #undos: { what: string; fn: () => Promise<unknown> | unknown }[] = [];
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  push(what: string, fn: () => Promise<unknown> | unknown): void {
    this.#undos.push({ what, fn });
  }

  /** Forget the undos: the operation succeeded. */
  commit(): void {
    this.#undos = [];
  }

  async run(): Promise<void> {
    const undos = this.#undos.reverse();
    this.#undos = [];
    for (const u of undos) {
      try {
        await u.fn();
      } catch (err) {
        this.#log.warn({ err: messageOf(err), undo: u.what }, 'rollback step failed');
      }
    }
  }
}
