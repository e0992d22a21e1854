import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, rmSync, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BridgeDriver } from '../../src/network/bridge-driver.js';
import { silentLogger } from '../../src/lib/logger.js';
import { newId } from '../../src/lib/ids.js';
import { isKind } from '../../src/lib/errors.js';
import { ephemeralRange } from '../../src/network/ports.js';
import type { NetworkConfig } from '../../src/network/types.js';
import { freePort, freeSubnet, holdFds, ifindex, iptablesSave, kill, leftovers, linkMac, linkNames, uniqueBridge } from '../helpers/net-fixture.js';
import { hostAddress, serveInNetns, tcpGet, udpAsk } from '../helpers/net-tools.js';
import { testTmpDir } from '../helpers/paths.js';
import { instanceTag, netnsDir, netnsPath } from '../../src/network/names.js';

// The host side of bridge networking against the real kernel, in the host's namespace, with
// plain network namespaces standing in for containers and a `sleep` holding the reserved
// ports as conmon does. Traffic only to loopback, the host's own address and the test's bridge.

let dir: string;
let dataRoot: string;
let execRoot: string;
let driver: BridgeDriver;
let net: NetworkConfig;
const children: ChildProcess[] = [];
const servers: Server[] = [];
const ids: string[] = [];

function spawnChild(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  children.push(child);
  return child;
}

function readlinkOr(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not reached');
}

function newContainer(): string {
  const id = newId();
  ids.push(id);
  return id;
}

function makeDriver(): BridgeDriver {
  return new BridgeDriver({ dataRoot, execRoot, iptables: true, ipForward: false, log: silentLogger() });
}

before(async () => {
  dir = testTmpDir('bt-net-');
  dataRoot = join(dir, 'data');
  execRoot = join(dir, 'exec');
  const s = freeSubnet();
  net = { name: 'bridge', id: newId(), bridge: uniqueBridge(), external: false, subnet: s.subnet, gateway: s.gateway, mtu: 1500, icc: true, ipMasq: true };
  driver = makeDriver();
  await driver.init();
});

