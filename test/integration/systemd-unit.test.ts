import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, testTmpDir } from '../helpers/paths.js';

const UNIT = join(repoRoot, 'contrib', 'systemd', 'berthd.service');

function directives(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

test('the systemd unit keeps containers across daemon restarts and reloads with SIGHUP', () => {
  const d = directives(readFileSync(UNIT, 'utf8'));
  // Only berthd is signalled on stop: each conmon (and its container) must survive.
  assert.equal(d.get('KillMode'), 'process');
  assert.equal(d.get('Delegate'), 'yes');
  assert.equal(d.get('ExecReload'), '/bin/kill -s HUP $MAINPID');
  assert.equal(d.get('Restart'), 'on-failure');
  assert.match(d.get('ExecStart') ?? '', /berthd$/);
});

test('systemd-analyze verify accepts the unit (ExecStart pointed at this checkout)', () => {
  const dir = testTmpDir('bt-unit-');
  try {
    const unit = readFileSync(UNIT, 'utf8').replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${join(repoRoot, 'dist', 'src', 'cmd', 'berthd.cjs')}`);
    const file = join(dir, 'berthd.service');
    writeFileSync(file, unit);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    // Warnings (unknown keys, wrong sections) are printed but do not fail verify: refuse them.
    assert.equal(r.stderr.split('\n').filter((l) => l.includes('berthd.service')).join('\n'), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
