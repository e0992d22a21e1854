import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolverFile, servesConfig } from '../../src/network/resolver.js';
import { pickSubnet, DOCKER_DEFAULT_POOLS } from '../../src/network/subnets.js';
import { parseCidr } from '../../src/network/ipv4.js';
import { chainNames } from '../../src/network/names.js';
import { desiredChains, forwardRules, inputRules, isolationRules, jumps, postRules } from '../../src/network/firewall-rules.js';
import { migrateSandbox } from '../../src/network/network-records.js';
import { migrateRecord, RECORD_SCHEMA_VERSION } from '../../src/engine/container.js';
import { initialAttachments, resolveNetworkMode } from '../../src/engine/networks/network-mode.js';
import { dnsNames } from '../../src/engine/networks/network-step.js';
import { networkPruneSelection, networkSelection, parseConnect, parseNetworkCreate } from '../../src/api/wire/network-json.js';
import { upstreams } from '../../src/daemon/networking.js';
import { isKind } from '../../src/lib/errors.js';
import type { NetworkView } from '../../src/engine/networks/network-service.js';
import type { ContainerRecord } from '../../src/engine/container.js';

test("resolver files in aardvark-dns 1.4's format: listen address and upstreams, then one line per container, sorted, names lowercased, unparseable names left out", () => {
  const text = resolverFile({
    key: 'n',
    listen: '10.214.0.1',
    upstreams: ['127.0.0.53', '10.0.0.2'],
    entries: [
      { containerId: 'b'.repeat(64), ip: '10.214.0.3', names: ['DB', 'db', 'bad alias', 'x,y'], dnsServers: ['1.1.1.1'] },
      { containerId: 'a'.repeat(64), ip: '10.214.0.2', names: ['web', 'www'], dnsServers: [] },
      { containerId: 'c'.repeat(64), ip: '10.214.0.4', names: ['a b'], dnsServers: [] },
    ],
  });
  assert.equal(text, `10.214.0.1 127.0.0.53,10.0.0.2\n${'a'.repeat(64)} 10.214.0.2  web,www\n${'b'.repeat(64)} 10.214.0.3  db 1.1.1.1\n`);
  assert.equal(resolverFile({ key: 'n', listen: '10.214.0.1', upstreams: [], entries: [] }), '10.214.0.1\n', 'no upstream: the host resolvers');
});

test('the resolver is recognised by its command line, not by a PID alone', () => {
  const argv = ['/usr/lib/podman/aardvark-dns', '--config', '/run/berth/dns/abc/config', '-p', '53', 'run'];
  assert.ok(servesConfig(argv, '/run/berth/dns/abc/config'));
  assert.ok(!servesConfig(argv, '/run/berth/dns/other/config'), "another instance's");
  assert.ok(!servesConfig(['sleep', '--config', '/run/berth/dns/abc/config', 'run'], '/run/berth/dns/abc/config'), 'a reused PID');
});

test('subnets of user networks: the first block of the pools that overlaps no route and no network; Docker pools by default', () => {
  const pools = [{ base: '10.214.0.0/22', size: 24 }];
  assert.deepEqual(pickSubnet(pools, []), { subnet: '10.214.0.0/24', gateway: '10.214.0.1' });
  const taken = [parseCidr('10.214.0.0/24'), parseCidr('10.214.1.128/25')];
  assert.deepEqual(pickSubnet(pools, taken), { subnet: '10.214.2.0/24', gateway: '10.214.2.1' }, 'a route inside a block takes the block');
  assert.deepEqual(pickSubnet(pools, [parseCidr('10.214.0.0/23')]), { subnet: '10.214.2.0/24', gateway: '10.214.2.1' }, 'a route wider than a block takes all it covers');
  assert.throws(() => pickSubnet(pools, [parseCidr('10.0.0.0/8')]), (e: unknown) => isKind(e, 'Unavailable') && /non-overlapping IPv4 address pool/.test(String(e)));
  assert.deepEqual(pickSubnet([], [parseCidr('172.17.0.0/16')]), { subnet: '172.18.0.0/16', gateway: '172.18.0.1' }, "docker0's subnet is skipped");
  assert.equal(DOCKER_DEFAULT_POOLS.at(-1)?.size, 20);
  assert.deepEqual(pickSubnet([{ base: '10.9.0.0/16', size: 31 }, { base: '10.8.0.0/16', size: 24 }], []).subnet, '10.8.0.0/24', 'a pool too small for a network is skipped');
});

