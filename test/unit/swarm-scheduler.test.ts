import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, globalNodes, type TaskRequest } from '../../src/cluster/scheduler.js';
import { planService } from '../../src/cluster/orchestrator.js';
import { livenessChanges, type LivenessView } from '../../src/cluster/liveness.js';
import { constraintsMatch } from '../../src/cluster/constraints.js';
import type { NodeAvailability, NodeObject, NodeState, ServiceObject, TaskObject, TaskState } from '../../src/cluster/objects.js';
import type { Entry, Write } from '../../src/cluster/store.js';
import type { ServiceSpec, TaskSpec } from '../../src/cluster/spec.js';

/*
 * The scheduler, the orchestrator's plan for one service and the leader's liveness rule, on
 * plain objects: which node a task goes to, what a node that is down, drained or paused
 * does to its tasks, and when a node is marked down.
 */
const GiB = 1024 ** 3;

function node(id: string, o: { state?: NodeState; availability?: NodeAvailability; labels?: Record<string, string>; memory?: number; cpus?: number; role?: 'manager' | 'worker'; engineLabels?: Record<string, string> } = {}): NodeObject {
  return {
    id, createdAt: '', updatedAt: '', hostname: `host-${id}`, engineVersion: '28.0.0', nanoCpus: (o.cpus ?? 2) * 1e9, memoryBytes: o.memory ?? 4 * GiB, addr: '10.0.0.1', managerAddr: '', certPem: '',
    spec: { Labels: o.labels ?? {}, Role: o.role ?? 'worker', Availability: o.availability ?? 'active' },
    ...(o.engineLabels ? { engineLabels: o.engineLabels } : {}),
    status: { state: o.state ?? 'ready', message: '' },
  };
}

let ids = 0;
function task(serviceId: string, nodeId: string, o: { slot?: number; state?: TaskState; desired?: TaskState; spec?: TaskSpec; specVersion?: number; err?: string; ports?: TaskObject['ports'] } = {}): TaskObject {
  return {
    id: `t${++ids}`, createdAt: new Date(0).toISOString(), updatedAt: '', serviceId, serviceName: serviceId, slot: o.slot ?? 1, nodeId,
    spec: o.spec ?? { ContainerSpec: { Image: 'busybox' } }, specVersion: o.specVersion ?? 1, desiredState: o.desired ?? 'running',
    status: { state: o.state ?? 'running', timestamp: new Date(0).toISOString(), message: '', ...(o.err ? { err: o.err } : {}) },
    ...(o.ports ? { ports: o.ports } : {}),
  };
}

const req = (serviceId: string, spec: TaskSpec = { ContainerSpec: { Image: 'busybox' } }, ports?: TaskRequest['ports']): TaskRequest => ({ serviceId, spec, ...(ports ? { ports } : {}) });
const placeMany = (s: Scheduler, r: TaskRequest, n: number) => Array.from({ length: n }, () => s.place(r)).map((p) => ('nodeId' in p ? p.nodeId : p.err));
const tally = (xs: string[]) => Object.fromEntries([...new Set(xs)].sort().map((x) => [x, xs.filter((y) => y === x).length]));

test('spread: six replicas over three nodes go two to each; a tie goes to the node with fewer tasks in all', () => {
  const s = new Scheduler([node('a'), node('b'), node('c')], []);
  assert.deepEqual(tally(placeMany(s, req('web'), 6)), { a: 2, b: 2, c: 2 });
  // Node a runs two tasks of another service: the first task of a new service avoids it.
  const busy = new Scheduler([node('a'), node('b')], [task('other', 'a'), task('other', 'a'), task('other', 'b')]);
  assert.deepEqual(placeMany(busy, req('api'), 2), ['b', 'a']);
  // Ended tasks count for nothing: node a, with two ended tasks of the service, is the emptier.
  const ended = new Scheduler([node('a'), node('b')], [task('web', 'a', { state: 'failed' }), task('web', 'a', { desired: 'shutdown', state: 'shutdown' }), task('other', 'b')]);
  assert.deepEqual(placeMany(ended, req('web'), 1), ['a']);
});

