import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startDaemon, waitFor, sleep, type TestDaemon } from '../helpers/daemon.js';

// The real docker CLI against a real berthd: the commands a user types every day.
let d: TestDaemon;

before(async () => {
  d = await startDaemon();
});

after(async () => {
  const { leftovers } = await d.cleanup();
  assert.deepEqual(leftovers, [], 'nothing may be left behind');
});

test('docker version and info talk to berthd without extra flags', () => {
  const v = d.docker(['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}}']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+ 1\.47$/);
  const i = d.docker(['info', '--format', '{{.Driver}} {{.OSType}} {{.LiveRestoreEnabled}} {{.DockerRootDir}}']);
  assert.equal(i.code, 0, i.stderr);
  assert.equal(i.stdout.trim(), `overlay2 linux false ${d.dataRoot}`);
});

test('run --rm prints the output and leaves no container', () => {
  const r = d.docker(['run', '--rm', 'busybox', 'echo', 'hello']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(d.docker(['ps', '-aq']).stdout.trim(), '');
});

test('foreground run exits with the container exit code and separates stderr', () => {
  const r = d.docker(['run', '--name', 'fg', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
  assert.equal(r.code, 7);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const st = d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}', 'fg']);
  assert.equal(st.stdout.trim(), 'exited 7 false');
  assert.equal(d.docker(['rm', 'fg']).code, 0);
});

test('run -i feeds stdin and closes it at EOF', () => {
  const r = d.docker(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'tr a-z A-Z; echo done'], { input: 'abc\nxyz\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ABC\nXYZ\ndone\n');
});

test('create, start, inspect, stop -t, rm', () => {
  const c = d.docker(['create', '--name', 'life', '-e', 'FOO=bar', '-l', 'team=core', '-w', '/tmp', '--hostname', 'box', 'busybox', 'sleep', '1000']);
  assert.equal(c.code, 0, c.stderr);
  const id = c.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  let st = d.docker(['inspect', '-f', '{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}', 'life']).stdout.trim();
  assert.equal(st, 'created 0 0001-01-01T00:00:00Z');
  assert.equal(d.docker(['start', 'life']).code, 0);
  const info = JSON.parse(d.docker(['inspect', 'life']).stdout)[0];
  assert.equal(info.State.Status, 'running');
  assert.ok(info.State.Pid > 0);
  assert.equal(info.Name, '/life');
  assert.ok(info.Config.Env.includes('FOO=bar'));
  assert.equal(info.Config.Labels.team, 'core');
  assert.equal(info.Config.Hostname, 'box');
  assert.deepEqual(info.Config.Cmd, ['sleep', '1000']);
  // The process really runs where we say, with our settings.
  const environ = readFileSync(`/proc/${info.State.Pid}/environ`, 'utf8').split('\0');
  assert.ok(environ.includes('FOO=bar'));
  assert.ok(environ.includes('HOSTNAME=box'));
  const t0 = Date.now();
  const s = d.docker(['stop', '-t', '1', 'life']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout.trim(), 'life');
  // busybox sleep ignores SIGTERM as PID 1: killed after the 1 s timeout.
  assert.ok(Date.now() - t0 >= 1000);
  st = d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'life']).stdout.trim();
  assert.equal(st, 'exited 137');
  assert.equal(d.docker(['rm', 'life']).code, 0);
  const gone = d.docker(['inspect', 'life']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /No such object: life/);
});

