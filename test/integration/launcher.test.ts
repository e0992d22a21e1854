import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { startDaemon } from '../helpers/daemon.js';

const LAUNCHER = join(repoRoot, 'dist', 'src', 'cmd', 'berthd.cjs');

test('berthd starts from the bundle and V8 accepts its saved code cache', () => {
  const r = spawnSync(process.execPath, [LAUNCHER, '--version'], {
    env: { ...process.env, BERTH_STARTUP_TRACE: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  assert.match(r.stdout, new RegExp(`^berthd version ${pkg.version.replace(/\./g, '\\.')}`));
  // A rejected or missing cache still starts, only slower: this is what would hide it.
  assert.match(r.stderr, /bundle .*berthd\.bundle\.cjs, code cache accepted/);
});

test('a start logs its phases, and the API opens only after the restore pass', async (t) => {
  const d = await startDaemon();
  t.after(() => d.cleanup());
  const line = readFileSync(d.logFile, 'utf8')
    .split('\n')
    .find((l) => l.includes('Daemon has completed initialization'));
  assert.ok(line, 'no "completed initialization" line in the log');
  const ms = (JSON.parse(line) as { startupMs: Record<string, number> }).startupMs;
  const order = ['entered', 'listening', 'initialized', 'restored', 'ready'];
  for (const phase of order) assert.equal(typeof ms[phase], 'number', `phase ${phase} missing: ${line}`);
  for (let i = 1; i < order.length; i++) {
    assert.ok((ms[order[i] as string] as number) >= (ms[order[i - 1] as string] as number), `phases out of order: ${line}`);
  }
});
