import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import tar from 'tar-stream';
import type { Pack } from 'tar-stream';
import { BerthError } from '../../src/lib/errors.js';
import { extractTar } from '../../src/storage/tar-extract.js';

type Entry = Parameters<Pack['entry']>[0] & { data?: string | Buffer };

const T2020 = new Date('2020-01-02T03:04:05Z');
const T2021 = new Date('2021-06-07T08:09:10Z');

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const p = tar.pack();
  for (const { data, ...header } of entries) {
    if (data !== undefined) p.entry({ ...header, size: Buffer.byteLength(data) }, data);
    else p.entry(header);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A fresh `root` to extract into and an `outside` sibling that must stay empty. */
async function sandbox(): Promise<{ base: string; root: string; outside: string; done: () => Promise<void> }> {
  const base = await mkdtemp(join(tmpdir(), 'berth-tar-'));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  return { base, root, outside, done: () => rm(base, { recursive: true, force: true }) };
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function invalid(re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof BerthError, `expected a BerthError, got ${String(err)}`);
    assert.equal(err.kind, 'InvalidParameter');
    assert.match(err.message, re);
    return true;
  };
}

test('unpacks files, directories and links with their owners, modes and times', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([
      { name: './', type: 'directory', mode: 0o755, mtime: T2020 },
      { name: './etc/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001, mtime: T2020 },
      { name: './etc/hosts', data: '127.0.0.1 localhost\n', mode: 0o640, uid: 1000, gid: 1001, mtime: T2021 },
      { name: './etc/hosts.bak', type: 'link', linkname: './etc/hosts', mtime: T2021 },
      { name: './etc/relative', type: 'symlink', linkname: 'hosts', uid: 7, gid: 8, mtime: T2021 },
      { name: './bin/su', data: 'ELF', mode: 0o4755, uid: 0, gid: 0, mtime: T2021 },
      { name: './bin/sh', type: 'symlink', linkname: '/bin/busybox', mtime: T2021 },
      { name: './empty', data: '', mode: 0o600, mtime: T2021 },
    ]);
    const r = await extractTar(Readable.from([archive]), s.root);

    assert.equal(r.diffId, sha256(archive));
    assert.equal(r.entries, 8);
    assert.equal(r.size, '127.0.0.1 localhost\n'.length + 3);
    assert.deepEqual(r.skipped, []);

    const hosts = await stat(join(s.root, 'etc/hosts'));
    assert.equal(await readFile(join(s.root, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n');
    assert.equal(hosts.mode & 0o7777, 0o640);
    assert.equal(hosts.uid, 1000);
    assert.equal(hosts.gid, 1001);
    assert.equal(hosts.mtimeMs, T2021.getTime());
    assert.equal(hosts.nlink, 2);
    assert.equal((await stat(join(s.root, 'etc/hosts.bak'))).ino, hosts.ino);

    // Set after its children were written, so their creation did not bump it.
    const etc = await lstat(join(s.root, 'etc'));
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.uid, 1000);
    assert.equal(etc.mtimeMs, T2020.getTime());

    assert.equal((await stat(join(s.root, 'bin/su'))).mode & 0o7777, 0o4755);
    assert.equal((await lstat(join(s.root, 'bin'))).mode & 0o777, 0o755);

    const rel = await lstat(join(s.root, 'etc/relative'));
    assert.ok(rel.isSymbolicLink());
    assert.equal(await readlink(join(s.root, 'etc/relative')), 'hosts');
    assert.equal(rel.uid, 7);
    assert.equal(rel.mtimeMs, T2021.getTime());
    assert.equal(await readlink(join(s.root, 'bin/sh')), '/bin/busybox');
    assert.equal((await stat(join(s.root, 'empty'))).size, 0);
  } finally {
    await s.done();
  }
});

test('creates device nodes and fifos, or reports them as skipped when mknod is not allowed', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/pipe', type: 'fifo', mode: 0o600 },
    ]);
    const r = await extractTar(Readable.from([archive]), s.root);
    assert.equal(r.entries, 2);
    const skipped = (name: string) => r.skipped.some((x) => x.startsWith(`${name}: mknod failed`));
    if (!skipped('dev/null')) {
      const st = await lstat(join(s.root, 'dev/null'));
      assert.ok(st.isCharacterDevice());
      assert.equal(st.rdev, (1 << 8) | 3);
      assert.equal(st.mode & 0o7777, 0o666);
    }
    if (!skipped('dev/pipe')) {
      const st = await lstat(join(s.root, 'dev/pipe'));
      assert.ok(st.isFIFO());
      assert.equal(st.mode & 0o7777, 0o600);
    }
  } finally {
    await s.done();
  }
});

