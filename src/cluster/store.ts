/**
 * The cluster's state store, as the orchestrator, the agent and the API facade see it: JSON
 * objects under keys, each with the revision of its last write (Docker's `Version.Index`), and
 * transactions whose conditions are compare-and-swap on those revisions. etcd implements it
 * (etcd-store.ts); nothing else in the cluster code knows etcd's client.
 */
export type Entry<T> = { key: string; value: T; modRevision: number; createRevision: number };

/** A condition of a transaction: the key is absent, or its last write had this revision. */
export type Guard = { key: string; absent: true } | { key: string; modRevision: number } | { key: string; createRevision: number };

export type Write = { put: string; value: unknown; lease?: string } | { del: string };

export type Change = { type: 'put' | 'delete'; key: string };

/** A member of the store's consensus group (an etcd member: one per manager). */
export type Member = { id: string; name: string; peerUrls: string[]; isLearner: boolean };

export interface ClusterStore {
  get<T>(key: string): Promise<Entry<T> | undefined>;
  /** Every object under a prefix, in key order. */
  list<T>(prefix: string): Promise<Entry<T>[]>;
  /** Apply every write if every guard holds; false (nothing written) when one does not. */
  txn(guards: Guard[], writes: Write[]): Promise<{ ok: boolean; revision: number }>;
  /** Calls `onChange` for each write under the prefix from now on; returns the way to stop. */
  watch(prefix: string, onChange: (c: Change) => void): Promise<() => Promise<void>>;
  /** A lease that lives while this process renews it; lost when the process dies. */
  lease(ttlSeconds: number, onLost: () => void): Promise<{ id: string; revoke(): Promise<void> }>;
  close(): Promise<void>;
  /** The consensus group: managers join as non-voting learners and are promoted once caught up. */
  members(): Promise<Member[]>;
  addLearner(peerUrl: string): Promise<Member[]>;
  /** Fails while the learner is still behind; the caller retries. */
  promote(memberId: string): Promise<void>;
  removeMember(memberId: string): Promise<void>;
}