test('user, workdir and entrypoint overrides take effect inside the container', () => {
  let r = d.docker(['run', '--rm', '-u', 'nobody', '-w', '/var', 'busybox', 'sh', '-c', 'id -u; id -g; pwd']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '65534\n65534\n/var\n');
  r = d.docker(['run', '--rm', '-u', '1234:42', 'busybox', 'id']);
  assert.match(r.stdout, /uid=1234 gid=42/);
  r = d.docker(['run', '--rm', '--entrypoint', 'echo', 'busybox', 'from', 'entrypoint']);
  assert.equal(r.stdout, 'from entrypoint\n');
  r = d.docker(['run', '--rm', '--hostname', 'h1', 'busybox', 'hostname']);
  assert.equal(r.stdout, 'h1\n');
  r = d.docker(['run', '--rm', '-u', 'nosuchuser', 'busybox', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unable to find user nosuchuser/);
});

test('the container gets Docker defaults: capabilities, masked /proc paths, the bridge network', () => {
  const r = d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status; cat /proc/kcore | wc -c; ip -o link | wc -l; cat /etc/hostname']);
  assert.equal(r.code, 0, r.stderr);
  const [capLine, kcore, links] = r.stdout.split('\n');
  // Docker's default set is 0x00000000a80425fb.
  assert.equal(capLine?.split(/\s+/)[1], '00000000a80425fb');
  assert.equal(kcore?.trim(), '0');
  assert.equal(links?.trim(), '2', 'lo and eth0 on the default bridge');
  const none = d.docker(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ip -o link | wc -l']);
  assert.equal(none.stdout.trim(), '1', 'only lo with --network none');
  const host = d.docker(['run', '--rm', '--network', 'host', 'busybox', 'sh', '-c', 'ip -o link | wc -l']);
  assert.ok(Number(host.stdout.trim()) > 1, 'host network sees the host interfaces');
});

test('logs: all, --tail, -t, stderr framing, -f follows until exit', async () => {
  const id = d.docker(['run', '-d', '--name', 'logger', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; until [ -f /go ]; do sleep 0.1; done; echo late']).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  await waitFor('first lines', () => d.docker(['logs', 'logger']).stdout.includes('out5'));
  const all = d.docker(['logs', 'logger']);
  assert.equal(all.stdout, 'out1\nout2\nout3\nout4\nout5\n');
  assert.equal(all.stderr, 'err1\nerr2\nerr3\nerr4\nerr5\n');
  // conmon reads stdout and stderr separately, so their relative order in the log may differ
  // from the writes; --tail counts messages of both streams.
  const tail = d.docker(['logs', '--tail', '2', 'logger']);
  assert.equal(tail.stdout.split('\n').length - 1 + tail.stderr.split('\n').length - 1, 2);
  // The last message is out5 or err5, whichever conmon read last (out4, out5 can both be last).
  assert.ok(tail.stdout.endsWith('out5\n') || tail.stderr.endsWith('err5\n'), JSON.stringify(tail));
  const ts = d.docker(['logs', '-t', '--tail', '1', 'logger']);
  assert.match(ts.stdout + ts.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (err|out)5\n$/);
  // The last line only once the checks above are done (a sleep loses that race on a busy machine).
  const f = d.dockerAsync(['logs', '-f', 'logger'], { timeoutMs: 30_000 });
  d.ok(['exec', 'logger', 'touch', '/go']);
  const res = await f.done;
  assert.equal(res.code, 0);
  assert.equal(res.stdout, 'out1\nout2\nout3\nout4\nout5\nlate\n');
  assert.equal(d.docker(['rm', 'logger']).code, 0);
});

test('ps: running by default, -a, -q, --no-trunc, status texts', async () => {
  d.docker(['run', '-d', '--name', 'ps-run', 'busybox', 'sleep', '1000']);
  d.docker(['run', '--name', 'ps-exit', 'busybox', 'sh', '-c', 'exit 3']);
  d.docker(['create', '--name', 'ps-new', 'busybox', 'true']);
  const ps = d.docker(['ps', '--format', '{{.Names}}|{{.Status}}|{{.Command}}']);
  assert.match(ps.stdout, /^ps-run\|Up (Less than a second|\d+ seconds?)\|"sleep 1000"\n$/);
  const all = d.docker(['ps', '-a', '--format', '{{.Names}}|{{.Status}}']).stdout;
  assert.match(all, /ps-exit\|Exited \(3\) (Less than a second|\d+ seconds?) ago/);
  assert.match(all, /ps-new\|Created/);
  const q = d.docker(['ps', '-aq']).stdout.trim().split('\n');
  assert.equal(q.length, 3);
  for (const id of q) assert.match(id, /^[0-9a-f]{12}$/);
  const full = d.docker(['ps', '-aq', '--no-trunc']).stdout.trim().split('\n');
  for (const id of full) assert.match(id, /^[0-9a-f]{64}$/);
  const filtered = d.docker(['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}']).stdout.trim();
  assert.equal(filtered, 'ps-exit');
  assert.equal(d.docker(['rm', '-f', 'ps-run', 'ps-exit', 'ps-new']).code, 0);
});

test('kill -s delivers the signal; wait returns the exit code', async () => {
  d.docker(['run', '-d', '--name', 'trap', 'busybox', 'sh', '-c', 'trap "exit 42" USR1; while true; do sleep 0.1; done']);
  await sleep(300);
  const w = d.dockerAsync(['wait', 'trap'], { timeoutMs: 30_000 });
  await sleep(200);
  const k = d.docker(['kill', '-s', 'USR1', 'trap']);
  assert.equal(k.code, 0, k.stderr);
  const res = await w.done;
  assert.equal(res.stdout.trim(), '42');
  const again = d.docker(['kill', 'trap']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /is not running/);
  assert.equal(d.docker(['rm', 'trap']).code, 0);
});

test('rm -f removes a running container and its process', () => {
  d.docker(['run', '-d', '--name', 'doomed', 'busybox', 'sleep', '1000']);
  const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', 'doomed']).stdout.trim());
  assert.ok(pid > 0);
  const refused = d.docker(['rm', 'doomed']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot remove container "\/doomed": container is running: stop the container before removing or force remove/);
  assert.equal(d.docker(['rm', '-f', 'doomed']).code, 0);
  assert.throws(() => readFileSync(`/proc/${pid}/stat`));
});

test('errors: unknown image, bad name, name conflict, unknown container', () => {
  let r = d.docker(['run', '--rm', 'nosuchimage']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /Unable to find image 'nosuchimage:latest' locally/);
  r = d.docker(['create', '--name', 'bad name', 'busybox']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Invalid container name \(bad name\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed/);
  d.docker(['create', '--name', 'twice', 'busybox']);
  r = d.docker(['create', '--name', 'twice', 'busybox']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Conflict. The container name "\/twice" is already in use by container "[0-9a-f]{64}"/);
  d.docker(['rm', 'twice']);
  r = d.docker(['stop', 'ghost']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /No such container: ghost/);
  r = d.docker(['run', '--rm', 'busybox', 'no-such-command']);
  assert.equal(r.code, 127);
  assert.match(r.stderr, /executable file not found/);
  r = d.docker(['run', '--rm', 'Busybox']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /repository name.*must be lowercase/);
});

test('API: invalid JSON, wrong types and versions get Docker errors', async () => {
  let r = await d.api('POST', '/containers/create', '{not json', { 'Content-Type': 'application/json' });
  assert.equal(r.status, 400);
  assert.match((r.json() as { message: string }).message, /invalid JSON/);
  r = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: 42 });
  assert.equal(r.status, 400);
  r = await d.api('POST', '/v1.99/containers/create', { Image: 'busybox' });
  assert.equal(r.status, 400);
  assert.equal((r.json() as { message: string }).message, 'client version 1.99 is too new. Maximum supported API version is 1.47');
  r = await d.api('POST', '/v1.12/containers/create', { Image: 'busybox' });
  assert.equal(r.status, 400);
  r = await d.api('GET', '/v1.24/containers/json');
  assert.equal(r.status, 200);
  r = await d.api('GET', '/containers/nope/json');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json(), { message: 'No such container: nope' });
  r = await d.api('GET', '/no/such/route');
  assert.equal(r.status, 404);
  r = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] }, {});
  assert.equal(r.status, 201);
  const id = (r.json() as { Id: string }).Id;
  r = await d.api('POST', `/containers/${id}/wait?condition=bogus`);
  assert.equal(r.status, 400);
  r = await d.api('POST', '/containers/create?platform=windows', { Image: 'busybox', Cmd: ['true'] });
  assert.equal(r.status, 400);
  r = await d.api('DELETE', `/containers/${id}`);
  assert.equal(r.status, 204);
  r = await d.api('HEAD', '/_ping');
  assert.equal(r.status, 200);
  assert.equal(r.headers['api-version'], '1.47');
  assert.equal(r.headers['ostype'], 'linux');
});
