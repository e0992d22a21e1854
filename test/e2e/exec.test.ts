import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startDaemon, sleep, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

before(async () => {
  d = await startDaemon({ liveRestore: true });
  d.docker(['run', '-d', '--name', 'box', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait']);
});

after(async () => {
  const { leftovers } = await d.cleanup();
  assert.deepEqual(leftovers, []);
});

test('exec: output, stderr, exit code, stdin, env, user, workdir', () => {
  let r = d.docker(['exec', 'box', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
  assert.equal(r.code, 5);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  r = d.docker(['exec', '-i', 'box', 'sh', '-c', 'cat; echo end'], { input: 'piped\n' });
  assert.equal(r.stdout, 'piped\nend\n');
  r = d.docker(['exec', '-u', 'nobody', '-w', '/tmp', '-e', 'X=42', 'box', 'sh', '-c', 'id -u; pwd; echo $X; echo $HOSTNAME']);
  assert.equal(r.code, 0, r.stderr);
  const [uid, cwd, x, host] = r.stdout.trim().split('\n');
  assert.deepEqual([uid, cwd, x], ['65534', '/tmp', '42']);
  assert.match(host ?? '', /^[0-9a-f]{12}$/, 'inherits the container environment');
});

test('exec errors: missing command 127, unknown container, stopped container', () => {
  let r = d.docker(['exec', 'box', 'no-such-cmd']);
  assert.equal(r.code, 127);
  assert.match(r.stdout + r.stderr, /executable file not found/);
  r = d.docker(['exec', 'ghost', 'true']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /No such container: ghost/);
  d.docker(['create', '--name', 'idle', 'busybox']);
  r = d.docker(['exec', 'idle', 'true']);
  assert.match(r.stderr, /is not running/);
  d.docker(['rm', 'idle']);
  d.docker(['pause', 'box']);
  r = d.docker(['exec', 'box', 'true']);
  assert.match(r.stderr, /is paused, unpause the container before exec/);
  d.docker(['unpause', 'box']);
});

test('an ended exec stays inspectable until its container is removed, then is gone (404)', async () => {
  d.docker(['run', '-d', '--name', 'short', 'busybox', 'sleep', '1000']);
  const c = await d.api('POST', '/containers/short/exec', { Cmd: ['sh', '-c', 'exit 3'] });
  assert.equal(c.status, 201, c.text);
  const id = (c.json() as { Id: string }).Id;
  const s = await d.api('POST', `/exec/${id}/start`, { Detach: false, Tty: false });
  assert.equal(s.status, 200, s.text);
  const ended = await d.api('GET', `/exec/${id}/json`);
  assert.equal(ended.status, 200, ended.text);
  assert.equal((ended.json() as { ExitCode: number; Running: boolean }).ExitCode, 3);
  assert.equal(d.docker(['rm', '-f', 'short']).code, 0);
  const gone = await d.api('GET', `/exec/${id}/json`);
  assert.equal(gone.status, 404, gone.text);
  assert.match(gone.text, /No such exec instance/);
});

test('exec -it gets a terminal of the client size', () => {
  const r = spawnSync('script', ['-qec', `stty rows 33 cols 77; docker -H ${d.host} exec -it box sh -c 'stty size; exit 2'`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') },
  });
  assert.equal(r.status, 2);
  assert.match(r.stdout, /33 77/);
});

test('exec -d runs in the background and shows in ExecIDs; exec works on an adopted container', async () => {
  assert.equal(d.docker(['exec', '-d', 'box', 'sh', '-c', 'echo bg > /tmp/bg; sleep 1']).code, 0);
  await sleep(300);
  assert.match(d.docker(['inspect', '-f', '{{.ExecIDs}}', 'box']).stdout, /\[[0-9a-f]{64}\]/);
  assert.equal(d.docker(['exec', 'box', 'cat', '/tmp/bg']).stdout, 'bg\n');
  await d.kill();
  await d.start();
  const r = d.docker(['exec', 'box', 'sh', '-c', 'echo after restore']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'after restore\n');
  // An exec'd process dies with its container.
  d.docker(['exec', '-d', 'box', 'sleep', '1000']);
  assert.equal(d.docker(['stop', 'box']).code, 0);
  assert.equal(d.conmons().length, 0);
});
