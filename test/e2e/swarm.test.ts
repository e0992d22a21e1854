import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { daemonForFile, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/net-fixture.js';

/*
 * Swarm mode on one manager, through the real docker CLI, with live restore on (which Docker
 * refuses together with swarm mode): the tests run in order on one daemon, as a user would.
 * busybox's `sleep` as PID 1 ignores SIGTERM, so services stop within a 1 s grace period.
 */
let d: TestDaemon;
daemonForFile((x) => (d = x), { liveRestore: true, swarm: true });

const GRACE = ['--stop-grace-period', '1s'];
/** The CLI's own wait is 5 s of stability unless the service says otherwise. */
const QUICK = ['--update-monitor', '1s', '--restart-delay', '0s', ...GRACE];

type TaskRow = { ID: string; Name: string; DesiredState: string; CurrentState: string; Error: string };

function tasks(service: string): TaskRow[] {
  return d
    .ok(['service', 'ps', '--no-trunc', '--format', '{{json .}}', service])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TaskRow);
}

/** Running task containers of a service: name → container id. */
function taskContainers(service: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of d.ok(['ps', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${service}`, '--format', '{{.Names}} {{.ID}}']).trim().split('\n').filter(Boolean)) {
    const [name, id] = l.split(' ');
    out.set(name as string, id as string);
  }
  return out;
}

function replicasOf(service: string): string {
  return d.ok(['service', 'ls', '--filter', `name=${service}`, '--format', '{{.Replicas}}']).trim();
}

function ping(): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.sock, path: '/_ping' }, (res) => {
      res.resume();
      resolve(res.headers['swarm'] as string | undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

test('before swarm init: service commands say how to start a swarm, --autolock is refused by name, the ping says inactive', async () => {
  assert.match(d.fails(['service', 'ls']), /This node is not a swarm manager\. Use "docker swarm init" or "docker swarm join"/);
  assert.match(d.fails(['swarm', 'leave']), /This node is not part of a swarm/);
  assert.match(d.fails(['swarm', 'init', '--autolock', '--advertise-addr', '127.0.0.1']), /does not support autolock/);
  assert.equal(await ping(), 'inactive');
  assert.deepEqual(d.etcdMembers(), [], 'a refused init starts no etcd member');
});

test('swarm init: the node is a ready leader, docker info warns that one manager tolerates no loss, a second init is refused', async () => {
  const out = d.ok(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377', '--data-path-addr', '127.0.0.1']);
  const id = /current node \((\w{25})\) is now a manager/.exec(out)?.[1];
  assert.ok(id, out);
  assert.match(out, /docker swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} 127\.0\.0\.1:2377/);
  assert.equal(d.etcdMembers().length, 1, 'one etcd member runs');
  const nodes = d.ok(['node', 'ls', '--format', '{{.ID}} {{.Status}} {{.Availability}} {{.ManagerStatus}} {{.Self}}']).trim();
  assert.equal(nodes, `${id} Ready Active Leader true`);
  const info = d.docker(['info']);
  assert.match(info.stdout, /Swarm: active/);
  assert.match(info.stdout, new RegExp(`NodeID: ${id}`));
  assert.match(info.stdout, /Task History Retention Limit: 5/);
  assert.match(info.stderr, /1-manager configuration: the swarm tolerates 0 manager failures/);
  assert.equal(await ping(), 'active/manager');
  assert.match(d.fails(['swarm', 'init']), /This node is already part of a swarm/);
  // The join tokens carry the CA's digest; rotating the worker token keeps the digest.
  const worker = d.ok(['swarm', 'join-token', '-q', 'worker']).trim();
  const rotated = d.ok(['swarm', 'join-token', '-q', '--rotate', 'worker']).trim();
  assert.notEqual(rotated, worker);
  assert.equal(rotated.split('-')[2], worker.split('-')[2]);
  assert.match(d.ok(['swarm', 'ca']), /^-----BEGIN CERTIFICATE-----/);
  assert.match(d.fails(['swarm', 'ca', '--rotate']), /does not support rotating the swarm CA/);
  d.ok(['node', 'update', '--label-add', 'zone=a', 'self']);
  assert.equal(d.ok(['node', 'inspect', 'self', '--format', '{{index .Spec.Labels "zone"}}']).trim(), 'a');
});

test('a 2-replica service converges as containers with swarm labels and names, scales to 3, and a killed task is replaced', async () => {
  const out = d.ok(['service', 'create', '--name', 'web', '--replicas', '2', '--no-resolve-image', '--container-label', 'tier=front', ...QUICK, 'busybox', 'sleep', '1000']);
  assert.match(out, /verify: Service [0-9a-z]{25} converged/);
  assert.equal(replicasOf('web'), '2/2');
  const first = taskContainers('web');
  assert.equal(first.size, 2);
  for (const name of first.keys()) assert.match(name, /^web\.[12]\.[0-9a-z]{25}$/);
  const [name1, id1] = [...first.entries()].find(([n]) => n.startsWith('web.1.')) as [string, string];
  const labels = JSON.parse(d.ok(['inspect', '--format', '{{json .Config.Labels}}', id1])) as Record<string, string>;
  assert.equal(labels['com.docker.swarm.service.name'], 'web');
  assert.equal(labels['com.docker.swarm.task.name'], name1);
  assert.equal(labels['tier'], 'front');

  d.ok(['service', 'scale', 'web=3']);
  assert.equal(replicasOf('web'), '3/3');
  assert.equal(taskContainers('web').size, 3);

  d.ok(['kill', id1]);
  const rows = await waitFor('a new web.1 task running', () => {
    const slot = tasks('web').filter((t) => t.Name.endsWith('web.1'));
    const running = slot.find((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
    return running && slot.length === 2 ? slot : undefined;
  });
  assert.match(rows.find((t) => t.DesiredState === 'Shutdown')?.Error ?? '', /non-zero exit \(137\)/);
  const now = taskContainers('web');
  assert.equal(now.size, 3);
  assert.ok(![...now.values()].includes(id1), 'the killed container is not counted as running');
});

test('service update --env-add rolls the tasks to new containers; rollback returns to the previous spec', async () => {
  const before = new Set(taskContainers('web').values());
  const out = d.ok(['service', 'update', '--env-add', 'COLOR=blue', '--update-parallelism', '3', '--rollback-parallelism', '3', '--rollback-monitor', '1s', 'web']);
  assert.match(out, /verify: Service web converged/);
  const after = taskContainers('web');
  assert.equal(after.size, 3);
  for (const id of after.values()) {
    assert.ok(!before.has(id), 'every task got a new container');
    assert.equal(d.ok(['exec', id, 'sh', '-c', 'echo $COLOR']).trim(), 'blue');
  }
  assert.equal(d.ok(['service', 'inspect', 'web', '--format', '{{.UpdateStatus.State}}']).trim(), 'completed');

  d.ok(['service', 'rollback', 'web']);
  // The CLI returns once the tasks are stable; the manager's own monitor ends a moment later.
  await waitFor('rollback completed', () => (d.ok(['service', 'inspect', 'web', '--format', '{{.UpdateStatus.State}}']).trim() === 'rollback_completed' ? true : undefined));
  const rolled = taskContainers('web');
  assert.equal(rolled.size, 3);
  for (const id of rolled.values()) assert.equal(d.ok(['exec', id, 'sh', '-c', 'echo "[$COLOR]"']).trim(), '[]');
});

test('a global service has one task on the node; a constraint no node meets leaves its task pending', async () => {
  d.ok(['service', 'create', '-d', '--name', 'agent', '--mode', 'global', '--no-resolve-image', ...QUICK, 'busybox', 'sleep', '1000']);
  await waitFor('the global task running', () => (replicasOf('agent') === '1/1' ? true : undefined));
  const [name] = [...taskContainers('agent').keys()];
  const nodeId = d.ok(['node', 'inspect', 'self', '--format', '{{.ID}}']).trim();
  assert.match(name ?? '', new RegExp(`^agent\\.${nodeId}\\.[0-9a-z]{25}$`));

  d.ok(['service', 'create', '-d', '--name', 'nowhere', '--constraint', 'node.labels.zone==b', '--no-resolve-image', ...GRACE, 'busybox', 'sleep', '1000']);
  const row = await waitFor('a pending task', () => tasks('nowhere')[0]);
  assert.match(row.CurrentState, /^Pending/);
  assert.equal(taskContainers('nowhere').size, 0);
  d.ok(['service', 'rm', 'nowhere']);
});

test('health checks: a task starts as Starting and runs once healthy; an unhealthy task fails and is replaced', async () => {
  d.ok(['service', 'create', '-d', '--name', 'slowboot', '--health-cmd', 'test -f /tmp/ready', '--health-interval', '1s', '--health-start-period', '60s', '--health-start-interval', '1s', '--health-retries', '1', '--no-resolve-image', ...QUICK, 'busybox', 'sh', '-c', 'sleep 3; touch /tmp/ready; exec sleep 1000']);
  await waitFor('the task starting', () => (tasks('slowboot')[0]?.CurrentState.startsWith('Starting') ? true : undefined));
  assert.equal(replicasOf('slowboot'), '0/1', 'a task is not counted running before it is healthy');
  await waitFor('the task healthy and running', () => (replicasOf('slowboot') === '1/1' ? true : undefined));

  d.ok(['service', 'create', '-d', '--name', 'sick', '--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1', '--no-resolve-image', ...QUICK, 'busybox', 'sleep', '1000']);
  const rows = await waitFor('an unhealthy task replaced', () => {
    const t = tasks('sick');
    return t.some((r) => r.DesiredState === 'Shutdown' && /unhealthy container/.test(r.Error)) ? t : undefined;
  }, 60_000);
  assert.ok(rows.length >= 2);
  d.ok(['service', 'rm', 'slowboot', 'sick']);
});

test('a secret is readable in its task at /run/secrets and never shown by inspect; a service in use keeps it', () => {
  const r = d.docker(['secret', 'create', 'api_key', '-'], { input: 's3cr3t-value\n' });
  assert.equal(r.code, 0, r.stderr);
  const inspect = d.ok(['secret', 'inspect', 'api_key']);
  assert.doesNotMatch(inspect, /s3cr3t/);
  assert.doesNotMatch(inspect, /"Data"/);
  assert.match(d.docker(['secret', 'create', 'api_key', '-'], { input: 'again' }).stderr, /secret api_key already exists/);
  d.ok(['service', 'create', '--name', 'reader', '--secret', 'api_key', '--no-resolve-image', ...QUICK, 'busybox', 'sleep', '1000']);
  const [id] = [...taskContainers('reader').values()];
  assert.equal(d.ok(['exec', id as string, 'cat', '/run/secrets/api_key']), 's3cr3t-value\n');
  // On a tmpfs of the task's, never on disk.
  assert.match(d.ok(['exec', id as string, 'sh', '-c', 'grep /run/secrets/api_key /proc/mounts']), /tmpfs/);
  assert.match(d.fails(['secret', 'rm', 'api_key']), /in use by the following service: reader/);
  // A config lands at its target, readable by the task.
  d.docker(['config', 'create', 'site', '-'], { input: 'listen 80\n' });
  assert.match(d.ok(['config', 'inspect', 'site', '--format', '{{json .Spec.Data}}']), /bGlzdGVuIDgw/);
});

test('a host-mode published port answers; ingress publishing and overlay networks are refused, saying how to publish', async () => {
  const port = await freePort();
  d.ok(['service', 'create', '--name', 'http', '--publish', `mode=host,target=80,published=${port}`, '--no-resolve-image', ...QUICK, 'busybox', 'sh', '-c', 'echo served > /index.html && exec httpd -f -p 80 -h /']);
  const body = await waitFor('the published port', async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/index.html`);
      return r.ok ? await r.text() : undefined;
    } catch {
      return undefined;
    }
  });
  assert.equal(body, 'served\n');
  assert.match(d.ok(['service', 'ps', 'http', '--format', '{{.Ports}}']), new RegExp(`\\*:${port}->80/tcp`));
  assert.match(d.fails(['service', 'create', '--name', 'mesh', '-p', '8080:80', 'busybox']), /ingress routing mesh[\s\S]*mode=host/);
  d.ok(['service', 'rm', 'http']);
});

