import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { daemonForFile } from '../helpers/daemon.js';
import { collectOutput } from '../helpers/streams.js';

// dockerode (what many Node tools use) against berthd: its own requests, not the CLI's.
let docker: Docker;

daemonForFile((x) => {
  docker = new Docker({ socketPath: x.sock });
});

const collect = (stream: NodeJS.ReadableStream, demux: boolean) => collectOutput(docker, stream, demux);

test('dockerode: ping, version, info', async () => {
  assert.equal(String(await docker.ping()), 'OK');
  const v = await docker.version();
  assert.equal(v.ApiVersion, '1.47');
  const info = await docker.info();
  assert.equal(info.OSType, 'linux');
});

test('dockerode: container lifecycle with logs, wait, pause, restart, rename, remove', async () => {
  const c = await docker.createContainer({
    Image: 'busybox',
    name: 'node-made',
    Cmd: ['sh', '-c', 'trap "exit 0" TERM; echo hello; echo oops >&2; while true; do sleep 0.1; done'],
    Labels: { via: 'dockerode' },
    HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
  });
  await c.start();
  let info = await c.inspect();
  assert.equal(info.State.Running, true);
  assert.equal(info.Config.Labels['via'], 'dockerode');
  assert.equal(info.HostConfig.RestartPolicy?.Name, 'on-failure');
  const logs = await c.logs({ stdout: true, stderr: true, follow: false });
  const demuxed = { out: '', err: '' };
  const out = new PassThrough();
  const err = new PassThrough();
  out.on('data', (b: Buffer) => (demuxed.out += b.toString()));
  err.on('data', (b: Buffer) => (demuxed.err += b.toString()));
  // Non-follow logs come back as a Buffer in stdcopy framing.
  let off = 0;
  const buf = logs as unknown as Buffer;
  while (off + 8 <= buf.length) {
    const size = buf.readUInt32BE(off + 4);
    (buf[off] === 1 ? out : err).write(buf.subarray(off + 8, off + 8 + size));
    off += 8 + size;
  }
  assert.equal(demuxed.out, 'hello\n');
  assert.equal(demuxed.err, 'oops\n');
  await c.pause();
  assert.equal((await c.inspect()).State.Paused, true);
  await c.unpause();
  await c.restart({ t: 2 });
  await c.rename({ name: 'node-renamed' });
  info = await c.inspect();
  assert.equal(info.Name, '/node-renamed');
  const waiting = c.wait();
  await c.stop({ t: 2 });
  const w = (await waiting) as { StatusCode: number };
  assert.equal(w.StatusCode, 0);
  await c.remove();
  await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
});

test('dockerode: attach (hijacked) and exec', async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'read line; echo "got $line"'], OpenStdin: true, StdinOnce: true });
  const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
  const result = collect(stream, true);
  await c.start();
  stream.write('ping\n');
  const { out } = await result;
  assert.equal(out, 'got ping\n');
  assert.equal(((await c.wait()) as { StatusCode: number }).StatusCode, 0);
  await c.remove();

  const r = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
  await r.start();
  const exec = await r.exec({ Cmd: ['sh', '-c', 'echo from-exec; exit 3'], AttachStdout: true, AttachStderr: true });
  const es = await exec.start({ hijack: true, stdin: false });
  const eo = await collect(es, true);
  assert.equal(eo.out, 'from-exec\n');
  const ei = await exec.inspect();
  assert.equal(ei.ExitCode, 3);
  assert.equal(ei.Running, false);
  await r.remove({ force: true });
});

test('dockerode: images, errors as statusCode and json message', async () => {
  const list = await docker.listImages();
  assert.ok(list.some((i) => (i.RepoTags ?? []).includes('busybox:latest')));
  await docker.getImage('busybox').tag({ repo: 'mine/bb', tag: 'v1' });
  const img = await docker.getImage('mine/bb:v1').inspect();
  assert.match(img.Id, /^sha256:/);
  await docker.getImage('mine/bb:v1').remove();
  await assert.rejects(docker.getImage('nope:1').inspect(), (e: { statusCode?: number; json?: { message?: string } }) => e.statusCode === 404 && e.json?.message === 'No such image: nope:1');
  await assert.rejects(docker.createContainer({ Image: 'busybox', name: 'bad name' }), (e: { statusCode?: number }) => e.statusCode === 400);
  const c = await docker.createContainer({ Image: 'busybox', name: 'dup' });
  await assert.rejects(docker.createContainer({ Image: 'busybox', name: 'dup' }), (e: { statusCode?: number }) => e.statusCode === 409);
  await c.remove();
});
