import type { Logger } from '../lib/logger.js';
import { ReconcileLoop } from './loop.js';
import { isTerminal, keys, newObjectId, now, stateRank, type NodeObject, type ServiceObject, type TaskObject, type TaskState } from './objects.js';
import { isGlobal, replicas, restartPolicy, updateConfig, type PortConfig, type ServiceSpec } from './spec.js';
import type { ClusterStore, Entry, Guard, Write } from './store.js';
import { constraintsMatch } from './constraints.js';
import { globalNodes, nodeLost, Scheduler, type Placement, type TaskRequest } from './scheduler.js';

export type OrchestratorOptions = {
  store: ClusterStore;
  log: Logger;
  /** The leader's fence: every write is conditional on this node still holding leadership. */
  fence: () => Guard | undefined;
  historyLimit: () => number;
};

export type Plan = { writes: Write[]; guards: Guard[]; wakeMs?: number };
export type PlanOptions = { historyLimit: number; nowMs: number };

/** Writes per transaction, below etcd's default limit of 128 operations (guards count too). */
const MAX_WRITES = 60;
const se = (s: Entry<ServiceObject>) => s.key;

/**
 * The leader's loop: desired state (services) against actual state (tasks). It creates tasks
 * for empty slots (replicated) or nodes without one (global) and assigns them to a node (the
 * scheduler, scheduler.ts), replaces ended tasks as their restart policy says, and the tasks
 * of nodes that are down or gone at once, moves tasks off drained nodes, shuts down tasks
 * beyond the replica count, rolls out a changed task template a batch at a time (parallelism,
 * delay, order, monitor, failure action), and trims each slot's history. Every write is a
 * compare-and-swap, fenced by the leadership key. Each pass reads everything and fails as a
 * whole when the store does not answer: after a quorum loss the next pass (the loop retries)
 * finds whatever changed meanwhile.
 */
export class Orchestrator {
  readonly #o: OrchestratorOptions;
  readonly #loop: ReconcileLoop;
  #unwatch: (() => Promise<void>)[] = [];

  constructor(o: OrchestratorOptions) {
    this.#o = o;
    this.#loop = new ReconcileLoop('orchestrator', () => this.#pass(), o.log, 5000);
  }

  async start(): Promise<void> {
    for (const kind of ['services', 'tasks', 'nodes'] as const) {
      this.#unwatch.push(await this.#o.store.watch(keys.prefix(kind), () => this.#loop.kick()));
    }
    this.#loop.start();
  }

  kick(): void {
    this.#loop.kick();
  }

