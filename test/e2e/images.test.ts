import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync, readdirSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTarball, testTmpDir } from '../helpers/paths.js';

let d: TestDaemon;
let scratch: string;

before(async () => {
  d = await startDaemon();
  scratch = testTmpDir('bt-img-');
});

after(async () => {
  rmSync(scratch, { recursive: true, force: true });
  const { leftovers } = await d.cleanup();
  assert.deepEqual(leftovers, []);
});

/** A tarball whose entries are given raw, so hostile names survive (GNU tar would clean them). */
function pythonTar(out: string, script: string): void {
  const r = spawnSync('python3', ['-c', `import tarfile, io\nt = tarfile.open(${JSON.stringify(out)}, 'w')\n${script}\nt.close()`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

test('import from a file and from stdin, list, inspect, tag, rmi', () => {
  let r = d.docker(['import', busyboxTarball(), 'bb:one']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
  const id = r.stdout.trim();
  const cat = spawnSync('docker', ['-H', d.host, 'import', '-c', 'ENV X=1', '-m', 'from stdin', '-', 'bb:two'], {
    input: readFileSync(busyboxTarball()),
  });
  assert.equal(cat.status, 0, String(cat.stderr));
  const images = d.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout.split('\n');
  assert.ok(images.includes('bb:one') && images.includes('bb:two') && images.includes('busybox:latest'));
  const insp = JSON.parse(d.docker(['image', 'inspect', 'bb:two']).stdout)[0];
  assert.deepEqual(insp.Config.Env, ['X=1']);
  assert.equal(insp.Comment, 'from stdin');
  assert.equal(insp.RootFS.Type, 'layers');
  assert.equal(insp.RootFS.Layers.length, 1);
  // The same tarball gives the same layer, whatever the image.
  const one = JSON.parse(d.docker(['image', 'inspect', 'bb:one']).stdout)[0];
  assert.deepEqual(one.RootFS.Layers, insp.RootFS.Layers);
  assert.equal(d.docker(['tag', 'bb:one', 'localhost:5000/team/bb:v1']).code, 0);
  assert.ok(d.docker(['images']).stdout.includes('localhost:5000/team/bb'));
  assert.equal(d.docker(['inspect', '-f', '{{.Id}}', 'localhost:5000/team/bb:v1']).stdout.trim(), id);
  // The id prefix finds the image too.
  assert.equal(d.docker(['image', 'inspect', '-f', '{{.Id}}', id.slice(7, 19)]).stdout.trim(), id);
  r = d.docker(['rmi', 'localhost:5000/team/bb:v1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Untagged: localhost:5000\/team\/bb:v1/);
  r = d.docker(['rmi', 'bb:one']);
  assert.match(r.stdout, /Untagged: bb:one/);
  assert.match(r.stdout, /Deleted: sha256:/);
  r = d.docker(['rmi', 'bb:two']);
  assert.equal(r.code, 0, r.stderr);
  r = d.docker(['rmi', 'bb:two']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /No such image: bb:two/);
});

test('rmi refuses an image a container uses, unless forced', () => {
  d.docker(['import', busyboxTarball(), 'inuse:1']);
  d.docker(['create', '--name', 'user1', 'inuse:1', 'true']);
  let r = d.docker(['rmi', 'inuse:1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /conflict: unable to remove repository reference "inuse:1" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}/);
  r = d.docker(['rmi', '-f', 'inuse:1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(d.docker(['start', '-a', 'user1']).code, 0);
  d.docker(['rm', 'user1']);
});

test('a tarball with ../ entries is refused and writes nothing outside', () => {
  const target = join(scratch, 'victim');
  const tar = join(scratch, 'evil.tar');
  pythonTar(tar, `
for name in ['ok.txt', '../../../../../../${target.slice(1)}/pwned']:
    data = b'x'
    ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
`);
  const r = d.docker(['import', tar, 'evil:1']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /escapes/);
  assert.equal(existsSync(target), false);
  assert.ok(!d.docker(['images']).stdout.includes('evil'));
});

test('a symlink escaping the target, then a file through it, is refused; a relative one climbing past the root alone is kept', () => {
  const outside = join(scratch, 'outside');
  mkdirSync(outside);
  const tar = join(scratch, 'link.tar');
  pythonTar(tar, `
ti = tarfile.TarInfo('sneaky'); ti.type = tarfile.SYMTYPE; ti.linkname = ${JSON.stringify(outside)}; t.addfile(ti)
data = b'owned'
ti = tarfile.TarInfo('sneaky/pwned'); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
`);
  let r = d.docker(['import', tar, 'evil:2']);
  assert.notEqual(r.code, 0);
  assert.deepEqual(readdirSync(outside), []);
  const hard = join(scratch, 'hard.tar');
  pythonTar(hard, `
ti = tarfile.TarInfo('h'); ti.type = tarfile.LNKTYPE; ti.linkname = '../../../../etc/passwd'; t.addfile(ti)
`);
  r = d.docker(['import', hard, 'evil:3']);
  assert.notEqual(r.code, 0);
  const rel = join(scratch, 'rel.tar');
  pythonTar(rel, `
ti = tarfile.TarInfo('a/b'); ti.type = tarfile.SYMTYPE; ti.linkname = '../../../../../etc'; t.addfile(ti)
`);
  // A relative link climbing past the root is kept, as dockerd keeps it (a container's root
  // stops it); nothing is written through it.
  r = d.docker(['import', rel, 'evil:4']);
  assert.equal(r.code, 0, r.stderr);
  // The daemon is still fine and nothing of the refused ones was half-imported.
  assert.deepEqual(d.ok(['images', '--format', '{{.Repository}}:{{.Tag}}', 'evil']).trim().split('\n'), ['evil:4']);
  assert.equal(d.docker(['run', '--rm', 'busybox', 'true']).code, 0);
  d.ok(['rmi', 'evil:4']);
});

test('garbage input is a clean error', () => {
  const junk = join(scratch, 'junk.tar');
  writeFileSync(junk, Buffer.alloc(5000, 7));
  const r = d.docker(['import', junk, 'junk:1']);
  assert.notEqual(r.code, 0);
  assert.equal(d.docker(['version']).code, 0);
});
