import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, emptyState, reconcile, release, type IpamState } from '../../src/network/ipam.js';
import { formatIpv4, macFromIpv4, parseCidr, parseIpv4 } from '../../src/network/ipv4.js';
import { ephemeralRange, parsePortSpec, portRequests, wirePorts } from '../../src/network/ports.js';
import { desiredChains, parseSave, removeAllBatch, syncBatch } from '../../src/network/firewall-rules.js';
import { chainNames, containerChain, hostVethName, instanceTag, isHostVethOf, legacyHostVethName, userBridgeName } from '../../src/network/names.js';
import { bridgeMac, bridgePlan, parseLinkJson } from '../../src/network/bridge.js';
import { hostLines, insideLines, parseNetDev } from '../../src/network/endpoint.js';
import { EphemeralPorts, allocatedMessage, socketTable } from '../../src/network/port-reservation.js';

const pool = { subnet: '10.5.0.0/29', gateway: '10.5.0.1' };

function take(s: IpamState, owner: string, address?: string): [IpamState, string] {
  const r = allocate(s, { owner, address, networkName: 'bridge' });
  return [r.state, r.address];
}

test('IPAM hands out each usable address once, skipping network, gateway and broadcast', () => {
  let s = emptyState(pool);
  const got: string[] = [];
  for (const o of ['a', 'b', 'c', 'd', 'e']) {
    let ip: string;
    [s, ip] = take(s, o);
    got.push(ip);
  }
  assert.deepEqual(got, ['10.5.0.2', '10.5.0.3', '10.5.0.4', '10.5.0.5', '10.5.0.6']);
  assert.throws(() => take(s, 'f'), /no available IPv4 addresses on this network's address pools: bridge/);
});

test('IPAM: asking again returns the same address; a freed one is not reused at once', () => {
  let s = emptyState({ subnet: '10.5.0.0/24', gateway: '10.5.0.1' });
  let a: string;
  let b: string;
  [s, a] = take(s, 'a');
  const [s2, again] = take(s, 'a');
  assert.equal(again, a);
  assert.equal(s2, s, 'an idempotent allocation does not change the state (nothing to write)');
  [s, b] = take(s, 'b');
  s = release(s, 'a', { keepStatic: false });
  let c: string;
  [s, c] = take(s, 'c');
  assert.equal(a, '10.5.0.2');
  assert.equal(b, '10.5.0.3');
  assert.equal(c, '10.5.0.4', 'the search goes on after the last address given, as dockerd');
});

test('IPAM: fixed-cidr limits dynamic addresses; a static one may lie outside it but not outside the subnet', () => {
  let s = emptyState({ subnet: '10.6.0.0/16', gateway: '10.6.0.1', ipRange: '10.6.5.0/30' });
  let ip: string;
  [s, ip] = take(s, 'a');
  assert.equal(ip, '10.6.5.0');
  [s, ip] = take(s, 'st', '10.6.9.9');
  assert.equal(ip, '10.6.9.9');
  assert.equal(s.allocations['10.6.9.9']?.static, true);
  assert.throws(() => take(s, 'x', '10.7.0.2'), /Invalid address 10.7.0.2: It does not belong to any of this network's subnets/);
  assert.throws(() => take(s, 'x', '10.6.0.1'), /It does not belong/, 'the gateway is never an endpoint address');
  assert.throws(() => take(s, 'x', '10.6.9.9'), /Address already in use/);
});

test('IPAM: a stop keeps a static address, a removal frees it; reconcile frees what nobody may hold', () => {
  let s = emptyState({ subnet: '10.5.0.0/24', gateway: '10.5.0.1' });
  [s] = take(s, 'dyn');
  [s] = take(s, 'st', '10.5.0.50');
  [s] = take(s, 'run');
  const stopped = release(release(s, 'st', { keepStatic: true }), 'dyn', { keepStatic: true });
  assert.deepEqual(Object.keys(stopped.allocations).sort(), ['10.5.0.3', '10.5.0.50']);
  const removed = release(stopped, 'st', { keepStatic: false });
  assert.deepEqual(Object.keys(removed.allocations), ['10.5.0.3']);

  const r = reconcile(s, { running: new Set(['run']), existing: new Set(['run', 'st', 'dyn']) });
  assert.deepEqual(r.freed, [{ address: '10.5.0.2', owner: 'dyn' }], 'a dynamic address needs a running owner');
  assert.ok(r.state.allocations['10.5.0.50'], 'a static one needs only an existing owner');
  const none = reconcile(r.state, { running: new Set(['run']), existing: new Set(['run', 'st']) });
  assert.equal(none.state, r.state);
});

test('IPAM refuses pools it cannot use', () => {
  assert.throws(() => emptyState({ subnet: '10.5.0.1/24', gateway: '10.5.0.1' }), /it should be 10.5.0.0\/24/);
  assert.throws(() => emptyState({ subnet: '10.5.0.0/24', gateway: '10.6.0.1' }), /no matching subnet for gateway 10.6.0.1/);
  assert.throws(() => emptyState({ subnet: '10.5.0.0/31', gateway: '10.5.0.1' }), /too small/);
  assert.throws(() => emptyState({ subnet: '10.5.0.0/24', gateway: '10.5.0.1', ipRange: '10.9.0.0/28' }), /not within subnet/);
});

test('IPv4 helpers and Docker-style MAC addresses', () => {
  assert.equal(parseIpv4('010.0.0.1'), undefined);
  assert.equal(parseIpv4('256.0.0.1'), undefined);
  assert.equal(formatIpv4(parseIpv4('172.17.0.2') ?? 0), '172.17.0.2');
  assert.equal(macFromIpv4(parseIpv4('172.17.0.2') ?? 0), '02:42:ac:11:00:02');
  assert.deepEqual(parseCidr('10.88.0.0/16'), { base: parseIpv4('10.88.0.0'), prefixLen: 16 });
});

test('names: per-instance tags, a 15-byte veth name per container and network, chain names within 28 characters', () => {
  const id = 'f'.repeat(64);
  const net = '0123' + 'a'.repeat(60);
  assert.equal(hostVethName(id, net), 'vbfffffffff0123');
  assert.equal(hostVethName(id, net).length, 15);
  assert.notEqual(hostVethName(id, net), hostVethName(id, 'b'.repeat(64)), 'one per network');
  assert.equal(legacyHostVethName(id), 'vbfffffffffff');
  assert.ok(isHostVethOf(hostVethName(id, net), id) && isHostVethOf(legacyHostVethName(id), id));
  assert.ok(!isHostVethOf(hostVethName('e'.repeat(64), net), id));
  assert.equal(userBridgeName('abcdef0123456789' + '0'.repeat(48)), 'br-abcdef012345');
  const tag = instanceTag('/var/lib/berth');
  assert.match(tag, /^[0-9a-f]{6}$/);
  assert.notEqual(tag, instanceTag('/tmp/other'));
  const c = containerChain(tag, id);
  assert.ok(c.length <= 28, c);
  for (const n of Object.values(chainNames(tag))) assert.ok(n.length <= 28);
  assert.throws(() => hostVethName('mycontainer', net), /not a container id/);
});

test('port bindings in the daemon-side shapes, -P and the docker -p syntax', () => {
  assert.deepEqual(
    portRequests({
      portBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }, { HostIp: '127.0.0.1', HostPort: '' }], '53/udp': [{ HostPort: '5300-5310' }] },
      exposedPorts: { '80/tcp': {}, '443/tcp': {}, '9000': {} },
      publishAll: true,
    }),
    [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: 8080, hostPortEnd: 8080 },
      { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortStart: 0, hostPortEnd: 0 },
      { proto: 'udp', containerPort: 53, hostIp: '', hostPortStart: 5300, hostPortEnd: 5310 },
      // ('9000' is an integer-like key: JavaScript objects list it first.)
      { proto: 'tcp', containerPort: 9000, hostIp: '', hostPortStart: 0, hostPortEnd: 0 },
      { proto: 'tcp', containerPort: 443, hostIp: '', hostPortStart: 0, hostPortEnd: 0 },
    ],
  );
  assert.deepEqual(portRequests({ portBindings: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '0' }] } }), [
    { proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: 0, hostPortEnd: 0 },
  ]);
  assert.throws(() => portRequests({ portBindings: { 'abc/tcp': [] } }), /invalid port specification: "abc"/);
  assert.throws(() => portRequests({ portBindings: { '0/tcp': [] } }), /invalid port specification: "0"/);
  assert.throws(() => portRequests({ portBindings: { '80/tcp': [{ HostPort: '70000' }] } }), /invalid port specification: "70000"/);
  assert.throws(() => portRequests({ portBindings: { '80/tcp': [{ HostIp: 'nope', HostPort: '1' }] } }), /invalid IP address: nope/);
  assert.throws(() => portRequests({ portBindings: { '80/icmp': [] } }), /invalid proto: icmp/);

  assert.deepEqual(parsePortSpec('127.0.0.1:8080-8081:80-81/udp'), {
    exposed: ['80/udp', '81/udp'],
    bindings: { '80/udp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '81/udp': [{ HostIp: '127.0.0.1', HostPort: '8081' }] },
  });
  assert.deepEqual(parsePortSpec('8000-8010:80').bindings, { '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }] });
  assert.deepEqual(parsePortSpec('80').bindings, { '80/tcp': [{ HostIp: '', HostPort: '' }] });
  assert.throws(() => parsePortSpec('8080-8082:80-81'), /invalid ranges specified for container and host Ports: 80-81 and 8080-8082/);
  assert.throws(() => parsePortSpec('8080:'), /no port specified: 8080:<empty>/);
  assert.throws(() => parsePortSpec('x:80'), /invalid hostPort: x/);

  assert.deepEqual(wirePorts([{ proto: 'tcp', containerPort: 80, hostIp: '', hostPort: 32768 }], ['80/tcp', '443/tcp']), {
    '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }],
    '443/tcp': null,
  });
});

test('ephemeral host ports come from ip_local_port_range, after the last one given', () => {
  assert.deepEqual(ephemeralRange('32768\t60999\n'), { start: 32768, end: 60999 });
  const e = new EphemeralPorts({ start: 100, end: 103 });
  assert.deepEqual([...e.candidates('tcp')], [100, 101, 102, 103]);
  e.taken('tcp', 102);
  assert.deepEqual([...e.candidates('tcp')], [103, 100, 101, 102]);
  assert.deepEqual([...e.candidates('udp')], [100, 101, 102, 103], 'each protocol has its own cursor');
  assert.equal(allocatedMessage('', 18080), 'Bind for 0.0.0.0:18080 failed: port is already allocated');
  assert.equal(allocatedMessage('127.0.0.1', 80), 'Bind for 127.0.0.1:80 failed: port is already allocated');
});

test('firewall: all addresses publish without -d (never -d 0.0.0.0/32), a host address with it', () => {
  const n = chainNames('abc123');
  const chain = containerChain('abc123', 'e'.repeat(64));
  const d = desiredChains(n, [{ bridge: 'berth0', subnet: '10.88.0.0/16', icc: false, ipMasq: true }], [
    {
      chain,
      ip: '10.88.0.2',
      ports: [
        { proto: 'tcp', containerPort: 80, hostIp: '', hostPort: 8080 },
        { proto: 'udp', containerPort: 53, hostIp: '127.0.0.1', hostPort: 5353 },
      ],
    },
  ]);
  assert.deepEqual(d.nat.get(chain), [
    '-p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.2:80',
    '-d 127.0.0.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.88.0.2:53',
  ]);
  assert.deepEqual(d.nat.get(n.dnat), [`-j ${chain}`]);
  assert.ok(d.filter.get(n.forward)?.includes('-i berth0 -o berth0 -j DROP'), 'icc off');
  assert.ok(d.nat.get(n.post)?.includes('-s 10.88.0.0/16 ! -o berth0 -j MASQUERADE'));
});

const SAVED = `# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:BERTH-abc123-FWD - [0:0]
:BERTH-abc123-ISO - [0:0]
:BERTH-abc123-IN - [0:0]
-A INPUT -j BERTH-abc123-IN
-A FORWARD -j BERTH-abc123-FWD
-A FORWARD -j DOCKER-USER
-A BERTH-abc123-FWD -o berth0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-abc123-FWD -o berth0 -m conntrack --ctstate DNAT -j ACCEPT
-A BERTH-abc123-FWD -i berth0 ! -o berth0 -j ACCEPT
-A BERTH-abc123-FWD -i berth0 -o berth0 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:BERTH-abc123-DNAT - [0:0]
:BERTH-abc123-POST - [0:0]
:BERTH-abc123-C-dddddddddddd - [0:0]
:BERTH-ffffff-DNAT - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH-abc123-DNAT
-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH-ffffff-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j BERTH-abc123-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j BERTH-abc123-DNAT
-A POSTROUTING -j BERTH-abc123-POST
-A BERTH-abc123-DNAT -j BERTH-abc123-C-dddddddddddd
-A BERTH-abc123-C-dddddddddddd -p tcp -m tcp --dport 1 -j DNAT --to-destination 10.88.0.9:1
-A BERTH-abc123-POST -s 10.88.0.0/16 ! -o berth0 -j MASQUERADE
-A BERTH-abc123-POST -s 127.0.0.0/8 -o berth0 -m conntrack --ctstate DNAT -j MASQUERADE
-A BERTH-abc123-POST -s 10.88.0.0/16 -o berth0 -m conntrack --ctstate DNAT -j MASQUERADE
COMMIT
`;

test('firewall sync: nothing to do when the kernel agrees; stale chains and duplicate jumps go; other instances untouched', () => {
  const n = chainNames('abc123');
  const nets = [{ bridge: 'berth0', subnet: '10.88.0.0/16', icc: true, ipMasq: true }];
  const saved = parseSave(SAVED);
  const stale = 'BERTH-abc123-C-dddddddddddd';
  const keep = desiredChains(n, nets, [{ chain: stale, ip: '10.88.0.9', ports: [{ proto: 'tcp', containerPort: 1, hostIp: '', hostPort: 1 }] }]);
  assert.equal(syncBatch(n, saved, keep), '*nat\n-D OUTPUT -m addrtype --dst-type LOCAL -j BERTH-abc123-DNAT\nCOMMIT\n');

  const batch = syncBatch(n, saved, desiredChains(n, nets, []));
  const lines = batch.split('\n');
  assert.ok(lines.includes(':BERTH-abc123-DNAT - [0:0]'), 'the dispatch chain is rewritten before the chain it named goes');
  assert.ok(lines.indexOf(`-X ${stale}`) > lines.indexOf(':BERTH-abc123-DNAT - [0:0]'));
  assert.ok(!batch.includes('ffffff'), "another instance's chains are not ours");
  assert.ok(!batch.includes('*filter'), 'the filter table already agrees');

  const all = removeAllBatch(n, saved);
  assert.ok(all.includes('-D FORWARD -j BERTH-abc123-FWD'));
  assert.ok(all.includes('-D PREROUTING -m addrtype --dst-type LOCAL -j BERTH-abc123-DNAT'));
  assert.ok(all.includes(`-X ${stale}`));
  assert.ok(!all.includes('ffffff') && !all.includes('DOCKER-USER'));
});

test('a missing FORWARD jump goes to the top, so a DROP policy or rule below cannot block the bridge', () => {
  const n = chainNames('abc123');
  const batch = syncBatch(n, parseSave('*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j DROP\nCOMMIT\n'), desiredChains(n, [], []));
  assert.ok(batch.includes('-I FORWARD 1 -j BERTH-abc123-FWD'));
});

test('bridge: created with its MAC set once; an adopted one that agrees needs nothing', () => {
  const spec = { name: 'berth0', mac: bridgeMac('abc123', 'berth0'), mtu: 1500, gateway: '10.88.0.1', prefixLen: 16 };
  assert.match(spec.mac, /^02:b7(:[0-9a-f]{2}){4}$/);
  assert.equal(bridgeMac('abc123', 'berth0'), spec.mac, 'the same MAC on every run');
  assert.deepEqual(bridgePlan(spec, undefined), [
    `link add berth0 address ${spec.mac} mtu 1500 type bridge`,
    'addr replace 10.88.0.1/16 dev berth0',
    'link set dev berth0 up',
  ]);
  const seen = parseLinkJson(
    JSON.stringify([{ ifname: 'berth0', mtu: 1500, flags: ['UP'], address: spec.mac.toUpperCase(), linkinfo: { info_kind: 'bridge' }, addr_info: [{ family: 'inet', local: '10.88.0.1', prefixlen: 16 }] }]),
  );
  assert.deepEqual(bridgePlan(spec, seen), []);
  assert.deepEqual(bridgePlan(spec, seen && { ...seen, mac: '02:00:00:00:00:01', up: false }), [`link set dev berth0 address ${spec.mac}`, 'link set dev berth0 up']);
  assert.throws(() => bridgePlan(spec, seen && { ...seen, kind: 'veth' }), /exists and is a veth link/);
});

test('endpoint batches: veth made from inside the namespace, its peer sent to the daemon by pid', () => {
  const s = { netnsPath: '/run/berth/netns/x', hostVeth: 'vb0123456789a', bridge: 'berth0', ifName: 'eth0', ip: '10.88.0.2', prefixLen: 16, gateway: '10.88.0.1', mac: '02:42:0a:58:00:02', mtu: 1500, defaultRoute: true };
  const inside = insideLines(s, { createVeth: true, peerNetnsPid: 42 });
  assert.ok(inside.includes('link add eth0 address 02:42:0a:58:00:02 mtu 1500 type veth peer name vb0123456789a mtu 1500 netns 42'));
  assert.ok(inside.includes('route replace default via 10.88.0.1 dev eth0'));
  assert.ok(!insideLines(s, { createVeth: false, peerNetnsPid: 42 }).some((l) => l.startsWith('link add')));
  // A second network's interface: its subnet only, the default route stays where it is.
  const second = insideLines({ ...s, ifName: 'eth1', defaultRoute: false }, { createVeth: true, peerNetnsPid: 42 });
  assert.ok(second.some((l) => l.startsWith('link add eth1 ')));
  assert.ok(!second.some((l) => l.startsWith('route')));
  assert.deepEqual(hostLines(s), ['link set dev vb0123456789a master berth0 up', 'link set dev vb0123456789a type bridge_slave hairpin on']);
});

test('/proc parsing: interface counters and the sockets holding ports', () => {
  const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0
`;
  assert.deepEqual(parseNetDev(dev)['eth0'], { rxBytes: 5000, rxPackets: 40, rxErrors: 1, rxDropped: 2, txBytes: 3000, txPackets: 30, txErrors: 3, txDropped: 4 });
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 888 1 0000000000000000 100 0 0 10 0
`;
  const t = socketTable('tcp', tcp);
  assert.deepEqual(t.get('127.0.0.1:20000'), [123456]);
  assert.deepEqual(t.get('0.0.0.0:8080'), [777]);
  assert.equal(t.get('127.0.0.1:8081'), undefined, 'an established connection holds no port');
});
