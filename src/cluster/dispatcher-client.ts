import { messageOf, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { AgentSource } from './agent-source.js';
import type { HeartbeatAnswer, TaskList } from './dispatcher.js';
import { callNode, NodeCallError, type Tls } from './node-api.js';
import type { TaskObject } from './objects.js';
import type { Entry } from './store.js';

export type SessionOptions = {
  tls: () => Tls;
  /** Managers' node API addresses as last known (from the join, then from each heartbeat). */
  managers: string[];
  log: Logger;
  /** The managers list or the node's certificate changed: persist them. */
  onUpdate: (a: HeartbeatAnswer) => Promise<void>;
};

/**
 * A worker's session with the managers: heartbeats, and the agent's source of tasks. Calls go
 * to one manager; when it does not answer the next is tried. Nothing here stops a task: while
 * no manager answers, the agent's passes fail and the containers keep running as they are.
 */
export class DispatcherClient implements AgentSource {
  readonly #o: SessionOptions;
  #managers: string[];
  #current = 0;
  #stopped = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #periodMs = 5000;

  constructor(o: SessionOptions) {
    this.#o = o;
    this.#managers = [...o.managers];
  }

  get managers(): string[] {
    return [...this.#managers];
  }

  start(): void {
    this.#stopped = false;
    const beat = async () => {
      if (this.#stopped) return;
      try {
        const a = await this.#call<HeartbeatAnswer>('POST', '/v1/heartbeat', {}, 5000);
        this.#periodMs = a.periodMs;
        const changed = a.certPem !== undefined || a.managers.join() !== this.#managers.join();
        if (a.managers.length > 0) this.#managers = a.managers;
        if (changed) await this.#o.onUpdate(a);
      } catch (err) {
        this.#o.log.debug({ err: messageOf(err) }, 'swarm: heartbeat failed');
      }
      if (!this.#stopped) this.#heartbeat = setTimeout(() => void beat(), this.#periodMs);
    };
    void beat();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#heartbeat);
  }

  async tasks(): Promise<Entry<TaskObject>[]> {
    const r = await this.#call<TaskList>('GET', '/v1/tasks', undefined, 10_000);
    return r.tasks;
  }

  async task(key: string): Promise<Entry<TaskObject> | undefined> {
    const list = await this.tasks();
    return list.find((e) => e.key === key);
  }

  /** A long poll: each answer with a new etag is a change. */
  async watch(onChange: () => void): Promise<() => Promise<void>> {
    let etag = '';
    let stop = false;
    const loop = async () => {
      while (!stop && !this.#stopped) {
        try {
          const r = await this.#call<TaskList>('GET', `/v1/tasks?since=${etag}`, undefined, 30_000);
          if (r.etag !== etag) {
            etag = r.etag;
            onChange();
          }
        } catch {
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    void loop();
    return async () => {
      stop = true;
    };
  }

  async writeTask(e: Entry<TaskObject>, next: TaskObject): Promise<{ ok: boolean; revision: number }> {
    return this.#call('POST', '/v1/task', { key: e.key, modRevision: e.modRevision, value: next }, 10_000);
  }

  async deleteTask(e: Entry<TaskObject>): Promise<void> {
    await this.#call('POST', '/v1/task/delete', { key: e.key, modRevision: e.modRevision }, 10_000);
  }

  async fileData(kind: 'secrets' | 'configs', id: string): Promise<Buffer | undefined> {
    try {
      const r = await this.#call<{ data: string }>('GET', `/v1/file?kind=${kind}&id=${encodeURIComponent(id)}`, undefined, 10_000);
      return Buffer.from(r.data, 'base64');
    } catch (err) {
      if (err instanceof NodeCallError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * To the current manager; on a connection failure or a manager that cannot decide (no
   * leader), to the next one. An answer that is a refusal (4xx) is final.
   */
  async #call<T>(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<T> {
    if (this.#managers.length === 0) throw unavailable('this node knows no manager of its swarm: join it again');
    let last: unknown;
    for (let i = 0; i < this.#managers.length; i++) {
      const addr = this.#managers[this.#current % this.#managers.length] as string;
      try {
        return await callNode<T>(addr, method, path, body, { tls: this.#o.tls(), timeoutMs });
      } catch (err) {
        if (err instanceof NodeCallError && err.status < 500) throw err;
        last = err;
        this.#current++;
      }
    }
    throw last;
  }
}
