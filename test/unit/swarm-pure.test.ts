import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { managerWarnings } from '../../src/cluster/messages.js';
import { checkServiceSpec, sameTaskTemplate, updateConfig, restartPolicy } from '../../src/cluster/spec.js';
import { constraintsMatch } from '../../src/cluster/constraints.js';
import { SecretBox } from '../../src/cluster/secret-box.js';
import { createCa, issueNodeCert, joinToken, newJoinSecret } from '../../src/cluster/ca.js';
import { newObjectId, type NodeObject } from '../../src/cluster/objects.js';
import { taskCreateOptions, taskName } from '../../src/cluster/task-container.js';
import { clusterSpec } from '../../src/cluster/cluster-spec.js';
import { readState, writeState, type LocalState } from '../../src/cluster/local-state.js';

test('the quorum warning: one and two managers tolerate no loss, four tolerate one (no more than three), three and five say nothing', () => {
  assert.match(managerWarnings(1).join(), /1-manager configuration: the swarm tolerates 0 manager failures/);
  assert.match(managerWarnings(2).join(), /2-manager configuration: the swarm tolerates 0 manager failures/);
  assert.deepEqual(managerWarnings(3), []);
  assert.match(managerWarnings(4).join(), /even number of managers \(4\): the swarm tolerates 1 manager failure, no more than with 3/);
  assert.deepEqual(managerWarnings(5), []);
});

test('service specs: what berth cannot run yet is refused by name; the mode gets its default replica count', () => {
  const base = () => ({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'busybox' } } });
  assert.deepEqual(checkServiceSpec(base()).Mode, { Replicated: { Replicas: 1 } });
  assert.deepEqual(checkServiceSpec({ ...base(), Mode: { Replicated: {} } }).Mode, { Replicated: { Replicas: 1 } });
  assert.throws(() => checkServiceSpec({ ...base(), EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] } }), /ingress routing mesh[\s\S]*mode=host/);
  assert.doesNotThrow(() => checkServiceSpec({ ...base(), EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } }));
  assert.throws(() => checkServiceSpec({ ...base(), TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'ov' }] } }), /overlay networks[\s\S]*network ov/);
  assert.throws(() => checkServiceSpec({ ...base(), Mode: { ReplicatedJob: {} } }), /jobs/);
  assert.throws(() => checkServiceSpec({ Name: 'web', TaskTemplate: {} }), /image reference must be provided/);
  assert.throws(() => checkServiceSpec({ ...base(), Name: 'bad_name!' }), /DNS name component/);
});

