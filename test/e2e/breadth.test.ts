import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, sleep, waitFor, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

daemonForFile((x) => (d = x));

test('--env-file and -e reach the process', () => {
  const file = join(d.dir, 'vars.env');
  writeFileSync(file, '# comment\nA=from-file\nB=two words\n');
  const r = d.docker(['run', '--rm', '--env-file', file, '-e', 'C=3', 'busybox', 'sh', '-c', 'echo "$A|$B|$C"']);
  assert.equal(r.stdout, 'from-file|two words|3\n');
});

test('--stop-signal and --stop-timeout decide how stop ends a container', async () => {
  d.docker(['run', '-d', '--name', 'usr1', '--stop-signal', 'USR1', 'busybox', 'sh', '-c', 'trap "echo got-usr1; exit 9" USR1; while true; do sleep 0.1; done']);
  await sleep(300);
  assert.equal(d.docker(['stop', 'usr1']).code, 0);
  assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopSignal}}', 'usr1']).stdout.trim(), '9 USR1');
  assert.match(d.docker(['logs', 'usr1']).stdout, /got-usr1/);
  d.docker(['run', '-d', '--name', 'slow', '--stop-timeout', '1', 'busybox', 'sleep', '1000']);
  const t0 = Date.now();
  assert.equal(d.docker(['stop', 'slow']).code, 0);
  const took = Date.now() - t0;
  assert.ok(took >= 1000 && took < 8000, `stop took ${took} ms with --stop-timeout 1`);
  assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}}', 'slow']).stdout.trim(), '137');
  d.docker(['rm', 'usr1', 'slow']);
});

test('wait with each condition', async () => {
  // not-running on a stopped container answers at once.
  d.docker(['run', '--name', 'w0', 'busybox', 'sh', '-c', 'exit 4']);
  assert.equal(d.docker(['wait', 'w0']).stdout.trim(), '4');
  // next-exit waits for the next run; removed waits for the removal.
  const next = d.api('POST', '/containers/w0/wait?condition=next-exit');
  const removed = d.api('POST', '/containers/w0/wait?condition=removed');
  await sleep(200);
  d.docker(['start', 'w0']);
  const n = await next;
  assert.equal(n.status, 200);
  assert.deepEqual(n.json(), { StatusCode: 4, Error: null });
  d.docker(['rm', 'w0']);
  assert.equal(((await removed).json() as { StatusCode: number }).StatusCode, 4);
});

test('ps -n and --filter name/label/id/ancestor/exited/status', async () => {
  d.docker(['run', '-d', '--name', 'pa', '-l', 'tier=web', 'busybox', 'sleep', '1000']);
  await sleep(20);
  d.docker(['run', '--name', 'pb', '-l', 'tier=db', 'busybox', 'sh', '-c', 'exit 2']);
  await sleep(20);
  d.docker(['create', '--name', 'pc', 'busybox']);
  const names = (args: string[]) => d.docker(['ps', ...args, '--format', '{{.Names}}']).stdout.trim().split('\n').filter(Boolean);
  assert.deepEqual(names(['-n', '1']), ['pc']);
  assert.deepEqual(names(['-n', '2']), ['pc', 'pb']);
  assert.deepEqual(names(['-a', '--filter', 'label=tier=web']), ['pa']);
  assert.deepEqual(names(['-a', '--filter', 'label=tier']).sort(), ['pa', 'pb']);
  assert.deepEqual(names(['-a', '--filter', 'exited=2']), ['pb']);
  assert.deepEqual(names(['-a', '--filter', 'name=^p[ab]$']).sort(), ['pa', 'pb']);
  const id = d.docker(['inspect', '-f', '{{.Id}}', 'pa']).stdout.trim();
  assert.deepEqual(names(['--filter', `id=${id.slice(0, 8)}`]), ['pa']);
  assert.deepEqual(names(['-a', '--filter', 'ancestor=busybox']).sort(), ['pa', 'pb', 'pc']);
  assert.deepEqual(names(['-a', '--filter', 'status=created']), ['pc']);
  const bad = d.docker(['ps', '--filter', 'status=bogus']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid filter/);
  d.docker(['rm', '-f', 'pa', 'pb', 'pc']);
});

