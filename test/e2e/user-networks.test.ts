import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { daemonForFile, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { ownLoopbackAddress, startStubDns, type StubDns } from '../helpers/dns.js';
import { resolverProcesses } from '../helpers/daemon-probes.js';

// User-defined networks with the real docker CLI: names resolve between containers that share
// a network and nowhere else, by a resolver that lives outside berthd (aardvark-dns) and keeps
// answering while berthd is killed and restarted. Names that are not containers' go to the
// daemon's `dns`: a stub on a loopback address of this test's own, so nothing leaves the machine.
let d: TestDaemon;
let stub: StubDns;
const UPSTREAM = ownLoopbackAddress();
const UPSTREAM_ANSWER = '192.0.2.53';

before(async () => {
  stub = await startStubDns(UPSTREAM, UPSTREAM_ANSWER);
});
daemonForFile(
  (x) => {
    d = x;
  },
  { liveRestore: true, extraArgs: ['--dns', UPSTREAM] },
);
after(async () => {
  await stub.close();
});

const HTTPD = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
/** busybox wget until the server answers (it may still be starting); `wget -T` segfaults in busybox 1.35. */
const fetch = (url: string) => `for i in $(seq 1 50); do wget -q -O - ${url} && break; sleep 0.1; done`;

function inspect(ref: string, format: string): string {
  return d.ok(['inspect', '-f', format, ref]).trim();
}

/** The addresses busybox nslookup printed for `name` (its A answers). */
function addressesOf(out: string, name: string): string[] {
  return [...out.matchAll(new RegExp(`Name:\\s+${name.replace(/\./g, '\\.')}\\s*\\nAddress: (\\S+)`, 'g'))].map((m) => m[1] as string);
}

/** A /24 of the daemon's pool that its own allocation reaches last (it goes in order), for --subnet. */
function ownSubnet(index: number): { subnet: string; prefix: string } {
  const [a, b, c] = d.addressPool.split('/')[0]?.split('.').map(Number) as [number, number, number];
  const third = c + 7 - index;
  return { subnet: `${a}.${b}.${third}.0/24`, prefix: `${a}.${b}.${third}` };
}

test('two containers on a user network reach each other by name, alias and short id; a container on another network resolves and reaches none of them', () => {
  d.ok(['network', 'create', 'front']);
  d.ok(['network', 'create', 'back']);
  d.ok(['run', '-d', '--name', 'web', '--network', 'front', '--network-alias', 'www', 'busybox', ...HTTPD('hello-front')]);
  const ip = inspect('web', '{{.NetworkSettings.Networks.front.IPAddress}}');
  const short = inspect('web', '{{.Id}}').slice(0, 12);
  assert.match(ip, /^10\.21[45]\.\d+\.\d+$/, 'an address from the daemon pool');
  assert.equal(inspect('web', '{{.NetworkSettings.IPAddress}}'), '', 'no default-bridge address, as in Docker');
  const out = d.ok(['run', '--rm', '--network', 'front', 'busybox', 'sh', '-c', `cat /etc/resolv.conf; nslookup web; nslookup www; nslookup ${short}; ${fetch('http://www/')}`]);
  const gateway = inspect('front', '{{range .IPAM.Config}}{{.Gateway}}{{end}}');
  assert.match(out, new RegExp(`^nameserver ${gateway.replace(/\./g, '\\.')}$`, 'm'), 'the resolver on the network gateway');
  assert.deepEqual(addressesOf(out, 'web'), [ip]);
  assert.deepEqual(addressesOf(out, 'www'), [ip]);
  assert.deepEqual(addressesOf(out, short), [ip]);
  assert.match(out, /hello-front/);
  const dnsNames = JSON.parse(inspect('web', '{{json .NetworkSettings.Networks.front.DNSNames}}')) as string[];
  assert.deepEqual(dnsNames.slice(0, 3), ['web', 'www', short]);

  const other = d.docker(['run', '--rm', '--network', 'back', 'busybox', 'sh', '-c', `nslookup web; ping -c 1 -W 1 ${ip} >/dev/null && echo reached || echo unreachable`]);
  assert.match(other.stdout + other.stderr, /can't find web/);
  assert.match(other.stdout, /unreachable/, 'networks are isolated from each other');
  assert.doesNotMatch(other.stdout, /reached\n/);
});

test('--internal: no route out and no masquerade; its containers still resolve and reach each other', () => {
  d.ok(['network', 'create', '--internal', 'sealed']);
  assert.equal(inspect('sealed', '{{.Internal}}'), 'true');
  d.ok(['run', '-d', '--name', 'vault', '--network', 'sealed', 'busybox', 'sleep', '1000']);
  const bridgeGateway = d.bip.split('/')[0] as string;
  const out = d.ok(['run', '--rm', '--network', 'sealed', 'busybox', 'sh', '-c', `ip route; ping -c 1 -W 2 vault >/dev/null && echo reached-vault; ping -c 1 -W 1 ${bridgeGateway} >/dev/null 2>&1 || echo no-way-out`]);
  assert.doesNotMatch(out, /^default/m, 'no default route');
  assert.match(out, /reached-vault/);
  assert.match(out, /no-way-out/);
  d.ok(['rm', '-f', 'vault']);
  d.ok(['network', 'rm', 'sealed']);
});

test('connect and disconnect change what resolves: --alias and --ip on a running container; a stopped one gets the network at its next start', () => {
  const { subnet, prefix } = ownSubnet(0);
  d.ok(['network', 'create', '--subnet', subnet, 'fixed']);
  d.ok(['run', '-d', '--name', 'app', '--network', 'front', 'busybox', 'sleep', '1000']);
  d.ok(['run', '-d', '--name', 'peer', '--network', 'fixed', 'busybox', 'sleep', '1000']);
  d.ok(['network', 'connect', '--alias', 'api', '--ip', `${prefix}.50`, 'fixed', 'app']);
  assert.equal(inspect('app', '{{.NetworkSettings.Networks.fixed.IPAddress}}'), `${prefix}.50`);
  assert.equal(inspect('app', '{{json .NetworkSettings.Networks.fixed.Aliases}}'), '["api"]');
  assert.equal(inspect('app', '{{.NetworkSettings.Networks.fixed.IPAMConfig.IPv4Address}}'), `${prefix}.50`);
  const seen = d.ok(['exec', 'peer', 'sh', '-c', 'nslookup api; nslookup app']);
  assert.deepEqual(addressesOf(seen, 'api'), [`${prefix}.50`]);
  assert.deepEqual(addressesOf(seen, 'app'), [`${prefix}.50`], 'on the network they share');
  const inside = d.ok(['exec', 'app', 'sh', '-c', 'ip -4 -o addr show; cat /etc/resolv.conf']);
  assert.match(inside, new RegExp(`eth1\\s+inet ${prefix.replace(/\./g, '\\.')}\\.50/24`));
  assert.match(inside, new RegExp(`nameserver ${prefix.replace(/\./g, '\\.')}\\.1`), 'resolv.conf follows the new network');
  assert.match(d.fails(['network', 'connect', 'fixed', 'app']), /endpoint with name app already exists in network fixed/);
  assert.match(d.fails(['network', 'connect', '--ip', '10.1.1.1', 'front', 'peer']), /only when connecting to networks with user configured subnets/);

  d.ok(['network', 'disconnect', 'fixed', 'app']);
  const gone = d.docker(['exec', 'peer', 'nslookup', 'api']);
  assert.match(gone.stdout + gone.stderr, /can't find api/);
  assert.doesNotMatch(d.ok(['exec', 'app', 'ip', '-o', 'link']), /eth1/);
  assert.match(d.fails(['network', 'disconnect', 'fixed', 'app']), /is not connected to network fixed/);

  // A stopped container: recorded now, connected at start.
  d.ok(['create', '--name', 'later', '--network', 'front', 'busybox', 'sleep', '1000']);
  d.ok(['network', 'connect', '--alias', 'late', 'fixed', 'later']);
  d.ok(['start', 'later']);
  assert.match(d.ok(['exec', 'later', 'ip', '-o', 'link']), /eth1/);
  assert.deepEqual(Object.keys(JSON.parse(inspect('later', '{{json .NetworkSettings.Networks}}')) as object).sort(), ['fixed', 'front']);
  assert.deepEqual(addressesOf(d.ok(['exec', 'peer', 'nslookup', 'late']), 'late'), [inspect('later', '{{.NetworkSettings.Networks.fixed.IPAddress}}')]);
  // A rename follows in the resolver.
  d.ok(['rename', 'later', 'renamed']);
  assert.deepEqual(addressesOf(d.ok(['exec', 'peer', 'nslookup', 'renamed']), 'renamed'), [inspect('renamed', '{{.NetworkSettings.Networks.fixed.IPAddress}}')]);
  d.ok(['rm', '-f', 'app', 'peer', 'renamed']);
  d.ok(['network', 'rm', 'fixed']);
});

test("network rm of a network in use is refused with Docker's message; ls filters, inspect's Containers, prune and events", () => {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const err = d.fails(['network', 'rm', 'front']);
  assert.match(err, /error while removing network: network front id [0-9a-f]{64} has active endpoints/);
  const members = JSON.parse(inspect('front', '{{json .Containers}}')) as Record<string, { Name: string; IPv4Address: string }>;
  assert.equal(Object.values(members).find((m) => m.Name === 'web')?.IPv4Address, `${inspect('web', '{{.NetworkSettings.Networks.front.IPAddress}}')}/24`);
  assert.match(d.fails(['network', 'rm', 'bridge']), /bridge is a pre-defined network and cannot be removed/);
  assert.match(d.fails(['network', 'create', 'front']), /network with name front already exists/);
  assert.match(d.fails(['network', 'create', '-d', 'overlay', 'ov']), /network driver "overlay" is not supported by berth/);
  assert.match(d.fails(['network', 'create', '--ipv6', 'six']), /IPv6 networks are not supported by berth/);
  // Its folder is named after it: a name too long for one is refused (it was a 500 naming a host path).
  assert.match(d.fails(['network', 'create', 'n'.repeat(300)]), /Error response from daemon: invalid network name "n{32}…": longer than 245 characters/);
  d.ok(['network', 'create', 'n'.repeat(245)]);
  d.ok(['network', 'rm', 'n'.repeat(245)]);

  d.ok(['network', 'create', '--label', 'purpose=scratch', 'scratch']);
  assert.equal(d.ok(['network', 'ls', '--filter', 'label=purpose=scratch', '--format', '{{.Name}}']).trim(), 'scratch');
  assert.deepEqual(d.ok(['network', 'ls', '--filter', 'type=custom', '--format', '{{.Name}}']).trim().split('\n').sort(), ['back', 'front', 'scratch']);
  assert.equal(d.ok(['network', 'ls', '--filter', 'dangling=true', '--format', '{{.Name}}']).trim().split('\n').sort().join(' '), 'back scratch');
  const pruned = d.ok(['network', 'prune', '-f']);
  assert.match(pruned, /scratch/);
  assert.match(pruned, /back/);
  assert.doesNotMatch(pruned, /front/, 'a network in use stays');

  d.ok(['run', '-d', '--name', 'tmp', 'busybox', 'sleep', '1000']);
  d.ok(['network', 'connect', 'front', 'tmp']);
  d.ok(['network', 'disconnect', 'front', 'tmp']);
  d.ok(['rm', '-f', 'tmp']);
  const events = d.ok(['events', '--since', since, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=network', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
  for (const e of ['create scratch', 'destroy scratch', 'destroy back', 'connect front', 'disconnect front']) assert.ok(events.includes(e), `event "${e}" in:\n${events}`);
});

test("names that are not containers' go to the daemon's dns (a stub on an address the test owns)", async () => {
  d.ok(['network', 'create', 'ask']);
  // The stub answers from this process: the CLI runs asynchronously meanwhile. busybox
  // nslookup also asks for AAAA, which the stub does not have: it then exits 1.
  const out = (await d.dockerAsync(['run', '--rm', '--network', 'ask', 'busybox', 'nslookup', 'www.example.test']).done).stdout;
  assert.deepEqual(addressesOf(out, 'www.example.test'), [UPSTREAM_ANSWER], out);
  assert.ok(stub.queries.includes('www.example.test'), `the stub was asked: ${stub.queries.join(' ')}`);
  d.ok(['network', 'rm', 'ask']);
});

test('dockerode: create with an IPAM config, connect with aliases and an address, inspect, disconnect with force', async () => {
  const docker = new Docker({ socketPath: d.sock });
  const { subnet, prefix } = ownSubnet(1);
  const net = await docker.createNetwork({ Name: 'dode', IPAM: { Config: [{ Subnet: subnet, Gateway: `${prefix}.1`, IPRange: `${prefix}.128/25` }] }, Labels: { by: 'dockerode' } });
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'], name: 'dodec' });
  try {
    await c.start();
    await net.connect({ Container: c.id, EndpointConfig: { Aliases: ['dodealias'], IPAMConfig: { IPv4Address: `${prefix}.77` } } });
    const info = (await net.inspect()) as { IPAM: { Config: { Subnet: string; Gateway: string; IPRange: string }[] }; Labels: Record<string, string>; Containers: Record<string, { IPv4Address: string }> };
    assert.deepEqual(info.IPAM.Config, [{ Subnet: subnet, Gateway: `${prefix}.1`, IPRange: `${prefix}.128/25` }]);
    assert.deepEqual(info.Labels, { by: 'dockerode' });
    assert.equal(info.Containers[c.id]?.IPv4Address, `${prefix}.77/24`);
    const ci = (await c.inspect()) as { NetworkSettings: { Networks: Record<string, { Aliases: string[] | null; IPAddress: string }> } };
    assert.deepEqual(ci.NetworkSettings.Networks['dode']?.Aliases, ['dodealias']);
    await net.disconnect({ Container: c.id, Force: true });
    assert.deepEqual(((await net.inspect()) as { Containers: object }).Containers, {});
  } finally {
    await c.remove({ force: true });
    await net.remove();
  }
});

test('kill -9 berthd: a client keeps resolving and reaching a service by name while berthd is down and after the restart; a container gone meanwhile stops resolving; one started after resolves', async () => {
  d.ok(['network', 'create', 'svcnet']);
  d.ok(['run', '-d', '--name', 'svc', '--network', 'svcnet', 'busybox', ...HTTPD('up')]);
  d.ok(['run', '-d', '--name', 'watcher', '--network', 'svcnet', 'busybox', 'sh', '-c', 'while true; do if wget -q -O /dev/null http://svc/; then echo ok; else echo FAIL; fi; sleep 0.1; done']);
  const log = join(d.dataRoot, 'containers', inspect('watcher', '{{.Id}}'), 'container.log');
  const lines = () => readFileSync(log, 'utf8').split('\n').filter((l) => / (ok|FAIL)$/.test(l));
  const oks = () => lines().filter((l) => l.endsWith(' ok')).length;
  await waitFor('the watcher to reach svc', () => oks() >= 3);
  const firstOk = lines().findIndex((l) => l.endsWith(' ok'));
  const resolver = resolverProcesses(d.execRoot);
  assert.equal(resolver.length, 1, 'one resolver for the daemon');

  // Nothing changes while berthd is away: the restart adopts the resolver untouched (no
  // reload), so not one lookup may fail, during the outage or after it.
  await d.kill();
  const atKill = oks();
  await waitFor('lookups while berthd is down', () => oks() >= atKill + 10, 30_000);
  assert.deepEqual(resolverProcesses(d.execRoot), resolver, 'the resolver does not depend on berthd');
  await d.start();
  const atStart = oks();
  await waitFor('lookups after the restart', () => oks() >= atStart + 5, 30_000);
  assert.deepEqual(lines().slice(firstOk).filter((l) => l.endsWith('FAIL')), [], 'no lookup or request failed throughout');
  assert.deepEqual(resolverProcesses(d.execRoot), resolver, 'adopted, not restarted');

  // A container that goes away while berthd is down loses its name at the restore pass.
  d.ok(['run', '-d', '--name', 'ghost', '--network', 'svcnet', 'busybox', 'sleep', '1000']);
  assert.equal(addressesOf(d.ok(['exec', 'watcher', 'nslookup', 'ghost']), 'ghost').length, 1);
  const ghostPid = Number(inspect('ghost', '{{.State.Pid}}'));
  await d.kill();
  process.kill(ghostPid, 'SIGKILL');
  await d.start();
  const ghost = d.docker(['exec', 'watcher', 'nslookup', 'ghost']);
  assert.match(ghost.stdout + ghost.stderr, /can't find ghost/, 'the entry of a container gone while berthd was down is removed at restore');
  assert.deepEqual(resolverProcesses(d.execRoot), resolver, 'reloaded in place, still one');
  d.ok(['run', '-d', '--name', 'late', '--network', 'svcnet', 'busybox', 'sleep', '1000']);
  assert.deepEqual(addressesOf(d.ok(['exec', 'watcher', 'nslookup', 'late']), 'late'), [inspect('late', '{{.NetworkSettings.Networks.svcnet.IPAddress}}')]);
  d.ok(['rm', '-f', 'svc', 'ghost', 'watcher', 'late', 'web']);
  d.ok(['network', 'rm', 'svcnet', 'front']);
  assert.deepEqual(resolverProcesses(d.execRoot), [], 'no user network left: no resolver');
});
