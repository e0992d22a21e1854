import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, readFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { connect } from 'node:net';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';
import { testTmpDir } from '../helpers/paths.js';
import { makeContext } from '../helpers/build-context.js';
import { makeTar, type TarEntry } from '../helpers/tars.js';

// `docker build`'s ADD of local archives and the links images hold, through the real CLI:
// every compression dockerd reads, what is and is not an archive, whiteout entries, hostile
// archives, and symlinks climbing past an image's root (kept, never followed out).
let d: TestDaemon;
daemonForFile((x) => {
  d = x;
});

let scratch: string;
before(() => {
  scratch = testTmpDir('bt-build-add-');
});
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const context = (name: string, files: Record<string, string | Buffer>) => makeContext(scratch, name, files);

function build(args: string[]) {
  return d.docker(['build', ...args], { timeoutMs: 180_000 });
}

/** `data` through `cmd` (bzip2, xz: Debian's tools, as berthd uses them). */
function compress(cmd: string, args: string[], data: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input: data, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd}: ${r.stderr?.toString()}`);
  return r.stdout;
}

test('ADD unpacks bzip2 and xz archives as gzip ones; a compressed file that is no tar, a name ending in .bz2 and a corrupt one are copied as files; a context can be xz too; a truncated archive fails the step', async () => {
  const tarball = await makeTar([
    { name: 'd/', type: 'directory', mode: 0o755 },
    { name: 'd/a.txt', data: 'in the archive\n' },
    { name: 'b.txt', data: 'top\n', mode: 0o600 },
  ]);
  const text = Buffer.from('just some text\n');
  const dir = context('compressed', {
    'a.tar.bz2': compress('bzip2', ['-c'], tarball),
    'a.tar.xz': compress('xz', ['-c'], tarball),
    'a.tar.gz': gzipSync(tarball),
    'notes.txt.gz': gzipSync(text),
    'notes.txt.bz2': compress('bzip2', ['-c'], text),
    'notes.txt.xz': compress('xz', ['-c'], text),
    'named.tar.bz2': 'not compressed at all\n',
    'corrupt.tar.bz2': Buffer.concat([Buffer.from('BZh91AY&SY'), randomBytes(64)]),
    Dockerfile: [
      'FROM busybox',
      'ADD a.tar.bz2 /bz/',
      'ADD a.tar.xz /xz/',
      'ADD a.tar.gz /gz/',
      'ADD notes.txt.gz notes.txt.bz2 notes.txt.xz named.tar.bz2 corrupt.tar.bz2 /files/',
      '',
    ].join('\n'),
  });
  const r = build(['-t', 'compressed', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const shown = d.ok(['run', '--rm', '--network', 'none', 'compressed', 'sh', '-c',
    'for x in bz xz gz; do cat /$x/d/a.txt; stat -c %a /$x/b.txt; done; ls /files; cat /files/named.tar.bz2']);
  assert.equal(shown, `${'in the archive\n600\n'.repeat(3)}corrupt.tar.bz2\nnamed.tar.bz2\nnotes.txt.bz2\nnotes.txt.gz\nnotes.txt.xz\nnot compressed at all\n`);
  // Copied byte for byte, not unpacked.
  for (const f of ['notes.txt.gz', 'notes.txt.bz2', 'notes.txt.xz', 'corrupt.tar.bz2']) {
    const inImage = spawnSync('docker', ['-H', d.host, 'run', '--rm', '--network', 'none', 'compressed', 'cat', `/files/${f}`], { env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') } });
    assert.ok(Buffer.compare(inImage.stdout, readFileSync(join(dir, f))) === 0, f);
  }

  // A context sent as an xz tar (`docker build - < ctx.tar.xz`): the CLI passes it on as it is.
  const ctx = await makeTar([
    { name: 'Dockerfile', data: 'FROM busybox\nCOPY hello /hello\n' },
    { name: 'hello', data: 'from an xz context\n' },
  ]);
  const viaStdin = spawnSync('docker', ['-H', d.host, 'build', '-t', 'xz-context', '-'], {
    input: compress('xz', ['-c'], ctx),
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') },
  });
  assert.equal(viaStdin.status, 0, viaStdin.stderr + viaStdin.stdout);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', 'xz-context', 'cat', '/hello']), 'from an xz context\n');

  // Its first entries read, then the data stops: an archive that breaks, and the step with it.
  // bzip2 -1 works in 100 kB blocks, so the first block (the header) survives the cut.
  const big = await makeTar([{ name: 'first.txt', data: 'first\n' }, { name: 'noise.bin', data: randomBytes(400_000) }]);
  for (const [cmd, re] of [
    ['bzip2', /failed to copy files: Error processing tar file: invalid tar archive: bzip2: Compressed file ends unexpectedly/],
    ['xz', /failed to copy files: Error processing tar file: invalid tar archive: xz: Unexpected end of input/],
  ] as const) {
    const whole = compress(cmd, cmd === 'bzip2' ? ['-1', '-c'] : ['-c'], big);
    const cut = context(`cut-${cmd}`, { 'cut.tar': whole.subarray(0, Math.floor(whole.length * 0.7)), Dockerfile: 'FROM busybox\nADD cut.tar /cut/\n' });
    const failed = build(['-t', `cut-${cmd}`, cut]);
    assert.equal(failed.code, 1, failed.stdout);
    assert.match(failed.stderr, re);
    assert.match(d.fails(['image', 'inspect', `cut-${cmd}`]), /No such image/);
  }
  assert.equal(d.ok(['ps', '-aq']).trim(), '', 'no build container is left');
  // The decoders are berthd's children only while they work.
  const decoders = spawnSync('pgrep', ['-P', String(d.proc?.pid), '-x', 'bzip2|xz'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(decoders, '');
  d.ok(['rmi', 'compressed', 'xz-context']);
});

test('whiteout entries in an ADD archive: written as files, they hide what they name in the image below once the step is committed, as with dockerd', async () => {
  const archive = await makeTar([
    { name: 'w/', type: 'directory', mode: 0o755 },
    { name: 'w/.wh.gone', data: '' },
    { name: 'o/', type: 'directory', mode: 0o755 },
    { name: 'o/new', data: 'new\n' },
    { name: 'o/.wh..wh..opq', data: '' },
    { name: 'n/', type: 'directory', mode: 0o755 },
    { name: 'n/.wh.absent', data: 'x\n' },
  ]);
  // Whiteout names in the context itself are files to it (as dockerd unpacks a context): no refusal.
  const dir = context('whiteouts', {
    'wh.tar': archive,
    '.wh.in-context': 'a file with a whiteout name\n',
    Dockerfile: [
      'FROM busybox',
      'RUN mkdir -p /w /o && echo gone > /w/gone && echo kept > /w/kept && echo old > /o/old',
      'ADD wh.tar /',
      '',
    ].join('\n'),
  });
  const r = build(['-t', 'whiteouts', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const shown = d.ok(['run', '--rm', '--network', 'none', 'whiteouts', 'sh', '-c', 'ls -A /w; echo --; ls -A /o; echo --; test -e /n/.wh.absent || echo no whiteout file']);
  assert.equal(shown, 'kept\n--\nnew\n--\nno whiteout file\n');
  d.ok(['rmi', 'whiteouts']);
});

test('a symlink climbing past the root (a/link -> ../../../../etc), from RUN or an ADD archive: kept as a link, as dockerd keeps it; COPY and docker cp through it stay inside the image', async () => {
  const mark = randomBytes(4).toString('hex');
  const dir = context('climbing', {
    f: `copied ${mark}\n`,
    'links.tar': await makeTar([{ name: 'deep/er/up', type: 'symlink', linkname: '../../../../../..' }]),
    Dockerfile: [
      'FROM busybox',
      'RUN mkdir -p /a && ln -s ../../../../etc /a/link',
      'ADD links.tar /x/',
      `COPY f /a/link/bl-copied-${mark}`,
      `COPY f /x/deep/er/up/tmp/bl-copied-${mark}`,
      '',
    ].join('\n'),
  });
  const r = build(['-t', 'climbing', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const shown = d.ok(['run', '--rm', '--network', 'none', 'climbing', 'sh', '-c', `readlink /a/link; readlink /x/deep/er/up; cat /etc/bl-copied-${mark} /tmp/bl-copied-${mark}`]);
  assert.equal(shown, `../../../../etc\n../../../../../..\ncopied ${mark}\ncopied ${mark}\n`);
  // A container of it: docker cp in through the link lands in the container's /etc.
  d.ok(['create', '--name', 'climber', '--network', 'none', 'climbing', 'sleep', '60']);
  d.ok(['cp', join(dir, 'f'), `climber:/a/link/bl-cp-${mark}`]);
  d.ok(['start', 'climber']);
  assert.equal(d.ok(['exec', 'climber', 'cat', `/etc/bl-cp-${mark}`]), `copied ${mark}\n`);
  // A commit of it: the layer store takes such a link too.
  d.ok(['exec', 'climber', 'ln', '-s', '../../../../../../../usr', '/a/another']);
  d.ok(['commit', 'climber', 'climbing:committed']);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', 'climbing:committed', 'readlink', '/a/another']), '../../../../../../../usr\n');
  d.ok(['rm', '-f', 'climber']);
  // Nothing of it reached the host.
  for (const p of [`/etc/bl-copied-${mark}`, `/tmp/bl-copied-${mark}`, `/etc/bl-cp-${mark}`]) assert.ok(!existsSync(p), p);
  d.ok(['rmi', 'climbing', 'climbing:committed']);
});

/** `tar` with its first entry claiming `size` bytes, cut short after 1 KiB of them. */
function declaredSize(tar: Buffer, size: number): Buffer {
  const h = Buffer.from(tar.subarray(0, 512));
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return Buffer.concat([h, Buffer.alloc(1024, 'x')]);
}

test('ADD of hostile archives: `..`, absolute names and symlinks (one climbing past the root too) stay inside the image as dockerd unpacks them; hardlinks out and a lying size fail; nothing lands beside the sentinel; the daemon keeps answering', async () => {
  const sentinel = join(scratch, 'sentinel');
  mkdirSync(sentinel, { recursive: true });
  writeFileSync(join(sentinel, 'sentinel.txt'), 'untouched\n');
  const mark = randomBytes(4).toString('hex');
  const up = '../'.repeat(24);
  const archives: Record<string, TarEntry[] | Buffer> = {
    dotdot: [{ name: 'ok.txt', data: 'ok\n' }, { name: `${up}${sentinel}/pwned-dotdot`, data: 'evil\n' }],
    absolute: [{ name: `${sentinel}/pwned-abs`, data: 'evil\n' }],
    'link-to-root': [
      { name: 'root', type: 'symlink', linkname: '/' },
      { name: `root/through-${mark}`, data: 'via /\n' },
    ],
    // Kept as dockerd keeps it, and written through inside the destination (`..` stops there).
    'link-climbing': [
      { name: 'climb', type: 'symlink', linkname: up },
      { name: `climb${sentinel}/pwned-climb`, data: 'via ..\n' },
    ],
    'link-to-host-dir': [
      { name: 'out', type: 'symlink', linkname: sentinel },
      { name: 'out/pwned-link', data: 'evil\n' },
    ],
    'hardlink-absolute': [{ name: 'hl', type: 'link', linkname: `${sentinel}/sentinel.txt` }],
    'hardlink-dotdot': [{ name: 'hl', type: 'link', linkname: `${up}${sentinel}/sentinel.txt` }],
    devices: [
      { name: 'cdev', type: 'character-device', devmajor: 1, devminor: 3 },
      { name: 'bdev', type: 'block-device', devmajor: 7, devminor: 0 },
      { name: 'fifo', type: 'fifo' },
    ],
    huge: declaredSize(await makeTar([{ name: 'huge.bin', data: 'x' }]), 8 * 1024 ** 3 - 1),
  };
  const dir = context('hostile', {});
  const results: Record<string, { code: number; out: string }> = {};
  for (const [name, entries] of Object.entries(archives)) {
    writeFileSync(join(dir, `${name}.tar`), Buffer.isBuffer(entries) ? entries : await makeTar(entries));
    writeFileSync(join(dir, 'Dockerfile'), `FROM busybox\nADD ${name}.tar /dst/\n`);
    const r = await d.dockerAsync(['build', '-t', `hostile-${name}`, dir], { timeoutMs: 120_000 }).done;
    results[name] = { code: r.code, out: r.stdout + r.stderr };
    // The daemon answers after each one (a refused layer once ended berthd on an unhandled stream error).
    assert.ok(await d.ping(), `berthd stopped answering after ${name}: ${readFileSync(d.logFile, 'utf8').slice(-3000)}`);
  }
  const built = (name: string, cmd: string) => {
    assert.equal(results[name]?.code, 0, results[name]?.out);
    return d.ok(['run', '--rm', '--network', 'none', `hostile-${name}`, 'sh', '-c', cmd]);
  };
  assert.equal(built('dotdot', `cat /dst/ok.txt /dst${sentinel}/pwned-dotdot`), 'ok\nevil\n');
  assert.equal(built('absolute', `cat /dst${sentinel}/pwned-abs`), 'evil\n');
  assert.equal(built('link-to-root', `readlink /dst/root; cat /dst/through-${mark}`), '/\nvia /\n');
  assert.equal(built('link-climbing', `readlink /dst/climb; cat /dst${sentinel}/pwned-climb`), `${up}\nvia ..\n`);
  assert.equal(built('devices', 'stat -c "%F %t:%T" /dst/cdev /dst/bdev /dst/fifo'), 'character special file 1:3\nblock special file 7:0\nfifo 0:0\n');
  // Refused, as dockerd refuses them (its chroot has no such file): the build fails, tags nothing.
  for (const [name, re] of [
    // The link's target looked for inside the destination, where it is not: the path shown is that one.
    ['link-to-host-dir', new RegExp(`failed to copy files: Error processing tar file: failed to extract "out/pwned-link": mkdir ${sentinel}: no such file or directory`)],
    ['hardlink-absolute', /failed to copy files: Error processing tar file: invalid hardlink "hl" -> ".*": link target does not exist/],
    ['hardlink-dotdot', /failed to copy files: Error processing tar file: invalid hardlink "hl" -> ".*": link target does not exist/],
    ['huge', /failed to copy files: Error processing tar file: invalid tar archive/],
  ] as const) {
    assert.equal(results[name]?.code, 1, results[name]?.out);
    assert.match(results[name]?.out ?? '', re, name);
    assert.match(d.fails(['image', 'inspect', `hostile-${name}`]), /No such image/);
  }
  // Nothing beside the sentinel, the sentinel itself not linked nor changed, nothing at the host's root.
  assert.deepEqual(readdirSync(sentinel), ['sentinel.txt']);
  assert.equal(statSync(join(sentinel, 'sentinel.txt')).nlink, 1);
  assert.equal(readFileSync(join(sentinel, 'sentinel.txt'), 'utf8'), 'untouched\n');
  assert.ok(!existsSync(`/through-${mark}`));
  // What the archives wrote is in image layers only: under the storage driver's directories.
  const found = spawnSync('find', [d.dir, '-name', 'pwned-*'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  assert.ok(found.length > 0);
  for (const f of found) assert.ok(f.startsWith(`${d.storageRoot}/`), `${f} is outside the image layers`);
  assert.match(d.ok(['version', '--format', '{{.Server.Version}}']), /\S/);
  assert.equal(d.ok(['ps', '-aq']).trim(), '', 'no build container is left');
  d.ok(['rmi', ...['dotdot', 'absolute', 'link-to-root', 'link-climbing', 'devices'].map((n) => `hostile-${n}`)]);
});

test('a client gone in the middle of uploading its context (plain, gzip or xz) leaves berthd answering, with no build container and no scratch left', async () => {
  const tarball = await makeTar([
    { name: 'Dockerfile', data: 'FROM busybox\nCOPY big.bin /\n' },
    { name: 'big.bin', data: randomBytes(512 * 1024) },
  ]);
  const bodies = { plain: tarball, gzip: gzipSync(tarball), xz: compress('xz', ['-c', '-0'], tarball) };
  for (const [name, body] of Object.entries(bodies)) {
    await new Promise<void>((resolve) => {
      const s = connect(d.sock);
      s.on('error', () => resolve());
      s.on('connect', () => {
        const part = body.subarray(0, Math.floor(body.length / 2));
        s.write(`POST /v1.47/build?t=gone-${name} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n`);
        s.write(`${part.length.toString(16)}\r\n`);
        s.write(part);
        s.write('\r\n');
        // Long enough for berthd to be reading the body when the client goes.
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 300);
      });
    });
    // The next request tells whether berthd outlived the cut (an unhandled stream error once ended it).
    assert.ok(await d.ping(), `berthd stopped answering after a cut ${name} upload: ${readFileSync(d.logFile, 'utf8').slice(-3000)}`);
    assert.match(d.fails(['image', 'inspect', `gone-${name}`]), /No such image/);
  }
  assert.equal(d.ok(['ps', '-aq']).trim(), '', 'no build container is left');
});