test('logs --since and --until select by time', async () => {
  d.docker(['run', '-d', '--name', 'timed', 'busybox', 'sh', '-c', 'echo early; sleep 2; echo late; sleep 1000']);
  await waitFor('late line', () => d.docker(['logs', 'timed']).stdout.includes('late'));
  const ts = d.docker(['logs', '-t', 'timed']).stdout.trim().split('\n').map((l) => l.split(' ')[0] as string);
  const lateAt = Date.parse(ts[1] as string) / 1000;
  const since = d.docker(['logs', '--since', String(lateAt - 0.5), 'timed']);
  assert.equal(since.stdout, 'late\n');
  const until = d.docker(['logs', '--until', String(lateAt - 0.5), 'timed']);
  assert.equal(until.stdout, 'early\n');
  const rel = d.docker(['logs', '--since', '1h', 'timed']);
  assert.equal(rel.stdout, 'early\nlate\n');
  d.docker(['rm', '-f', 'timed']);
});

test('top lists the container processes; stats reads its cgroups', async () => {
  d.docker(['run', '-d', '--name', 'busy', '-m', '32m', 'busybox', 'sh', '-c', 'sleep 1000 & while true; do :; done']);
  await sleep(1200);
  const top = d.docker(['top', 'busy']);
  assert.equal(top.code, 0, top.stderr);
  assert.match(top.stdout, /^UID\s+PID\s+PPID/);
  assert.match(top.stdout, /sleep 1000/);
  assert.equal(top.stdout.trim().split('\n').length, 3, 'the shell and its sleep, nothing else');
  const stats = d.docker(['stats', '--no-stream', '--format', '{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}', 'busy']);
  assert.equal(stats.code, 0, stats.stderr);
  const [cpu, mem, pids] = stats.stdout.trim().split('|');
  // More than nothing: how much a busy loop gets depends on what else the machine runs.
  assert.ok(Number.parseFloat(cpu ?? '0') > 1, `a busy loop uses CPU: ${cpu}`);
  assert.match(mem ?? '', /\/ 32MiB$/);
  assert.equal(pids, '2');
  d.docker(['rm', '-f', 'busy']);
  const r = d.docker(['top', 'busy']);
  assert.notEqual(r.code, 0);
});

test('ps --filter before/since/volume', async () => {
  d.docker(['create', '--name', 'f1', 'busybox']);
  await sleep(20);
  d.docker(['create', '--name', 'f2', '-v', 'fvol:/data', 'busybox']);
  await sleep(20);
  d.docker(['create', '--name', 'f3', 'busybox']);
  const names = (args: string[]) => d.docker(['ps', '-a', ...args, '--format', '{{.Names}}']).stdout.trim().split('\n').filter(Boolean);
  assert.deepEqual(names(['--filter', 'before=f2']), ['f1']);
  assert.deepEqual(names(['--filter', 'since=f2']), ['f3']);
  assert.deepEqual(names(['--filter', 'volume=fvol']), ['f2']);
  assert.match(d.docker(['ps', '-a', '--filter', 'before=nope']).stderr, /No such container: nope/);
  d.docker(['rm', '-v', 'f1', 'f2', 'f3']);
  d.docker(['volume', 'rm', 'fvol']);
});

test('--dns, --dns-search, --dns-option and --add-host shape /etc/resolv.conf and /etc/hosts', () => {
  const r = d.docker(['run', '--rm', '--dns', '192.0.2.53', '--dns-search', 'corp.example', '--dns-option', 'ndots:2', '--add-host', 'db.local:192.0.2.10', 'busybox', 'sh', '-c', 'cat /etc/resolv.conf; echo ---; cat /etc/hosts']);
  assert.equal(r.code, 0, r.stderr);
  const [resolv, hosts] = r.stdout.split('---\n');
  assert.match(resolv ?? '', /^nameserver 192\.0\.2\.53$/m);
  assert.doesNotMatch(resolv ?? '', /^nameserver (?!192\.0\.2\.53)/m);
  assert.match(resolv ?? '', /^search corp\.example$/m);
  assert.match(resolv ?? '', /^options ndots:2$/m);
  assert.match(hosts ?? '', /^192\.0\.2\.10\tdb\.local$/m);
  const bad = d.docker(['run', '--rm', '--add-host', 'x:not-an-ip', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
});
