import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IpamStore } from '../../src/network/ipam.js';
import { testTmpDir } from '../helpers/paths.js';

const child = fileURLToPath(new URL('../helpers/ipam-child.js', import.meta.url));

/** Run the allocating child until it has reported `n` addresses, then SIGKILL it. */
function allocateThenKill(dir: string, prefix: string, n: number): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir, prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    const told = new Map<string, string>();
    let buf = '';
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      // Lines that come in the same chunk after the n-th are allocations made before the kill
      // landed: on disk, but told to no one here.
      while (told.size < n && (nl = buf.indexOf('\n')) >= 0) {
        const [owner = '', address = ''] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        told.set(owner, address);
        if (told.size === n) p.kill('SIGKILL');
      }
    });
    p.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(told) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

test('an address is never handed out twice, even when the allocating process is killed -9 mid-way', async () => {
  const dir = testTmpDir('bt-ipam-');
  try {
    const everTold = new Map<string, string>();
    for (const [round, n] of [5, 13, 29, 2, 41].entries()) {
      const told = await allocateThenKill(dir, `r${round}`, n);
      assert.equal(told.size, n);
      for (const [owner, address] of told) everTold.set(owner, address);
      const store = IpamStore.open(dir, 'crash', { subnet: '10.77.0.0/22', gateway: '10.77.0.1' });
      // Every address a caller was told about is on disk, held by the owner it was told to.
      for (const [owner, address] of everTold) assert.equal(store.state.allocations[address]?.owner, owner, `${address} of ${owner}`);
      // Allocations made after the crash never collide with those.
      const fresh = new Set<string>();
      for (let i = 0; i < 10; i++) fresh.add(await store.allocate(`after-${round}-${i}`));
      assert.equal(fresh.size, 10);
      const toldAddresses = new Set(everTold.values());
      for (const a of fresh) assert.ok(!toldAddresses.has(a), `${a} handed out twice`);
      for (let i = 0; i < 10; i++) await store.release(`after-${round}-${i}`, { keepStatic: false });
    }
    assert.equal(new Set(everTold.values()).size, everTold.size, 'the killed processes never gave one address to two owners');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
