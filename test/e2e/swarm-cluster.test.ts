import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from '../helpers/daemon.js';
import { serveInNetns } from '../helpers/net-tools.js';
import { clusterForFile, type SwarmCluster, type SwarmNode } from '../helpers/swarm-cluster.js';
import { isAlive, readStatSync, type ProcessIdentity } from '../../src/lib/proc.js';

// The multi-node harness itself (test/helpers/swarm-cluster.ts): three berthd nodes, each in a
// network namespace of its own behind one switch, driven by the real docker CLI.

let c!: SwarmCluster;
clusterForFile({ nodes: 3 }, (x) => (c = x));

/** A busybox httpd serving `text` on port 80 of the container. */
const HTTPD = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];

const netnsOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);
const identity = (pid: number): ProcessIdentity => ({ pid, startTime: readStatSync(pid)?.startTime ?? 'gone' });
const containerPid = (n: SwarmNode, name: string) => Number(n.ok(['inspect', '--format', '{{.State.Pid}}', name]).trim());

test('a 3-node cluster starts: every node answers docker info under its own hostname, its berthd in its own network namespace and in the host mount namespace', () => {
  console.log(`swarm-cluster: 3 nodes up in ${(c.timings.startMs / 1000).toFixed(2)} s (network ${(c.timings.networkMs / 1000).toFixed(2)} s, berthds ${(c.timings.daemonsMs / 1000).toFixed(2)} s)`);
  const seen = new Set<string>();
  for (const n of c.nodes) {
    assert.equal(n.ok(['info', '--format', '{{.Name}} {{.Swarm.LocalNodeState}}']).trim(), `${n.hostname} inactive`);
    const pid = n.berthd?.pid as number;
    assert.ok(pid > 0);
    const ns = netnsOf(pid);
    assert.equal(ns, `net:[${statSync(n.netnsPath).ino}]`, `${n.name}'s berthd is in its namespace`);
    assert.notEqual(ns, netnsOf(process.pid));
    seen.add(ns);
    // nsenter --net, not ip netns exec: a restarted berthd must see its predecessor's mounts.
    assert.equal(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'));
    assert.match(n.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']).stdout, new RegExp(`inet ${n.ip.replace(/\./g, '\\.')}/24`));
  }
  assert.equal(seen.size, 3);
});

test('a container on node 2 publishing -p 8080:80 is answered at node 2\'s address from inside node 3\'s and node 1\'s namespaces, over the switch', async () => {
  const [n1, n2, n3] = [c.node(1), c.node(2), c.node(3)];
  n2.ok(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', ...HTTPD('from-n2')]);
  assert.equal(await waitFor('node 2 httpd seen from node 3', () => n3.httpGet(n2.ip, 8080)), 'from-n2\n');
  assert.equal(n1.httpGet(n2.ip, 8080), 'from-n2\n');
  // Nothing listens on 8080 on node 1: the answer above came from node 2.
  assert.equal(n3.httpGet(n1.ip, 8080, '/', 1500), undefined);
});

test('docker swarm init --advertise-addr on node 1: an active manager whose etcd member runs in node 1\'s namespace with its data on tmpfs', async () => {
  const n1 = c.node(1);
  const id = c.swarmInit(n1);
  assert.match(id, /^[a-z0-9]{25}$/);
  assert.equal(n1.ok(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}']).trim(), `active true ${n1.ip}`);
  assert.match(n1.ok(['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}']), new RegExp(`^${n1.hostname} Leader$`, 'm'));
  const member = await n1.etcdMember();
  assert.ok(member, 'the etcd member is recorded and alive');
  assert.equal(netnsOf(member.pid), netnsOf(n1.berthd?.pid as number));
  const argv = readFileSync(`/proc/${member.pid}/cmdline`, 'utf8').split('\0');
  const dataDir = argv[argv.indexOf('--data-dir') + 1] ?? '';
  assert.ok(dataDir.startsWith(`${n1.daemon.etcdDir}/`), dataDir);
  assert.ok(existsSync(dataDir));
  assert.match(readFileSync('/proc/mounts', 'utf8'), /^\S+ \/dev\/shm tmpfs /m);
  // The other nodes are not in a swarm.
  assert.equal(c.node(2).ok(['info', '--format', '{{.Swarm.LocalNodeState}}']).trim(), 'inactive');
});

test('kill -9 of node 2\'s berthd leaves its container running and serving with the same PID; restart() re-adopts it', async () => {
  const [n2, n3] = [c.node(2), c.node(3)];
  const pid = containerPid(n2, 'web');
  const container = identity(pid);
  const berthd = n2.berthd as ProcessIdentity;
  await n2.kill9();
  assert.equal(await isAlive(berthd), false);
  assert.equal(await isAlive(container), true);
  assert.equal(n3.httpGet(n2.ip, 8080), 'from-n2\n');
  await n2.restart();
  assert.notEqual(n2.berthd?.pid, berthd.pid);
  assert.equal(n2.ok(['inspect', '--format', '{{.State.Running}} {{.State.Pid}}', 'web']).trim(), `true ${pid}`);
  assert.equal(await isAlive(container), true);
  assert.equal(n3.httpGet(n2.ip, 8080), 'from-n2\n');
});

test('killAll() of node 1, a manager, leaves neither its berthd nor its etcd member running; restart() brings the manager back', async () => {
  const n1 = c.node(1);
  const member = await n1.etcdMember();
  assert.ok(member);
  const berthd = n1.berthd as ProcessIdentity;
  assert.deepEqual(await n1.killAll(), member);
  assert.equal(await isAlive(berthd), false);
  assert.equal(await isAlive(member), false);
  assert.deepEqual(n1.daemon.etcdMembers().filter((p) => readStatSync(p)?.state !== 'Z'), []);
  assert.equal(n1.docker(['info'], { timeoutMs: 10_000 }).code === 0, false, 'node 1 answers nothing');
  await n1.restart();
  assert.equal(n1.ok(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}']).trim(), 'active true');
  const again = await n1.etcdMember();
  assert.ok(again);
  assert.notDeepEqual(again, member);
  assert.match(await waitFor('node ls after the restart', () => n1.docker(['node', 'ls', '--format', '{{.Hostname}}']).stdout.trim() || undefined), new RegExp(`^${n1.hostname}$`));
});

test('cutCable(node 2) makes it unreachable from node 3 while it still serves on its own; healCable() brings it back', async () => {
  const [n2, n3] = [c.node(2), c.node(3)];
  // A server of the test's in node 2's namespace besides the container's published port.
  const server = await serveInNetns(n2.netnsPath, 'tcp-serve', 7000, 'tcp-from-n2');
  try {
    assert.equal(n3.httpGet(n2.ip, 8080), 'from-n2\n');
    assert.equal(n3.tcpGet(n2.ip, 7000), 'tcp-from-n2\n');
    c.cutCable(n2);
    try {
      assert.equal(n3.httpGet(n2.ip, 8080, '/', 1500), undefined);
      assert.equal(n3.tcpGet(n2.ip, 7000, 1500), undefined);
      assert.equal(n2.httpGet(n2.ip, 8080), 'from-n2\n');
    } finally {
      c.healCable(n2);
    }
    assert.equal(await waitFor('node 2 reachable again', () => n3.httpGet(n2.ip, 8080)), 'from-n2\n');
    assert.equal(n3.tcpGet(n2.ip, 7000), 'tcp-from-n2\n');
  } finally {
    server.kill('SIGKILL');
  }
});

test('cleanup() leaves no namespace, link, process, mount, directory or cgroup of the cluster', async () => {
  const n1 = c.node(1);
  const member = (await n1.etcdMember()) as ProcessIdentity;
  const processes = [member, identity(containerPid(c.node(2), 'web')), ...c.nodes.map((n) => n.berthd as ProcessIdentity), ...c.nodes.flatMap((n) => n.daemon.conmons().map(identity))];
  assert.ok(processes.length >= 6, `berthds, conmon, container, etcd member: ${processes.length}`);
  const dirs = [c.dir, ...c.nodes.map((n) => n.daemon.etcdDir)];
  const cgroups = c.nodes.flatMap((n) => readdirSync('/sys/fs/cgroup').map((ctl) => join('/sys/fs/cgroup', ctl, n.daemon.cgroupParent))).filter((d) => existsSync(d));
  assert.ok(cgroups.length > 0, 'the nodes\' cgroup parents exist before the cleanup');
  assert.ok(existsSync(n1.daemon.etcdDir));
  const report = await c.cleanup();
  console.log(`swarm-cluster: teardown of 3 nodes in ${((c.timings.teardownMs ?? 0) / 1000).toFixed(2)} s`);
  assert.deepEqual(report, { leftovers: [], residue: [] });
  // The same, checked here without the harness's own residue():
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  for (const ns of c.namespaces) assert.ok(!netns.includes(ns), `namespace ${ns} left`);
  assert.ok(!spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.includes(c.token));
  const mounts = readFileSync('/proc/mounts', 'utf8');
  assert.ok(!mounts.includes(c.dir) && !mounts.includes(`/run/netns/${c.base}`));
  for (const p of processes) assert.equal(await isAlive(p), false, `process ${p.pid} left`);
  for (const d of [...dirs, ...cgroups]) assert.equal(existsSync(d), false, `${d} left`);
});
