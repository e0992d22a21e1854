import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { Readable } from 'node:stream';
import { collectOutput } from '../helpers/streams.js';
import { daemonForFile, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { makeTar } from '../helpers/tars.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// What client libraries' own test suites rely on, each found failing against berth and
// passing against dockerd: driven through dockerode, as those libraries drive the API.
let docker: Docker;
let d: TestDaemon;

daemonForFile((x) => {
  d = x;
  docker = new Docker({ socketPath: x.sock });
});

const demux = (stream: NodeJS.ReadableStream) => collectOutput(docker, stream);

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

test('kill with SIGKILL returns once the exit is recorded: inspect right after shows it stopped with 137', async () => {
  for (let i = 0; i < 5; i++) {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    await c.start();
    await c.kill({ signal: 'SIGKILL' });
    const info = await c.inspect();
    assert.equal(info.State.Running, false, `round ${i}`);
    assert.equal(info.State.Status, 'exited');
    assert.equal(info.State.ExitCode, 137);
    await c.remove();
  }
});

test('removing a container its restart policy is about to restart is refused without force', async () => {
  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sh', '-c', 'exit 1'],
    HostConfig: { RestartPolicy: { Name: 'always' } },
  });
  await c.start();
  // The backoff doubles each time (100 ms, 200 ms, ...): after a few restarts the wait
  // between an exit and the next start is long enough to ask for the removal in it.
  await waitFor('a long restart wait', async () => {
    const info = await c.inspect();
    return info.State.Restarting && info.RestartCount >= 4;
  }, 30_000, 20);
  await assert.rejects(c.remove(), (err: unknown) => {
    assert.equal(statusOf(err), 409);
    assert.match(String((err as Error).message), /container is restarting: stop the container before removing or force remove/);
    return true;
  });
  await c.remove({ force: true });
  await assert.rejects(c.inspect(), (err: unknown) => statusOf(err) === 404);
});

test('attach with logs=1&stream=0 returns the output so far and ends', async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo to-out; echo to-err >&2'] });
  await c.start();
  await c.wait();
  const stream = await c.attach({ logs: true, stream: false, stdout: true, stderr: true });
  const got = await demux(stream);
  assert.equal(got.out, 'to-out\n');
  assert.equal(got.err, 'to-err\n');
  // Only stdout when only stdout is asked for.
  const onlyOut = await demux(await c.attach({ logs: true, stream: false, stdout: true, stderr: false }));
  assert.deepEqual(onlyOut, { out: 'to-out\n', err: '' });
  await c.remove();
});

test('an exec created with a terminal runs on one even when started with Tty false', async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
  await c.start();
  const exec = await c.exec({ Cmd: ['sh', '-c', 'tty; echo err >&2'], Tty: true, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false, Tty: false });
  const got = await demux(stream);
  // On a terminal: tty names it, lines end in \r\n, and stderr arrives on the one stream.
  assert.match(got.out, /^\/dev\/pts\/\d+\r\nerr\r\n$/);
  assert.equal(got.err, '');
  assert.equal((await exec.inspect()).ExitCode, 0);
  await c.remove({ force: true });
});

test('loading a broken archive answers 200 with the error in the JSON stream, and the client raises it', async () => {
  const broken = await makeTar([{ name: 'hello.txt', data: 'not an image' }]);
  const stream = await docker.loadImage(Readable.from([broken]));
  const output = await new Promise<{ error?: string; errorDetail?: { message: string } }[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (e: unknown, out: { error?: string; errorDetail?: { message: string } }[]) => (e ? reject(e) : resolve(out))),
  );
  // What docker-py's load_image raises on, and dockerode users check: an `error` message.
  const failure = output.find((m) => m.error !== undefined);
  assert.ok(failure, JSON.stringify(output));
  assert.match(failure.errorDetail?.message ?? '', /neither a manifest\.json \(docker save\) nor an index\.json/);
  const file = join(d.dir, 'broken.tar');
  writeFileSync(file, broken);
  const cli = d.docker(['load', '-i', file]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /neither a manifest\.json/);
});

test("inspect shows HostConfig.Runtime; an unknown runtime or log driver is refused with dockerd's message", async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['true'] });
  assert.equal((await c.inspect()).HostConfig.Runtime, 'runc');
  await c.remove();
  const explicit = await docker.createContainer({ Image: 'busybox', Cmd: ['true'], HostConfig: { Runtime: 'runc' } });
  assert.equal((await explicit.inspect()).HostConfig.Runtime, 'runc');
  await explicit.remove();
  await assert.rejects(docker.createContainer({ Image: 'busybox', Cmd: ['true'], HostConfig: { Runtime: 'nope' } }), (err: unknown) => {
    assert.equal(statusOf(err), 400);
    assert.match(String((err as Error).message), /unknown or invalid runtime name: nope/);
    return true;
  });
  await assert.rejects(docker.createContainer({ Image: 'busybox', Cmd: ['true'], HostConfig: { LogConfig: { Type: 'asdf', Config: {} } } }), (err: unknown) => {
    assert.equal(statusOf(err), 400);
    assert.match(String((err as Error).message), /logger: no log driver named 'asdf' is registered/);
    return true;
  });
  const cli = d.docker(['create', '--log-driver', 'asdf', 'busybox', 'true']);
  assert.equal(cli.stderr.trim(), "Error response from daemon: logger: no log driver named 'asdf' is registered");
});

test('rm -f of a crash-looping container removes it whatever the moment, and leaves nothing behind', async () => {
  for (let i = 0; i < 12; i++) {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'exit 1'], HostConfig: { RestartPolicy: { Name: 'always' } } });
    await c.start();
    // Land the removal at a different point of the exit/restart cycle each round.
    await new Promise((r) => setTimeout(r, (i * 37) % 400));
    await c.remove({ force: true });
    await assert.rejects(c.inspect(), (err: unknown) => statusOf(err) === 404);
  }
  assert.deepEqual(d.runcState(), []);
  assert.deepEqual(d.mounts().filter((m) => m.includes('/containers/')), []);
});
