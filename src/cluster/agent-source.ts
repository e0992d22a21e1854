import { keys, type SecretObject, type TaskObject } from './objects.js';
import type { SecretBox } from './secret-box.js';
import type { ClusterStore, Entry } from './store.js';

/**
 * Where a node's agent gets its work and reports back. A manager's agent reads its own store;
 * a worker never talks to etcd (during a quorum loss nothing a worker runs may depend on it):
 * it goes through a manager's dispatcher (dispatcher-client.ts).
 */
export interface AgentSource {
  /** This node's tasks. */
  tasks(): Promise<Entry<TaskObject>[]>;
  task(key: string): Promise<Entry<TaskObject> | undefined>;
  /** Calls `onChange` when this node's tasks may have changed; returns the way to stop. */
  watch(onChange: () => void): Promise<() => Promise<void>>;
  /** Compare-and-swap on the task's revision: false when someone wrote it meanwhile. */
  writeTask(e: Entry<TaskObject>, next: TaskObject): Promise<{ ok: boolean; revision: number }>;
  /** A task whose desired state is `remove`, once its container is gone. */
  deleteTask(e: Entry<TaskObject>): Promise<void>;
  /** A secret's or config's content, for a task of this node that uses it. */
  fileData(kind: 'secrets' | 'configs', id: string): Promise<Buffer | undefined>;
}

export class StoreSource implements AgentSource {
  readonly store: ClusterStore;
  readonly nodeId: string;
  readonly secrets: () => Promise<SecretBox>;

  constructor(store: ClusterStore, nodeId: string, secrets: () => Promise<SecretBox>) {
    this.store = store;
    this.nodeId = nodeId;
    this.secrets = secrets;
  }

  async tasks(): Promise<Entry<TaskObject>[]> {
    return (await this.store.list<TaskObject>(keys.prefix('tasks'))).filter((e) => e.value.nodeId === this.nodeId);
  }

  task(key: string): Promise<Entry<TaskObject> | undefined> {
    return this.store.get<TaskObject>(key);
  }

  watch(onChange: () => void): Promise<() => Promise<void>> {
    return this.store.watch(keys.prefix('tasks'), onChange);
  }

  writeTask(e: Entry<TaskObject>, next: TaskObject): Promise<{ ok: boolean; revision: number }> {
    return this.store.txn([{ key: e.key, modRevision: e.modRevision }], [{ put: e.key, value: next }]);
  }

  async deleteTask(e: Entry<TaskObject>): Promise<void> {
    await this.store.txn([{ key: e.key, modRevision: e.modRevision }], [{ del: e.key }]);
  }

  async fileData(kind: 'secrets' | 'configs', id: string): Promise<Buffer | undefined> {
    const e = await this.store.get<SecretObject>(keys.object(kind, id));
    if (!e) return undefined;
    return kind === 'secrets' ? (await this.secrets()).open(e.value.data, e.value.id) : Buffer.from(e.value.data, 'base64');
  }
}
