import { performance } from 'node:perf_hooks';
import { messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { HEARTBEAT_FAILURE, HEARTBEAT_FAILURE_UNKNOWN } from './messages.js';
import { keys, nodeState, now, type NodeObject, type NodeStatus } from './objects.js';
import type { ClusterStore, Guard } from './store.js';

/** A node is down after this many heartbeat periods without one (swarmkit's grace multiplier). */
export const GRACE_PERIODS = 3;

/** What the leader knows, in its own monotonic milliseconds (never another node's clock). */
export type LivenessView = {
  now: number;
  graceMs: number;
  /** Since when the store has answered without a gap; undefined while it does not answer. */
  answeringSince: number | undefined;
  /** When this leader first saw each node (a node gets a grace period from then). */
  firstSeen: ReadonlyMap<string, number>;
  /** When it last saw each node's heartbeat key change. */
  lastBeat: ReadonlyMap<string, number>;
  /** When it marked each node down. */
  markedDown: ReadonlyMap<string, number>;
};

/**
 * The transitions to write. A ready node is down once the leader has seen no heartbeat of it
 * for a grace period — counted from the latest of its last heartbeat, the moment the leader
 * first saw the node, and the moment the store began answering again: after a quorum loss
 * no node could write a heartbeat, and none is marked down for it. A node that is not ready
 * is ready again as soon as a heartbeat arrives after it was marked down.
 */
export function livenessChanges(nodes: NodeObject[], v: LivenessView): { id: string; status: NodeStatus }[] {
  if (v.answeringSince === undefined) return [];
  const out: { id: string; status: NodeStatus }[] = [];
  for (const n of nodes) {
    const state = nodeState(n);
    const beat = v.lastBeat.get(n.id);
    if (state !== 'ready' && beat !== undefined && beat > (v.markedDown.get(n.id) ?? -Infinity)) {
      out.push({ id: n.id, status: { state: 'ready', message: '' } });
      continue;
    }
    if (state === 'down') continue;
    const since = Math.max(beat ?? -Infinity, v.firstSeen.get(n.id) ?? v.now, v.answeringSince);
    if (v.now - since > v.graceMs) out.push({ id: n.id, status: { state: 'down', message: state === 'unknown' ? HEARTBEAT_FAILURE_UNKNOWN : HEARTBEAT_FAILURE } });
  }
  return out;
}

export type LivenessOptions = {
  store: ClusterStore;
  log: Logger;
  /** The leader's fence; liveness is decided only while this node holds it. */
  fence: () => Guard | undefined;
  periodMs: () => number;
};

/**
 * The leader's watch over heartbeats (`keys.heartbeat(id)`): it notes the local time at which
 * it sees each one change — through a watch, and by comparing revisions on each tick in case
 * the watch missed one — and writes a node's status down or ready on a transition only.
 * Every manager runs it; only the leader acts, and a new leader starts every node's grace
 * period afresh.
 */
export class NodeLiveness {
  readonly #o: LivenessOptions;
  readonly #lastBeat = new Map<string, number>();
  readonly #revisions = new Map<string, number>();
  readonly #firstSeen = new Map<string, number>();
  readonly #markedDown = new Map<string, number>();
  #term: number | undefined;
  #answeringSince: number | undefined;
  #lastAnswer: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => Promise<void>) | undefined;
  #stopped = true;
  #ticking: Promise<void> = Promise.resolve();

  constructor(o: LivenessOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    this.#unwatch = await this.#o.store.watch(keys.heartbeats, (c) => {
      if (c.type === 'put') this.#lastBeat.set(c.key.slice(keys.heartbeats.length), performance.now());
    });
    this.#stopped = false;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    await this.#unwatch?.();
    this.#unwatch = undefined;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const every = Math.min(2500, Math.max(50, this.#o.periodMs() / 2));
    this.#timer = setTimeout(() => {
      this.#ticking = this.#tick()
        .catch((err) => this.#o.log.warn({ err: messageOf(err) }, 'swarm: node liveness pass failed'))
        .finally(() => this.#schedule());
    }, every);
  }

  async #tick(): Promise<void> {
    const fence = this.#o.fence();
    const term = fence && 'createRevision' in fence ? fence.createRevision : undefined;
    if (term === undefined) {
      this.#term = undefined;
      return;
    }
    if (term !== this.#term) {
      // A new leadership: every node gets a whole grace period from now.
      this.#term = term;
      this.#firstSeen.clear();
      this.#revisions.clear();
      this.#markedDown.clear();
      this.#answeringSince = undefined;
      this.#lastAnswer = undefined;
    }
    const store = this.#o.store;
    const period = this.#o.periodMs();
    let nodes, beats;
    try {
      [nodes, beats] = await Promise.all([store.list<NodeObject>(keys.prefix('nodes')), store.list(keys.heartbeats)]);
    } catch (err) {
      if (this.#answeringSince !== undefined) this.#o.log.warn({ err: messageOf(err) }, 'swarm: the store does not answer; no node is marked down until it has answered for a grace period');
      this.#answeringSince = undefined;
      this.#lastAnswer = undefined;
      return;
    }
    const t = performance.now();
    // A gap between answers (a stalled store, or this process stalled) starts the count again.
    if (this.#lastAnswer === undefined || t - this.#lastAnswer > period) this.#answeringSince = t;
    this.#lastAnswer = t;
    for (const b of beats) {
      const id = b.key.slice(keys.heartbeats.length);
      const seen = this.#revisions.get(id);
      if (seen !== undefined && seen !== b.modRevision) this.#lastBeat.set(id, Math.max(this.#lastBeat.get(id) ?? 0, t));
      this.#revisions.set(id, b.modRevision);
    }
    const live = new Set(nodes.map((n) => n.value.id));
    for (const id of live) if (!this.#firstSeen.has(id)) this.#firstSeen.set(id, t);
    for (const m of [this.#firstSeen, this.#lastBeat, this.#revisions, this.#markedDown]) for (const id of m.keys()) if (!live.has(id)) m.delete(id);

    const changes = livenessChanges(
      nodes.map((n) => n.value),
      { now: t, graceMs: GRACE_PERIODS * period, answeringSince: this.#answeringSince, firstSeen: this.#firstSeen, lastBeat: this.#lastBeat, markedDown: this.#markedDown },
    );
    for (const c of changes) {
      const e = nodes.find((n) => n.value.id === c.id);
      if (!e) continue;
      const r = await store.txn([fence as Guard, { key: e.key, modRevision: e.modRevision }], [{ put: e.key, value: { ...e.value, status: c.status, updatedAt: now() } satisfies NodeObject }]);
      if (!r.ok) continue;
      if (c.status.state === 'down') {
        this.#markedDown.set(c.id, t);
        this.#o.log.warn({ node: c.id, hostname: e.value.hostname }, `swarm: node is down: no heartbeat for ${GRACE_PERIODS} periods of ${period} ms`);
      } else {
        this.#markedDown.delete(c.id);
        this.#o.log.info({ node: c.id, hostname: e.value.hostname }, 'swarm: node is ready again');
      }
    }
  }
}
