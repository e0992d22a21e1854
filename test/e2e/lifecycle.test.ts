import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { daemonForFile, waitFor, sleep, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

daemonForFile((x) => (d = x));

const inspect = (name: string, fmt: string) => d.docker(['inspect', '-f', fmt, name]).stdout.trim();

test('--restart on-failure:2 restarts twice with backoff, then stays exited', async () => {
  d.docker(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo try; exit 3']);
  await waitFor('two restarts', () => inspect('flaky', '{{.RestartCount}} {{.State.Status}}') === '2 exited', 30_000);
  assert.equal(inspect('flaky', '{{.State.ExitCode}}'), '3');
  assert.equal(d.docker(['logs', 'flaky']).stdout, 'try\ntry\ntry\n');
  assert.equal(inspect('flaky', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}'), 'on-failure:2');
  d.docker(['rm', 'flaky']);
});

test('--restart always comes back after the process dies, and docker stop ends it', async () => {
  d.docker(['run', '-d', '--name', 'phoenix', '--restart', 'always', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait']);
  const pid1 = Number(inspect('phoenix', '{{.State.Pid}}'));
  process.kill(pid1, 'SIGKILL');
  await waitFor('restart', () => {
    const [count, status, pid] = inspect('phoenix', '{{.RestartCount}} {{.State.Status}} {{.State.Pid}}').split(' ');
    return count === '1' && status === 'running' && Number(pid) !== pid1;
  });
  const s = d.docker(['stop', 'phoenix']);
  assert.equal(s.code, 0, s.stderr);
  await sleep(500);
  assert.equal(inspect('phoenix', '{{.State.Status}}'), 'exited');
  d.docker(['rm', 'phoenix']);
});

test('pause freezes the processes and unpause resumes them; errors as Docker', async () => {
  d.docker(['run', '-d', '--name', 'icy', 'busybox', 'sh', '-c', 'while true; do sleep 0.1; done']);
  assert.equal(d.docker(['pause', 'icy']).code, 0);
  const pid = Number(inspect('icy', '{{.State.Pid}}'));
  assert.equal(inspect('icy', '{{.State.Status}} {{.State.Paused}}'), 'paused true');
  assert.equal(freezerState(pid), 'FROZEN');
  assert.match(d.docker(['ps', '--format', '{{.Status}}', '-f', 'name=icy']).stdout, /\(Paused\)/);
  let r = d.docker(['pause', 'icy']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is already paused/);
  r = d.docker(['rm', 'icy']);
  assert.match(r.stderr, /container is paused and must be unpaused first|container is running/);
  assert.equal(d.docker(['unpause', 'icy']).code, 0);
  assert.equal(inspect('icy', '{{.State.Status}}'), 'running');
  assert.equal(freezerState(pid), 'THAWED');
  r = d.docker(['unpause', 'icy']);
  assert.match(r.stderr, /is not paused/);
  // A paused container can still be stopped.
  assert.equal(d.docker(['pause', 'icy']).code, 0);
  assert.equal(d.docker(['stop', '-t', '1', 'icy']).code, 0);
  assert.equal(inspect('icy', '{{.State.Status}}'), 'exited');
  d.docker(['rm', 'icy']);
});

test('restart gives a new process and StartedAt; rename keeps the container', async () => {
  d.docker(['run', '-d', '--name', 'again', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait']);
  const [pid1, started1] = inspect('again', '{{.State.Pid}} {{.State.StartedAt}}').split(' ');
  assert.equal(d.docker(['restart', '-t', '2', 'again']).code, 0);
  const [pid2, started2] = inspect('again', '{{.State.Pid}} {{.State.StartedAt}}').split(' ');
  assert.notEqual(pid1, pid2);
  assert.notEqual(started1, started2);
  assert.equal(d.docker(['rename', 'again', 'renamed']).code, 0);
  assert.equal(inspect('renamed', '{{.Name}}'), '/renamed');
  assert.equal(d.docker(['inspect', 'again']).code, 1);
  d.docker(['create', '--name', 'other', 'busybox']);
  const r = d.docker(['rename', 'renamed', 'other']);
  assert.match(r.stderr, /Conflict. The container name "\/other" is already in use/);
  d.docker(['rm', '-f', 'renamed', 'other']);
});

test('--init runs the command under an init that forwards signals', () => {
  const r = d.docker(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; echo $$']);
  assert.equal(r.code, 0, r.stderr);
  const [cmdline, pid] = r.stdout.split('\n');
  assert.match(cmdline ?? '', /^\/sbin\/docker-init -- sh -c/);
  assert.notEqual(pid, '1');
});

test('events: a container lifecycle, filtered, with since/until', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  d.docker(['run', '--name', 'evt', '-l', 'k=v', 'busybox', 'true']);
  d.docker(['rm', 'evt']);
  await sleep(200);
  const until = Math.floor(Date.now() / 1000) + 1;
  const r = d.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'container=evt', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['container create evt', 'container start evt', 'container die evt', 'container destroy evt']);
  const byLabel = d.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'label=k=v', '--filter', 'event=die', '--format', '{{.Action}} {{.Actor.Attributes.exitCode}}']);
  assert.equal(byLabel.stdout.trim(), 'die 0');
  // A follower sees events as they happen.
  const f = d.dockerAsync(['events', '--filter', 'event=start', '--format', '{{.Actor.Attributes.name}}'], { timeoutMs: 20_000 });
  await sleep(500);
  d.docker(['run', '--rm', '--name', 'evt2', 'busybox', 'true']);
  await sleep(500);
  f.proc.kill('SIGINT');
  const out = await f.done;
  assert.match(out.stdout, /evt2/);
});

function freezerState(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1] === 'freezer');
  assert.ok(line);
  return readFileSync(`/sys/fs/cgroup/freezer${line.split(':')[2]}/freezer.state`, 'utf8').trim();
}

test('image events: import, tag, untag, delete', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const { busyboxTarball } = await import('../helpers/paths.js');
  d.docker(['import', busyboxTarball(), 'evimg:1']);
  d.docker(['tag', 'evimg:1', 'evimg:2']);
  d.docker(['rmi', 'evimg:1', 'evimg:2']);
  const r = d.docker(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=image', '--format', '{{.Action}}']);
  assert.deepEqual(r.stdout.trim().split('\n'), ['import', 'tag', 'untag', 'untag', 'delete']);
});