test('a gzip layer is unpacked and its diffId is the digest of the uncompressed tar', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([{ name: 'hello.txt', data: 'hello\n' }]);
    const gz = gzipSync(archive);
    // Small chunks so the magic number arrives split.
    const chunks = [gz.subarray(0, 1), gz.subarray(1, 3), gz.subarray(3)];
    const r = await extractTar(Readable.from(chunks), s.root);
    assert.equal(r.diffId, sha256(archive));
    assert.notEqual(r.diffId, sha256(gz));
    assert.equal(await readFile(join(s.root, 'hello.txt'), 'utf8'), 'hello\n');
  } finally {
    await s.done();
  }
});

test('an entry climbing out with ../ is refused and nothing lands outside', async () => {
  const s = await sandbox();
  try {
    for (const name of ['../outside/evil', 'a/../../outside/evil', './../outside/evil']) {
      const archive = await makeTar([{ name: 'ok', data: 'fine' }, { name, data: 'pwned' }]);
      await assert.rejects(
        extractTar(Readable.from([archive]), s.root),
        invalid(new RegExp(`^invalid tar entry ${JSON.stringify(name).replace(/\./g, '\\.')}: path escapes the target directory$`)),
      );
      assert.deepEqual(await readdir(s.outside), []);
      assert.deepEqual(await readdir(s.base), ['outside', 'root']);
    }
  } finally {
    await s.done();
  }
});

test('absolute and oddly spelled names land inside the target', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([
      { name: '/etc/x', data: 'abs' },
      { name: 'usr//lib/./y', data: 'odd' },
    ]);
    await extractTar(Readable.from([archive]), s.root);
    assert.equal(await readFile(join(s.root, 'etc/x'), 'utf8'), 'abs');
    assert.equal(await readFile(join(s.root, 'usr/lib/y'), 'utf8'), 'odd');
  } finally {
    await s.done();
  }
});

test('an entry beneath a symlink to the outside is refused, not written through the link', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([
      { name: 'a', type: 'symlink', linkname: s.outside },
      { name: 'a/pwned', data: 'pwned' },
    ]);
    await assert.rejects(
      extractTar(Readable.from([archive]), s.root),
      invalid(/^invalid tar entry "a\/pwned": parent "a" is a symbolic link$/),
    );
    assert.deepEqual(await readdir(s.outside), []);
  } finally {
    await s.done();
  }
});

test('a directory replaced by a symlink in the same archive is not trusted afterwards', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([
      { name: 'a/', type: 'directory', mode: 0o700 },
      { name: 'a/b/', type: 'directory', mode: 0o700 },
      { name: 'a/b/f', data: 'x' },
      { name: 'a', type: 'symlink', linkname: s.outside },
      { name: 'a/b/pwned', data: 'pwned' },
    ]);
    await assert.rejects(extractTar(Readable.from([archive]), s.root), invalid(/parent "a" is a symbolic link/));
    assert.deepEqual(await readdir(s.outside), []);
    assert.equal((await stat(s.outside)).mode & 0o777, 0o755);
  } finally {
    await s.done();
  }
});

test('a symlink already on disk is never followed by a later entry of the same name', async () => {
  const s = await sandbox();
  try {
    await symlink(join(s.outside, 'target'), join(s.root, 'x'));
    const archive = await makeTar([
      { name: 'abs', type: 'symlink', linkname: join(s.outside, 'target2') },
      { name: 'abs', data: 'replaced' },
      { name: 'x', data: 'also replaced', mode: 0o600 },
    ]);
    await extractTar(Readable.from([archive]), s.root);
    assert.deepEqual(await readdir(s.outside), []);
    assert.equal(await readFile(join(s.root, 'abs'), 'utf8'), 'replaced');
    assert.ok((await lstat(join(s.root, 'x'))).isFile());
  } finally {
    await s.done();
  }
});

test('absolute symlink targets are kept as written and left dangling', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([{ name: 'etc/passwd', type: 'symlink', linkname: '/etc/shadow-does-not-exist' }]);
    await extractTar(Readable.from([archive]), s.root);
    assert.equal(await readlink(join(s.root, 'etc/passwd')), '/etc/shadow-does-not-exist');
  } finally {
    await s.done();
  }
});