test('--placement-pref spread=node.labels.zone: the zones first, then the nodes of each; a node without the label is a zone of its own', () => {
  const nodes = [node('a1', { labels: { zone: 'a' } }), node('a2', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } }), node('x')];
  const spec: TaskSpec = { ContainerSpec: { Image: 'busybox' }, Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] } };
  const s = new Scheduler(nodes, []);
  assert.deepEqual(tally(placeMany(s, req('web', spec), 6)), { a1: 1, a2: 1, b1: 2, x: 2 });
  // Without the preference, four tasks go one to each node.
  assert.deepEqual(tally(placeMany(new Scheduler(nodes, []), req('web'), 4)), { a1: 1, a2: 1, b1: 1, x: 1 });
  // A zone whose nodes cannot take the task (drained) is skipped, not waited for.
  const drained = [node('a1', { labels: { zone: 'a' }, availability: 'drain' }), node('b1', { labels: { zone: 'b' } })];
  assert.deepEqual(placeMany(new Scheduler(drained, []), req('web', spec), 2), ['b1', 'b1']);
});

test('reservations: a node whose CPU or memory is reserved takes no more; Docker\'s message counts the nodes; ended tasks give theirs back', () => {
  const big: TaskSpec = { ContainerSpec: { Image: 'busybox' }, Resources: { Reservations: { MemoryBytes: 3 * GiB } } };
  const s = new Scheduler([node('a'), node('b')], []);
  assert.deepEqual(placeMany(s, req('db', big), 3), ['a', 'b', 'no suitable node (insufficient resources on 2 nodes)']);
  const cpu: TaskSpec = { ContainerSpec: { Image: 'busybox' }, Resources: { Reservations: { NanoCPUs: 3e9 } } };
  assert.deepEqual(placeMany(new Scheduler([node('a')], []), req('x', cpu), 1), ['no suitable node (insufficient resources on 1 node)']);
  // A task still running on its node holds its reservation even once told to stop; an ended one does not.
  const stopping = new Scheduler([node('a')], [task('db', 'a', { spec: big, desired: 'shutdown', state: 'running' })]);
  assert.deepEqual(placeMany(stopping, req('db', big), 1), ['no suitable node (insufficient resources on 1 node)']);
  const ended = new Scheduler([node('a')], [task('db', 'a', { spec: big, state: 'failed' })]);
  assert.deepEqual(placeMany(ended, req('db', big), 1), ['a']);
});

test('availability and liveness: drained, paused and down nodes take no new task; the message counts each reason, most first', () => {
  const nodes = [node('a', { availability: 'drain' }), node('b', { availability: 'pause' }), node('c', { state: 'down' }), node('d', { labels: { zone: 'b' } })];
  const spec: TaskSpec = { ContainerSpec: { Image: 'busybox' }, Placement: { Constraints: ['node.labels.zone==a'] } };
  assert.deepEqual(placeMany(new Scheduler(nodes, []), req('web', spec), 1), ['no suitable node (3 nodes not available for new tasks; scheduling constraints not satisfied on 1 node)']);
  assert.deepEqual(placeMany(new Scheduler([node('a', { availability: 'pause' })], []), req('web'), 1), ['no suitable node (1 node not available for new tasks)']);
  assert.deepEqual(placeMany(new Scheduler([], []), req('web'), 1), ['no suitable node']);
});