test('firewall: networks isolated from each other, published ports reachable across them, internal ones closed, DNS to the gateway of user networks', () => {
  const n = chainNames('abc123');
  const a = { bridge: 'br-a', subnet: '10.214.0.0/24', icc: true, ipMasq: true, dns: true };
  const b = { bridge: 'br-b', subnet: '10.214.1.0/24', icc: true, ipMasq: true, dns: true };
  const i = { bridge: 'br-i', subnet: '10.214.2.0/24', icc: true, ipMasq: true, internal: true, dns: true };
  const fwd = forwardRules([b, a, i], n);
  assert.deepEqual(fwd.slice(0, 2), ['-i br-i ! -o br-i -j DROP', '! -i br-i -o br-i -j DROP'], 'internal: nothing out, nothing in, first');
  const dnatA = fwd.indexOf('-o br-a -m conntrack --ctstate DNAT -j ACCEPT');
  const isoA = fwd.indexOf(`-i br-a ! -o br-a -j ${n.isolation}`);
  const outA = fwd.indexOf('-i br-a ! -o br-a -j ACCEPT');
  assert.ok(dnatA >= 0 && dnatA < isoA && isoA < outA, 'published ports before the isolation check, the way out after it');
  // A port published on br-b, reached from br-a: br-b's DNAT accept comes before br-a's isolation jump.
  const dnatB = fwd.indexOf('-o br-b -m conntrack --ctstate DNAT -j ACCEPT');
  const replyB = fwd.indexOf('-o br-b -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  assert.ok(dnatB >= 0 && dnatB < isoA && replyB < isoA, 'every bridge\'s published ports and replies before any isolation check');
  assert.ok(!fwd.includes('-o br-i -m conntrack --ctstate DNAT -j ACCEPT') && !fwd.includes('-i br-i ! -o br-i -j ACCEPT'));
  assert.deepEqual(isolationRules([b, a, i]), ['-o br-a -j DROP', '-o br-b -j DROP', '-o br-i -j DROP']);
  assert.deepEqual(isolationRules([a]), [], 'one network: nothing to isolate');
  assert.ok(!forwardRules([a], n).some((r) => r.includes(n.isolation)));
  assert.ok(!postRules([i]).some((r) => r.includes('! -o br-i -j MASQUERADE')), 'no masquerade on an internal network');
  assert.deepEqual(inputRules([a, { ...b, dns: false }]), ['-i br-a -p udp -m udp --dport 53 -j ACCEPT']);
  assert.ok(jumps(n).some((j) => j.chain === 'INPUT' && j.position === 'top' && j.rule === `-j ${n.input}`));
  // The order networks were set up in does not change the rules (no rewrite after a restart).
  assert.deepEqual(desiredChains(n, [a, b, i], []), desiredChains(n, [i, b, a], []));
});

test('endpoint records of version 1 (one endpoint per container) read as a sandbox of one endpoint, keeping their veth name', () => {
  const v1 = {
    schemaVersion: 1,
    containerId: 'c'.repeat(64),
    network: 'bridge',
    networkId: 'n'.repeat(64),
    endpointId: 'e'.repeat(64),
    bridge: 'berth0',
    netnsPath: '/run/berth/netns/t/c',
    hostVeth: 'vbccccccccccc',
    ifName: 'eth0',
    ip: '10.87.0.2',
    prefixLen: 16,
    gateway: '10.87.0.1',
    mac: '02:42:0a:57:00:02',
    mtu: 1500,
    ports: [],
  };
  const sb = migrateSandbox(v1);
  assert.equal(sb.schemaVersion, 2);
  assert.equal(sb.netnsPath, v1.netnsPath);
  assert.equal(sb.endpoints.length, 1);
  assert.equal(sb.endpoints[0]?.hostVeth, 'vbccccccccccc');
  assert.equal(sb.endpoints[0]?.gatewayRoute, true);
  assert.deepEqual(sb.endpoints[0]?.dnsNames, []);
  assert.throws(() => migrateSandbox({ schemaVersion: 9 }), /unknown endpoint schema version 9/);
});