test('a hardlink to a path outside the target is refused', async () => {
  const s = await sandbox();
  try {
    await writeFile(join(s.outside, 'secret'), 'secret');
    const escape = await makeTar([{ name: 'a', type: 'link', linkname: '../../etc/passwd' }]);
    await assert.rejects(
      extractTar(Readable.from([escape]), s.root),
      invalid(/^invalid hardlink "a" -> "\.\.\/\.\.\/etc\/passwd"/),
    );
    const viaSymlink = await makeTar([
      { name: 'l', type: 'symlink', linkname: s.outside },
      { name: 'h', type: 'link', linkname: 'l/secret' },
    ]);
    await assert.rejects(extractTar(Readable.from([viaSymlink]), s.root), invalid(/parent "l" is a symbolic link/));
    const missing = await makeTar([{ name: 'h2', type: 'link', linkname: 'nope' }]);
    await assert.rejects(extractTar(Readable.from([missing]), s.root), invalid(/does not exist/));
    assert.equal((await stat(join(s.outside, 'secret'))).nlink, 1);
  } finally {
    await s.done();
  }
});

test('a relative symlink climbing above the root is kept as written (as dockerd keeps it), and never written through', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([
      { name: 'a/b', type: 'symlink', linkname: '../x' },
      { name: 'a/c', type: 'symlink', linkname: '../../outside' },
    ]);
    await extractTar(Readable.from([archive]), s.root);
    assert.equal(await readlink(join(s.root, 'a/b')), '../x');
    assert.equal(await readlink(join(s.root, 'a/c')), '../../outside');
    const through = await makeTar([
      { name: 'a/d', type: 'symlink', linkname: '../../outside' },
      { name: 'a/d/pwned', data: 'pwned' },
    ]);
    await assert.rejects(extractTar(Readable.from([through]), s.root), invalid(/parent "a\/d" is a symbolic link/));
    const hard = await makeTar([
      { name: 'a/e', type: 'symlink', linkname: '../../outside' },
      { name: 'h', type: 'link', linkname: 'a/e/secret' },
    ]);
    await writeFile(join(s.outside, 'secret'), 'secret');
    await assert.rejects(extractTar(Readable.from([hard]), s.root), invalid(/parent "a\/e" is a symbolic link/));
    assert.deepEqual(await readdir(s.outside), ['secret']);
    assert.equal((await stat(join(s.outside, 'secret'))).nlink, 1);
  } finally {
    await s.done();
  }
});

test('whiteouts remove what lower layers left when applied', async () => {
  const s = await sandbox();
  try {
    await mkdir(join(s.root, 'etc'));
    await writeFile(join(s.root, 'etc/old'), 'old');
    await writeFile(join(s.root, 'etc/keep'), 'keep');
    await mkdir(join(s.root, 'dir/sub'), { recursive: true });
    await writeFile(join(s.root, 'dir/sub/f'), 'f');
    const archive = await makeTar([
      { name: 'etc/.wh.old', data: '' },
      { name: '.wh.dir', data: '' },
      { name: 'etc/new', data: 'new' },
      { name: 'etc/.wh.new', data: '' },
    ]);
    const r = await extractTar(Readable.from([archive]), s.root, { whiteouts: 'apply' });
    assert.equal(r.entries, 4);
    assert.deepEqual((await readdir(s.root)).sort(), ['etc']);
    // etc/new comes from this very layer, which a whiteout never hides.
    assert.deepEqual((await readdir(join(s.root, 'etc'))).sort(), ['keep', 'new']);
  } finally {
    await s.done();
  }
});

test('whiteouts are refused by default', async () => {
  const s = await sandbox();
  try {
    for (const name of ['etc/.wh.old', 'd/.wh..wh..opq']) {
      const archive = await makeTar([{ name, data: '' }]);
      await assert.rejects(
        extractTar(Readable.from([archive]), s.root),
        invalid(/whiteout files are not allowed/),
        name,
      );
    }
    assert.deepEqual(await readdir(s.root), []);
  } finally {
    await s.done();
  }
});

