import { createServer, type Server } from 'node:net';
import { errnoCode, unavailable } from '../lib/errors.js';
import { Mutex } from '../lib/mutex.js';
import { listeningFd } from './socket-fd.js';

/**
 * A cross-process lock for one instance's network state, made of a listening socket in the
 * abstract unix namespace (`\0berth-net-<tag>`): binding it is exclusive, and the kernel
 * releases it when the last descriptor closes, so a killed holder never leaves a stale lock
 * (no pid file to second-guess, no spawn per acquisition as flock(1) would need).
 *
 * The helpers an operation spawns (ip, iptables-restore) inherit the descriptor: if berthd
 * is killed in the middle of an operation, the lock stays held until its last helper exits,
 * so a restarted daemon cannot interleave with a batch still being applied.
 *
 * Abstract sockets are scoped to a network namespace: daemons sharing a data root must also
 * share one (they never do: one daemon per data root, enforced by its pid file).
 */
export class NetLock {
  readonly #name: string;
  readonly #mutex = new Mutex();
  #held: Server | undefined;
  #fd: number | undefined;

  constructor(tag: string) {
    this.#name = `\0berth-net-${tag}`;
  }

  /** The lock's descriptor while held, for helpers to inherit. */
  get fd(): number | undefined {
    return this.#fd;
  }

  /** Run `fn` holding the lock; waits for another holder (process or helper) up to `timeoutMs`. */
  run<T>(fn: () => Promise<T>, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    return this.#mutex.run(async () => {
      await this.#acquire(opts.timeoutMs ?? 60_000, opts.signal);
      try {
        return await fn();
      } finally {
        this.#release();
      }
    });
  }

  async #acquire(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      const server = createServer();
      const err = await new Promise<unknown>((resolve) => {
        server.once('error', resolve);
        server.listen({ path: this.#name, backlog: 1 }, () => resolve(undefined));
      });
      if (err === undefined) {
        // Nobody connects to it; a connection would only be a stray probe.
        server.on('connection', (s) => s.destroy());
        this.#held = server;
        this.#fd = listeningFd(server);
        return;
      }
      server.close();
      if (errnoCode(err) !== 'EADDRINUSE') throw err;
      if (signal?.aborted) throw signal.reason;
      if (Date.now() > deadline) {
        throw unavailable('timed out waiting for another network operation of this daemon (or one left by a killed daemon)');
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  #release(): void {
    this.#held?.close();
    this.#held = undefined;
    this.#fd = undefined;
  }
}
