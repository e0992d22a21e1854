import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdMember } from '../../src/cluster/etcd-member.js';
import { EtcdStore } from '../../src/cluster/etcd-store.js';
import { HeartbeatWriter } from '../../src/cluster/heartbeat.js';
import { GRACE_PERIODS, NodeLiveness } from '../../src/cluster/liveness.js';
import { Orchestrator } from '../../src/cluster/orchestrator.js';
import { keys, type NodeObject, type ServiceObject, type TaskObject } from '../../src/cluster/objects.js';
import type { Guard } from '../../src/cluster/store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { testTmpDir } from '../helpers/paths.js';

/*
 * The leader's node liveness and orchestrator against a real etcd member, with three nodes
 * that exist only as node objects and heartbeat writers (no agent: their tasks stay
 * assigned). A node that stops heartbeating is marked down and its task placed elsewhere;
 * a store that stops answering (the member SIGSTOPped past the client's deadline, as a
 * quorum loss looks to a manager) stops every heartbeat, and afterwards no node is marked
 * down before it has had a whole grace period to be heard from again.
 */
const PERIOD_MS = 500;
const GRACE_MS = GRACE_PERIODS * PERIOD_MS;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function fakeNode(id: string): NodeObject {
  return {
    id, createdAt: '', updatedAt: '', hostname: `node-${id}`, engineVersion: '28.0.0', nanoCpus: 2e9, memoryBytes: 2 ** 32, addr: '10.9.0.1', managerAddr: '', certPem: '',
    spec: { Labels: {}, Role: 'worker', Availability: 'active' }, status: { state: 'ready', message: '' },
  };
}

test('a silent node is marked down and its task moves; after the store stops answering, no node is marked down before a grace period has passed since it answers again', async () => {
  const dir = testTmpDir('bt-live-');
  const shm = join('/dev/shm', `berth-etcd-${dir.split('/').pop() ?? 'x'}`);
  const log = silentLogger();
  const member = new EtcdMember({ stateDir: join(dir, 'state'), dataDir: shm, socketDir: join(dir, 'sock'), log });
  const { process: etcd } = await member.ensure('leader', 'cluster1');
  const store = new EtcdStore(member.endpoint, log);
  const writers = new Map<string, HeartbeatWriter>();
  let orchestrator: Orchestrator | undefined;
  let liveness: NodeLiveness | undefined;
  try {
    await until('etcd', () => store.get('/none').then(() => true));
    await store.txn([], [{ put: keys.leader, value: { nodeId: 'leader' } }]);
    const leader = await store.get(keys.leader);
    const fence: Guard = { key: keys.leader, createRevision: leader?.createRevision ?? 0 };
    const ids = ['a', 'b', 'c'];
    await store.txn([], ids.map((id) => ({ put: keys.object('nodes', id), value: fakeNode(id) })));
    for (const id of ids) {
      const w = new HeartbeatWriter({ store, nodeId: id, periodMs: () => PERIOD_MS, log });
      w.start();
      writers.set(id, w);
    }
    orchestrator = new Orchestrator({ store, log, fence: () => fence, historyLimit: () => 5 });
    liveness = new NodeLiveness({ store, log, fence: () => fence, periodMs: () => PERIOD_MS });
    await orchestrator.start();
    await liveness.start();
    const svc: ServiceObject = { id: 'web', createdAt: '', updatedAt: '', specVersion: 1, spec: { Name: 'web', Mode: { Replicated: { Replicas: 3 } }, TaskTemplate: { ContainerSpec: { Image: 'busybox' } } } };
    await store.txn([], [{ put: keys.object('services', 'web'), value: svc }]);

    const running = async () => (await store.list<TaskObject>(keys.prefix('tasks'))).map((t) => t.value).filter((t) => t.desiredState === 'running');
    const nodeOf = async (id: string) => store.get<NodeObject>(keys.object('nodes', id));
    const spread = await until('one task on each node', async () => {
      const t = await running();
      return t.length === 3 && new Set(t.map((x) => x.nodeId)).size === 3 ? t : undefined;
    });
    assert.ok(spread.every((t) => t.status.state === 'assigned' && t.status.message === 'scheduler assigned task to node'));

    // b stops heartbeating: down with Docker's message, its task shut down and replaced on a or c.
    await writers.get('b')?.stop();
    const bDown = await until('b down', async () => ((await nodeOf('b'))?.value.status?.state === 'down' ? nodeOf('b') : undefined));
    assert.deepEqual(bDown?.value.status, { state: 'down', message: 'heartbeat failure' });
    const moved = await until('b\'s task replaced', async () => {
      const t = await running();
      return t.length === 3 && !t.some((x) => x.nodeId === 'b') ? t : undefined;
    });
    // a and c run one task each: the tie goes the same way every time (a sorts first).
    assert.deepEqual(moved.map((t) => t.nodeId).sort(), ['a', 'a', 'c']);
    const oldB = (await store.list<TaskObject>(keys.prefix('tasks'))).map((t) => t.value).find((t) => t.nodeId === 'b');
    assert.deepEqual([oldB?.desiredState, oldB?.status.state], ['shutdown', 'assigned'], 'the lost task keeps the status it last reported');

    // The store stops answering for longer than the client's deadline: no heartbeat can be written.
    const aBefore = await nodeOf('a');
    await writers.get('a')?.stop();
    await writers.get('c')?.stop();
    process.kill(etcd.pid, 'SIGSTOP');
    await sleep(4000);
    process.kill(etcd.pid, 'SIGCONT');
    // The client takes a moment to reconnect: the grace period counts from the first answer.
    await until('the store answering again', () => store.get('/none').then(() => true));
    const back = Date.now();
    // a heartbeats again at once; c stays silent.
    writers.get('a')?.start();
    await until('c down', async () => ((await nodeOf('c'))?.value.status?.state === 'down' ? true : undefined));
    const downAfter = Date.now() - back;
    // The leader may have had its first answer a moment before this client: a tick of slack.
    assert.ok(downAfter >= GRACE_MS - PERIOD_MS / 2, `c was marked down ${downAfter} ms after the store answered again, before its ${GRACE_MS} ms grace period`);
    await sleep(2 * GRACE_MS);
    const aAfter = await nodeOf('a');
    assert.equal(aAfter?.modRevision, aBefore?.modRevision, 'a, heartbeating again within its grace period, was never marked down');
    // The orchestrator carried on: c's task is replaced on a, the one node left.
    await until('every task on a', async () => {
      const t = await running();
      return t.length === 3 && t.every((x) => x.nodeId === 'a') ? true : undefined;
    });
  } finally {
    await liveness?.stop();
    await orchestrator?.stop();
    for (const w of writers.values()) await w.stop();
    try {
      process.kill(etcd.pid, 'SIGCONT');
    } catch {
      // gone
    }
    await store.close();
    await member.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
  }
});