test('an opaque directory drops its earlier content but keeps what this layer put there', async () => {
  const s = await sandbox();
  try {
    await mkdir(join(s.root, 'd/sub'), { recursive: true });
    await mkdir(join(s.root, 'd/kept'));
    await writeFile(join(s.root, 'd/old'), 'old');
    await writeFile(join(s.root, 'd/sub/old2'), 'old');
    await writeFile(join(s.root, 'd/kept/stale'), 'old');
    await writeFile(join(s.root, 'other'), 'untouched');
    const archive = await makeTar([
      { name: 'd/', type: 'directory', mode: 0o755 },
      { name: 'd/new', data: 'new' },
      { name: 'd/kept/fresh', data: 'fresh' },
      { name: 'd/.wh..wh..opq', data: '' },
      { name: 'd/after', data: 'after' },
    ]);
    await extractTar(Readable.from([archive]), s.root, { whiteouts: 'apply' });
    assert.deepEqual((await readdir(join(s.root, 'd'))).sort(), ['after', 'kept', 'new']);
    assert.deepEqual(await readdir(join(s.root, 'd/kept')), ['fresh']);
    assert.equal(await readFile(join(s.root, 'other'), 'utf8'), 'untouched');
  } finally {
    await s.done();
  }
});

test('overlay mode keeps whiteouts as overlayfs markers: 0/0 devices and opaque directories', async () => {
  const s = await sandbox();
  const opaque = (rel: string) =>
    spawnSync('getfattr', ['-h', '--only-values', '-n', 'trusted.overlay.opaque', join(s.root, rel)], { encoding: 'utf8' }).stdout;
  try {
    const archive = await makeTar([
      { name: 'etc/.wh.gone', data: '' },
      { name: 'd/', type: 'directory', mode: 0o750 },
      { name: 'd/.wh..wh..opq', data: '' },
      { name: 'd/new', data: 'new' },
      // Its own file: a whiteout in the same layer never hides it.
      { name: 'own', data: 'own' },
      { name: '.wh.own', data: '' },
      // Deleted, then written again: the new entry replaces the whiteout…
      { name: '.wh.again', data: '' },
      { name: 'again', data: 'again' },
      // …and a directory replacing a whiteout hides the lower directory's content.
      { name: '.wh.redone', data: '' },
      { name: 'redone/', type: 'directory' },
      { name: 'redone/f', data: 'f' },
      { name: 'link/', type: 'directory' },
      { name: 'link/.wh..wh.plnk', data: '' },
    ]);
    const r = await extractTar(Readable.from([archive]), s.root, { whiteouts: 'overlay' });
    assert.deepEqual(r.skipped, ['link/.wh..wh.plnk: aufs metadata']);
    const gone = await lstat(join(s.root, 'etc/gone'));
    assert.ok(gone.isCharacterDevice());
    assert.equal(gone.rdev, 0);
    assert.equal(opaque('d'), 'y');
    assert.equal((await stat(join(s.root, 'd'))).mode & 0o777, 0o750);
    assert.deepEqual(await readdir(join(s.root, 'd')), ['new']);
    assert.equal(await readFile(join(s.root, 'own'), 'utf8'), 'own');
    assert.equal(await readFile(join(s.root, 'again'), 'utf8'), 'again');
    assert.equal(opaque('redone'), 'y');
    assert.equal(opaque('etc'), '', 'only directories the archive marks are opaque');
    assert.deepEqual((await readdir(s.root)).sort(), ['again', 'd', 'etc', 'link', 'own', 'redone']);
  } finally {
    await s.done();
  }
});

test('a later entry replaces whatever stands at its path', async () => {
  const s = await sandbox();
  try {
    await mkdir(join(s.root, 'was-dir/child'), { recursive: true });
    await writeFile(join(s.root, 'was-file'), 'x');
    await writeFile(join(s.root, 'shared'), 'lower');
    await writeFile(join(s.root, 'linked'), 'lower');
    const archive = await makeTar([
      { name: 'was-dir', data: 'now a file' },
      { name: 'was-file/', type: 'directory' },
      { name: 'was-file/inner', data: 'inner' },
      // Rewriting a hardlinked file must not change the other name's content.
      { name: 'alias', type: 'link', linkname: 'shared' },
      { name: 'shared', data: 'upper' },
    ]);
    await extractTar(Readable.from([archive]), s.root);
    assert.equal(await readFile(join(s.root, 'was-dir'), 'utf8'), 'now a file');
    assert.equal(await readFile(join(s.root, 'was-file/inner'), 'utf8'), 'inner');
    assert.equal(await readFile(join(s.root, 'alias'), 'utf8'), 'lower');
    assert.equal(await readFile(join(s.root, 'shared'), 'utf8'), 'upper');
  } finally {
    await s.done();
  }
});

