import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import Docker from 'dockerode';
import { spawnSync } from 'node:child_process';
import { daemonForFile, sleep, startDaemon, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { freePort, httpGet as get } from '../helpers/net-fixture.js';

// The default bridge network with the real docker CLI: addresses from bip, published ports by
// kernel rules (no proxy), Docker's port conflicts, and ports that keep answering while berthd
// is killed. Every daemon of the suite has a bridge and a /24 of its own (test/helpers/daemon.ts).
let d: TestDaemon;

// With ip-forward (the hairpin case needs it); `berth network-cleanup` puts it back after.
daemonForFile(
  (x) => {
    d = x;
  },
  { liveRestore: true, extraArgs: ['--ip-forward=true'] },
);

/** A busybox httpd serving `text` on port 80 of the container. */
const HTTPD = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];

function inspect(name: string, format: string): string {
  return d.ok(['inspect', '-f', format, name]).trim();
}

test('the default bridge uses bip: the container has an address in it, pings its gateway, and network inspect shows it', () => {
  const [base] = d.bip.split('/');
  const prefix = (base as string).split('.').slice(0, 3).join('.');
  const gateway = base as string;
  const r = d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0; ip route; ping -c 1 -W 2 $(ip route | awk "/default/ {print \\$3}") >/dev/null && echo pinged']);
  assert.match(r, new RegExp(`inet ${prefix.replace(/\./g, '\\.')}\\.\\d+/24`));
  assert.match(r, new RegExp(`default via ${gateway.replace(/\./g, '\\.')}`));
  assert.match(r, /pinged/);
  const net = JSON.parse(d.ok(['network', 'inspect', 'bridge'])) as { Driver: string; IPAM: { Config: { Subnet: string; Gateway: string }[] }; Options: Record<string, string> }[];
  assert.equal(net[0]?.Driver, 'bridge');
  assert.deepEqual(net[0]?.IPAM.Config, [{ Subnet: `${prefix}.0/24`, Gateway: gateway }]);
  assert.match(net[0]?.Options['com.docker.network.bridge.name'] ?? '', /^berth-[0-9a-f]{6}$/);
  assert.match(d.ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']), /bridge bridge\nhost host\nnone null/);
});

test('inspect and network inspect show the endpoint; --network none and host have none', () => {
  d.ok(['run', '-d', '--name', 'ep', '--mac-address', '02:42:0a:0b:0c:0d', 'busybox', 'sleep', '1000']);
  const s = JSON.parse(d.ok(['inspect', '-f', '{{json .NetworkSettings}}', 'ep'])) as {
    IPAddress: string; Gateway: string; MacAddress: string; IPPrefixLen: number;
    Networks: { bridge: { NetworkID: string; EndpointID: string; IPAddress: string; Gateway: string; IPPrefixLen: number; MacAddress: string } };
  };
  assert.match(s.IPAddress, /^10\.213\.\d+\.\d+$/);
  assert.equal(s.MacAddress, '02:42:0a:0b:0c:0d');
  assert.equal(s.IPPrefixLen, 24);
  assert.equal(s.Networks.bridge.IPAddress, s.IPAddress);
  assert.equal(s.Networks.bridge.Gateway, s.Gateway);
  assert.match(s.Networks.bridge.NetworkID, /^[0-9a-f]{64}$/);
  assert.match(s.Networks.bridge.EndpointID, /^[0-9a-f]{64}$/);
  const inside = d.ok(['exec', 'ep', 'cat', '/sys/class/net/eth0/address', '/etc/hosts']);
  assert.match(inside, /^02:42:0a:0b:0c:0d\n/);
  assert.match(inside, new RegExp(`${s.IPAddress.replace(/\./g, '\\.')}\\t[0-9a-f]{12}\\n`), '/etc/hosts names the container by its address');
  const members = JSON.parse(d.ok(['network', 'inspect', '-f', '{{json .Containers}}', 'bridge'])) as Record<string, { Name: string; IPv4Address: string }>;
  const me = Object.values(members).find((m) => m.Name === 'ep');
  assert.equal(me?.IPv4Address, `${s.IPAddress}/24`);
  // A stopped container keeps no address.
  d.ok(['stop', '-t', '0', 'ep']);
  assert.equal(inspect('ep', '{{.NetworkSettings.IPAddress}}'), '');
  d.ok(['rm', 'ep']);
  d.ok(['run', '-d', '--name', 'iso', '--network', 'none', 'busybox', 'sleep', '1000']);
  assert.equal(inspect('iso', '{{.NetworkSettings.IPAddress}}'), '');
  assert.equal(inspect('iso', '{{.HostConfig.NetworkMode}}'), 'none');
  d.ok(['rm', '-f', 'iso']);
});

test('-p 127.0.0.1:H:C, -p H:C and -P publish an httpd on the host with kernel rules; docker port and ps show them', async () => {
  const [h1, h2] = [await freePort(), await freePort()];
  d.ok(['run', '-d', '--name', 'web1', '-p', `127.0.0.1:${h1}:80`, 'busybox', ...HTTPD('one')]);
  d.ok(['run', '-d', '--name', 'web2', '-p', `${h2}:80`, 'busybox', ...HTTPD('two')]);
  d.ok(['run', '-d', '--name', 'web3', '--expose', '80', '-P', 'busybox', ...HTTPD('three')]);
  assert.equal(await waitFor('web1 answers', () => get(h1)), 'one\n');
  assert.equal(await waitFor('web2 answers', () => get(h2)), 'two\n');
  const port3 = Number(/:(\d+)$/.exec(d.ok(['port', 'web3', '80/tcp']).trim())?.[1]);
  assert.ok(port3 > 1024, `an ephemeral port for -P (${port3})`);
  assert.equal(await waitFor('web3 answers', () => get(port3)), 'three\n');
  assert.equal(d.ok(['port', 'web1']).trim(), `80/tcp -> 127.0.0.1:${h1}`);
  assert.match(d.ok(['port', 'web2', '80']), new RegExp(`0\\.0\\.0\\.0:${h2}`));
  const ps = d.ok(['ps', '--filter', 'name=web', '--format', '{{.Names}} {{.Ports}}']);
  assert.match(ps, new RegExp(`web1 127\\.0\\.0\\.1:${h1}->80/tcp`));
  assert.match(ps, new RegExp(`web2 0\\.0\\.0\\.0:${h2}->80/tcp`));
  assert.equal(inspect('web2', '{{json .HostConfig.PortBindings}}'), `{"80/tcp":[{"HostIp":"","HostPort":"${h2}"}]}`);
  // No proxy process: nothing but berthd's reservation socket, held by the container's monitor.
  assert.ok(!d.log().includes('docker-proxy'));
  // The container reaches another one directly on the bridge.
  const ip1 = inspect('web1', '{{.NetworkSettings.IPAddress}}');
  assert.match(d.ok(['run', '--rm', 'busybox', 'sh', '-c', `echo -e "GET / HTTP/1.0\\r\\n\\r\\n" | nc ${ip1} 80`]), /one/);
  d.ok(['rm', '-f', 'web1', 'web2', 'web3']);
  assert.equal(await get(h1, '127.0.0.1', 1000), undefined, 'gone with the container');
});

test("a host port taken by another container or by any process is refused with Docker's message, leaving nothing set up", async () => {
  const h = await freePort();
  d.ok(['run', '-d', '--name', 'first', '-p', `${h}:80`, 'busybox', ...HTTPD('first')]);
  const err = d.fails(['run', '-d', '--name', 'second', '-p', `${h}:80`, 'busybox', ...HTTPD('second')]);
  assert.match(err, new RegExp(`Bind for 0\\.0\\.0\\.0:${h} failed: port is already allocated`));
  assert.equal(inspect('second', '{{.State.Status}}'), 'created');
  assert.equal(inspect('second', '{{.NetworkSettings.IPAddress}}'), '');
  assert.equal(await waitFor('first still answers', () => get(h)), 'first\n');
  d.ok(['rm', '-f', 'first', 'second']);
  const squatter: Server = createServer();
  const p = await new Promise<number>((resolve) => squatter.listen(0, '0.0.0.0', () => resolve((squatter.address() as { port: number }).port)));
  try {
    const e2 = d.fails(['run', '--rm', '-p', `${p}:80`, 'busybox', 'true']);
    assert.match(e2, new RegExp(`Bind for 0\\.0\\.0\\.0:${p} failed: port is already allocated`));
  } finally {
    squatter.close();
  }
});

test('--network container:<name> shares its namespace, address and /etc files; host-gateway resolves to the gateway', () => {
  d.ok(['run', '-d', '--name', 'owner', '--hostname', 'ownerhost', 'busybox', 'sleep', '1000']);
  const ip = inspect('owner', '{{.NetworkSettings.IPAddress}}');
  const r = d.ok(['run', '--rm', '--network', 'container:owner', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0; hostname']);
  assert.match(r, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`));
  assert.match(r, /ownerhost/);
  assert.match(d.fails(['run', '--rm', '--network', 'container:owner', '-p', '9:9', 'busybox', 'true']), /conflicting options: port publishing and the container type network mode/);
  const missing = d.docker(['run', '--name', 'lost', '--network', 'nosuchnet', 'busybox', 'true']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /network nosuchnet not found/);
  assert.doesNotMatch(missing.stderr, /Unable to find image/);
  d.ok(['rm', 'lost']);
  assert.match(d.fails(['run', '--rm', '--ip', '10.213.0.9', 'busybox', 'true']), /user specified IP address is supported on user defined networks only/);
  const gw = d.bip.split('/')[0] as string;
  assert.match(d.ok(['run', '--rm', '--add-host', 'dockerhost:host-gateway', 'busybox', 'cat', '/etc/hosts']), new RegExp(`${gw.replace(/\./g, '\\.')}\\tdockerhost`));
  d.ok(['rm', '-f', 'owner']);
});

test('stats report the network counters of the container', async () => {
  const docker = new Docker({ socketPath: d.sock });
  d.ok(['run', '-d', '--name', 'counted', 'busybox', 'sh', '-c', `ping -c 3 ${d.bip.split('/')[0]}; sleep 1000`]);
  await sleep(3500);
  const s = (await docker.getContainer('counted').stats({ stream: false })) as unknown as { networks: Record<string, { rx_packets: number; tx_packets: number }> };
  assert.ok((s.networks['eth0']?.tx_packets ?? 0) >= 3, JSON.stringify(s.networks));
  const net = await docker.getNetwork('bridge').inspect();
  assert.equal(net.Name, 'bridge');
  d.ok(['rm', '-f', 'counted']);
});

test('kill -9 berthd: a published port answers while it is down and after the restart, with the same address', async () => {
  const h = await freePort();
  d.ok(['run', '-d', '--name', 'steady', '-p', `127.0.0.1:${h}:80`, 'busybox', ...HTTPD('steady')]);
  assert.equal(await waitFor('steady answers', () => get(h)), 'steady\n');
  const ip = inspect('steady', '{{.NetworkSettings.IPAddress}}');
  await d.kill();
  for (let i = 0; i < 5; i++) {
    assert.equal(await get(h), 'steady\n', `answers while berthd is down (try ${i})`);
    await sleep(200);
  }
  // The port stays reserved by the container's monitor: nobody else can take it meanwhile.
  const squat = createServer();
  const refused = await new Promise<boolean>((resolve) => {
    squat.once('error', () => resolve(true));
    squat.listen(h, '127.0.0.1', () => resolve(false));
  });
  squat.close();
  assert.ok(refused, 'the host port stays reserved while berthd is down');
  await d.start();
  assert.equal(await get(h), 'steady\n');
  assert.equal(inspect('steady', '{{.NetworkSettings.IPAddress}}'), ip);
  assert.equal(d.ok(['port', 'steady', '80']).trim(), `127.0.0.1:${h}`);
  d.ok(['rm', '-f', 'steady']);
});

test('berthd in a network namespace of its own: its bridge, rules and published ports live there, not on the host', async () => {
  const inner = await startDaemon({ ownNetns: true });
  try {
    const pid = inner.proc?.pid as number;
    // Free on the host, so that nothing there answers it either.
    const h = await freePort();
    const inNs = (args: string[]) => spawnSync('nsenter', ['--net=/proc/' + pid + '/ns/net', ...args], { encoding: 'utf8', timeout: 30_000 });
    inner.ok(['run', '-d', '--name', 'nsweb', '-p', `127.0.0.1:${h}:80`, 'busybox', ...HTTPD('inside')]);
    const bridge = JSON.parse(inner.ok(['network', 'inspect', '-f', '{{json .Options}}', 'bridge'])) as Record<string, string>;
    const name = bridge['com.docker.network.bridge.name'] as string;
    assert.equal(inNs(['ip', 'link', 'show', name]).status, 0, 'the bridge is in the daemon namespace');
    assert.notEqual(spawnSync('ip', ['link', 'show', name]).status, 0, 'and not on the host');
    const got = await waitFor('the port answers inside', () => {
      const r = inNs(['busybox', 'sh', '-c', `echo -e "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 127.0.0.1 ${h}`]);
      return /inside/.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(got, /inside/);
    assert.equal(await get(h, '127.0.0.1', 1000), undefined, 'the host loopback has no such port');
    inner.ok(['rm', '-f', 'nsweb']);
  } finally {
    const { leftovers } = await inner.cleanup();
    assert.deepEqual(leftovers, []);
  }
});

test('bridge none: berthd starts on a fresh data root with no default bridge; containers get no network unless they ask for one', async () => {
  const plain = await startDaemon({ extraArgs: ['--bridge', 'none'] });
  try {
    assert.deepEqual(plain.ok(['network', 'ls', '--format', '{{.Name}}']).trim().split('\n').sort(), ['host', 'none']);
    assert.equal(plain.ok(['run', '--rm', 'busybox', 'sh', '-c', 'ls /sys/class/net | sort | tr "\\n" " "']).trim(), 'lo');
    assert.match(plain.fails(['run', '--rm', '--network', 'bridge', 'busybox', 'true']), /network bridge not found/);
    // A user network still works without the default bridge.
    plain.ok(['network', 'create', 'own']);
    assert.equal(plain.ok(['run', '--rm', '--network', 'own', 'busybox', 'sh', '-c', 'ls /sys/class/net | sort | tr "\\n" " "']).trim(), 'eth0 lo');
    plain.ok(['network', 'rm', 'own']);
  } finally {
    const { leftovers } = await plain.cleanup();
    assert.deepEqual(leftovers, []);
  }
});
