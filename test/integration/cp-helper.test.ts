import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HelperContainerFiles, containerPath } from '../../src/runtime/container-files.js';
import { goFileMode } from '../../src/api/wire/path-stat.js';
import { repoRoot } from '../helpers/paths.js';

// The docker cp helper on a rootfs of its own (a stopped container's view), without a daemon:
// every path stays inside the root, volumes are bound for the copy only.
let dir: string;
let rootfs: string;
let vol: string;
let outside: string;
const files = new HelperContainerFiles(join(repoRoot, 'dist', 'src', 'cmd', 'berth-cp'));

before(() => {
  dir = mkdtempSync('/tmp/bt-cph-');
  rootfs = join(dir, 'rootfs');
  vol = join(dir, 'volume');
  outside = join(dir, 'outside');
  for (const d of [join(rootfs, 'etc'), join(rootfs, 'data'), vol, outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'data', 'under-the-volume'), 'hidden by the volume\n');
  writeFileSync(join(vol, 'in-volume'), 'volume content\n');
  writeFileSync(join(outside, 'secret'), 'host secret\n');
  // Links planted in the rootfs that would reach the host if resolved there.
  symlinkSync(outside, join(rootfs, 'abs-escape'));
  symlinkSync('../../../../../../..' + outside, join(rootfs, 'rel-escape'));
  symlinkSync('/etc/passwd', join(rootfs, 'to-passwd'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

const view = () => ({ rootfs, mounts: [{ source: vol, destination: '/data', readOnly: false }] });

async function readTar(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('paths resolve inside the root: absolute and .. links never reach the host', async () => {
  await assert.rejects(files.stat(view(), '/abs-escape/secret'), (e: Error) => /no such file/.test(e.message));
  await assert.rejects(files.stat(view(), '/rel-escape/secret'), (e: Error) => /no such file/.test(e.message));
  const link = await files.stat(view(), '/to-passwd');
  assert.equal(goFileMode(link.mode) & 2 ** 27, 2 ** 27, 'a symlink, not followed');
  assert.equal(link.linkTarget, '/etc/passwd');
  const dangling = await files.stat(view(), '/abs-escape');
  assert.equal(dangling.linkTarget, outside, 'where it leads, inside the container (nothing there)');
  const followed = await files.stat(view(), '/to-passwd/');
  assert.equal(goFileMode(followed.mode) & 2 ** 27, 0);
});

test('a volume is reached where the container sees it, only for the copy', async () => {
  const tar = await files.archive(view(), '/data');
  const bytes = await readTar(tar.stream);
  await tar.done;
  const list = spawnSync('tar', ['-t', '-f', '-'], { input: bytes }).stdout.toString().trim().split('\n');
  assert.deepEqual(list, ['data/', 'data/in-volume']);
  // Nothing of the bind outlives the helper.
  assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(rootfs));
  assert.deepEqual(readdirSync(join(rootfs, 'data')), ['under-the-volume']);
});

test('extraction writes into the volume, refuses a read-only one, and never writes through a link', async () => {
  const tarOf = (name: string, content: string) => {
    const src = mkdtempSync(join(dir, 'src-'));
    writeFileSync(join(src, name), content);
    return Readable.from([spawnSync('tar', ['-c', '-f', '-', '-C', src, name]).stdout]);
  };
  await files.extract(view(), '/data', tarOf('new.txt', 'new\n'), { noOverwriteDirNonDir: true, readonlyRootfs: false });
  assert.equal(readFileSync(join(vol, 'new.txt'), 'utf8'), 'new\n');
  await assert.rejects(
    files.extract({ rootfs, mounts: [{ source: vol, destination: '/data', readOnly: true }] }, '/data', tarOf('x', 'x'), { noOverwriteDirNonDir: true, readonlyRootfs: false }),
    /mounted volume is marked read-only/,
  );
  await assert.rejects(files.extract(view(), '/etc', tarOf('y', 'y'), { noOverwriteDirNonDir: true, readonlyRootfs: true }), /container rootfs is marked read-only/);
  // Into a link to the host: it resolves inside the root, where there is nothing.
  await assert.rejects(files.extract(view(), '/abs-escape', tarOf('z', 'z'), { noOverwriteDirNonDir: true, readonlyRootfs: false }), /no such file/);
  assert.deepEqual(readdirSync(outside), ['secret']);
  // An entry replacing a directory with a file is refused when asked.
  mkdirSync(join(rootfs, 'etc', 'dir'));
  await assert.rejects(files.extract(view(), '/etc', tarOf('dir', 'file'), { noOverwriteDirNonDir: true, readonlyRootfs: false }), /cannot overwrite directory "\/dir" with non-directory "\/dir"/);
  assert.ok(lstatSync(join(rootfs, 'etc', 'dir')).isDirectory());
  assert.ok(!existsSync(join(rootfs, 'data', 'new.txt')), 'the rootfs under the volume was not written');
});

test('Docker\'s path forms: a trailing / or /. follows, the entry name is the base as Go takes it', () => {
  assert.deepEqual(containerPath('etc/hostname'), { parent: '/etc', base: 'hostname', follow: false, name: 'hostname' });
  assert.deepEqual(containerPath('/etc/'), { parent: '/', base: 'etc', follow: true, name: 'etc' });
  assert.deepEqual(containerPath('/etc/.'), { parent: '/', base: 'etc', follow: true, name: '.' });
  assert.deepEqual(containerPath('/'), { parent: '/', base: '', follow: false, name: '/' });
  assert.deepEqual(containerPath('/a/../b'), { parent: '/', base: 'b', follow: false, name: 'b' });
  assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
  assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755);
  assert.equal(goFileMode(0o020620), 2 ** 26 + 2 ** 21 + 0o620);
});