test('update and restart defaults are swarmkit\'s; task templates compare by content, not key order', () => {
  assert.deepEqual(updateConfig(undefined), { Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
  assert.equal(restartPolicy(undefined).Condition, 'any');
  assert.equal(restartPolicy(undefined).Delay, 5e9);
  assert.ok(sameTaskTemplate({ ContainerSpec: { Image: 'a', Env: ['X=1'] } }, { ContainerSpec: { Env: ['X=1'], Image: 'a' } }));
  assert.ok(!sameTaskTemplate({ ContainerSpec: { Image: 'a', Env: ['X=1'] } }, { ContainerSpec: { Image: 'a', Env: ['X=2'] } }));
  assert.ok(!sameTaskTemplate({ ContainerSpec: { Image: 'a' }, ForceUpdate: 1 }, { ContainerSpec: { Image: 'a' }, ForceUpdate: 2 }));
});

test('placement constraints: role, hostname, id and labels, == and !=', () => {
  const n = { id: 'abc', hostname: 'vm1', spec: { Role: 'manager', Availability: 'active', Labels: { zone: 'a' } } } as unknown as NodeObject;
  assert.ok(constraintsMatch(['node.role==manager', 'node.labels.zone == a'], n));
  assert.ok(constraintsMatch(['node.hostname!=vm2'], n));
  assert.ok(!constraintsMatch(['node.labels.zone==b'], n));
  assert.ok(!constraintsMatch(['node.labels.missing==x'], n));
  assert.ok(constraintsMatch(['node.labels.missing!=x'], n));
  assert.ok(!constraintsMatch(['nonsense'], n));
});

test('secrets are sealed with the cluster key (a 0600 file), bound to their id, and never readable without the key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bt-box-'));
  try {
    const box = await SecretBox.create(join(dir, 'key'));
    assert.equal(statSync(join(dir, 'key')).mode & 0o777, 0o600);
    const sealed = box.seal(Buffer.from('hunter2'), 'id1');
    assert.doesNotMatch(sealed, /hunter2/);
    assert.doesNotMatch(Buffer.from(sealed.split('.')[3] ?? '', 'base64').toString(), /hunter2/);
    assert.equal((await SecretBox.open(join(dir, 'key'))).open(sealed, 'id1').toString(), 'hunter2');
    assert.throws(() => box.open(sealed, 'id2'), /unable to authenticate|auth/i);
    const other = await SecretBox.create(join(dir, 'key2'));
    assert.throws(() => other.open(sealed, 'id1'));
    await assert.rejects(SecretBox.open(join(dir, 'missing')), /missing: secrets cannot be read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the cluster CA signs node certificates (CN node id, OU role, O cluster); join tokens carry the CA digest and a secret', async () => {
  const ca = await createCa();
  const caCert = new X509Certificate(ca.certPem);
  assert.match(caCert.subject, /CN=swarm-ca/);
  assert.ok(caCert.ca);
  const node = await issueNodeCert(ca, 'node1', 'manager', 'cluster1');
  const cert = new X509Certificate(node.certPem);
  assert.ok(cert.verify(caCert.publicKey));
  assert.match(cert.subject, /CN=node1/);
  assert.match(cert.subject, /OU=swarm-manager/);
  assert.match(cert.subject, /O=cluster1/);
  const secret = newJoinSecret();
  const token = joinToken(ca.certPem, secret);
  assert.match(token, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  assert.ok(token.endsWith(secret));
  assert.equal(joinToken(ca.certPem, 'x').split('-')[2], token.split('-')[2]);
  const other = await createCa();
  assert.notEqual(joinToken(other.certPem, secret).split('-')[2], token.split('-')[2]);
  assert.match(newObjectId(), /^[0-9a-z]{25}$/);
});

test('a task container: Docker\'s name and labels, the container labels, no engine restart policy, host ports, secrets read-only', () => {
  const t = {
    id: 't1', serviceId: 's1', serviceName: 'web', slot: 2, nodeId: 'n1', specVersion: 1, desiredState: 'running' as const,
    createdAt: '', updatedAt: '', status: { state: 'assigned' as const, timestamp: '', message: '' },
    spec: { ContainerSpec: { Image: 'busybox', Args: ['sleep', '1'], Env: ['A=1'], Labels: { tier: 'x' }, StopGracePeriod: 2e9 }, Resources: { Limits: { MemoryBytes: 64 << 20 } } },
    ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' as const }],
  };
  assert.equal(taskName(t), 'web.2.t1');
  assert.equal(taskName({ ...t, slot: 0 }), 'web.n1.t1');
  const o = taskCreateOptions(t, [{ hostPath: '/h/s', target: '/run/secrets/pw' }]);
  assert.equal(o.name, 'web.2.t1');
  assert.equal(o.labels['com.docker.swarm.task.id'], 't1');
  assert.equal(o.labels['com.docker.swarm.service.name'], 'web');
  assert.equal(o.labels['tier'], 'x');
  assert.deepEqual(o.restartPolicy, { name: 'no', maximumRetryCount: 0 });
  assert.equal(o.stopTimeout, 2);
  assert.equal(o.memory, 64 << 20);
  assert.deepEqual(o.cmd, ['sleep', '1']);
  assert.equal(o.endpoint?.ports[0]?.hostPortStart, 8080);
  assert.deepEqual(o.mounts.at(-1), { type: 'bind', source: '/h/s', destination: '/run/secrets/pw', readOnly: true });
});

test('the cluster spec: fields the CLI sends as zero take swarmkit\'s defaults, set ones are kept, the name is always default', () => {
  const spec = clusterSpec({ Name: 'mine', Orchestration: { TaskHistoryRetentionLimit: 0 }, Dispatcher: { HeartbeatPeriod: 2_000_000_000 }, Labels: { a: 'b' } });
  assert.equal(spec['Name'], 'default');
  assert.deepEqual(spec['Orchestration'], { TaskHistoryRetentionLimit: 5 });
  assert.deepEqual(spec['Dispatcher'], { HeartbeatPeriod: 2_000_000_000 });
  assert.deepEqual(spec['Labels'], { a: 'b' });
  assert.deepEqual(spec['EncryptionConfig'], { AutoLockManagers: false });
  assert.equal((spec['Raft'] as { ElectionTick: number }).ElectionTick, 10);
});

test('a node\'s swarm state on disk: written 0600 and read back; none when absent or of an unknown schema', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
  try {
    assert.equal(await readState(dir), undefined);
    const st: LocalState = { schemaVersion: 1, nodeId: 'n1', clusterId: 'c1', advertiseAddr: '10.0.0.1:2377', listenAddr: '0.0.0.0:2377', dataPathAddr: '', role: 'worker', managers: ['10.0.0.2:2377'] };
    await writeState(dir, st);
    assert.deepEqual(await readState(dir), st);
    assert.equal(statSync(join(dir, 'state.json')).mode & 0o777, 0o600);
    await writeState(dir, { ...st, schemaVersion: 2 } as unknown as LocalState);
    assert.equal(await readState(dir), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
