import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTarball, testTmpDir } from '../helpers/paths.js';

let d: TestDaemon;
let host: string;

before(async () => {
  d = await startDaemon();
  host = testTmpDir('bt-mounts-');
});

after(async () => {
  rmSync(host, { recursive: true, force: true });
  const { leftovers } = await d.cleanup();
  assert.deepEqual(leftovers, []);
});

/** Each test starts from no containers and no volumes, whatever the last one left. */
afterEach(() => d.removeAllContainersAndVolumes());

const ok = (args: string[]): string => d.ok(args);
const fails = (args: string[]): string => d.fails(args);

function volumes(): string[] {
  return ok(['volume', 'ls', '-q']).split('\n').filter(Boolean).sort();
}

function mountsOf(container: string): Record<string, unknown>[] {
  const list = JSON.parse(ok(['inspect', '-f', '{{json .Mounts}}', container])) as Record<string, unknown>[];
  return list.sort((a, b) => String(a['Destination']).localeCompare(String(b['Destination'])));
}

const HEX64 = /^[0-9a-f]{64}$/;

test('inspect Mounts shows Docker\'s fields for each kind of mount', () => {
  const src = join(host, 'inspect-src');
  ok([
    'create', '--name', 'kinds',
    '-v', `${src}:/bind:ro`,
    '-v', 'named:/named',
    '-v', '/anon',
    '--mount', 'type=volume,src=viamount,dst=/viamount,readonly',
    '--mount', 'type=tmpfs,dst=/scratch,tmpfs-size=1m',
    'busybox', 'true',
  ]);
  const m = mountsOf('kinds');
  const vol = (name: string) => join(d.dataRoot, 'volumes', name, '_data');
  const anon = m.find((x) => x['Destination'] === '/anon') as Record<string, unknown>;
  assert.match(String(anon['Name']), HEX64);
  assert.deepEqual(m, [
    { Type: 'volume', Name: anon['Name'], Source: vol(String(anon['Name'])), Destination: '/anon', Driver: 'local', Mode: '', RW: true, Propagation: '' },
    { Type: 'bind', Source: src, Destination: '/bind', Mode: 'ro', RW: false, Propagation: 'rprivate' },
    { Type: 'volume', Name: 'named', Source: vol('named'), Destination: '/named', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
    { Type: 'tmpfs', Source: '', Destination: '/scratch', Mode: '', RW: true, Propagation: '' },
    { Type: 'volume', Name: 'viamount', Source: vol('viamount'), Destination: '/viamount', Driver: 'local', Mode: 'z', RW: false, Propagation: '' },
  ]);
  // `-v /anon` reaches the daemon as Config.Volumes, and is shown there as sent.
  assert.deepEqual(JSON.parse(ok(['inspect', '-f', '{{json .Config.Volumes}}', 'kinds'])), { '/anon': {} });
  assert.ok(!existsSync(src), 'the host folder of a -v bind is made at start, not at create');
  ok(['start', 'kinds']);
  assert.ok(existsSync(src));
});

test('a read-only volume refuses writes; a read-write one takes them', () => {
  const r = d.docker(['run', '--rm', '-v', 'rov:/data:ro', 'busybox', 'sh', '-c', 'touch /data/x']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Read-only file system/);
  const m = d.docker(['run', '--rm', '--mount', 'type=volume,src=rov,dst=/data,readonly', 'busybox', 'sh', '-c', 'touch /data/x']);
  assert.match(m.stderr, /Read-only file system/);
  ok(['run', '--rm', '-v', 'rov:/data', 'busybox', 'touch', '/data/x']);
  assert.equal(ok(['run', '--rm', '-v', 'rov:/data:ro', 'busybox', 'ls', '/data']), 'x\n');
});

test('copy-up: a new named volume on /etc gets the image\'s files; nocopy leaves it empty', () => {
  assert.match(ok(['run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'head', '-1', '/etc/passwd']), /^root:x:0:0:/);
  assert.ok(existsSync(join(d.dataRoot, 'volumes', 'etcvol', '_data', 'passwd')));
  // A volume that is not empty is not filled again.
  ok(['run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'rm', '/etc/group']);
  assert.equal(d.docker(['run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'test', '-e', '/etc/group']).code, 1);
  // nocopy: only the network files the daemon mounts on top appear.
  assert.equal(ok(['run', '--rm', '-v', 'bare:/etc:nocopy', 'busybox', 'ls', '/etc']), 'hostname\nhosts\nresolv.conf\n');
  assert.equal(ok(['run', '--rm', '--mount', 'type=volume,src=bare2,dst=/etc,volume-nocopy', 'busybox', 'ls', '/etc']), 'hostname\nhosts\nresolv.conf\n');
  // The daemon's network files stay on top of a volume mounted on /etc.
  assert.match(ok(['run', '--rm', '--hostname', 'boxy', '-v', 'etcvol:/etc', 'busybox', 'cat', '/etc/hostname']), /^boxy$/m);
});

test('image VOLUMEs get an anonymous volume, filled from the image, unless the user mounts there', () => {
  const r = d.docker(['import', '-c', 'VOLUME ["/etc", "/unused"]', '-c', 'CMD ["sh"]', busyboxTarball(), 'withvol:1']);
  assert.equal(r.code, 0, r.stderr);
  try {
    ok(['run', '--name', 'iv', 'withvol:1', 'sh', '-c', 'echo added >> /etc/passwd']);
    const m = mountsOf('iv');
    assert.deepEqual(m.map((x) => [x['Destination'], x['Type'], x['Mode']]), [['/etc', 'volume', ''], ['/unused', 'volume', '']]);
    const etcVol = String(m[0]?.['Name']);
    assert.match(etcVol, HEX64);
    assert.match(readFileSync(join(d.dataRoot, 'volumes', etcVol, '_data', 'passwd'), 'utf8'), /^root:x:0:0:[\s\S]*added\n$/);
    // A mount of the user's at an image VOLUME path replaces its anonymous volume.
    ok(['create', '--name', 'iv2', '-v', 'mine:/etc', 'withvol:1']);
    assert.deepEqual(mountsOf('iv2').map((x) => x['Name'] === 'mine'), [true, false]);
  } finally {
    d.docker(['rm', '-f', 'iv', 'iv2']);
    d.docker(['rmi', 'withvol:1']);
  }
});

test('rm -v removes the container\'s anonymous volumes and keeps named ones; rm alone keeps all', () => {
  ok(['create', '--name', 'plain', '-v', '/a1', 'busybox', 'true']);
  const kept = volumes();
  assert.equal(kept.length, 1);
  ok(['rm', 'plain']);
  assert.deepEqual(volumes(), kept);
  ok(['volume', 'rm', ...kept]);

  ok(['create', '--name', 'withv', '-v', '/a1', '--mount', 'type=volume,dst=/a2', '-v', 'named:/n', 'busybox', 'true']);
  assert.equal(volumes().length, 3);
  ok(['rm', '-v', 'withv']);
  assert.deepEqual(volumes(), ['named']);
});

test('run --rm removes anonymous volumes when the container goes, named ones stay', () => {
  assert.equal(ok(['run', '--rm', '-v', '/scratch', '-v', 'stays:/s', 'busybox', 'sh', '-c', 'echo hi > /scratch/f; echo ok']), 'ok\n');
  assert.deepEqual(volumes(), ['stays']);
});

test('--mount bind: an existing source mounts; a missing one is refused, or made when asked', async () => {
  writeFileSync(join(host, 'note'), 'from host');
  assert.equal(ok(['run', '--rm', '--mount', `type=bind,src=${host},dst=/h,readonly`, 'busybox', 'cat', '/h/note']), 'from host');
  const missing = join(host, 'missing');
  assert.match(
    fails(['run', '--rm', '--mount', `type=bind,src=${missing},dst=/x`, 'busybox', 'true']),
    new RegExp(`invalid mount config for type "bind": bind source path does not exist: ${missing}`),
  );
  // BindOptions.CreateMountpoint (newer CLIs' `bind-create-src`; CLI 28.2 cannot send it).
  const res = await d.api('POST', '/containers/create?name=mkdir', {
    Image: 'busybox',
    Cmd: ['touch', '/x/made'],
    HostConfig: { Mounts: [{ Type: 'bind', Source: missing, Target: '/x', BindOptions: { CreateMountpoint: true } }] },
  });
  assert.equal(res.status, 201, res.text);
  ok(['start', '-a', 'mkdir']);
  assert.ok(existsSync(join(missing, 'made')));
  // -v makes a missing host folder, as Docker does.
  ok(['run', '--rm', '-v', `${join(host, 'made-by-v')}:/y`, 'busybox', 'touch', '/y/f']);
  assert.ok(existsSync(join(host, 'made-by-v', 'f')));
});

test('--mount tmpfs has its size and options; bad mounts fail with Docker\'s messages', () => {
  assert.match(ok(['run', '--rm', '--mount', 'type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770', 'busybox', 'sh', '-c', 'df -k /t | tail -1; stat -c %a /t']), /^tmpfs\s+1024\s[\s\S]*\n1770\n$/);
  assert.match(fails(['run', '--rm', '-v', '/h:/x', '-v', 'v1:/x', 'busybox', 'true']), /Duplicate mount point: \/x/);
  assert.match(fails(['run', '--rm', '-v', 'vol:/x:bogus', 'busybox', 'true']), /invalid mode: bogus/);
  assert.match(fails(['run', '--rm', '-v', 'named:/x:rshared', 'busybox', 'true']), /invalid mount config for type "volume": field BindOptions must not be specified/);
  assert.match(fails(['run', '--rm', '--mount', 'type=volume,src=a,dst=/x', 'busybox', 'true']), /create a: volume name is too short/);
  assert.match(fails(['run', '--rm', '--mount', 'type=volume,src=v,dst=/', 'busybox', 'true']), /invalid specification: destination can't be '\/'/);
  assert.deepEqual(volumes(), [], 'a refused create leaves no volume behind');
});
