import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareSnapshots, takeSnapshot, type Difference } from '../helpers/host-snapshot.js';

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

// Only the differences naming what this test planted are compared: a test file started by
// hand (without the runner's lock) may share the host with another run's containers.
function ours(diffs: Difference[], token: string): Difference[] {
  return diffs.filter((d) => d.key.includes(token));
}

test('the leak snapshot reports a bridge, a test directory and a mount left behind, and is clean once they are removed', () => {
  const token = `bts${process.pid.toString(36)}`;
  const link = token;
  const first = takeSnapshot();
  const dir = mkdtempSync(`/tmp/bt-${token}-`);
  const mnt = join(dir, 'm');
  try {
    mkdirSync(mnt);
    // This kernel has no dummy links; a bridge is what a berth network would leave anyway.
    sh('ip', ['link', 'add', link, 'type', 'bridge']);
    sh('mount', ['-t', 'tmpfs', 'bt-snapshot-test', mnt]);
    const second = takeSnapshot();
    assert.deepEqual(ours(compareSnapshots(first, second), token), [
      { category: 'link', key: link, change: 'new', after: 'bridge' },
      { category: 'sysctl', key: `net.ipv4.conf.${link}.route_localnet`, change: 'new', after: '0' },
      { category: 'mount', key: mnt, change: 'new', after: 'tmpfs bt-snapshot-test' },
      { category: 'testdir', key: dir, change: 'new', after: 'test directory' },
    ]);
    // Seen the other way round, the bridge and the mount are gone (a directory that disappears
    // is no leak: only new ones count).
    assert.deepEqual(
      ours(compareSnapshots(second, first), token).map((d) => `${d.change} ${d.category} ${d.key}`),
      [`gone link ${link}`, `gone sysctl net.ipv4.conf.${link}.route_localnet`, `gone mount ${mnt}`],
    );
  } finally {
    spawnSync('umount', [mnt], { timeout: 30_000 });
    spawnSync('ip', ['link', 'del', link], { timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(ours(compareSnapshots(first, takeSnapshot()), token), []);
});
