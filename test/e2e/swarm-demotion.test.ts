// A demoted manager that missed its demotion. The manager that demotes a node writes its new
// role, then takes its etcd member out of the group; a member that was behind (a busy
// machine: this is how a CI run failed) or a node that was down never sees the write, only
// the removal. The node must still become a worker, keeping its tasks, and not stay a
// manager whose store never answers again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterForFile, type SwarmCluster, type SwarmNode } from '../helpers/swarm-cluster.js';
import { isAlive } from '../../src/lib/proc.js';

const QUICK = ['--detach', '--no-resolve-image', '--stop-grace-period', '1s'];

let c: SwarmCluster;
clusterForFile({ nodes: 3, prefix: 'bsd', subnet: '10.236.0' }, (x) => (c = x));
const n = (i: number): SwarmNode => c.node(i);
let id3 = '';

function pinnedPid(): string | undefined {
  const id = n(3).ok(['ps', '--filter', 'label=com.docker.swarm.service.name=pinned', '--format', '{{.ID}}']).trim();
  return id ? n(3).ok(['inspect', '--format', '{{.State.Pid}}', id]).trim() : undefined;
}

/** Node 3 a worker by its own word and by the managers', its member gone, its task on. */
async function assertWorker(pid: string): Promise<void> {
  await c.waitFor('node 3 to be a worker', () => /not a swarm manager/.test(n(3).docker(['node', 'ls']).stderr) || undefined, 60_000, 500);
  assert.equal(n(3).ok(['info', '--format', '{{.Swarm.ControlAvailable}} {{.Swarm.LocalNodeState}}']).trim(), 'false active');
  assert.equal(await n(3).etcdMember(), undefined, 'its etcd member is stopped and forgotten');
  assert.equal(n(1).ok(['info', '--format', '{{.Swarm.Managers}}']).trim(), '2');
  await c.waitFor('node 3 ready as a worker', () => {
    const line = n(1).ok(['node', 'ls', '--format', '{{.ID}} {{.Status}} {{.ManagerStatus}}']).split('\n').find((l) => l.startsWith(id3));
    return line?.trim() === `${id3} Ready` || undefined;
  }, 60_000, 500);
  assert.equal(pinnedPid(), pid, 'its task ran on through the demotion');
}

async function promote3(): Promise<void> {
  n(1).ok(['node', 'promote', id3]);
  await c.waitFor('node 3 to be a manager', () => n(3).docker(['node', 'ls']).code === 0 || undefined, 60_000, 500);
  await c.waitFor('node 3\'s member running', () => n(3).etcdMember(), 10_000, 200);
}

test('three managers and a task pinned on node 3', async () => {
  c.swarmInit(n(1));
  c.join(n(2), 'manager');
  id3 = c.join(n(3), 'manager');
  n(1).ok(['service', 'create', '--name', 'pinned', ...QUICK, '--constraint', `node.id==${id3}`, 'busybox', 'sleep', '100000']);
  await c.waitFor('the pinned task on node 3', () => pinnedPid(), 60_000, 300);
});

test('demoted while its etcd member is paused: the member never sees the new role, only its removal; the node asks the other managers and becomes a worker', async () => {
  const pid = pinnedPid() as string;
  const member = await n(3).etcdMember();
  assert.ok(member, 'node 3 runs an etcd member');
  process.kill(member.pid, 'SIGSTOP');
  try {
    n(1).ok(['node', 'demote', id3]);
    // Long enough for the write and the removal to be committed without it.
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    if (await isAlive(member)) process.kill(member.pid, 'SIGCONT');
  }
  await assertWorker(pid);
  assert.match(n(3).daemon.log(), /the other managers say it was demoted/);
});

test('demoted while down (berthd and member killed): started again, it finds it is a worker instead of waiting on a member that was removed', async () => {
  await promote3();
  const pid = pinnedPid() as string;
  await n(3).killAll();
  n(1).ok(['node', 'demote', id3]);
  await n(3).restart();
  await assertWorker(pid);
  assert.match(n(3).daemon.log(), /cannot start its manager and the other managers say it was demoted/);
  n(1).ok(['service', 'rm', 'pinned']);
});