after(async () => {
  for (const c of children) kill(c);
  for (const s of servers) s.close();
  try {
    await makeDriver().removeAll();
    await driver.removeAll();
  } finally {
    // Belt and braces if the driver itself failed: nothing of this test may stay.
    spawnSync('ip', ['link', 'del', 'dev', net.bridge]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a fresh bridge gets its gateway address and a fixed MAC; a second ensure is a one-spawn no-op', async () => {
  const info = await driver.ensureNetwork(net);
  assert.equal(info.action, 'created');
  const r = spawnSync('ip', ['-4', '-o', 'addr', 'show', 'dev', net.bridge], { encoding: 'utf8' });
  assert.match(r.stdout, new RegExp(`inet ${net.gateway.replaceAll('.', '\\.')}/24`));
  assert.equal(linkMac(net.bridge), info.mac);
  assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${net.bridge}/route_localnet`, 'utf8').trim(), '1');
  const before = driver.cmds.spawns;
  const again = await driver.ensureNetwork(net);
  assert.equal(again.action, 'adopted');
  assert.equal(driver.cmds.spawns - before, 1, 'only `ip addr show`: no link change and no iptables-restore');
});

test('a container namespace on the bridge reaches its gateway', async () => {
  const id = newContainer();
  const { endpoint, reservation } = await driver.connect(id, { network: 'bridge', ports: [] });
  reservation.close();
  assert.equal(endpoint.ifName, 'eth0');
  assert.equal(endpoint.hostVeth, `vb${id.slice(0, 9)}${net.id.slice(0, 4)}`, 'one name per container and network, 15 bytes');
  assert.equal(endpoint.mac, `02:42:${endpoint.ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`);
  const ping = spawnSync('nsenter', [`--net=${endpoint.netnsPath}`, 'busybox', 'ping', '-c', '1', '-W', '5', net.gateway], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(ping.status, 0, ping.stdout + ping.stderr);
  const route = spawnSync('nsenter', [`--net=${endpoint.netnsPath}`, 'ip', 'route'], { encoding: 'utf8' });
  assert.match(route.stdout, new RegExp(`default via ${net.gateway.replaceAll('.', '\\.')} dev eth0`));
  await driver.disconnect(id, { keepStaticAddress: false });
  assert.ok(!linkNames().includes(endpoint.hostVeth));
  assert.ok(!existsSync(endpoint.netnsPath));
});

test('published ports answer from the host on 127.0.0.1 and a host address while only the monitor holds them', async () => {
  const id = newContainer();
  const [hAll, hLo] = [await freePort(), await freePort()];
  const { endpoint, reservation } = await driver.connect(id, {
    network: 'bridge',
    ports: [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: hAll, hostPortEnd: hAll },
      { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortStart: hLo, hostPortEnd: hLo },
      { proto: 'udp', containerPort: 53, hostIp: '', hostPortStart: hAll, hostPortEnd: hAll },
    ],
  });
  children.push(holdFds(reservation.fds));
  reservation.close();
  children.push(await serveInNetns(endpoint.netnsPath, 'tcp-serve', 80, 'hello from a'));
  children.push(await serveInNetns(endpoint.netnsPath, 'udp-serve', 53, 'a'));

  assert.equal(await tcpGet('127.0.0.1', hAll), 'hello from a\n');
  const host = hostAddress();
  assert.ok(host, 'the host has a global IPv4 address');
  assert.equal(await tcpGet(host, hAll), 'hello from a\n');
  assert.equal(await tcpGet(net.gateway, hAll), 'hello from a\n', 'the gateway is one of the host addresses');
  assert.equal(await udpAsk('127.0.0.1', hAll, 'ping'), 'a:ping');
  assert.equal(await tcpGet('127.0.0.1', hLo), 'hello from a\n');
  await assert.rejects(tcpGet(host, hLo), /ECONNREFUSED/, 'a port published on 127.0.0.1 answers nowhere else');

  const save = iptablesSave();
  assert.ok(save.includes(`-p tcp -m tcp --dport ${hAll} -j DNAT --to-destination ${endpoint.ip}:80`));
  assert.ok(!save.includes('-d 0.0.0.0/32'), 'all addresses must never become -d 0.0.0.0/32');
});

test("a second container asking for the same host port gets Docker's error and nothing is left half set up", async () => {
  const first = newContainer();
  const port = await freePort();
  const a = await driver.connect(first, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: port, hostPortEnd: port }] });
  children.push(holdFds(a.reservation.fds));
  a.reservation.close();

  const second = newContainer();
  const linksBefore = linkNames().length;
  const saveBefore = iptablesSave().replace(/^#.*\n/gm, '');
  await assert.rejects(
    driver.connect(second, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 8080, hostIp: '', hostPortStart: port, hostPortEnd: port }] }),
    (err: Error) => isKind(err, 'Conflict') && err.message === `Bind for 0.0.0.0:${port} failed: port is already allocated`,
  );
  await assert.rejects(
    driver.connect(second, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortStart: port, hostPortEnd: port }] }),
    new RegExp(`Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated`),
    'a specific address conflicts with all addresses',
  );
  assert.equal(driver.endpoint(second), undefined);
  assert.equal(linkNames().length, linksBefore);
  assert.equal(iptablesSave().replace(/^#.*\n/gm, ''), saveBefore);
  assert.ok(!existsSync(netnsPath(execRoot, instanceTag(dataRoot), second)));
  const ipam = JSON.parse(readFileSync(join(dataRoot, 'network', 'networks', 'bridge', 'ipam.json'), 'utf8')) as { allocations: Record<string, { owner: string }> };
  assert.ok(!Object.values(ipam.allocations).some((x) => x.owner === second), 'its address was given back');
});

test('a host process listening on a port makes publishing it fail the same way', async () => {
  const port = await freePort();
  const squatter: Server = createServer();
  servers.push(squatter);
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', () => r()));
  const id = newContainer();
  await assert.rejects(
    driver.connect(id, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: port, hostPortEnd: port }] }),
    (err: Error) => err.message === `Bind for 0.0.0.0:${port} failed: port is already allocated`,
  );
  assert.equal(driver.endpoint(id), undefined);
});

test('-P style ports come from ip_local_port_range', async () => {
  const id = newContainer();
  const { endpoint, reservation } = await driver.connect(id, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: 0, hostPortEnd: 0 }] });
  children.push(holdFds(reservation.fds));
  reservation.close();
  const range = ephemeralRange();
  const p = endpoint.ports[0]?.hostPort ?? 0;
  assert.ok(p >= range.start && p <= range.end, `${p} in ${range.start}-${range.end}`);
  children.push(await serveInNetns(endpoint.netnsPath, 'tcp-serve', 80, 'ephemeral'));
  assert.equal(await tcpGet('127.0.0.1', p), 'ephemeral\n');
});

test('connect twice re-asserts the same endpoint without recreating it; disconnect twice is a no-op', async () => {
  const id = newContainer();
  const port = await freePort();
  const ports = [{ proto: 'tcp' as const, containerPort: 80, hostIp: '', hostPortStart: port, hostPortEnd: port }];
  let spawns = driver.cmds.spawns;
  const first = await driver.connect(id, { network: 'bridge', ports });
  assert.ok(driver.cmds.spawns - spawns <= 3, `connect with ports took ${driver.cmds.spawns - spawns} spawns`);
  const index = ifindex(first.endpoint.hostVeth);
  const second = await driver.connect(id, { network: 'bridge', ports });
  assert.equal(second.endpoint.ip, first.endpoint.ip);
  assert.equal(second.endpoint.mac, first.endpoint.mac);
  assert.equal(ifindex(first.endpoint.hostVeth), index, 'the veth was not recreated');
  second.reservation.close();
  spawns = driver.cmds.spawns;
  await driver.disconnect(id, { keepStaticAddress: false });
  assert.ok(driver.cmds.spawns - spawns <= 3, `disconnect took ${driver.cmds.spawns - spawns} spawns`);
  spawns = driver.cmds.spawns;
  await driver.disconnect(id, { keepStaticAddress: false });
  assert.equal(driver.cmds.spawns - spawns, 0, 'nothing left to remove costs nothing');
  assert.ok(!iptablesSave().includes(first.endpoint.chain ?? 'none'));

  spawns = driver.cmds.spawns;
  const plain = await driver.connect(id, { network: 'bridge', ports: [] });
  plain.reservation.close();
  assert.ok(driver.cmds.spawns - spawns <= 2, 'no published port: no iptables at all');
  await driver.disconnect(id, { keepStaticAddress: false });
});

test('the bridge MAC stays the same as containers join and leave', async () => {
  const mac = linkMac(net.bridge);
  for (let i = 0; i < 3; i++) {
    const id = newContainer();
    const c = await driver.connect(id, { network: 'bridge', ports: [] });
    c.reservation.close();
    assert.equal(linkMac(net.bridge), mac);
    await driver.disconnect(id, { keepStaticAddress: false });
    assert.equal(linkMac(net.bridge), mac);
  }
});

test('a static address stays reserved across a stop and is freed at removal', async () => {
  const id = newContainer();
  const address = `${net.gateway.split('.').slice(0, 3).join('.')}.200`;
  const c = await driver.connect(id, { network: 'bridge', address, ports: [] });
  c.reservation.close();
  assert.equal(c.endpoint.ip, address);
  await driver.disconnect(id, { keepStaticAddress: true });
  const other = newContainer();
  await assert.rejects(driver.connect(other, { network: 'bridge', address, ports: [] }), /Address already in use/);
  const again = await driver.connect(id, { network: 'bridge', address, ports: [] });
  again.reservation.close();
  await driver.disconnect(id, { keepStaticAddress: false });
  const taken = await driver.connect(other, { network: 'bridge', address, ports: [] });
  taken.reservation.close();
  await driver.disconnect(other, { keepStaticAddress: false });
});

test('interface counters are read from the namespace, with and without a pid in it', async () => {
  const id = newContainer();
  const c = await driver.connect(id, { network: 'bridge', ports: [] });
  c.reservation.close();
  const ping = spawnSync('nsenter', [`--net=${c.endpoint.netnsPath}`, 'busybox', 'ping', '-c', '2', '-W', '5', net.gateway], { timeout: 15_000 });
  assert.equal(ping.status, 0);
  const viaNsenter = await driver.stats(id);
  assert.deepEqual(Object.keys(viaNsenter), ['eth0']);
  assert.ok((viaNsenter['eth0']?.txPackets ?? 0) >= 2 && (viaNsenter['eth0']?.rxBytes ?? 0) > 0);
  // A process living in the namespace, as the container's would: nsenter execs sleep in place.
  const holder = spawnChild('nsenter', [`--net=${c.endpoint.netnsPath}`, 'sleep', '3600']);
  await waitFor(() => readlinkOr(`/proc/${holder.pid}/ns/net`) === `net:[${statSync(c.endpoint.netnsPath).ino}]`);
  const spawns = driver.cmds.spawns;
  const viaPid = await driver.stats(id, holder.pid);
  assert.equal(driver.cmds.spawns, spawns, 'a pid in the namespace means no spawn');
  assert.ok((viaPid['eth0']?.txPackets ?? 0) >= 2);
  kill(holder);
  await driver.disconnect(id, { keepStaticAddress: false });
});

test('a restarted driver adopts running endpoints untouched, cleans stopped ones and reports a lost port', async () => {
  const running = newContainer();
  const stopped = newContainer();
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  const a = await driver.connect(running, {
    network: 'bridge',
    ports: [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: p1, hostPortEnd: p1 },
      { proto: 'tcp', containerPort: 81, hostIp: '', hostPortStart: p2, hostPortEnd: p2 },
      { proto: 'tcp', containerPort: 82, hostIp: '', hostPortStart: p3, hostPortEnd: p3 },
    ],
  });
  // The monitor holds p1 only; p2 is left free and p3 is taken by someone else "while berthd was away".
  const monitor = holdFds([a.reservation.fds[0] ?? -1]);
  children.push(monitor);
  a.reservation.close();
  const squatter = createServer();
  servers.push(squatter);
  await new Promise<void>((r) => squatter.listen(p3, '0.0.0.0', () => r()));
  const b = await driver.connect(stopped, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: 0, hostPortEnd: 0 }] });
  b.reservation.close();
  children.push(await serveInNetns(a.endpoint.netnsPath, 'tcp-serve', 80, 'still here'));
  const vethIndex = ifindex(a.endpoint.hostVeth);
  const rulesBefore = iptablesSave().split('\n').filter((l) => l.includes(a.endpoint.chain ?? '-'));

  // Endpoints left by the tests above are of containers that are not running either.
  const notRunning = driver.endpoints().map((e) => e.containerId).filter((c) => c !== running).sort();
  assert.ok(notRunning.includes(stopped));

  const next = makeDriver();
  await next.init();
  const spawns = next.cmds.spawns;
  assert.equal((await next.ensureNetwork(net)).action, 'adopted');
  const sleeper = spawnChild('sleep', ['3600']);
  const report = await next.restore({
    running: new Map([[running, { pid: sleeper.pid ?? 0, monitorPid: monitor.pid ?? 0 }]]),
    existing: new Set([running]),
  });
  assert.deepEqual(report.adopted, [running]);
  assert.deepEqual([...report.cleaned].sort(), notRunning);
  assert.deepEqual(report.addressesFreed.map((f) => f.owner).sort(), notRunning);
  assert.deepEqual(
    report.ports.map((p) => [p.mapping.hostPort, p.state]),
    [
      [p2, 'reacquired'],
      [p3, 'taken'],
    ],
  );
  // ip addr show + iptables-save + one ip and one umount for the stopped one + one iptables-restore for its rules.
  assert.ok(next.cmds.spawns - spawns <= 5, `restore took ${next.cmds.spawns - spawns} spawns`);
  assert.equal(ifindex(a.endpoint.hostVeth), vethIndex, 'the running endpoint was not recreated');
  assert.deepEqual(iptablesSave().split('\n').filter((l) => l.includes(a.endpoint.chain ?? '-')), rulesBefore);
  assert.equal(await tcpGet('127.0.0.1', p1), 'still here\n');
  assert.ok(!linkNames().includes(b.endpoint.hostVeth));
  assert.ok(!existsSync(b.endpoint.netnsPath));
  assert.equal(next.endpoint(running)?.ip, a.endpoint.ip);
  await next.disconnect(running, { keepStaticAddress: false });
  driver = next;
});

test('a restore removes namespaces nobody recorded (an operation cut short)', async () => {
  const id = newContainer();
  const c = await driver.connect(id, { network: 'bridge', ports: [] });
  c.reservation.close();
  // As if berthd died after making the namespace and before the record existed.
  rmSync(join(dataRoot, 'network', 'endpoints', id), { recursive: true, force: true });
  const next = makeDriver();
  await next.init();
  await next.ensureNetwork(net);
  const report = await next.restore({ running: new Map(), existing: new Set() });
  assert.deepEqual(report.leftovers.netns, [c.endpoint.netnsPath]);
  assert.ok(!linkNames().includes(c.endpoint.hostVeth));
  driver = next;
});

test('after a bip change a restart leaves the old endpoints alone and reports them, instead of adopting them', async () => {
  const id = newContainer();
  const c = await driver.connect(id, { network: 'bridge', ports: [] });
  c.reservation.close();
  const sleeper = spawnChild('sleep', ['3600']);
  const moved = freeSubnet();
  const next = makeDriver();
  await next.init();
  const info = await next.ensureNetwork({ ...net, subnet: moved.subnet, gateway: moved.gateway });
  assert.deepEqual(info.previousPool, { subnet: net.subnet, gateway: net.gateway });
  const index = ifindex(c.endpoint.hostVeth);
  const report = await next.restore({ running: new Map([[id, { pid: sleeper.pid ?? 0, monitorPid: sleeper.pid ?? 0 }]]), existing: new Set([id]) });
  assert.deepEqual(report.lost.map((l) => l.containerId), [id]);
  assert.match(report.lost[0]?.reason ?? '', new RegExp(`is now ${moved.subnet.replaceAll('.', '\\.')}`));
  assert.deepEqual(report.adopted, []);
  assert.equal(ifindex(c.endpoint.hostVeth), index, 'its veth is untouched');
  // Back to the original pool for the tests that follow.
  kill(sleeper);
  await next.disconnect(id, { keepStaticAddress: false });
  spawnSync('ip', ['addr', 'del', `${moved.gateway}/24`, 'dev', net.bridge]);
  driver = makeDriver();
  await driver.init();
  await driver.ensureNetwork(net);
});

test('a container on two networks: one namespace, eth0 and eth1, the default route via the first; disconnecting the first hands it to the second; stop removes both', async () => {
  const s = freeSubnet();
  const side: NetworkConfig = { name: 'side', id: newId(), bridge: uniqueBridge(), external: false, subnet: s.subnet, gateway: s.gateway, mtu: 1500, icc: true, ipMasq: true };
  await driver.ensureNetwork(net);
  await driver.ensureNetwork(side);
  const id = newContainer();
  const a = await driver.connect(id, { network: 'bridge', ports: [] });
  const b = await driver.connect(id, { network: 'side', ports: [] });
  a.reservation.close();
  b.reservation.close();
  assert.equal(a.endpoint.netnsPath, b.endpoint.netnsPath, 'one namespace');
  assert.deepEqual([a.endpoint.ifName, b.endpoint.ifName], ['eth0', 'eth1']);
  assert.notEqual(a.endpoint.hostVeth, b.endpoint.hostVeth);
  assert.deepEqual([a.endpoint.gatewayRoute, b.endpoint.gatewayRoute], [true, false]);
  const routes = () => spawnSync('nsenter', [`--net=${a.endpoint.netnsPath}`, 'ip', 'route'], { encoding: 'utf8' }).stdout;
  assert.match(routes(), new RegExp(`default via ${net.gateway.replaceAll('.', '\\.')} dev eth0`));
  assert.match(routes(), new RegExp(`${s.subnet.replace('/24', '').replaceAll('.', '\\.')}/24 dev eth1`));
  const ping = spawnSync('nsenter', [`--net=${b.endpoint.netnsPath}`, 'busybox', 'ping', '-c', '1', '-W', '5', side.gateway], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(ping.status, 0, ping.stdout + ping.stderr);

  await driver.disconnect(id, { network: 'bridge', keepStaticAddress: false });
  assert.ok(!linkNames().includes(a.endpoint.hostVeth));
  assert.ok(existsSync(b.endpoint.netnsPath), 'the namespace stays with the other network');
  assert.match(routes(), new RegExp(`default via ${side.gateway.replaceAll('.', '\\.')} dev eth1`), 'the other network takes the default route');
  assert.deepEqual(driver.endpointsOf(id).map((e) => [e.network, e.gatewayRoute]), [['side', true]]);

  await driver.disconnect(id, { keepStaticAddress: false });
  assert.ok(!linkNames().includes(b.endpoint.hostVeth));
  assert.ok(!existsSync(b.endpoint.netnsPath));
  assert.deepEqual(driver.endpointsOf(id), []);
  await driver.removeNetwork('side');
  assert.ok(!linkNames().includes(side.bridge));
});

test('removing everything leaves no link, namespace, rule, chain or mount', async () => {
  const id = newContainer();
  const port = await freePort();
  const c = await driver.connect(id, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: port, hostPortEnd: port }] });
  c.reservation.close();
  for (const child of children) kill(child);
  const report = await driver.removeAll();
  assert.deepEqual(report.bridges, [net.bridge]);
  assert.deepEqual(
    leftovers({ bridge: net.bridge, vethPrefixes: ids.map((i) => `vb${i.slice(0, 9)}`), chainPrefix: driver.firewall.names.prefix, execRoot }),
    [],
  );
  assert.deepEqual(readdirSync(netnsDir(execRoot, instanceTag(dataRoot))), []);
  const again = await driver.removeAll();
  assert.equal(again.rules, '', 'a second cleanup finds nothing');
});