test('container records of version 1 gain their networks: the network mode with its --ip and --mac-address; none, host and container: have none', () => {
  const base = { schemaVersion: 1, id: 'x', spec: { networkMode: 'bridge', endpoint: { ports: [], exposed: [], macAddress: '02:42:00:00:00:09' } } };
  const r = migrateRecord(base);
  assert.equal(r.schemaVersion, RECORD_SCHEMA_VERSION);
  assert.deepEqual(r.networks, [{ network: 'bridge', aliases: [], macAddress: '02:42:00:00:00:09' }]);
  assert.deepEqual(migrateRecord({ ...base, spec: { networkMode: 'none' } }).networks, []);
  assert.deepEqual(migrateRecord({ ...base, spec: { networkMode: `container:${'a'.repeat(64)}` } }).networks, []);
  assert.throws(() => migrateRecord({ schemaVersion: 3 }), /unsupported container record schema version 3/);
});

test('network mode and attachments at create: --ip and aliases only on user networks, NetworkingConfig networks after the first', () => {
  const nets: Record<string, { name: string; id: string; user: boolean; subnetGiven: boolean }> = {
    bridge: { name: 'bridge', id: 'b'.repeat(64), user: false, subnetGiven: false },
    front: { name: 'front', id: 'f'.repeat(64), user: true, subnetGiven: true },
    back: { name: 'back', id: 'k'.repeat(64), user: true, subnetGiven: false },
  };
  const ctx = { bridgeEnabled: true, containerId: (r: string) => r, network: (ref: string) => nets[ref] ?? Object.values(nets).find((n) => n.id.startsWith(ref)) };
  const req = (o: Partial<Parameters<typeof resolveNetworkMode>[1]>) => ({ hostnameGiven: false, dnsGiven: false, extraHostsGiven: false, ...o });
  const ep = { ports: [], exposed: [], ipv4Address: '10.9.0.5' };
  assert.throws(() => resolveNetworkMode('bridge', req({ endpoint: ep }), ctx), /supported on user defined networks only/);
  assert.equal(resolveNetworkMode('front', req({ endpoint: ep }), ctx).mode, 'front');
  assert.throws(() => resolveNetworkMode('back', req({ endpoint: ep }), ctx), /only when connecting to networks with user configured subnets/);
  assert.equal(resolveNetworkMode('fffff', req({}), ctx).mode, 'front', 'an id prefix is kept as the name');
  assert.equal(resolveNetworkMode('later', req({}), ctx).mode, 'later', 'a network that does not exist yet fails at start');

  const atts = initialAttachments('front', 'front', { endpoint: ep, endpointsConfig: { front: { aliases: ['web', 'web'] }, back: { aliases: ['api'], ipv4Address: '10.8.0.9' } } }, ctx);
  assert.deepEqual(atts, [
    { network: 'front', networkId: nets['front']?.id, aliases: ['web'], ipv4Address: '10.9.0.5' },
    { network: 'back', networkId: nets['back']?.id, aliases: ['api'], ipv4Address: '10.8.0.9' },
  ]);
  assert.throws(() => initialAttachments('bridge', '', { endpointsConfig: { bridge: { aliases: ['x'] } } }, ctx), /network-scoped alias is supported only for containers in user defined networks/);
  assert.deepEqual(initialAttachments('none', 'none', {}, ctx), []);
  // The CLI names the entry by --network; `default` and a lone entry stand for the first network.
  assert.deepEqual(initialAttachments('front', 'front', { endpointsConfig: { default: { aliases: ['a'] } } }, ctx)[0]?.aliases, ['a']);
});