test('entries with data nothing uses are read past, not waited on', { timeout: 10_000 }, async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([
      { name: 'strange', data: Buffer.alloc(70_000, 1) },
      { name: '.wh.gone', data: Buffer.alloc(70_000, 2) },
      { name: 'after', data: 'after' },
    ]);
    // Turn the first entry into a volume header ('V'), a type tar-stream does not know.
    archive[156] = 'V'.charCodeAt(0);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (archive[i] as number);
    archive.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');

    const r = await extractTar(Readable.from([archive]), s.root, { whiteouts: 'apply' });
    assert.deepEqual(r.skipped, ['strange: unsupported entry type unknown']);
    assert.equal(r.entries, 3);
    assert.equal(r.size, 5);
    assert.deepEqual(await readdir(s.root), ['after']);
  } finally {
    await s.done();
  }
});

test('long pax names are unpacked in full', async () => {
  const s = await sandbox();
  try {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const archive = await makeTar([{ name: long, data: 'deep' }]);
    await extractTar(Readable.from([archive]), s.root);
    assert.equal(await readFile(join(s.root, long), 'utf8'), 'deep');
  } finally {
    await s.done();
  }
});

test('truncated or garbage input is rejected without hanging', { timeout: 10_000 }, async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([{ name: 'big', data: randomBytes(100_000) }]);
    const inputs: [string, Buffer][] = [
      ['truncated tar', archive.subarray(0, 5_000)],
      ['truncated gzip', gzipSync(archive).subarray(0, 5_000)],
      ['gzip without its trailer', gzipSync(archive).subarray(0, -4)],
      ['garbage', Buffer.from('this is not a tar archive at all'.repeat(40))],
      ['corrupt gzip', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(600, 0x55)])],
    ];
    for (const [what, bytes] of inputs) {
      const input = Readable.from([bytes]);
      await assert.rejects(extractTar(input, s.root), invalid(/^invalid tar archive: /), what);
      assert.ok(input.destroyed, what);
    }
  } finally {
    await s.done();
  }
});

test('zstd layers are extracted (diff id of the uncompressed tar); a broken one is refused', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([{ name: 'z/', type: 'directory' }, { name: 'z/file', data: 'zstd content' }]);
    const z = spawnSync('zstd', ['-q', '-c'], { input: archive });
    assert.equal(z.status, 0, String(z.stderr));
    const r = await extractTar(Readable.from([z.stdout]), s.root);
    assert.equal(r.diffId, `sha256:${createHash('sha256').update(archive).digest('hex')}`);
    assert.equal(await readFile(join(s.root, 'z/file'), 'utf8'), 'zstd content');
    const broken = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00]), Buffer.alloc(1000)]);
    await assert.rejects(extractTar(Readable.from([broken]), join(s.root, 'z')), invalid(/^invalid tar archive: zstd: /));
  } finally {
    await s.done();
  }
});

test('bzip2 and xz layers are refused by name', async () => {
  const s = await sandbox();
  try {
    const cases: [string, number[]][] = [
      ['bzip2', [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41]],
      ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]],
    ];
    for (const [name, magic] of cases) {
      const input = Readable.from([Buffer.concat([Buffer.from(magic), Buffer.alloc(1000)])]);
      await assert.rejects(extractTar(input, s.root), invalid(new RegExp(`^unsupported compression format: ${name}$`)));
      assert.ok(input.destroyed);
    }
  } finally {
    await s.done();
  }
});

test('a refused entry stops reading from an input that would never end', { timeout: 10_000 }, async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([{ name: '../evil', data: 'x' }]);
    const input = new PassThrough();
    // The header and data, but no end: only destroying the input can end this.
    input.write(archive.subarray(0, 1024));
    await assert.rejects(extractTar(input, s.root), invalid(/path escapes/));
    assert.ok(input.destroyed);
  } finally {
    await s.done();
  }
});

test('aborting stops the extraction with the abort reason', { timeout: 10_000 }, async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([{ name: 'a', data: 'x' }, { name: 'b', data: Buffer.alloc(50_000) }]);
    const input = new PassThrough();
    input.write(archive.subarray(0, 2048));
    const ac = new AbortController();
    const reason = new Error('client went away');
    const running = extractTar(input, s.root, { signal: ac.signal });
    setTimeout(() => ac.abort(reason), 50);
    await assert.rejects(running, (err) => err === reason);
    assert.ok(input.destroyed);

    const already = new AbortController();
    already.abort(reason);
    const input2 = Readable.from([archive]);
    await assert.rejects(extractTar(input2, s.root, { signal: already.signal }), (err) => err === reason);
    assert.ok(input2.destroyed);
  } finally {
    await s.done();
  }
});

