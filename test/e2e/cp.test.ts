import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { testTmpDir } from '../helpers/paths.js';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;
let work: string;

daemonForFile((x) => {
  d = x;
  work = testTmpDir('bt-cp-');
});

test.after(() => rmSync(work, { recursive: true, force: true }));
test.afterEach(() => d.removeAllContainersAndVolumes());

/** `docker cp` with a tar on stdin or stdout (`-`): the raw bytes. */
function cpRaw(args: string[], input?: Buffer): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('docker', ['-H', d.host, 'cp', ...args], { input, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The entries of a tar (name, type, owner, mode), read with the host's tar. */
function tarList(tar: Buffer): string[] {
  const r = spawnSync('tar', ['-tv', '--numeric-owner', '-f', '-'], { input: tar });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString().trim().split('\n');
}

function tarFile(tar: Buffer, name: string): string {
  const r = spawnSync('tar', ['-xO', '-f', '-', name], { input: tar });
  return r.status === 0 ? r.stdout.toString() : `<${r.stderr.toString().trim()}>`;
}

test('docker cp round trip of a tree with symlinks, hard links, modes and owners, into a running and a stopped container', () => {
  const src = join(work, 'tree');
  mkdirSync(join(src, 'sub/deep'), { recursive: true });
  writeFileSync(join(src, 'plain.txt'), 'plain\n');
  writeFileSync(join(src, 'sub/run.sh'), '#!/bin/sh\necho run\n');
  chmodSync(join(src, 'sub/run.sh'), 0o750);
  writeFileSync(join(src, 'sub/deep/owned'), 'owned\n');
  chownSync(join(src, 'sub/deep/owned'), 1234, 4321);
  chmodSync(join(src, 'sub/deep'), 0o700);
  linkSync(join(src, 'plain.txt'), join(src, 'hard.txt'));
  symlinkSync('plain.txt', join(src, 'rel-link'));
  symlinkSync('/etc/passwd', join(src, 'abs-link'));
  mkdirSync(join(src, 'empty'));

  d.ok(['run', '-d', '--name', 'cpr', 'busybox', 'sleep', '1000']);
  d.ok(['create', '--name', 'cps', 'busybox', 'true']);
  for (const name of ['cpr', 'cps']) {
    d.ok(['cp', src, `${name}:/dst`]);
    // Out again, to compare with what went in.
    const back = join(work, `back-${name}`);
    d.ok(['cp', `${name}:/dst`, back]);
    assert.equal(readFileSync(join(back, 'plain.txt'), 'utf8'), 'plain\n');
    assert.equal(readFileSync(join(back, 'sub/run.sh'), 'utf8'), '#!/bin/sh\necho run\n');
    assert.equal(lstatSync(join(back, 'sub/run.sh')).mode & 0o7777, 0o750);
    assert.equal(lstatSync(join(back, 'sub/deep')).mode & 0o7777, 0o700);
    assert.equal(readlinkSync(join(back, 'rel-link')), 'plain.txt');
    assert.equal(readlinkSync(join(back, 'abs-link')), '/etc/passwd');
    assert.equal(lstatSync(join(back, 'hard.txt')).ino, lstatSync(join(back, 'plain.txt')).ino, 'the hard link stays one');
    assert.ok(lstatSync(join(back, 'empty')).isDirectory());
    // In the container: the archive's owners (the CLI sends them), the links as links.
    const tar = cpRaw([`${name}:/dst`, '-']);
    assert.equal(tar.code, 0, tar.stderr);
    const list = tarList(tar.stdout).join('\n');
    assert.match(list, /^-rw-r--r-- 1234\/4321 +6 .* dst\/sub\/deep\/owned$/m);
    assert.match(list, /^lrwxrwxrwx 0\/0 .* dst\/abs-link -> \/etc\/passwd$/m);
    assert.match(list, /^hrw-r--r-- 0\/0 .* dst\/(hard|plain)\.txt link to dst\/(plain|hard)\.txt$/m);
    assert.match(list, /^drwx------ 0\/0 .* dst\/sub\/deep\/$/m);
  }
  assert.equal(d.ok(['start', '-a', 'cps']), '');
  // -a: owned by the container's user, resolved in the container.
  d.ok(['run', '-d', '--name', 'cpu', '-u', 'nobody', 'busybox', 'sleep', '1000']);
  d.ok(['cp', '-a', join(src, 'plain.txt'), 'cpu:/tmp/']);
  assert.equal(d.ok(['exec', 'cpu', 'stat', '-c', '%u:%g', '/tmp/plain.txt']).trim(), '65534:65534');
});

test('docker cp reaches the named volume mounted in the container, running or stopped; - reads and writes tars', () => {
  d.ok(['run', '-d', '--name', 'vol', '-v', 'cpdata:/data', 'busybox', 'sh', '-c', 'echo in-volume > /data/v.txt; sleep 1000']);
  const wait = Date.now() + 10_000;
  while (Date.now() < wait && d.docker(['exec', 'vol', 'test', '-f', '/data/v.txt']).code !== 0) void 0;
  let r = cpRaw(['vol:/data/v.txt', '-']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(tarList(r.stdout).map((l) => l.split(/\s+/).pop()), ['v.txt']);
  assert.equal(tarFile(r.stdout, 'v.txt'), 'in-volume\n');
  // A tar on stdin, unpacked into the volume.
  const t = join(work, 'in');
  mkdirSync(t, { recursive: true });
  writeFileSync(join(t, 'from-stdin.txt'), 'stdin tar\n');
  const tar = spawnSync('tar', ['-cf', '-', '-C', t, 'from-stdin.txt']).stdout;
  r = cpRaw(['-', 'vol:/data'], tar);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(d.ok(['exec', 'vol', 'cat', '/data/from-stdin.txt']), 'stdin tar\n');
  // Stopped: the volume is put in place for the copy (not the rootfs under it).
  d.ok(['stop', '-t', '0', 'vol']);
  writeFileSync(join(work, 'while-stopped.txt'), 'stopped\n');
  d.ok(['cp', join(work, 'while-stopped.txt'), 'vol:/data/']);
  r = cpRaw(['vol:/data/from-stdin.txt', '-']);
  assert.equal(tarFile(r.stdout, 'from-stdin.txt'), 'stdin tar\n');
  assert.equal(d.ok(['run', '--rm', '-v', 'cpdata:/x', 'busybox', 'cat', '/x/while-stopped.txt']), 'stopped\n');
  assert.deepEqual(d.mounts().filter((m) => m.includes('/merged')), [], 'the stopped container is unmounted again');
});

test('a link to /etc/shadow copied out stays a link; -L reads the container\'s file, never the host\'s', () => {
  const marker = `container-shadow-${randomBytes(6).toString('hex')}`;
  d.ok(['run', '-d', '--name', 'shadow', 'busybox', 'sh', '-c', `echo ${marker} > /etc/shadow; ln -s /etc/shadow /link; ln -s ../../../../../../../../etc/shadow /rel; sleep 1000`]);
  const wait = Date.now() + 10_000;
  while (Date.now() < wait && d.docker(['exec', 'shadow', 'test', '-L', '/rel']).code !== 0) void 0;
  const out = join(work, 'shadow-out');
  mkdirSync(out, { recursive: true });
  d.ok(['cp', 'shadow:/link', join(out, 'link')]);
  assert.equal(readlinkSync(join(out, 'link')), '/etc/shadow');
  d.ok(['cp', '-L', 'shadow:/link', join(out, 'followed')]);
  assert.equal(readFileSync(join(out, 'followed'), 'utf8'), `${marker}\n`);
  d.ok(['cp', '-L', 'shadow:/rel', join(out, 'followed-rel')]);
  assert.equal(readFileSync(join(out, 'followed-rel'), 'utf8'), `${marker}\n`, '.. stops at the container root');
});

test('race: a container flipping a link between its own file and a host sentinel never gets the sentinel read or written', async () => {
  const host = testTmpDir('bt-sentinel-');
  const secret = `SENTINEL-${randomBytes(8).toString('hex')}`;
  writeFileSync(join(host, 'secret'), secret);
  try {
    // /d flips between /own (the container's) and the host's sentinel folder, as fast as it can.
    const flip = `mkdir -p /own; echo own > /own/secret; while :; do ln -sfn /own /d; ln -sfn ${host} /d; ln -sfn ${host}/secret /f; ln -sfn /own/secret /f; done`;
    d.ok(['run', '-d', '--name', 'flip', 'busybox', 'sh', '-c', flip]);
    writeFileSync(join(work, 'intruder'), 'should never reach the host\n');
    const intruder = spawnSync('tar', ['-cf', '-', '-C', work, 'intruder']).stdout;
    // Straight through the API (the CLI's start-up would make the loop slow): what `docker cp`
    // sends. -L is the CLI's: a HEAD for the link's target, then a GET of it.
    let own = 0;
    for (let i = 0; i < 60; i++) {
      const r = await d.api('GET', '/containers/flip/archive?path=/d/secret');
      assert.ok(!r.text.includes(secret), 'the host sentinel was read');
      if (r.status === 200) {
        assert.match(r.text, /own\n/);
        own++;
      } else {
        assert.equal(r.status, 404);
        assert.equal((r.json() as { message: string }).message, 'Could not find the file /d/secret in container flip');
      }
      const head = await d.api('HEAD', '/containers/flip/archive?path=/f');
      const stat = head.status === 200 ? (JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString()) as { linkTarget: string }) : undefined;
      if (stat?.linkTarget) {
        const l = await d.api('GET', `/containers/flip/archive?path=${encodeURIComponent(stat.linkTarget)}`);
        assert.ok(!l.text.includes(secret), 'the host sentinel was read through the link\'s target');
      }
      await d.api('PUT', '/containers/flip/archive?path=/d', intruder, { 'Content-Type': 'application/x-tar' });
    }
    // And the CLI itself a few times, -L included.
    for (let i = 0; i < 3; i++) {
      assert.ok(!cpRaw(['flip:/d/secret', '-']).stdout.includes(secret));
      assert.ok(!cpRaw(['-L', 'flip:/f', '-']).stdout.includes(secret));
    }
    assert.ok(own > 0, 'some copies ran while the link pointed at the container\'s own folder');
    assert.deepEqual(readdirSync(host), ['secret'], 'nothing was written into the host folder');
    assert.equal(readFileSync(join(host, 'secret'), 'utf8'), secret);
    // The intruder landed in the container, where the link pointed at its own folder (or at a
    // folder of that name inside the container).
    assert.equal(d.ok(['exec', 'flip', 'cat', '/own/intruder']), 'should never reach the host\n');
  } finally {
    rmSync(host, { recursive: true, force: true });
  }
});

test('docker cp errors: a missing path, a read-only root and volume, an extraction point that is a file, a name too long, a NUL byte', async () => {
  d.ok(['run', '-d', '--name', 'errs', '--read-only', '-v', 'rov:/rov:ro', '-v', 'rwv:/rwv', 'busybox', 'sleep', '1000']);
  writeFileSync(join(work, 'f.txt'), 'f\n');
  assert.equal(d.fails(['cp', 'errs:/nope', work]).trim(), 'Error response from daemon: Could not find the file /nope in container errs');
  assert.equal(d.fails(['cp', join(work, 'f.txt'), 'errs:/']).trim(), 'Error response from daemon: container rootfs is marked read-only');
  assert.equal(d.fails(['cp', join(work, 'f.txt'), 'errs:/rov/']).trim(), 'Error response from daemon: mounted volume is marked read-only');
  d.ok(['cp', join(work, 'f.txt'), 'errs:/rwv/']);
  assert.equal(d.ok(['exec', 'errs', 'cat', '/rwv/f.txt']), 'f\n');
  // The CLI checks this one itself; the daemon's answer, through the API.
  const tar = spawnSync('tar', ['-cf', '-', '-C', work, 'f.txt']).stdout;
  const r = await d.api('PUT', '/containers/errs/archive?path=/rwv/f.txt', tar, { 'Content-Type': 'application/x-tar' });
  assert.equal(r.status, 400);
  assert.equal((r.json() as { message: string }).message, 'extraction point is not a directory');
  const miss = await d.api('HEAD', '/containers/errs/archive?path=/nope');
  assert.equal(miss.status, 404);
  // A name past NAME_MAX (255): the request's fault, whichever way it goes (a 500 before).
  const long = `/rwv/${'x'.repeat(300)}`;
  for (const [method, path, body] of [['HEAD', long, undefined], ['GET', long, undefined], ['PUT', long, tar], ['GET', `${long}/f.txt`, undefined]] as const) {
    const res = await d.api(method, `/containers/errs/archive?path=${encodeURIComponent(path)}`, body, body ? { 'Content-Type': 'application/x-tar' } : {});
    assert.equal(res.status, 400, `${method} ${path.slice(0, 20)}…: ${res.status} ${res.text}`);
    if (method !== 'HEAD') assert.equal((res.json() as { message: string }).message, 'file name too long');
  }
  assert.match(d.fails(['cp', `errs:${long}`, work]), /Error response from daemon: file name too long/);
  for (const [method, body] of [['HEAD', undefined], ['GET', undefined], ['PUT', tar]] as const) {
    const res = await d.api(method, '/containers/errs/archive?path=%2Frwv%2Fa%00b', body, body ? { 'Content-Type': 'application/x-tar' } : {});
    assert.equal(res.status, 400, `${method} with a NUL: ${res.status} ${res.text}`);
    if (method !== 'HEAD') assert.equal((res.json() as { message: string }).message, 'invalid value for path: a NUL byte');
  }
  assert.match(d.fails(['cp', 'nosuch:/x', work]), /No such container: nosuch/);
});

test('a client gone in the middle of a docker cp download leaves berthd answering, with no helper left', async () => {
  d.ok(['run', '-d', '--name', 'cp-gone', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null; touch /ready; sleep 1000']);
  for (let i = 0; i < 100 && d.docker(['exec', 'cp-gone', 'test', '-f', '/ready']).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  for (let round = 0; round < 3; round++) {
    await new Promise<void>((resolve) => {
      const s = connect(d.sock);
      let got = 0;
      s.on('error', () => resolve());
      s.on('connect', () => s.write('GET /v1.47/containers/cp-gone/archive?path=/big HTTP/1.1\r\nHost: berth\r\n\r\n'));
      // Gone once the file's data is flowing: the tar entry being written is destroyed with the response.
      s.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 256 * 1024) {
          s.destroy();
          resolve();
        }
      });
    });
    assert.ok(await d.ping(), `berthd stopped answering after a cut cp (round ${round}): ${readFileSync(d.logFile, 'utf8').slice(-3000)}`);
  }
  // The helper of each cut copy is gone too (this berthd's children only: other files run beside this one).
  const helpers = () =>
    spawnSync('ps', ['-eo', 'ppid=,args='], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.trim().split(/\s+/)[0] === String(d.proc?.pid) && l.includes('berth-cp'));
  for (let i = 0; i < 50 && helpers().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(helpers(), []);
  d.ok(['rm', '-f', 'cp-gone']);
});