test('DNS names of an endpoint, as Docker: name, aliases, short id, hostname; none on the default bridge', () => {
  const c = { id: '0123456789ab'.padEnd(64, 'f'), name: 'web', spec: { hostname: '0123456789ab' } } as unknown as ContainerRecord;
  assert.deepEqual(dnsNames(c, { network: 'front', aliases: ['www'] }, { dns: true }), ['web', 'www', '0123456789ab']);
  assert.deepEqual(dnsNames({ ...c, spec: { ...c.spec, hostname: 'box' } } as ContainerRecord, { network: 'front', aliases: [] }, { dns: true }), ['web', '0123456789ab', 'box']);
  assert.deepEqual(dnsNames(c, { network: 'bridge', aliases: [] }, {}), []);
});

test('network create and connect bodies with Go type errors; ls and prune filters', () => {
  const req = parseNetworkCreate({ Name: 'n1', Driver: 'bridge', Internal: true, IPAM: { Driver: 'default', Config: [{ Subnet: '10.9.0.0/24', Gateway: '10.9.0.1', IPRange: '' }] }, Options: { 'com.docker.network.bridge.name': 'brn1' }, Labels: { a: 'b' } });
  assert.equal(req.internal, true);
  assert.deepEqual(req.ipam, [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1', ipRange: undefined, auxAddresses: undefined }]);
  assert.equal(req.enableIPv4, true);
  assert.throws(() => parseNetworkCreate({ Name: 5 }), /json: cannot unmarshal number into Go struct field CreateRequest.Name of type string/);
  assert.throws(() => parseNetworkCreate({ Name: 'x', Labels: { a: 1 } }), /CreateRequest.Labels of type map\[string\]string/);
  assert.deepEqual(parseConnect({ Container: 'c1', EndpointConfig: { Aliases: ['a', ''], IPAMConfig: { IPv4Address: '10.9.0.9' } } }), { container: 'c1', req: { aliases: ['a'], ipv4Address: '10.9.0.9' } });
  assert.throws(() => parseConnect({ Container: 'c1', EndpointConfig: { Links: ['x:y'] } }), /links \(--link\) are not supported/);

  const view = (o: Partial<NetworkView>): NetworkView => ({ name: 'n', id: 'a'.repeat(64), driver: 'bridge', created: '2026-01-01T00:00:00.000000000Z', builtin: false, internal: false, attachable: false, ipamOptions: {}, options: {}, labels: {}, ...o });
  const used = new Set(['busy']);
  const sel = (f: Record<string, string[]>) => networkSelection(JSON.stringify(f), (n) => used.has(n.name));
  const all = [view({ name: 'bridge', builtin: true }), view({ name: 'busy', labels: { app: 'x' } }), view({ name: 'idle', id: 'b'.repeat(64) })];
  assert.deepEqual(all.filter(sel({ type: ['custom'] })).map((n) => n.name), ['busy', 'idle']);
  assert.deepEqual(all.filter(sel({ dangling: ['true'] })).map((n) => n.name), ['idle']);
  assert.deepEqual(all.filter(sel({ label: ['app=x'] })).map((n) => n.name), ['busy']);
  assert.deepEqual(all.filter(sel({ id: ['bbb'] })).map((n) => n.name), ['idle']);
  assert.throws(() => sel({ type: ['other'] }), /invalid filter: 'type'='other'/);
  const prune = networkPruneSelection(JSON.stringify({ until: ['2027-01-01T00:00:00Z'], 'label!': ['keep'] }));
  assert.ok(prune(view({})));
  assert.ok(!prune(view({ labels: { keep: '' } })));
  assert.ok(!networkPruneSelection(JSON.stringify({ until: ['2025-01-01T00:00:00Z'] }))(view({})));
});

test("the resolver's upstreams: the daemon's dns, else the host's nameservers (loopback ones included: the resolver runs on the host's side)", () => {
  assert.deepEqual(upstreams({ dns: ['10.0.0.53'] }, 'nameserver 1.1.1.1\n'), ['10.0.0.53']);
  assert.deepEqual(upstreams({ dns: [] }, 'search x\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\n'), ['127.0.0.53', '10.0.0.2']);
  assert.deepEqual(upstreams({ dns: [] }, ''), []);
});