test('--replicas-max-per-node and host-mode ports: a node with its share, or with the port taken, is skipped', () => {
  const spec: TaskSpec = { ContainerSpec: { Image: 'busybox' }, Placement: { MaxReplicas: 1 } };
  assert.deepEqual(placeMany(new Scheduler([node('a'), node('b')], []), req('web', spec), 3), ['a', 'b', 'no suitable node (max replicas per node limit exceed)']);
  const port = [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' as const }];
  const s = new Scheduler([node('a'), node('b')], [task('other', 'a', { ports: port })]);
  assert.deepEqual(placeMany(s, req('web', undefined, port), 2), ['b', 'no suitable node (host-mode port already in use on 2 nodes)']);
});

test('a task bound to its node (global): it fits there or says why, as swarmkit says it of one node', () => {
  const big: TaskSpec = { ContainerSpec: { Image: 'busybox' }, Resources: { Reservations: { MemoryBytes: 8 * GiB } } };
  const s = new Scheduler([node('a'), node('b', { availability: 'pause' })], []);
  assert.deepEqual(s.fit('a', req('g')), { nodeId: 'a' });
  assert.deepEqual(s.fit('a', req('h', big)), { err: 'insufficient resources on 1 node' });
  assert.deepEqual(s.fit('b', req('g')), { err: '1 node not available for new tasks' });
  const nodes = [node('a'), node('b', { availability: 'pause' }), node('c', { availability: 'drain' }), node('d', { state: 'down' }), node('e', { role: 'manager' })];
  assert.deepEqual(globalNodes(nodes, { Placement: { Constraints: ['node.role==worker'] } }).map((n) => n.id), ['a', 'b']);
});

test('constraints on engine labels (the daemon\'s --label) and node labels', () => {
  const n = node('a', { engineLabels: { disk: 'ssd' }, labels: { zone: 'a' } });
  assert.ok(constraintsMatch(['engine.labels.disk==ssd', 'node.labels.zone==a'], n));
  assert.ok(!constraintsMatch(['engine.labels.disk==hdd'], n));
  assert.ok(constraintsMatch(['engine.labels.gpu!=yes'], node('b')));
});

// --- the orchestrator's plan for one service ---

function service(id: string, spec: Partial<ServiceSpec> = {}): Entry<ServiceObject> {
  const full: ServiceSpec = { Name: id, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, RestartPolicy: { Delay: 0 } }, Mode: { Replicated: { Replicas: 1 } }, ...spec };
  return { key: `/s/${id}`, value: { id, createdAt: '', updatedAt: '', spec: full, specVersion: 1 }, modRevision: 1, createRevision: 1 };
}
const entry = (t: TaskObject): Entry<TaskObject> => ({ key: `/t/${t.id}`, value: t, modRevision: 1, createRevision: ++ids });

function plan(s: Entry<ServiceObject>, tasks: TaskObject[], nodes: NodeObject[]) {
  const entries = tasks.map(entry);
  const p = planService(s, entries, nodes, new Scheduler(nodes, tasks), { historyLimit: 5, nowMs: Date.now() });
  const puts = p.writes.filter((w): w is Extract<Write, { put: string }> => 'put' in w).map((w) => w.value as TaskObject);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  return {
    changed: puts.filter((t) => byId.has(t.id)),
    created: puts.filter((t) => !byId.has(t.id)),
  };
}

test('a node marked down: its replicated task is told to shut down (keeping its last status) and replaced on another node at once', () => {
  const nodes = [node('a'), node('b', { state: 'down' })];
  const s = service('web', { Mode: { Replicated: { Replicas: 2 } } });
  const onA = task('web', 'a', { slot: 1 });
  const onB = task('web', 'b', { slot: 2 });
  const { changed, created } = plan(s, [onA, onB], nodes);
  assert.deepEqual(changed.map((t) => [t.id, t.desiredState, t.status.state]), [[onB.id, 'shutdown', 'running']]);
  assert.deepEqual(created.map((t) => [t.slot, t.nodeId, t.status.state, t.status.message]), [[2, 'a', 'assigned', 'scheduler assigned task to node']]);
  // A node that was removed is as lost as one that is down.
  const gone = plan(s, [onA, onB], [node('a')]);
  assert.deepEqual(gone.created.map((t) => t.nodeId), ['a']);
  // Next pass, the old task still "running" on the down node holds nothing: no second replacement.
  const replaced = task('web', 'a', { slot: 2 });
  const again = plan(s, [onA, { ...onB, desiredState: 'shutdown' }, replaced], nodes);
  assert.deepEqual([again.changed, again.created], [[], []]);
});