test('an empty archive gives an empty layer', async () => {
  const s = await sandbox();
  try {
    const archive = await makeTar([]);
    const r = await extractTar(Readable.from([archive]), s.root);
    assert.deepEqual({ ...r, diffId: undefined }, { diffId: undefined, tarSize: 1024, size: 0, entries: 0, skipped: [] });
    assert.equal(r.diffId, sha256(archive));
  } finally {
    await s.done();
  }
});

test('chrooted (a build\'s ADD): `..`, absolute names and links stay inside the target, as dockerd unpacks it', async () => {
  const s = await sandbox();
  try {
    await writeFile(join(s.outside, 'secret'), 'secret');
    const archive = await makeTar([
      { name: '../../escape', data: 'dotdot' },
      { name: '/abs/file', data: 'abs' },
      // A link to the root, then a file written through it: it lands in the target's root.
      { name: 'up', type: 'symlink', linkname: '/' },
      { name: 'up/through', data: 'via /' },
      // A link climbing out (kept as written) and a file through it: clamped the same way.
      { name: 'sub/climb', type: 'symlink', linkname: '../../../../../..' },
      { name: 'sub/climb/through2', data: 'via ..' },
      { name: 'hard', type: 'link', linkname: '/abs/file' },
    ]);
    await extractTar(Readable.from([archive]), s.root, { confine: 'chroot' });
    assert.equal(await readFile(join(s.root, 'escape'), 'utf8'), 'dotdot');
    assert.equal(await readFile(join(s.root, 'abs/file'), 'utf8'), 'abs');
    assert.equal(await readlink(join(s.root, 'up')), '/');
    assert.equal(await readFile(join(s.root, 'through'), 'utf8'), 'via /');
    assert.equal(await readlink(join(s.root, 'sub/climb')), '../../../../../..');
    assert.equal(await readFile(join(s.root, 'through2'), 'utf8'), 'via ..');
    assert.equal((await stat(join(s.root, 'hard'))).ino, (await stat(join(s.root, 'abs/file'))).ino);
    // A link naming the outside directory's host path: followed inside the target, where that
    // path does not exist, so the file under it cannot be made (dockerd fails the same way).
    const host = await makeTar([
      { name: 'host', type: 'symlink', linkname: s.outside },
      { name: 'host/secret', data: 'pwned' },
    ]);
    await assert.rejects(extractTar(Readable.from([host]), s.root, { confine: 'chroot' }), (err: Error) => {
      // The path as inside the target, never the host's.
      assert.equal(err.message, `failed to extract "host/secret": mkdir ${s.outside}: no such file or directory`);
      return true;
    });
    assert.deepEqual(await readdir(s.outside), ['secret']);
    assert.equal(await readFile(join(s.outside, 'secret'), 'utf8'), 'secret');
    assert.deepEqual((await readdir(s.base)).sort(), ['outside', 'root']);
  } finally {
    await s.done();
  }
});

test('chrooted: a hardlink to a file outside the target finds nothing there and is refused', async () => {
  const s = await sandbox();
  try {
    await writeFile(join(s.outside, 'secret'), 'secret');
    for (const linkname of ['../outside/secret', `${s.outside}/secret`, '../../../../etc/hostname']) {
      const archive = await makeTar([
        { name: 'l', type: 'symlink', linkname: s.outside },
        { name: 'h', type: 'link', linkname },
      ]);
      await assert.rejects(extractTar(Readable.from([archive]), s.root, { confine: 'chroot' }), invalid(/link target does not exist/));
      // Through a symlink whose host-path target is outside: resolved inside, nothing there.
      const via = await makeTar([
        { name: 'l2', type: 'symlink', linkname: s.outside },
        { name: 'h2', type: 'link', linkname: 'l2/secret' },
      ]);
      await assert.rejects(extractTar(Readable.from([via]), s.root, { confine: 'chroot' }), invalid(/link target does not exist/));
    }
    assert.equal((await stat(join(s.outside, 'secret'))).nlink, 1);
  } finally {
    await s.done();
  }
});
