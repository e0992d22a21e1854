import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, sleep, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { call, type Reply } from '../helpers/daemon-probes.js';

type Service = { ID: string; Version: { Index: number }; Spec: { Name: string; Mode: { Replicated: { Replicas: number } } } & Record<string, unknown> };

const spec = (name: string, replicas: number) => ({
  Name: name,
  TaskTemplate: { ContainerSpec: { Image: 'busybox', Args: ['sleep', '1000'], StopGracePeriod: 1_000_000_000 }, RestartPolicy: { Delay: 0 } },
  Mode: { Replicated: { Replicas: replicas } },
});

async function services(d: TestDaemon): Promise<Service[]> {
  const r = await call(d, 'GET', '/services');
  assert.ok(r !== 'killed' && r.status === 200, `service list: ${JSON.stringify(r)}`);
  return JSON.parse(r.body) as Service[];
}

/**
 * Converged: every service has exactly its replica count of running task containers, one per
 * task the store wants running; no container belongs to a removed service or an unknown task.
 */
async function mismatch(d: TestDaemon): Promise<string | undefined> {
  const list = await services(d);
  const r = await call(d, 'GET', '/tasks');
  if (r === 'killed') return 'daemon gone';
  const tasks = JSON.parse(r.body) as { ID: string; ServiceID: string; DesiredState: string }[];
  const containers = d
    .ok(['ps', '-a', '--no-trunc', '--format', '{{.State}} {{.Label "com.docker.swarm.task.id"}} {{.Label "com.docker.swarm.service.id"}}'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));
  const running = containers.filter(([state]) => state === 'running');
  const perTask = new Map<string, number>();
  for (const [, task] of running) perTask.set(task as string, (perTask.get(task as string) ?? 0) + 1);
  for (const [task, n] of perTask) if (n > 1) return `task ${task} has ${n} running containers`;
  const ids = new Set(list.map((s) => s.ID));
  for (const [, , svc] of containers) if (!ids.has(svc as string)) return `a container of removed service ${svc} is left`;
  for (const s of list) {
    const want = s.Spec.Mode.Replicated.Replicas;
    const desired = tasks.filter((t) => t.ServiceID === s.ID && t.DesiredState === 'running').map((t) => t.ID);
    const have = running.filter(([, task, svc]) => svc === s.ID && desired.includes(task as string)).length;
    if (desired.length !== want || have !== want) return `${s.Spec.Name}: ${desired.length} tasks wanted running, ${have} containers for them, ${want} replicas`;
  }
  if (d.etcdMembers().length !== 1) return `${d.etcdMembers().length} etcd members`;
  return undefined;
}

test('kill -9 at random instants inside service create/scale/rm: after each restart the services converge, an acknowledged change is kept, no task runs twice, nothing of a removed service is left', async () => {
  const d = await startDaemon({ liveRestore: true, swarm: true });
  try {
    d.ok(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let created = 0;
    for (let round = 0; round < 6; round++) {
      const list = await services(d);
      const op = list.length === 0 ? 'create' : (['create', 'scale', 'rm'] as const)[rand(3)];
      let pending: Promise<Reply>;
      let check: (after: Service[]) => void;
      if (op === 'create' || list.length === 0) {
        const name = `s${created++}`;
        pending = call(d, 'POST', '/services/create', spec(name, 1 + rand(3)));
        check = (after) => assert.ok(after.some((s) => s.Spec.Name === name), `acknowledged create of ${name} lost`);
      } else if (op === 'scale') {
        const s = list[rand(list.length)] as Service;
        const n = 1 + rand(3);
        pending = call(d, 'POST', `/services/${s.ID}/update?version=${s.Version.Index}`, spec(s.Spec.Name, n));
        check = (after) => assert.equal(after.find((x) => x.ID === s.ID)?.Spec.Mode.Replicated.Replicas, n, `acknowledged scale of ${s.Spec.Name} lost`);
      } else {
        const s = list[rand(list.length)] as Service;
        pending = call(d, 'DELETE', `/services/${s.ID}`);
        check = (after) => assert.ok(!after.some((x) => x.ID === s.ID), `acknowledged rm of ${s.Spec.Name} lost`);
      }
      // Sometimes before the reply, sometimes while the agent starts or stops the tasks.
      await sleep(rand(4) * 150);
      await d.kill();
      const reply = await pending;
      await d.start();
      const after = await services(d);
      if (reply !== 'killed' && reply.status < 300) check(after);
      const why = await waitFor(`round ${round} (${op}) converged`, async () => ((await mismatch(d)) === undefined ? true : undefined), 60_000, 250).catch(async () => mismatch(d));
      assert.equal(why === true ? undefined : why, undefined);
    }
    d.ok(['swarm', 'leave', '--force']);
    assert.deepEqual(d.etcdMembers(), []);
  } finally {
    const { leftovers } = await d.cleanup();
    assert.deepEqual(leftovers, []);
  }
});
