import { createHash } from 'node:crypto';
import { forbidden, invalidParameter, notFound } from '../lib/errors.js';
import { heartbeatPeriodMs } from './heartbeat.js';
import type { Caller, NodeRoute } from './node-api.js';
import { keys, now, type ClusterObject, type NodeObject, type TaskObject } from './objects.js';
import type { StoreSource } from './agent-source.js';
import { otherManagers, type RoleAnswer } from './role-watch.js';
import type { ClusterStore, Entry } from './store.js';

/** What a worker's session learns with each heartbeat. */
export type HeartbeatAnswer = {
  periodMs: number;
  /** Node API addresses of the managers, for the worker to fail over to. */
  managers: string[];
  role: string;
  /** A certificate for the node's role when it changed (promote/demote). */
  certPem?: string;
};

export type TaskList = { etag: string; tasks: Entry<TaskObject>[] };

/** Long polls wait this long for a change before answering "nothing new". */
const POLL_MS = 15_000;

export type DispatcherOptions = {
  store: () => ClusterStore;
  files: () => StoreSource;
  /** Reissue a node's certificate for a new role on its existing key. */
  reissue: (n: NodeObject) => Promise<string>;
};

/**
 * The manager side of a worker's session: the worker's tasks (a long poll), its task status
 * reports (compare-and-swap, only on tasks assigned to it), the secrets and configs its tasks
 * use (nothing else), and its heartbeats, written for the leader to judge liveness.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #waiters = new Set<() => void>();
  #unwatch: (() => Promise<void>) | undefined;
  readonly #seq = new Map<string, number>();

  constructor(o: DispatcherOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    this.#unwatch = await this.#o.store().watch(keys.prefix('tasks'), () => {
      for (const w of [...this.#waiters]) w();
    });
  }

  async stop(): Promise<void> {
    await this.#unwatch?.();
    this.#unwatch = undefined;
    for (const w of [...this.#waiters]) w();
  }

  routes(): NodeRoute[] {
    const caller = (c: Caller | undefined): Caller => c as Caller;
    return [
      { method: 'POST', path: '/v1/heartbeat', auth: 'node', handler: ({ caller: c }) => this.#heartbeat(caller(c)) },
      { method: 'GET', path: '/v1/role', auth: 'node', handler: ({ caller: c }) => this.#role(caller(c).nodeId) },
      {
        method: 'GET',
        path: '/v1/tasks',
        auth: 'node',
        handler: ({ caller: c, query }) => this.#tasks(caller(c).nodeId, query.get('since') ?? ''),
      },
      { method: 'POST', path: '/v1/task', auth: 'node', handler: ({ caller: c, body }) => this.#writeTask(caller(c).nodeId, body) },
      { method: 'POST', path: '/v1/task/delete', auth: 'node', handler: ({ caller: c, body }) => this.#deleteTask(caller(c).nodeId, body) },
      {
        method: 'GET',
        path: '/v1/file',
        auth: 'node',
        handler: ({ caller: c, query }) => this.#file(caller(c).nodeId, query.get('kind') ?? '', query.get('id') ?? ''),
      },
    ];
  }

  async #heartbeat(c: Caller): Promise<HeartbeatAnswer> {
    const store = this.#o.store();
    const [cluster, node, nodes] = await Promise.all([
      store.get<ClusterObject>(keys.cluster),
      store.get<NodeObject>(keys.object('nodes', c.nodeId)),
      store.list<NodeObject>(keys.prefix('nodes')),
    ]);
    if (!node) throw notFound(`node ${c.nodeId} is not a member of this swarm (removed?)`);
    const seq = (this.#seq.get(c.nodeId) ?? 0) + 1;
    this.#seq.set(c.nodeId, seq);
    await store.txn([], [{ put: keys.heartbeat(c.nodeId), value: { at: now(), seq } }]);
    const role = node.value.spec.Role;
    return {
      periodMs: heartbeatPeriodMs(cluster?.value.spec),
      managers: otherManagers(nodes, c.nodeId),
      role,
      ...(role !== c.role ? { certPem: await this.#o.reissue(node.value) } : {}),
    };
  }

  /** A manager whose own store stopped answering asks whether it was demoted (role-watch.ts). */
  async #role(nodeId: string): Promise<RoleAnswer> {
    const nodes = await this.#o.store().list<NodeObject>(keys.prefix('nodes'));
    const node = nodes.find((n) => n.value.id === nodeId);
    if (!node) throw notFound(`node ${nodeId} is not a member of this swarm (removed?)`);
    return { role: node.value.spec.Role, managers: otherManagers(nodes, nodeId) };
  }

  async #tasks(nodeId: string, since: string): Promise<TaskList> {
    const deadline = Date.now() + POLL_MS;
    for (;;) {
      // Armed before the read, so a change between the read and the wait is not missed.
      let wake!: () => void;
      const changed = new Promise<void>((r) => (wake = r));
      this.#waiters.add(wake);
      try {
        const tasks = (await this.#o.store().list<TaskObject>(keys.prefix('tasks'))).filter((e) => e.value.nodeId === nodeId);
        const etag = etagOf(tasks);
        const left = deadline - Date.now();
        if (etag !== since || left <= 0 || !this.#unwatch) return { etag, tasks };
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([changed, new Promise<void>((r) => (timer = setTimeout(r, left)))]);
        clearTimeout(timer);
      } finally {
        this.#waiters.delete(wake);
      }
    }
  }

  async #owned(nodeId: string, key: unknown): Promise<Entry<TaskObject>> {
    if (typeof key !== 'string' || !key.startsWith(keys.prefix('tasks'))) throw invalidParameter('not a task key');
    const e = await this.#o.store().get<TaskObject>(key);
    if (!e) throw notFound('no such task');
    if (e.value.nodeId !== nodeId) throw forbidden('the task is not assigned to this node');
    return e;
  }

  async #writeTask(nodeId: string, body: unknown): Promise<{ ok: boolean; revision: number }> {
    const b = body as { key?: unknown; modRevision?: unknown; value?: TaskObject };
    const e = await this.#owned(nodeId, b.key);
    const v = b.value;
    if (!v || v.id !== e.value.id || v.nodeId !== nodeId || typeof b.modRevision !== 'number') throw invalidParameter('a task status report names its task, node and revision');
    // A node reports status only: every other field stays the manager's.
    const next: TaskObject = { ...e.value, status: v.status, updatedAt: now() };
    return this.#o.store().txn([{ key: e.key, modRevision: b.modRevision }], [{ put: e.key, value: next }]);
  }

  async #deleteTask(nodeId: string, body: unknown): Promise<Record<string, never>> {
    const b = body as { key?: unknown; modRevision?: unknown };
    const e = await this.#owned(nodeId, b.key);
    if (e.value.desiredState !== 'remove') throw forbidden('only a task being removed can be deleted');
    await this.#o.store().txn([{ key: e.key, modRevision: e.modRevision }], [{ del: e.key }]);
    return {};
  }

  async #file(nodeId: string, kind: string, id: string): Promise<{ data: string }> {
    if (kind !== 'secrets' && kind !== 'configs') throw invalidParameter('kind is secrets or configs');
    const tasks = (await this.#o.store().list<TaskObject>(keys.prefix('tasks'))).filter((e) => e.value.nodeId === nodeId);
    const used = tasks.some((t) => {
      const c = t.value.spec.ContainerSpec;
      return kind === 'secrets' ? (c?.Secrets ?? []).some((r) => r.SecretID === id) : (c?.Configs ?? []).some((r) => r.ConfigID === id);
    });
    // A node sees only what its own tasks use.
    if (!used) throw forbidden(`no task of this node uses ${kind === 'secrets' ? 'secret' : 'config'} ${id}`);
    const data = await this.#o.files().fileData(kind, id);
    if (!data) throw notFound(`${kind === 'secrets' ? 'secret' : 'config'} ${id} not found`);
    return { data: data.toString('base64') };
  }
}

export function etagOf(tasks: Entry<TaskObject>[]): string {
  const h = createHash('sha256');
  for (const t of tasks) h.update(`${t.key}@${t.modRevision};`);
  return h.digest('hex').slice(0, 32);
}