test('kill -9 of berthd: task containers and the etcd member keep running; after the restart the service is converged with the same containers', async () => {
  const etcd = d.etcdMembers();
  assert.equal(etcd.length, 1);
  const before = taskContainers('web');
  const pids = new Map([...before.values()].map((id) => [id, d.ok(['inspect', '--format', '{{.State.Pid}}', id]).trim()]));
  await d.kill();
  for (const [, pid] of pids) assert.ok(existsSync(`/proc/${pid}`), `task process ${pid} survived`);
  assert.deepEqual(d.etcdMembers(), etcd, 'the etcd member survived');
  await d.start();
  assert.deepEqual(d.etcdMembers(), etcd, 'the same etcd member, adopted (no second one)');
  assert.equal(replicasOf('web'), '3/3');
  // A few agent passes later there is still exactly one container per task, the same ones.
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(taskContainers('web'), before);
  for (const [id, pid] of pids) assert.equal(d.ok(['inspect', '--format', '{{.State.Pid}}', id]).trim(), pid);
  assert.equal(tasks('web').filter((t) => t.DesiredState === 'Running').length, 3);
  // Still managed: a scale after the restart is carried out.
  d.ok(['service', 'scale', 'web=1']);
  await waitFor('two tasks shut down', () => (taskContainers('web').size === 1 ? true : undefined));
});

