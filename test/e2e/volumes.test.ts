import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

daemonForFile((x) => (d = x));

/** Each test starts from no containers and no volumes, whatever the last one left. */
afterEach(() => d.removeAllContainersAndVolumes());

const ok = (args: string[]): string => d.ok(args);
const fails = (args: string[]): string => d.fails(args);

function volumes(filter: string[] = []): string[] {
  return ok(['volume', 'ls', '-q', ...filter.flatMap((f) => ['--filter', f])]).split('\n').filter(Boolean).sort();
}

function inspectVolume(name: string): Record<string, unknown> {
  return JSON.parse(ok(['volume', 'inspect', name]))[0];
}

test('volume create, ls, inspect and rm, with Docker\'s fields and errors', () => {
  assert.equal(ok(['volume', 'create', 'data1']), 'data1\n');
  assert.equal(ok(['volume', 'create', '--label', 'team=web', '--label', 'tier', 'data2']), 'data2\n');
  const v = inspectVolume('data2');
  assert.deepEqual(Object.keys(v).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
  assert.equal(v['Driver'], 'local');
  assert.equal(v['Scope'], 'local');
  assert.deepEqual(v['Labels'], { team: 'web', tier: '' });
  assert.equal(v['Mountpoint'], join(d.dataRoot, 'volumes', 'data2', '_data'));
  assert.ok(existsSync(v['Mountpoint'] as string));
  assert.ok(Math.abs(Date.parse(v['CreatedAt'] as string) - Date.now()) < 120_000);
  // Creating an existing volume is not an error.
  assert.equal(ok(['volume', 'create', 'data1']), 'data1\n');

  const anon = ok(['volume', 'create']).trim();
  assert.match(anon, /^[0-9a-f]{64}$/);
  assert.deepEqual(inspectVolume(anon)['Labels'], { 'com.docker.volume.anonymous': '' });

  assert.deepEqual(volumes(), [anon, 'data1', 'data2'].sort());
  assert.deepEqual(volumes(['label=team=web']), ['data2']);
  assert.deepEqual(volumes(['name=data']), ['data1', 'data2']);
  assert.deepEqual(volumes(['driver=local', 'label=tier']), ['data2']);
  assert.match(ok(['volume', 'ls']), /^DRIVER\s+VOLUME NAME\nlocal\s+\S+/);

  assert.match(fails(['volume', 'inspect', 'nope']), /Error response from daemon: get nope: no such volume/);
  assert.match(fails(['volume', 'rm', 'nope']), /Error response from daemon: get nope: no such volume/);
  assert.equal(d.docker(['volume', 'rm', '-f', 'nope']).code, 0);
  assert.match(fails(['volume', 'create', 'a']), /create a: volume name is too short, names should be at least two alphanumeric characters/);
  assert.match(
    fails(['volume', 'create', 'bad/name']),
    /create bad\/name: "bad\/name" includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed/,
  );
  assert.match(fails(['volume', 'create', '-o', 'colour=red', 'c1']), /create c1: invalid option: "colour"/);
  assert.match(fails(['volume', 'create', '-d', 'flocker', 'f1']), /error looking up volume plugin flocker: plugin "flocker" not found/);
  assert.match(fails(['volume', 'ls', '--filter', 'colour=red']), /invalid filter 'colour'/);

  assert.equal(ok(['volume', 'rm', 'data1', 'data2']), 'data1\ndata2\n');
  assert.ok(!existsSync(join(d.dataRoot, 'volumes', 'data1')));
  assert.deepEqual(volumes(), [anon]);
});

test('data written in a volume outlives the container and is read by the next one', () => {
  ok(['run', '--name', 'writer', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo kept > /data/file']);
  ok(['rm', 'writer']);
  assert.equal(ok(['run', '--rm', '-v', 'keep:/mnt', 'busybox', 'cat', '/mnt/file']), 'kept\n');
  assert.equal(readFileSync(join(d.dataRoot, 'volumes', 'keep', '_data', 'file'), 'utf8'), 'kept\n');
});

test('volume rm refuses a volume any container uses, running or stopped, with Docker\'s 409', async () => {
  const id = ok(['create', '--name', 'holder', '-v', 'busy:/data', 'busybox', 'true']).trim();
  assert.match(fails(['volume', 'rm', 'busy']), new RegExp(`Error response from daemon: remove busy: volume is in use - \\[${id}\\]`));
  assert.match(fails(['volume', 'rm', '-f', 'busy']), /volume is in use/);
  const res = await d.api('DELETE', '/volumes/busy');
  assert.equal(res.status, 409);
  assert.deepEqual(res.json(), { message: `remove busy: volume is in use - [${id}]` });
  assert.deepEqual(volumes(['dangling=false']), ['busy']);
  ok(['rm', 'holder']);
  assert.deepEqual(volumes(['dangling=true']), ['busy']);
  ok(['volume', 'rm', 'busy']);
});

test('a volume stays in use across a daemon restart, and keeps its data', async () => {
  ok(['run', '--name', 'persist', '-v', 'durable:/d', 'busybox', 'sh', '-c', 'echo before > /d/f']);
  await d.restart();
  assert.match(fails(['volume', 'rm', 'durable']), /remove durable: volume is in use - \[[0-9a-f]{64}\]/);
  assert.equal(ok(['run', '--rm', '-v', 'durable:/d', 'busybox', 'cat', '/d/f']), 'before\n');
  ok(['rm', 'persist']);
  ok(['volume', 'rm', 'durable']);
});

test('volume prune removes unused anonymous volumes; -a also named ones', () => {
  ok(['volume', 'create', 'named1']);
  ok(['volume', 'create', '--label', 'keep', 'named2']);
  const anonFree = ok(['volume', 'create']).trim();
  ok(['create', '--name', 'user', '-v', '/held', 'busybox', 'true']);
  const anonHeld = volumes().find((v) => v !== anonFree && /^[0-9a-f]{64}$/.test(v)) as string;
  ok(['run', '--rm', '-v', `${anonFree}:/x`, 'busybox', 'sh', '-c', 'head -c 3000 /dev/zero > /x/blob']);

  let out = ok(['volume', 'prune', '-f']);
  assert.equal(out, `Deleted Volumes:\n${anonFree}\n\nTotal reclaimed space: 3kB\n`);
  assert.deepEqual(volumes(), [anonHeld, 'named1', 'named2'].sort());

  out = ok(['volume', 'prune', '-a', '-f', '--filter', 'label!=keep']);
  assert.equal(out, 'Deleted Volumes:\nnamed1\n\nTotal reclaimed space: 0B\n');
  out = ok(['volume', 'prune', '-a', '-f']);
  assert.equal(out, 'Deleted Volumes:\nnamed2\n\nTotal reclaimed space: 0B\n');
  assert.deepEqual(volumes(), [anonHeld]);
});

test('a volume with device options is a mount of that device while in use, gone with the volume', () => {
  ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=2m', 'ramdisk']);
  assert.deepEqual(inspectVolume('ramdisk')['Options'], { device: 'tmpfs', o: 'size=2m', type: 'tmpfs' });
  const df = ok(['run', '--rm', '-v', 'ramdisk:/r', 'busybox', 'sh', '-c', 'echo x > /r/f; df -k /r | tail -1']);
  assert.match(df, /^tmpfs\s+2048\s/);
  const path = join(d.dataRoot, 'volumes', 'ramdisk', '_data');
  assert.ok(d.mounts().some((l) => l.split(' ')[1] === path));
  assert.match(fails(['volume', 'create', '-o', 'size=10m', 'quota']), /quota size requested but no quota support/);
  ok(['volume', 'rm', 'ramdisk']);
  assert.ok(!d.mounts().some((l) => l.split(' ')[1] === path));
});
