import { rename, stat, unlink } from 'node:fs/promises';
import type { Logger } from '../lib/logger.js';
import { errnoCode, messageOf } from '../lib/errors.js';

type Tracked = { logPath: string; maxSize: number; maxFile: number; reopen: () => Promise<void>; busy: boolean };

/**
 * Rotates container logs by size without losing a line: rename `log` → `log.1` (shifting
 * older files), then ask conmon to reopen its log. conmon keeps appending to the renamed
 * file until it has reopened, so nothing written in between is lost (conmon's own
 * --log-size-max truncates instead). Only runs while berthd runs: a log may grow past
 * max-size while the daemon is away, and is rotated when it is back.
 */
export class LogRotator {
  readonly #tracked = new Map<string, Tracked>();
  readonly #log: Logger;
  readonly #everyMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, everyMs = 1000) {
    this.#log = log;
    this.#everyMs = everyMs;
  }

  track(id: string, t: Omit<Tracked, 'busy'>): void {
    if (t.maxSize <= 0) return;
    this.#tracked.set(id, { ...t, busy: false });
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), this.#everyMs);
      this.#timer.unref();
    }
    void this.#check(id);
  }

  untrack(id: string): void {
    this.#tracked.delete(id);
    if (this.#tracked.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#tracked.clear();
  }

  #tick(): void {
    for (const id of this.#tracked.keys()) void this.#check(id);
  }

  async #check(id: string): Promise<void> {
    const t = this.#tracked.get(id);
    if (!t || t.busy) return;
    t.busy = true;
    try {
      let size: number;
      try {
        size = (await stat(t.logPath)).size;
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return;
        throw err;
      }
      if (size >= t.maxSize) await rotate(t);
    } catch (err) {
      this.#log.warn({ containerId: id, err: messageOf(err) }, 'log rotation failed');
    } finally {
      t.busy = false;
    }
  }
}

/** Keep `maxFile` files in all: the live log and maxFile-1 rotated ones. */
async function rotate(t: Tracked): Promise<void> {
  const keep = Math.max(0, t.maxFile - 1);
  const name = (n: number) => (n === 0 ? t.logPath : `${t.logPath}.${n}`);
  // The oldest one falls off (and with max-file=1 so does the file just rotated, as Docker
  // drops old lines by policy; readers holding it open still read it to the end).
  for (let n = keep; n >= 1; n--) await renameIfExists(name(n - 1), name(n));
  if (keep === 0) await renameIfExists(t.logPath, `${t.logPath}.1`);
  await t.reopen();
  if (keep === 0) await unlink(`${t.logPath}.1`).catch(() => undefined);
  else await unlink(name(keep + 1)).catch(() => undefined);
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
