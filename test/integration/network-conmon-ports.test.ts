import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, rmdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { BridgeDriver } from '../../src/network/bridge-driver.js';
import { silentLogger } from '../../src/lib/logger.js';
import { newId } from '../../src/lib/ids.js';
import { isAlive, identify } from '../../src/lib/proc.js';
import { checkHeld, reservePorts, EphemeralPorts, socketInodesOf, socketTable } from '../../src/network/port-reservation.js';
import type { EndpointInfo, NetworkConfig } from '../../src/network/types.js';
import { freePort, freeSubnet, iptablesSave, leftovers, uniqueBridge } from '../helpers/net-fixture.js';
import { hostAddress, tcpGet } from '../helpers/net-tools.js';
import { testTmpDir } from '../helpers/paths.js';

// The fact live restore of published ports rests on, with the real conmon 2.1.6 and runc: the
// sockets berthd binds to reserve host ports, passed to conmon at spawn, stay held by conmon
// after berthd is gone, never reach the container, and do not stop the DNAT from delivering to
// the container; when the container stops, conmon exits and the port is free again.

const child = fileURLToPath(new URL('../helpers/conmon-ports-child.js', import.meta.url));

test('conmon keeps the published-port sockets after the daemon exits; the container never sees them and still gets the traffic', async () => {
  const dir = testTmpDir('bt-cport-');
  const s = freeSubnet();
  const net: NetworkConfig = { name: 'bridge', id: newId(), bridge: uniqueBridge(), external: false, subnet: s.subnet, gateway: s.gateway, mtu: 1500, icc: true, ipMasq: true };
  const port = await freePort();
  let out: { id?: string; containerPid?: number; conmonPid?: number; runcRoot?: string; endpoint?: EndpointInfo; error?: string } = {};
  try {
    const r = spawnSync(process.execPath, [child, dir, JSON.stringify(net), String(port)], { encoding: 'utf8', timeout: 120_000 });
    out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as typeof out;
    assert.equal(out.error, undefined, `${out.error}\n${r.stderr}`);
    const conmonPid = out.conmonPid ?? 0;
    const containerPid = out.containerPid ?? 0;
    assert.ok(await isAlive((await identify(conmonPid)) ?? { pid: 0, startTime: '' }), 'conmon outlives the daemon that spawned it');

    // (i) conmon holds both sockets, with the reserving process gone.
    const mappings = out.endpoint?.ports ?? [];
    assert.equal(mappings.length, 2);
    assert.deepEqual(checkHeld(mappings, conmonPid).map((c) => c.state), ['held', 'held']);
    // (ii) the container process holds none of them.
    const portInodes = [...(socketTable('tcp').get(`0.0.0.0:${port}`) ?? []), ...(socketTable('udp').get(`0.0.0.0:${port}`) ?? [])];
    assert.equal(portInodes.length, 2);
    const inContainer = socketInodesOf(containerPid);
    assert.ok(inContainer.size > 0, 'the container has its own listening socket');
    for (const i of portInodes) assert.ok(!inContainer.has(i), 'a reservation socket leaked into the container');
    // (iii) the DNAT delivers to the container although a never-accepting listener holds the port.
    assert.equal(await tcpGet('127.0.0.1', port), 'hello from the container\n');
    const host = hostAddress();
    assert.ok(host);
    assert.equal(await tcpGet(host, port), 'hello from the container\n');
    // (iv) the port stays reserved: anyone else is refused, with Docker's message.
    await assert.rejects(
      reservePorts([{ proto: 'tcp', containerPort: 1, hostIp: '127.0.0.1', hostPortStart: port, hostPortEnd: port }], { ephemeral: new EphemeralPorts({ start: 1, end: 1 }), containerIp: '' }),
      (e: Error) => e.message === `Bind for 127.0.0.1:${port} failed: port is already allocated`,
    );

    // The container stops: conmon exits and the port is free again.
    process.kill(containerPid, 'SIGKILL');
    for (let i = 0; i < 500 && (await isAlive((await identify(conmonPid)) ?? { pid: 0, startTime: '' })); i++) await new Promise((res) => setTimeout(res, 20));
    const again = await reservePorts([{ proto: 'tcp', containerPort: 1, hostIp: '', hostPortStart: port, hostPortEnd: port }], {
      ephemeral: new EphemeralPorts({ start: 1, end: 1 }),
      containerIp: '',
    });
    again.close();
  } finally {
    if (out.containerPid) spawnSync('kill', ['-9', String(out.containerPid)]);
    if (out.id && out.runcRoot) spawnSync('runc', ['--root', out.runcRoot, 'delete', '-f', out.id]);
    const cleaner = new BridgeDriver({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec'), iptables: true, ipForward: false, log: silentLogger() });
    await cleaner.init();
    await cleaner.removeAll();
    for (const c of readdirSync('/sys/fs/cgroup')) {
      for (const p of [out.id ? join('/sys/fs/cgroup', c, 'berth-net-test', out.id) : '', join('/sys/fs/cgroup', c, 'berth-net-test')]) {
        try {
          if (p) rmdirSync(p);
        } catch {
          // not created for this controller, or already gone
        }
      }
    }
    assert.deepEqual(leftovers({ bridge: net.bridge, vethPrefixes: out.endpoint ? [out.endpoint.hostVeth] : [], chainPrefix: cleaner.firewall.names.prefix, execRoot: join(dir, 'exec') }), []);
    assert.ok(!iptablesSave().includes(cleaner.firewall.names.prefix));
    rmSync(dir, { recursive: true, force: true });
  }
});