test('service logs show each task line with its task name; service rm removes the tasks; drain empties the node; swarm leave --force leaves no etcd, task or file', async () => {
  d.ok(['service', 'create', '-d', '--name', 'talker', '--no-resolve-image', ...QUICK, 'busybox', 'sh', '-c', 'echo hello from the task; exec sleep 1000']);
  const logs = await waitFor('the task log', () => {
    const out = d.ok(['service', 'logs', 'talker']);
    return out.includes('hello') ? out : undefined;
  });
  assert.match(logs, /^talker\.1\.[0-9a-z]{12}@\S+\s+\| hello from the task$/m);
  d.ok(['service', 'rm', 'talker']);
  await waitFor('the task container removed', () => (taskContainers('talker').size === 0 && d.ok(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=talker']).trim() === '' ? true : undefined));
  assert.match(d.fails(['service', 'inspect', 'talker']), /no such service: talker/);

  // Draining the node shuts its tasks down (there is nowhere else to put them); active again brings them back.
  assert.match(d.fails(['node', 'demote', 'self']), /demote the last manager/);
  d.ok(['node', 'update', '--availability', 'drain', 'self']);
  await waitFor('web drained', () => (taskContainers('web').size === 0 ? true : undefined));
  d.ok(['node', 'update', '--availability', 'active', 'self']);
  await waitFor('web back', () => (replicasOf('web') === '1/1' ? true : undefined));

  assert.match(d.fails(['swarm', 'leave']), /Use `--force` to ignore this message/);
  d.ok(['swarm', 'leave', '--force']);
  assert.deepEqual(d.etcdMembers(), []);
  assert.equal(d.ok(['ps', '-aq']).trim(), '');
  assert.ok(!existsSync(join(d.dataRoot, 'swarm')), 'no swarm state left');
  assert.ok(!existsSync(d.etcdDir) || !existsSync(join(d.etcdDir, 'member-data')), 'no etcd data left');
  assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(join(d.execRoot, 'swarm-tasks')), 'no secrets tmpfs left');
  assert.match(d.ok(['info', '--format', '{{.Swarm.LocalNodeState}}']), /inactive/);
  assert.equal(await ping(), 'inactive');
});