  async stop(): Promise<void> {
    for (const u of this.#unwatch) await u();
    this.#unwatch = [];
    await this.#loop.stop();
  }

  async #pass(): Promise<number | undefined> {
    const fence = this.#o.fence();
    if (!fence) return undefined;
    const store = this.#o.store;
    const [services, tasks, nodes] = await Promise.all([
      store.list<ServiceObject>(keys.prefix('services')),
      store.list<TaskObject>(keys.prefix('tasks')),
      store.list<NodeObject>(keys.prefix('nodes')),
    ]);
    const byService = new Map<string, Entry<TaskObject>[]>();
    for (const t of tasks) {
      const list = byService.get(t.value.serviceId) ?? [];
      list.push(t);
      byService.set(t.value.serviceId, list);
    }
    let wake: number | undefined;
    const nodeList = nodes.map((n) => n.value);
    // One scheduler for the pass: what one service is given counts for the next.
    const sched = new Scheduler(nodeList, tasks.map((t) => t.value));
    for (const s of services) {
      const plan = planService(s, byService.get(s.value.id) ?? [], nodeList, sched, { historyLimit: this.#o.historyLimit(), nowMs: Date.now() });
      if (plan.wakeMs !== undefined) wake = Math.min(wake ?? plan.wakeMs, plan.wakeMs);
      if (plan.writes.length === 0) continue;
      // One write per key (a task may be both shut down and trimmed in one pass), its first guard.
      const writes = new Map<string, Write>();
      for (const w of plan.writes) writes.set('put' in w ? w.put : w.del, w);
      const guards = new Map<string, Guard>();
      for (const g of plan.guards) if (!guards.has(g.key)) guards.set(g.key, g);
      // etcd takes at most 128 operations in a transaction (--max-txn-ops): a big change is
      // written in slices, the next pass continuing where this one stopped.
      let chunk = [...writes.values()];
      if (chunk.length > MAX_WRITES) {
        chunk = chunk.slice(0, MAX_WRITES);
        wake = 20;
      }
      const keysWritten = new Set(chunk.map((w) => ('put' in w ? w.put : w.del)));
      const chunkGuards = [...guards.values()].filter((g) => keysWritten.has(g.key) || g.key === se(s));
      // One transaction per service: a conflict (a task's status written meanwhile) costs a pass.
      const r = await store.txn([fence, ...chunkGuards], chunk);
      if (!r.ok) wake = 50;
    }
    // Tasks of removed services: ask their nodes to remove them. A task to remove that no node
    // will (never assigned, or its node down or gone) is deleted here; a node that comes back
    // stops and removes the containers of tasks that no longer exist.
    const live = new Set(services.map((s) => s.value.id));
    const byId = new Map(nodeList.map((n) => [n.id, n]));
    const orphanWrites: Write[] = [];
    const orphanGuards: Guard[] = [];
    for (const t of tasks) {
      if (t.value.desiredState === 'remove') {
        if (t.value.nodeId !== '' && !nodeLost(byId.get(t.value.nodeId))) continue;
        orphanGuards.push({ key: t.key, modRevision: t.modRevision });
        orphanWrites.push({ del: t.key });
        continue;
      }
      if (live.has(t.value.serviceId)) continue;
      orphanGuards.push({ key: t.key, modRevision: t.modRevision });
      orphanWrites.push({ put: t.key, value: { ...t.value, desiredState: 'remove', updatedAt: now() } });
    }
    for (let i = 0; i < orphanWrites.length; i += MAX_WRITES) {
      await store.txn([fence, ...orphanGuards.slice(i, i + MAX_WRITES)], orphanWrites.slice(i, i + MAX_WRITES));
    }
    return wake;
  }
}

/**
 * One service's changes for this pass: plain objects in, writes out (the pass writes them in
 * one fenced transaction). `sched` is shared by the pass's services and told of each placement.
 */
export function planService(se: Entry<ServiceObject>, tasks: Entry<TaskObject>[], nodes: NodeObject[], sched: Scheduler, o: PlanOptions): Plan {
  const s = se.value;
  const plan: Plan = { writes: [], guards: [] };
  const setDesired = (t: Entry<TaskObject>, d: TaskState) => {
    plan.guards.push({ key: t.key, modRevision: t.modRevision });
    plan.writes.push({ put: t.key, value: { ...t.value, desiredState: d, updatedAt: now() } });
    t.value = { ...t.value, desiredState: d };
  };
  const wakeIn = (ms: number) => (plan.wakeMs = Math.min(plan.wakeMs ?? ms, Math.max(ms, 20)));
  const global = isGlobal(s.spec);
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const request: TaskRequest = { serviceId: s.id, spec: s.spec.TaskTemplate, ...hostPorts(s.spec) };
  // Global tasks are bound to their node; replicated ones go where the scheduler says.
  const place = (nodeId: string | undefined, r: TaskRequest = request): Placement => (nodeId ? sched.fit(nodeId, r) : sched.place(r));
  const update = updateConfig(s.updateStatus?.state.startsWith('rollback') ? s.spec.RollbackConfig : s.spec.UpdateConfig);
  const policy = restartPolicy(s.spec.TaskTemplate.RestartPolicy);
  const nowMs = o.nowMs;
  // A task whose node is down or gone is lost: replaced at once, whatever it last reported.
  const lost = (t: TaskObject) => t.nodeId !== '' && nodeLost(nodeById.get(t.nodeId));
  // A replicated task makes way (once stopped) when its node is drained or, being active, no
  // longer meets the task's constraints (its labels changed): swarmkit's constraint enforcer.
  const evicted = (t: TaskObject) => {
    const n = nodeById.get(t.nodeId);
    return n !== undefined && (n.spec.Availability === 'drain' || (n.spec.Availability === 'active' && !constraintsMatch(t.spec.Placement?.Constraints ?? [], n)));
  };

  // Slots: replicated 1..N; global: one per node that should run one, keyed by node id.
  const slotKey = (t: TaskObject) => (global ? t.nodeId : String(t.slot));
  const wanted: { key: string; slot: number; nodeId?: string }[] = global
    ? globalNodes(nodes, s.spec.TaskTemplate).map((n) => ({ key: n.id, slot: 0, nodeId: n.id }))
    : Array.from({ length: replicas(s.spec) }, (_, i) => ({ key: String(i + 1), slot: i + 1 }));
  const wantedKeys = new Set(wanted.map((w) => w.key));
  const bySlot = new Map<string, Entry<TaskObject>[]>();
  for (const t of tasks) {
    if (t.value.desiredState === 'remove') continue;
    const k = slotKey(t.value);
    bySlot.set(k, [...(bySlot.get(k) ?? []), t]);
  }

  // Beyond the replica count, or on a node that should no longer run the global task: shut down.
  for (const [k, list] of bySlot) {
    if (wantedKeys.has(k)) continue;
    for (const t of list) if (stateRank(t.value.desiredState) <= stateRank('running')) setDesired(t, 'shutdown');
  }

  let updating = 0;
  let outdated = 0;
  let failedInUpdate: TaskObject | undefined;
  const monitorMs = update.Monitor / 1e6;
  const inUpdate = s.updateStatus && (s.updateStatus.state === 'updating' || s.updateStatus.state === 'rollback_started');
  const outdatedSlots: { key: string; active: Entry<TaskObject> }[] = [];

  for (const w of wanted) {
    const list = bySlot.get(w.key) ?? [];
    if (!global) {
      for (const t of list) {
        if (stateRank(t.value.desiredState) <= stateRank('running') && t.value.nodeId !== '' && (lost(t.value) || evicted(t.value))) setDesired(t, 'shutdown');
      }
    }
    const active = list.filter((t) => stateRank(t.value.desiredState) <= stateRank('running'));
    // A task told to stop that has not stopped yet still holds its slot (stop-first), unless
    // its node is lost: it may never say it stopped.
    const stopping = list.some((t) => stateRank(t.value.desiredState) > stateRank('running') && !isTerminal(t.value.status.state) && !lost(t.value));
    for (const t of active) {
      if (!isTerminal(t.value.status.state)) continue;
      if (t.value.specVersion === s.specVersion && inUpdate) failedInUpdate ??= t.value;
      // Ended by itself: the restart policy decides whether the slot gets a new task.
      if (!restartAllowed(t.value, list, policy)) continue;
      const due = Date.parse(t.value.status.timestamp) + policy.Delay / 1e6;
      if (due > nowMs) wakeIn(due - nowMs);
      else setDesired(t, 'shutdown');
    }
    const holding = active.filter((t) => t.value.desiredState === 'running');
    // The scheduler's second chance: a task no node could take is placed once one can.
    for (const t of holding) {
      if (t.value.status.state !== 'pending') continue;
      const p = place(t.value.nodeId || undefined, { serviceId: s.id, spec: t.value.spec, ...(t.value.ports ? { ports: t.value.ports } : {}) });
      if ('err' in p && p.err === t.value.status.err) continue;
      plan.guards.push({ key: t.key, modRevision: t.modRevision });
      plan.writes.push({ put: t.key, value: { ...t.value, ...taskPlacement(p, t.value.nodeId), updatedAt: now() } });
    }
    const runnable = holding.filter((t) => !isTerminal(t.value.status.state));
    // A paused node keeps the tasks it runs but takes no new one: not its global task's
    // replacement, nor a newer version of it in a rolling update.
    const paused = w.nodeId !== undefined && nodeById.get(w.nodeId)?.spec.Availability === 'pause';
    if (holding.length === 0) {
      // stop-first: the slot's next task waits for the last one to be down.
      if (!stopping && !paused) plan.writes.push(...newTask(s, w.slot, place(w.nodeId), w.nodeId));
      if (inUpdate) updating++;
      continue;
    }
    const current = runnable.filter((t) => t.value.specVersion === s.specVersion);
    const old = runnable.filter((t) => t.value.specVersion !== s.specVersion);
    for (const t of current) {
      const st = t.value.status;
      if (st.state !== 'running' || nowMs - Date.parse(st.timestamp) < monitorMs) {
        if (inUpdate) updating++;
        if (st.state === 'running') wakeIn(Date.parse(st.timestamp) + monitorMs - nowMs);
      }
    }
    // start-first: once the new task runs, the old one goes.
    if (current.some((t) => t.value.status.state === 'running')) for (const t of old) setDesired(t, 'shutdown');
    else if (old.length > 0 && current.length === 0 && !paused) {
      outdated++;
      outdatedSlots.push({ key: w.key, active: old[0] as Entry<TaskObject> });
    }
  }

  // Rolling update: replace outdated tasks, `Parallelism` at a time (0: all at once).
  if (failedInUpdate && inUpdate && update.FailureAction !== 'continue') {
    return failUpdate(se, plan, failedInUpdate, update.FailureAction);
  }
  const paused = s.updateStatus?.state === 'paused' || s.updateStatus?.state === 'rollback_paused';
  if (outdated > 0 && !paused) {
    const room = update.Parallelism === 0 ? outdatedSlots.length : Math.max(0, update.Parallelism - updating);
    const delayUntil = lastUpdateAt(tasks, s) + update.Delay / 1e6;
    if (room > 0 && delayUntil > nowMs && updating === 0) wakeIn(delayUntil - nowMs);
    else {
      for (const o of outdatedSlots.slice(0, room)) {
        if (update.Order === 'start-first') plan.writes.push(...newTask(s, o.active.value.slot, place(global ? o.active.value.nodeId : undefined), global ? o.active.value.nodeId : undefined));
        else setDesired(o.active, 'shutdown');
      }
    }
  } else if (inUpdate && outdated === 0 && updating === 0) {
    const rollback = s.updateStatus?.state === 'rollback_started';
    plan.guards.push({ key: se.key, modRevision: se.modRevision });
    plan.writes.push({
      put: se.key,
      value: {
        ...s,
        updateStatus: {
          state: rollback ? 'rollback_completed' : 'completed',
          startedAt: s.updateStatus?.startedAt ?? now(),
          completedAt: now(),
          message: rollback ? 'rollback completed' : 'update completed',
        },
      } satisfies ServiceObject,
    });
  }
  trimHistory(bySlot, plan, o.historyLimit);
  return plan;
}

function failUpdate(se: Entry<ServiceObject>, plan: Plan, t: TaskObject, action: 'pause' | 'rollback'): Plan {
  const s = se.value;
  const rollingBack = s.updateStatus?.state === 'rollback_started';
  let next: ServiceObject;
  if (action === 'rollback' && !rollingBack && s.previousSpec) {
    next = {
      ...s,
      spec: s.previousSpec,
      previousSpec: s.spec,
      specVersion: s.specVersion + 1,
      updatedAt: now(),
      updateStatus: { state: 'rollback_started', startedAt: now(), message: `update rolled back due to failure or early termination of task ${t.id}` },
    };
  } else {
    next = {
      ...s,
      updateStatus: {
        state: rollingBack ? 'rollback_paused' : 'paused',
        startedAt: s.updateStatus?.startedAt ?? now(),
        message: `${rollingBack ? 'rollback' : 'update'} paused due to failure or early termination of task ${t.id}`,
      },
    };
  }
  plan.guards.push({ key: se.key, modRevision: se.modRevision });
  plan.writes.push({ put: se.key, value: next });
  return plan;
}

/** When the last task of the current spec was created: the update delay counts from it. */
function lastUpdateAt(tasks: Entry<TaskObject>[], s: ServiceObject): number {
  let last = 0;
  for (const t of tasks) if (t.value.specVersion === s.specVersion) last = Math.max(last, Date.parse(t.value.status.state === 'running' ? t.value.status.timestamp : t.value.createdAt));
  return last;
}

/** A new task of the service: assigned where the scheduler put it, or pending saying why not. */
function newTask(s: ServiceObject, slot: number, p: Placement, boundTo: string | undefined): Write[] {
  const id = newObjectId();
  const t: TaskObject = {
    id,
    createdAt: now(),
    updatedAt: now(),
    serviceId: s.id,
    serviceName: s.spec.Name,
    slot,
    spec: s.spec.TaskTemplate,
    ...hostPorts(s.spec),
    specVersion: s.specVersion,
    desiredState: 'running',
    ...taskPlacement(p, boundTo ?? ''),
  };
  return [{ put: keys.object('tasks', id), value: t }];
}

/** Each slot keeps its running task and at most `TaskHistoryRetentionLimit` tasks in all. */
function trimHistory(bySlot: Map<string, Entry<TaskObject>[]>, plan: Plan, limit: number): void {
  for (const list of bySlot.values()) {
    const done = list
      .filter((t) => stateRank(t.value.desiredState) > stateRank('running') && isTerminal(t.value.status.state))
      .sort((a, b) => a.createRevision - b.createRevision);
    const excess = list.length - Math.max(limit, 1);
    for (const t of done.slice(0, Math.max(0, excess))) {
      plan.guards.push({ key: t.key, modRevision: t.modRevision });
      plan.writes.push({ put: t.key, value: { ...t.value, desiredState: 'remove', updatedAt: now() } });
    }
  }
}

function restartAllowed(t: TaskObject, list: Entry<TaskObject>[], policy: ReturnType<typeof restartPolicy>): boolean {
  if (policy.Condition === 'none') return false;
  if (policy.Condition === 'on-failure' && t.status.state === 'complete') return false;
  const attempts = list.filter((x) => x.value.specVersion === t.specVersion && isTerminal(x.value.status.state)).length;
  return policy.MaxAttempts === 0 || attempts <= policy.MaxAttempts;
}

/** A task's node and status from the scheduler's answer (Docker's messages). */
function taskPlacement(p: Placement, boundTo: string): Pick<TaskObject, 'nodeId' | 'status'> {
  if ('nodeId' in p) return { nodeId: p.nodeId, status: { state: 'assigned', timestamp: now(), message: 'scheduler assigned task to node' } };
  return { nodeId: boundTo, status: { state: 'pending', timestamp: now(), message: 'pending task scheduling', err: p.err } };
}

/** A task carries the service's host-mode ports, so its node publishes them. */
function hostPorts(spec: ServiceSpec): { ports?: PortConfig[] } {
  const ports = (spec.EndpointSpec?.Ports ?? []).filter((p) => p.PublishMode === 'host');
  return ports.length > 0 ? { ports } : {};
}
