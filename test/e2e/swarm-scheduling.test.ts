import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { daemonForFile, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { EtcdStore } from '../../src/cluster/etcd-store.js';
import { keys, newObjectId, type Heartbeat, type NodeObject } from '../../src/cluster/objects.js';
import { silentLogger } from '../../src/lib/logger.js';

/*
 * Scheduling and node liveness on one berth manager, through the real docker CLI: the
 * heartbeat period of `swarm update`, resource reservations and availability as the
 * scheduler sees them, and a second node that exists only as a node object with heartbeats
 * written by this test (no berthd behind it, so its tasks stay assigned): when it falls
 * silent it is marked down and its task is placed again on the real node.
 */
let d: TestDaemon;
daemonForFile((x) => (d = x), { swarm: true });

let store: EtcdStore | undefined;
/** The daemon's own etcd member, through its socket in the exec-root (as the daemon reaches it). */
function cluster(): EtcdStore {
  store ??= new EtcdStore(`unix:${join(d.execRoot, 'swarm', 'client.sock:0')}`, silentLogger());
  return store;
}
/**
 * The ghost node's heartbeats, written by a child process: this one blocks in spawnSync for
 * every docker command, and on a loaded machine a few of those in a row outlast the 3 s after
 * which the node is down (the ghost flapped, and its global task then never came back: a
 * flaky test).
 */
class GhostBeats {
  readonly nodeId: string;
  #child: ChildProcess | undefined;
  constructor(nodeId: string) {
    this.nodeId = nodeId;
  }

  /** Resolves once the child's own beats come in; until then this process beats for it. */
  async start(): Promise<void> {
    const key = keys.heartbeat(this.nodeId);
    const before = (await cluster().get<Heartbeat>(key))?.value.at;
    const script = `
      const { EtcdStore } = await import(${JSON.stringify(new URL('../../src/cluster/etcd-store.js', import.meta.url).href)});
      const { HeartbeatWriter } = await import(${JSON.stringify(new URL('../../src/cluster/heartbeat.js', import.meta.url).href)});
      const { silentLogger } = await import(${JSON.stringify(new URL('../../src/lib/logger.js', import.meta.url).href)});
      const store = new EtcdStore(process.argv[1], silentLogger());
      const w = new HeartbeatWriter({ store, nodeId: process.argv[2], periodMs: () => 300, log: silentLogger() });
      w.start();
      process.on('SIGTERM', async () => { await w.stop(); await store.close(); process.exit(0); });`;
    this.#child = spawn(process.execPath, ['--input-type=module', '-e', script, `unix:${join(d.execRoot, 'swarm', 'client.sock:0')}`, this.nodeId], { stdio: ['ignore', 'inherit', 'inherit'] });
    // Node starting up and loading the etcd client can take seconds on a loaded machine:
    // bridge beats (negative seq) keep the ghost alive until the child's (positive) show.
    let bridge = 0;
    await waitFor('the ghost\'s first heartbeat from its own process', async () => {
      const cur = (await cluster().get<Heartbeat>(key))?.value;
      if (cur && cur.seq > 0 && cur.at !== before) return true;
      await cluster().txn([], [{ put: key, value: { at: new Date().toISOString(), seq: --bridge } }]);
      return undefined;
    }, 30_000, 250);
  }

  async stop(): Promise<void> {
    const c = this.#child;
    this.#child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  }
}

let ghostBeats: GhostBeats | undefined;
after(async () => {
  await ghostBeats?.stop();
  await store?.close();
});

const QUICK = ['--stop-grace-period', '1s', '--restart-delay', '0s', '--no-resolve-image'];
type TaskRow = { ID: string; Name: string; Node: string; DesiredState: string; CurrentState: string; Error: string };
/** The CLI prints a task's error quoted (`%q`). */
const quoted = (err: string) => JSON.stringify(err);

function tasks(service: string): TaskRow[] {
  return d.ok(['service', 'ps', '--no-trunc', '--format', '{{json .}}', service]).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TaskRow);
}

function containers(service: string): string[] {
  return d.ok(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${service}`]).trim().split('\n').filter(Boolean);
}

const replicasOf = (service: string) => d.ok(['service', 'ls', '--filter', `name=${service}`, '--format', '{{.Replicas}}']).trim();
const nodeStatus = () => d.ok(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Availability}}']).trim().split('\n').sort().join('\n');

test('swarm update --dispatcher-heartbeat 1s applies without a restart: the node is Ready and beats every second', async () => {
  d.ok(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  d.ok(['swarm', 'update', '--dispatcher-heartbeat', '1s']);
  assert.equal(d.ok(['info', '--format', '{{.Swarm.Cluster.Spec.Dispatcher.HeartbeatPeriod}}']).trim(), '1s');
  assert.equal(d.ok(['node', 'ls', '--format', '{{.Status}} {{.Availability}}']).trim(), 'Ready Active');
  assert.equal(d.ok(['node', 'inspect', 'self', '--format', '{{.Status.State}}']).trim(), 'ready');
  // Three more beats take about 3 s at the new period; at the old one (5 s) they could not come in 9.
  const id = d.ok(['node', 'inspect', 'self', '--format', '{{.ID}}']).trim();
  const seq = async () => (await cluster().get<Heartbeat>(keys.heartbeat(id)))?.value.seq ?? 0;
  const first = await waitFor('a heartbeat', seq);
  const t0 = Date.now();
  await waitFor('three more heartbeats', async () => ((await seq()) >= first + 3 ? true : undefined), 9000);
  assert.ok(Date.now() - t0 < 9000);
});

test('--reserve-memory: a task no node has the memory for is pending with Docker\'s message; reservations used up leave the next task pending', async () => {
  const memory = Number(d.ok(['node', 'inspect', 'self', '--format', '{{.Description.Resources.MemoryBytes}}']).trim());
  assert.ok(memory > 0);
  d.ok(['service', 'create', '-d', '--name', 'huge', '--reserve-memory', String(memory + 1), ...QUICK, 'busybox', 'sleep', '1000']);
  const huge = await waitFor('the task pending', () => tasks('huge').find((t) => t.CurrentState.startsWith('Pending') && t.Error));
  assert.equal(huge.Error, quoted('no suitable node (insufficient resources on 1 node)'));
  assert.deepEqual(containers('huge'), []);

  d.ok(['service', 'create', '-d', '--name', 'half', '--replicas', '2', '--reserve-memory', String(Math.floor(memory * 0.6)), ...QUICK, 'busybox', 'sleep', '1000']);
  const rows = await waitFor('one running, one pending', () => {
    const t = tasks('half');
    return t.some((r) => r.CurrentState.startsWith('Running')) && t.some((r) => r.CurrentState.startsWith('Pending')) ? t : undefined;
  });
  assert.equal(rows.find((r) => r.CurrentState.startsWith('Pending'))?.Error, quoted('no suitable node (insufficient resources on 1 node)'));
  assert.equal(containers('half').length, 1);
  d.ok(['service', 'rm', 'huge', 'half']);
});

test('node update --availability pause: the running task keeps running, a scale-up stays pending until the node is active again', async () => {
  d.ok(['service', 'create', '-d', '--name', 'calm', ...QUICK, 'busybox', 'sleep', '1000']);
  await waitFor('calm running', () => (replicasOf('calm') === '1/1' ? true : undefined));
  const [running] = containers('calm');
  d.ok(['node', 'update', '--availability', 'pause', 'self']);
  d.ok(['service', 'scale', '--detach', 'calm=2']);
  const pending = await waitFor('the new task pending', () => tasks('calm').find((t) => t.CurrentState.startsWith('Pending') && t.Error));
  assert.equal(pending.Error, quoted('no suitable node (1 node not available for new tasks)'));
  assert.deepEqual(containers('calm'), [running], 'the task that ran before the pause still runs');
  d.ok(['node', 'update', '--availability', 'active', 'self']);
  await waitFor('both running', () => (replicasOf('calm') === '2/2' ? true : undefined));
  assert.ok(containers('calm').includes(running as string));
  d.ok(['service', 'rm', 'calm']);
});

test('a second node that stops heartbeating is marked Down after 3 periods; its replicated task is placed on the real node, its global task shut down; it is Ready once it beats again, its old tasks still shut down', async () => {
  const ghostId = newObjectId();
  const self = JSON.parse(d.ok(['node', 'inspect', 'self', '--format', '{{json .}}'])) as { Description: { Hostname: string; Resources: { NanoCPUs: number; MemoryBytes: number } } };
  const ghost: NodeObject = {
    id: ghostId, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), hostname: 'ghost', engineVersion: '28.0.0',
    nanoCpus: self.Description.Resources.NanoCPUs, memoryBytes: self.Description.Resources.MemoryBytes, addr: '127.0.0.2', managerAddr: '', certPem: '',
    spec: { Labels: {}, Role: 'worker', Availability: 'active' }, status: { state: 'ready', message: '' },
  };
  await cluster().txn([{ key: keys.object('nodes', ghostId), absent: true }], [{ put: keys.object('nodes', ghostId), value: ghost }]);
  ghostBeats = new GhostBeats(ghostId);
  await ghostBeats.start();
  const real = self.Description.Hostname;
  assert.equal(nodeStatus(), [`ghost Ready Active`, `${real} Ready Active`].sort().join('\n'));

  // Spread: one task on each node; the ghost's stays assigned (nothing runs it).
  d.ok(['service', 'create', '-d', '--name', 'spread', '--replicas', '2', ...QUICK, 'busybox', 'sleep', '1000']);
  d.ok(['service', 'create', '-d', '--name', 'everywhere', '--mode', 'global', ...QUICK, 'busybox', 'sleep', '1000']);
  const placed = await waitFor('spread over both nodes', () => {
    const t = tasks('spread');
    return t.some((r) => r.Node === 'ghost' && r.CurrentState.startsWith('Assigned')) && t.some((r) => r.Node === real && r.CurrentState.startsWith('Running')) ? t : undefined;
  });
  assert.equal(placed.length, 2);
  await waitFor('a global task on each node', () => (tasks('everywhere').filter((r) => r.DesiredState === 'Running').map((r) => r.Node).sort().join() === ['ghost', real].sort().join() ? true : undefined));

  // The ghost falls silent: Down within 3 periods of 1 s (and a few ticks), not the old 15 s.
  await ghostBeats.stop();
  const silentAt = Date.now();
  await waitFor('ghost down', () => (nodeStatus().includes('ghost Down Active') ? true : undefined), 12_000);
  assert.ok(Date.now() - silentAt >= 2000, 'not before its grace period');
  assert.equal(d.ok(['node', 'inspect', 'ghost', '--format', '{{.Status.State}}: {{.Status.Message}}']).trim(), 'down: heartbeat failure');
  const moved = await waitFor('spread running on the real node only', () => {
    const t = tasks('spread');
    return t.filter((r) => r.Node === real && r.DesiredState === 'Running' && r.CurrentState.startsWith('Running')).length === 2 ? t : undefined;
  });
  const lost = moved.find((r) => r.Node === 'ghost');
  assert.equal(lost?.DesiredState, 'Shutdown');
  assert.match(lost?.CurrentState ?? '', /^Assigned/, 'the lost task keeps the state it last reported');
  assert.equal(replicasOf('spread'), '2/2');
  assert.equal(containers('spread').length, 2);
  await waitFor('the ghost\'s global task shut down', () => (tasks('everywhere').find((r) => r.Node === 'ghost')?.DesiredState === 'Shutdown' ? true : undefined));

  // It beats again: Ready. Its old tasks stay shut down (a real node's agent would now stop
  // their containers); the replicated task stays where it went.
  await ghostBeats.start();
  await waitFor('ghost ready', () => (nodeStatus().includes('ghost Ready Active') ? true : undefined));
  assert.equal(d.ok(['node', 'inspect', 'ghost', '--format', '{{.Status.State}}']).trim(), 'ready');
  assert.deepEqual(tasks('spread').filter((r) => r.Node === 'ghost').map((r) => r.DesiredState), ['Shutdown']);
  assert.equal(tasks('spread').filter((r) => r.DesiredState === 'Running' && r.Node === real).length, 2);
  await ghostBeats.stop();
  d.ok(['node', 'rm', '--force', ghostId]);
  assert.ok(!(await cluster().get(keys.heartbeat(ghostId))), 'node rm takes its heartbeat key along');
  d.ok(['service', 'rm', 'spread', 'everywhere']);
});
