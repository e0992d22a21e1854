import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { daemonForFile, sleep, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

daemonForFile((x) => (d = x));

/** Run a docker command under a pseudo-terminal of a given size (util-linux `script`). */
function inPty(cmd: string, input = ''): { code: number; out: string } {
  const full = `stty rows 40 cols 100; docker -H ${d.host} ${cmd}`;
  const r = spawnSync('script', ['-qec', full, '/dev/null'], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') },
  });
  return { code: r.status ?? -1, out: r.stdout ?? '' };
}

test('run -it: a real terminal of the client size, raw output, exit code', () => {
  const r = inPty(`run -it --rm busybox sh -c 'stty size; tty; exit 4'`);
  assert.equal(r.code, 4);
  assert.match(r.out, /40 100\r\n/);
  assert.match(r.out, /\/dev\/pts\/0\r\n/);
});

test('run -it: typed input reaches the shell', () => {
  const r = inPty('run -it --rm busybox sh', 'echo typed-$((6*7))\nexit 3\n');
  assert.equal(r.code, 3);
  assert.match(r.out, /typed-42/);
});

test('docker attach to a running container sees its new output', async () => {
  d.docker(['run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done']);
  const a = d.dockerAsync(['attach', '--no-stdin', 'talker'], { timeoutMs: 30_000 });
  await sleep(1500);
  d.docker(['stop', 'talker']);
  const res = await a.done;
  assert.equal(res.code, 0, res.stderr);
  const ticks = res.stdout.trim().split('\n');
  assert.ok(ticks.length >= 2, `attach got ${res.stdout}`);
  for (const t of ticks) assert.match(t, /^tick\d+$/);
  // Only output produced after attaching: history comes from `logs`.
  const all = d.docker(['logs', 'talker']).stdout.trim().split('\n');
  assert.ok(all.length >= ticks.length);
  d.docker(['rm', 'talker']);
});

test('start -a attaches before the start and returns the exit code', () => {
  d.docker(['create', '--name', 'again', 'busybox', 'sh', '-c', 'echo run; exit 6']);
  let r = d.docker(['start', '-a', 'again']);
  assert.equal(r.code, 6);
  assert.equal(r.stdout, 'run\n');
  r = d.docker(['start', '-a', 'again']);
  assert.equal(r.stdout, 'run\n');
  assert.equal(d.docker(['logs', 'again']).stdout, 'run\nrun\n');
  d.docker(['rm', 'again']);
});

test('a container writing a lot while nobody reads is never blocked', async () => {
  // 20 MiB to stdout with no client attached: conmon writes the log, berthd is not in the path.
  const r = d.docker(['run', '--name', 'bulk', '-d', 'busybox', 'sh', '-c', 'head -c 20971520 /dev/zero | tr "\\0" a | fold -w 1023']);
  assert.equal(r.code, 0, r.stderr);
  const code = d.docker(['wait', 'bulk'], { timeoutMs: 60_000 });
  assert.equal(code.stdout.trim(), '0');
  const logs = spawnSync('sh', ['-c', `docker -H ${d.host} logs bulk | wc -c`], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') } });
  // 20 MiB of 'a' folded at 1023 columns: a newline after each full line, none after the rest.
  const lines = Math.floor(20971520 / 1023);
  assert.equal(Number(logs.stdout.trim()), 20971520 + lines);
  d.docker(['rm', 'bulk']);
});
