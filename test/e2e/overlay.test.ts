import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, startDaemon, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

// No --storage-driver: overlay2 is the default.
daemonForFile((x) => (d = x));

function overlayMounts(): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('overlay ') && (l.split(' ')[1] ?? '').startsWith(d.dir));
}

function layerDiffs(): string[] {
  return readdirSync(d.storageRoot)
    .filter((n) => /^[0-9a-f]{64}$/.test(n))
    .map((n) => join(d.storageRoot, n, 'diff'));
}

test('overlay2 is the default storage driver', () => {
  const r = d.docker(['info']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Storage Driver: overlay2/);
  assert.equal(d.docker(['image', 'inspect', '-f', '{{.GraphDriver.Name}}', 'busybox']).stdout.trim(), 'overlay2');
});

test('a running container has its rootfs on an overlay mount, which is gone after rm', () => {
  const run = d.docker(['run', '-d', 'busybox', 'sleep', '300']);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  const merged = join(d.storageRoot, 'containers', id, 'merged');
  const mounts = overlayMounts();
  assert.equal(mounts.length, 1);
  assert.equal(mounts[0]?.split(' ')[1], merged);
  // The lower layers are named by their short links, so long chains fit.
  assert.match(mounts[0] ?? '', /lowerdir=l\/[0-9a-f]{26}[,:]/);
  assert.equal(d.docker(['rm', '-f', id]).code, 0);
  assert.deepEqual(overlayMounts(), []);
  assert.equal(existsSync(join(d.storageRoot, 'containers', id)), false);
});

test('what a container writes lands in its upper directory only, and survives a restart of the container', () => {
  const r = d.docker(['run', '--name', 'writer', 'busybox', 'sh', '-c', 'echo written >> /etc/note; rm -f /bin/vi; cat /etc/note']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'written\n');
  const id = d.docker(['inspect', '-f', '{{.Id}}', 'writer']).stdout.trim();
  const upper = join(d.storageRoot, 'containers', id, 'upper');
  assert.equal(readFileSync(join(upper, 'etc/note'), 'utf8'), 'written\n');
  // The deletion is a whiteout in the upper directory; the image layer still has the file.
  const whiteout = lstatSync(join(upper, 'bin/vi'));
  assert.ok(whiteout.isCharacterDevice() && whiteout.rdev === 0, 'an overlay whiteout');
  assert.ok(layerDiffs().some((diff) => existsSync(join(diff, 'bin/vi'))));
  for (const diff of layerDiffs()) assert.equal(existsSync(join(diff, 'etc/note')), false);
  // Stopped: nothing mounted. Started again: the same writable layer.
  assert.deepEqual(overlayMounts(), []);
  const again = d.docker(['start', '-a', 'writer']);
  assert.equal(again.stdout, 'written\nwritten\n');
  assert.equal(d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'test -e /bin/vi && test ! -e /etc/note']).code, 0, 'other containers see the image as it was');
  assert.equal(d.docker(['rm', 'writer']).code, 0);
  assert.deepEqual(overlayMounts(), []);
  assert.deepEqual(readdirSync(join(d.storageRoot, 'containers')), []);
});

test('after the daemon is killed with a container running, the restarted daemon leaves nothing mounted', async () => {
  const run = d.docker(['run', '-d', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(overlayMounts().length, 1);
  await d.kill();
  // Without live restore, the new daemon stops what it finds running and releases its mount.
  await d.start();
  assert.equal(d.docker(['inspect', '-f', '{{.State.Running}}', run.stdout.trim()]).stdout.trim(), 'false');
  assert.deepEqual(overlayMounts(), []);
  assert.equal(d.docker(['rm', run.stdout.trim()]).code, 0);
});

test('a daemon started with --storage-driver vfs still runs containers, without mounts', async () => {
  const v = await startDaemon({ storageDriver: 'vfs' });
  try {
    assert.match(v.docker(['info']).stdout, /Storage Driver: vfs/);
    const r = v.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo ok > /f && cat /f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
    assert.deepEqual(v.mounts(), []);
  } finally {
    const { leftovers } = await v.cleanup();
    assert.deepEqual(leftovers, []);
  }
});
