import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetLock } from '../../src/network/lock.js';
import { isKind } from '../../src/lib/errors.js';
import { testTmpDir } from '../helpers/paths.js';

const child = fileURLToPath(new URL('../helpers/lock-child.js', import.meta.url));

test('a helper left running by a killed daemon keeps the network lock until it exits', async () => {
  const dir = testTmpDir('bt-lock-');
  const tag = `test-${randomBytes(4).toString('hex')}`;
  const pidFile = join(dir, 'helper.pid');
  let helperPid = 0;
  try {
    const p = spawn(process.execPath, [child, tag, pidFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      p.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('locked') && resolve());
      p.on('exit', (code) => reject(new Error(`lock child exited ${code}`)));
    });
    for (let i = 0; i < 500 && !(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''); i++) await new Promise((r) => setTimeout(r, 10));
    helperPid = Number(readFileSync(pidFile, 'utf8').trim());
    assert.ok(helperPid > 0);

    const mine = new NetLock(tag);
    await assert.rejects(mine.run(async () => 'got it', { timeoutMs: 300 }), (e: Error) => isKind(e, 'Unavailable'), 'held by the live daemon');
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    await assert.rejects(mine.run(async () => 'got it', { timeoutMs: 300 }), /timed out waiting/, 'still held by its helper');
    process.kill(helperPid, 'SIGKILL');
    helperPid = 0;
    assert.equal(await mine.run(async () => 'got it', { timeoutMs: 10_000 }), 'got it', 'free once the last holder is gone');
  } finally {
    if (helperPid > 0) process.kill(helperPid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('operations of one daemon on the lock run one after another', async () => {
  const lock = new NetLock(`test-${randomBytes(4).toString('hex')}`);
  const order: string[] = [];
  const slow = lock.run(async () => {
    order.push('a start');
    await new Promise((r) => setTimeout(r, 50));
    order.push('a end');
  });
  const fast = lock.run(async () => {
    order.push('b');
  });
  await Promise.all([slow, fast]);
  assert.deepEqual(order, ['a start', 'a end', 'b']);
});