test('drain: a replicated task is shut down and its replacement waits for it to stop; with no other node it is pending', () => {
  const s = service('web');
  const t = task('web', 'a');
  const first = plan(s, [t], [node('a', { availability: 'drain' }), node('b')]);
  assert.deepEqual(first.changed.map((x) => x.desiredState), ['shutdown']);
  assert.deepEqual(first.created, [], 'the replacement waits for the old task to stop');
  const stopped = { ...t, desiredState: 'shutdown' as const, status: { ...t.status, state: 'shutdown' as const } };
  assert.deepEqual(plan(s, [stopped], [node('a', { availability: 'drain' }), node('b')]).created.map((x) => x.nodeId), ['b']);
  const alone = plan(s, [stopped], [node('a', { availability: 'drain' })]).created[0];
  assert.equal(alone?.status.state, 'pending');
  assert.equal(alone?.status.err, 'no suitable node (1 node not available for new tasks)');
  assert.equal(alone?.nodeId, '');
});

test('pause keeps a running task; a pending task is placed once a node can take it, and its message is only rewritten when it changes', () => {
  const s = service('web', { Mode: { Replicated: { Replicas: 2 } } });
  const running = task('web', 'a', { slot: 1 });
  const pending = task('web', '', { slot: 2, state: 'pending', err: 'no suitable node (1 node not available for new tasks)' });
  const paused = plan(s, [running, pending], [node('a', { availability: 'pause' })]);
  assert.deepEqual([paused.changed, paused.created], [[], []], 'nothing to write while the node is paused');
  const active = plan(s, [running, pending], [node('a')]);
  assert.deepEqual(active.changed.map((t) => [t.id, t.nodeId, t.status.state]), [[pending.id, 'a', 'assigned']]);
  const none = plan(s, [running, pending], []);
  assert.equal(none.changed.find((t) => t.id === pending.id)?.status.err, 'no suitable node', 'a new reason is written');
});

test('a node whose labels no longer meet a task\'s constraints: the task makes way; its replacement is pending with the reason', () => {
  const spec: TaskSpec = { ContainerSpec: { Image: 'busybox' }, RestartPolicy: { Delay: 0 }, Placement: { Constraints: ['node.labels.zone==a'] } };
  const s = service('web', { TaskTemplate: spec });
  const t = task('web', 'a', { spec });
  const moved = plan(s, [t], [node('a', { labels: { zone: 'b' } })]);
  assert.deepEqual(moved.changed.map((x) => x.desiredState), ['shutdown']);
  const stopped = { ...t, desiredState: 'shutdown' as const, status: { ...t.status, state: 'shutdown' as const } };
  assert.equal(plan(s, [stopped], [node('a', { labels: { zone: 'b' } })]).created[0]?.status.err, 'no suitable node (scheduling constraints not satisfied on 1 node)');
});

test('a global service: a task for each ready node not drained; a paused node keeps its task but gets no new one; down and drained nodes\' tasks shut down', () => {
  const s = service('agent', { Mode: { Global: {} } });
  const nodes = [node('a'), node('b', { availability: 'pause' }), node('c', { availability: 'drain' }), node('d', { state: 'down' }), node('e', { availability: 'pause' })];
  const onB = task('agent', 'b', { slot: 0 });
  const onC = task('agent', 'c', { slot: 0 });
  const onD = task('agent', 'd', { slot: 0 });
  const failedOnE = task('agent', 'e', { slot: 0, state: 'failed' });
  const { changed, created } = plan(s, [onB, onC, onD, failedOnE], nodes);
  assert.deepEqual(created.map((t) => [t.nodeId, t.slot, t.status.state]), [['a', 0, 'assigned']]);
  assert.deepEqual(changed.map((t) => [t.nodeId, t.desiredState]).sort(), [['c', 'shutdown'], ['d', 'shutdown'], ['e', 'shutdown']]);
  // A rolling update (all at once) replaces the task on the active node, not the one on the paused node.
  const updated: Entry<ServiceObject> = { ...s, value: { ...s.value, spec: { ...s.value.spec, UpdateConfig: { Parallelism: 0 } }, specVersion: 2, updateStatus: { state: 'updating', startedAt: '', message: '' } } };
  const rolling = plan(updated, [task('agent', 'a', { slot: 0 }), task('agent', 'b', { slot: 0 })], [node('a'), node('b', { availability: 'pause' })]);
  assert.deepEqual(rolling.changed.map((t) => [t.nodeId, t.desiredState]), [['a', 'shutdown']]);
  // A node too small for the task's reservation gets it bound and pending, saying why.
  const big = service('big', { Mode: { Global: {} }, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Resources: { Reservations: { MemoryBytes: 64 * GiB } } } });
  const pending = plan(big, [], [node('a')]).created[0];
  assert.deepEqual([pending?.nodeId, pending?.status.state, pending?.status.err], ['a', 'pending', 'insufficient resources on 1 node']);
});

