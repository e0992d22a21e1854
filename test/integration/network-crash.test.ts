import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { BridgeDriver } from '../../src/network/bridge-driver.js';
import { silentLogger } from '../../src/lib/logger.js';
import { newId } from '../../src/lib/ids.js';
import type { NetworkConfig } from '../../src/network/types.js';
import { freeSubnet, iptablesSave, leftovers, linkNames, uniqueBridge } from '../helpers/net-fixture.js';
import { testTmpDir } from '../helpers/paths.js';

const child = fileURLToPath(new URL('../helpers/connect-child.js', import.meta.url));

function connectThenKill(dir: string, net: NetworkConfig, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir, JSON.stringify(net)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ids: string[] = [];
    let buf = '';
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      ids.push(...lines.filter(Boolean));
      if (ids.length >= n) p.kill('SIGKILL');
    });
    p.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(ids) : reject(new Error(`connect child ended: ${err}`))));
  });
}

test('a daemon killed -9 in the middle of connecting containers leaves nothing a restart does not clean', async () => {
  const dir = testTmpDir('bt-ncrash-');
  const s = freeSubnet();
  const net: NetworkConfig = { name: 'bridge', id: newId(), bridge: uniqueBridge(), external: false, subnet: s.subnet, gateway: s.gateway, mtu: 1500, icc: true, ipMasq: true };
  const make = () => new BridgeDriver({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec'), iptables: true, ipForward: false, log: silentLogger() });
  const seen = new Set<string>();
  let last: BridgeDriver | undefined;
  try {
    for (const n of [1, 3, 2]) {
      for (const id of await connectThenKill(dir, net, n)) seen.add(id);
      // What the killed daemon may have been making: every id it recorded or made a namespace for.
      for (const d of ['data/network/endpoints', 'exec/netns']) {
        if (existsSync(join(dir, d))) for (const name of readdirSync(join(dir, d))) if (/^[0-9a-f]{64}$/.test(name)) seen.add(name);
      }
      const next = make();
      last = next;
      await next.init();
      await next.ensureNetwork(net);
      // Nothing runs: every endpoint, rule and address must go.
      const report = await next.restore({ running: new Map(), existing: new Set() });
      assert.ok(report.cleaned.length + report.leftovers.netns.length >= n);
      // A container's veths start with vb + 9 hex of its id (then 4 of the network's).
      const veths = [...seen].map((id) => `vb${id.slice(0, 9)}`);
      assert.deepEqual(leftovers({ bridge: '-', vethPrefixes: veths, chainPrefix: next.firewall.names.containerPrefix, execRoot: join(dir, 'exec') }), []);
      assert.deepEqual(next.endpoints(), []);
      const ipam = JSON.parse(readFileSync(join(dir, 'data', 'network', 'networks', 'bridge', 'ipam.json'), 'utf8')) as { allocations: object };
      assert.deepEqual(ipam.allocations, {}, 'no address stays allocated to a container that does not exist');
    }
  } finally {
    const cleaner = last ?? make();
    if (!last) await cleaner.init();
    await cleaner.removeAll();
    spawnSync('ip', ['link', 'del', 'dev', net.bridge]);
    assert.ok(!linkNames().includes(net.bridge));
    assert.ok(!iptablesSave().includes(cleaner.firewall.names.prefix));
    rmSync(dir, { recursive: true, force: true });
  }
});
