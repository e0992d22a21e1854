import { existsSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../lib/errors.js';
import type { ExitInfo } from '../engine/ports.js';
import { nsToIso } from '../lib/docker-time.js';
import type { Logger } from '../lib/logger.js';

type Waiter = { persistDir: string; resolve: (e: ExitInfo) => void; reject: (e: unknown) => void };

/**
 * conmon writes `<exit-dir>/<id>` (atomically, via rename) when a container exits. One
 * inotify watch on the shared exit dir wakes the waiters; a slow poll covers the events
 * inotify can drop when its queue overflows.
 */
export class ExitWatcher {
  readonly dir: string;
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #log: Logger;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;

  constructor(dir: string, log: Logger) {
    this.dir = dir;
    this.#log = log;
  }

  start(): void {
    this.#watcher = watch(this.dir, (_event, name) => {
      if (typeof name === 'string') void this.#check(name);
    });
    this.#watcher.on('error', (err) => this.#log.error({ err }, 'exit watcher failed'));
    this.#poll = setInterval(() => {
      for (const id of this.#waiters.keys()) void this.#check(id);
    }, 1000);
    this.#poll.unref();
  }

  stop(): void {
    this.#watcher?.close();
    if (this.#poll) clearInterval(this.#poll);
    for (const [, set] of this.#waiters) for (const w of set) w.reject(new Error('daemon is shutting down'));
    this.#waiters.clear();
  }

  exitFile(id: string): string {
    return join(this.dir, id);
  }

  /**
   * The exit recorded for `id`, if the container has exited. Synchronous inside: the exit
   * dir is on the exec-root (tmpfs), the files are a few bytes, and the restore pass asks
   * for every container before the API listens.
   */
  async read(id: string, persistDir: string): Promise<ExitInfo | undefined> {
    const file = this.exitFile(id);
    let text: string;
    let mtimeNs: bigint;
    try {
      // Usually absent (still running): no exception built for that case.
      const st = statSync(file, { bigint: true, throwIfNoEntry: false });
      if (!st) return undefined;
      mtimeNs = st.mtimeNs;
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    const code = Number.parseInt(text.trim(), 10);
    const oomKilled = existsSync(join(persistDir, 'oom'));
    return { exitCode: Number.isFinite(code) ? code : 255, finishedAt: nsToIso(mtimeNs), oomKilled };
  }

  wait(id: string, persistDir: string, signal?: AbortSignal): Promise<ExitInfo> {
    return new Promise((resolve, reject) => {
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, (set = new Set()));
      const waiter: Waiter = {
        persistDir,
        resolve: (e) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(e);
        },
        reject,
      };
      const onAbort = () => {
        this.#remove(id, waiter);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
      void this.#check(id);
    });
  }

  #remove(id: string, w: Waiter): void {
    const set = this.#waiters.get(id);
    set?.delete(w);
    if (set && set.size === 0) this.#waiters.delete(id);
  }

  async #check(id: string): Promise<void> {
    const set = this.#waiters.get(id);
    if (!set || set.size === 0) return;
    const first = set.values().next().value as Waiter;
    let info: ExitInfo | undefined;
    try {
      info = await this.read(id, first.persistDir);
    } catch (err) {
      this.#log.warn({ err, containerId: id }, 'cannot read exit file');
      return;
    }
    if (!info) return;
    const waiters = this.#waiters.get(id);
    this.#waiters.delete(id);
    for (const w of waiters ?? []) w.resolve(info);
  }
}