test('six replicas created in one pass spread over three nodes', () => {
  const { created } = plan(service('web', { Mode: { Replicated: { Replicas: 6 } } }), [], [node('a'), node('b'), node('c')]);
  assert.deepEqual(tally(created.map((t) => t.nodeId)), { a: 2, b: 2, c: 2 });
});

// --- liveness ---

function view(o: Partial<LivenessView> & { now: number }): LivenessView {
  return { graceMs: 3000, answeringSince: 0, firstSeen: new Map([['a', 0], ['b', 0]]), lastBeat: new Map(), markedDown: new Map(), ...o };
}

test('liveness: a ready node is down after a grace period without a heartbeat, and ready again when one arrives after that', () => {
  const a = node('a');
  assert.deepEqual(livenessChanges([a], view({ now: 5000, lastBeat: new Map([['a', 2500]]) })), []);
  assert.deepEqual(livenessChanges([a], view({ now: 5000, lastBeat: new Map([['a', 1000]]) })), [{ id: 'a', status: { state: 'down', message: 'heartbeat failure' } }]);
  // A node never heard of is given a grace period from when the leader first saw it.
  assert.deepEqual(livenessChanges([a], view({ now: 5000, firstSeen: new Map([['a', 4000]]) })), []);
  assert.equal(livenessChanges([a], view({ now: 9000, firstSeen: new Map([['a', 4000]]) }))[0]?.status.state, 'down');
  const down = node('a', { state: 'down' });
  assert.deepEqual(livenessChanges([down], view({ now: 9000, lastBeat: new Map([['a', 8000]]), markedDown: new Map([['a', 7000]]) })), [{ id: 'a', status: { state: 'ready', message: '' } }]);
  assert.deepEqual(livenessChanges([down], view({ now: 9000, lastBeat: new Map([['a', 1000]]), markedDown: new Map([['a', 7000]]) })), [], 'a heartbeat from before it was marked down does not count');
  // Marked down by an earlier leader: any heartbeat this one sees brings it back.
  assert.equal(livenessChanges([down], view({ now: 9000, lastBeat: new Map([['a', 8000]]) }))[0]?.status.state, 'ready');
  const unknown = node('a', { state: 'unknown' });
  assert.deepEqual(livenessChanges([unknown], view({ now: 9000 })), [{ id: 'a', status: { state: 'down', message: 'heartbeat failure for node in "unknown" state' } }]);
  const legacy = { ...node('a'), status: undefined };
  assert.equal(livenessChanges([legacy], view({ now: 9000 }))[0]?.status.state, 'down', 'a node without a status counts as ready');
});

test('liveness after a quorum loss: no node is marked down until the store has answered for a whole grace period', () => {
  const nodes = [node('a'), node('b')];
  const beats = new Map([['a', 1000], ['b', 1000]]);
  assert.deepEqual(livenessChanges(nodes, view({ now: 60_000, lastBeat: beats, answeringSince: undefined })), [], 'the store does not answer');
  assert.deepEqual(livenessChanges(nodes, view({ now: 60_000, lastBeat: beats, answeringSince: 58_000 })), [], 'it answers again, for less than the grace period');
  // Node a's heartbeat arrived once the store was back; b has said nothing for a grace period since.
  const after = livenessChanges(nodes, view({ now: 61_500, lastBeat: new Map([['a', 59_000], ['b', 1000]]), answeringSince: 58_000 }));
  assert.deepEqual(after, [{ id: 'b', status: { state: 'down', message: 'heartbeat failure' } }]);
});
