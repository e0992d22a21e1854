import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, waitFor, sleep, type TestDaemon } from '../helpers/daemon.js';
import { repoRoot } from '../helpers/paths.js';

/** PID and start time from /proc: the identity of a process, robust to PID reuse. */
function identity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : `${pid}:${fields[19]}`;
  } catch {
    return undefined;
  }
}

function pidOf(d: TestDaemon, name: string): number {
  return Number(d.docker(['inspect', '-f', '{{.State.Pid}}', name]).stdout.trim());
}

const LOOP = 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo line$i; sleep 0.2; done';

async function withDaemon(opts: Parameters<typeof startDaemon>[0], fn: (d: TestDaemon) => Promise<void>): Promise<void> {
  const d = await startDaemon(opts);
  let failed = true;
  try {
    await fn(d);
    failed = false;
  } finally {
    const { leftovers } = await d.cleanup();
    // A failure in the test itself is the one worth reporting.
    if (!failed) assert.deepEqual(leftovers, [], 'nothing may be left behind');
  }
}

test('kill -9 berthd with 20 running containers: all keep running and are re-adopted', async () => {
  await withDaemon({ liveRestore: true }, async (d) => {
    const names = Array.from({ length: 20 }, (_, i) => `lr${i}`);
    await Promise.all(names.map((n) => d.dockerAsync(['run', '-d', '--name', n, 'busybox', 'sh', '-c', LOOP]).done));
    d.docker(['pause', 'lr19']);
    const before = new Map(names.map((n) => [n, { id: identity(pidOf(d, n)), started: d.docker(['inspect', '-f', '{{.State.StartedAt}}', n]).stdout.trim() }]));
    const follow = d.dockerAsync(['logs', '-f', 'lr0'], { timeoutMs: 60_000 });
    await d.kill();
    // The follower sees the daemon go away; the containers do not.
    await follow.done;
    await sleep(1500);
    for (const [n, b] of before) assert.equal(identity(Number(b.id?.split(':')[0])), b.id, `${n} survived the daemon`);
    assert.equal(d.conmons().length, 20);

    await d.start();
    const ps = d.docker(['ps', '--format', '{{.Names}} {{.State}}']).stdout.trim().split('\n').sort();
    assert.equal(ps.length, 20);
    for (const [n, b] of before) {
      const [pid, started, status] = d.docker(['inspect', '-f', '{{.State.Pid}} {{.State.StartedAt}} {{.State.Status}}', n]).stdout.trim().split(' ');
      assert.equal(identity(Number(pid)), b.id, `${n}: same process`);
      assert.equal(started, b.started, `${n}: same StartedAt`);
      assert.equal(status, n === 'lr19' ? 'paused' : 'running');
    }
    // Logs: nothing lost across the outage, and -f follows new lines.
    const lines = d.docker(['logs', 'lr1']).stdout.trim().split('\n');
    lines.forEach((l, i) => assert.equal(l, `line${i + 1}`));
    const f2 = d.dockerAsync(['logs', '-f', '--tail', '1', 'lr1'], { timeoutMs: 30_000 });
    // And a plain -f of an adopted container: all of it, then its new lines as they come.
    const before7 = d.docker(['logs', 'lr7']).stdout.trim().split('\n').length;
    const f3 = d.dockerAsync(['logs', '-f', 'lr7'], { timeoutMs: 30_000 });
    await sleep(1000);
    // wait, kill, stop, restart, rm -f on adopted containers.
    const w = d.dockerAsync(['wait', 'lr2'], { timeoutMs: 30_000 });
    await sleep(300);
    assert.equal(d.docker(['kill', '-s', 'KILL', 'lr2']).code, 0);
    assert.equal((await w.done).stdout.trim(), '137');
    const stopPid = Number(before.get('lr3')?.id?.split(':')[0]);
    assert.equal(d.docker(['stop', 'lr3']).code, 0);
    assert.equal(identity(stopPid), undefined, 'docker stop ended that very process');
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}}', 'lr3']).stdout.trim(), '0');
    assert.equal(d.docker(['unpause', 'lr19']).code, 0);
    assert.equal(d.docker(['restart', '-t', '1', 'lr4']).code, 0);
    assert.notEqual(identity(pidOf(d, 'lr4')), before.get('lr4')?.id);
    assert.equal(d.docker(['rm', '-f', 'lr5']).code, 0);
    assert.match(d.docker(['top', 'lr6']).stdout, /sleep 0\.2|sh -c/);
    assert.match(d.docker(['stats', '--no-stream', '--format', '{{.PIDs}}', 'lr6']).stdout, /^[12]\n$/);
    assert.equal(d.docker(['exec', 'lr6', 'echo', 'in']).stdout, 'in\n');
    assert.equal(d.docker(['stop', 'lr1']).code, 0);
    const followed = await f2.done;
    assert.ok(followed.stdout.trim().split('\n').length >= 3, `logs -f after restore: ${followed.stdout}`);
    assert.equal(d.docker(['stop', 'lr7']).code, 0);
    const all7 = (await f3.done).stdout.trim().split('\n');
    all7.forEach((l, i) => assert.equal(l, `line${i + 1}`));
    assert.ok(all7.length >= before7 + 5, `logs -f of an adopted container went on: ${all7.length} lines, ${before7} before`);
  });
});

test('SIGTERM with live restore leaves containers untouched; without it, stops them', async () => {
  await withDaemon({ liveRestore: true }, async (d) => {
    d.docker(['run', '-d', '--name', 'keep', 'busybox', 'sh', '-c', LOOP]);
    const id = identity(pidOf(d, 'keep'));
    const t0 = Date.now();
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(identity(Number(id?.split(':')[0])), id);
    await d.start();
    assert.equal(identity(pidOf(d, 'keep')), id);
    assert.equal(d.docker(['info', '-f', '{{.LiveRestoreEnabled}}']).stdout.trim(), 'true');
  });
});

test('containers that exit while berthd is down: exit code, finish time, restart policy, --rm', async () => {
  await withDaemon({ liveRestore: true }, async (d) => {
    // Each waits for a file the test writes once berthd is dead: the exits land in the outage
    // however slow the machine is (a fixed sleep let one exit before the kill).
    const sig = join(d.dir, 'signal');
    mkdirSync(sig);
    const waitThen = (code: number) => `while [ ! -e /sig/go ]; do sleep 0.1; done; exit ${code}`;
    d.ok(['run', '-d', '--name', 'three', '-v', `${sig}:/sig`, 'busybox', 'sh', '-c', waitThen(3)]);
    d.ok(['run', '-d', '--name', 'always', '--restart', 'always', '-v', `${sig}:/sig`, 'busybox', 'sh', '-c', waitThen(3)]);
    d.ok(['run', '-d', '--name', 'gone', '--rm', '-v', `${sig}:/sig`, 'busybox', 'sh', '-c', waitThen(0)]);
    const pids = ['three', 'always', 'gone'].map((n) => pidOf(d, n));
    const since = Math.floor(Date.now() / 1000);
    await d.kill();
    writeFileSync(join(sig, 'go'), '');
    await waitFor('all exited', () => pids.every((p) => identity(p) === undefined), 20_000);
    // Gone again, so that the restarted `always` runs on instead of exiting at once.
    rmSync(join(sig, 'go'));
    const outage = new Date().toISOString();
    await sleep(500);
    await d.start();
    const [code, finished, status] = d.docker(['inspect', '-f', '{{.State.ExitCode}} {{.State.FinishedAt}} {{.State.Status}}', 'three']).stdout.trim().split(' ');
    assert.equal(code, '3');
    assert.equal(status, 'exited');
    assert.ok((finished ?? '') < outage, `FinishedAt ${finished} is the real exit time, before ${outage}`);
    await waitFor('always restarted', () => d.docker(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'always']).stdout.trim().startsWith('running'));
    assert.notEqual(Number(d.docker(['inspect', '-f', '{{.RestartCount}}', 'always']).stdout.trim()), 0);
    assert.equal(d.docker(['inspect', 'gone']).code, 1, '--rm container removed');
    const ev = d.docker(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=die', '--format', '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}']);
    assert.match(ev.stdout, /three 3/);
    d.docker(['rm', '-f', 'always', 'three']);
  });
});

test('a container writing 10 MiB while berthd is stopped never blocks and loses no line', async () => {
  await withDaemon({ liveRestore: true }, async (d) => {
    // 10 MiB of numbered 1 KiB lines on stdout and stderr, as fast as it can.
    const script = 'i=0; pad=$(head -c 1000 /dev/zero | tr "\\0" x); while [ $i -lt 10240 ]; do i=$((i+1)); if [ $((i%2)) = 0 ]; then echo "$i $pad"; else echo "$i $pad" >&2; fi; done';
    d.docker(['run', '-d', '--name', 'chatty', 'busybox', 'sh', '-c', `sleep 1; ${script}`]);
    const pid = pidOf(d, 'chatty');
    const daemonPid = d.proc?.pid as number;
    process.kill(daemonPid, 'SIGSTOP');
    try {
      // dockerd's writer stalls after 129 KiB here; ours must finish with the daemon frozen.
      await waitFor('writer finished while the daemon is stopped', () => identity(pid) === undefined, 60_000);
    } finally {
      process.kill(daemonPid, 'SIGCONT');
    }
    await waitFor('exit recorded', () => d.docker(['inspect', '-f', '{{.State.Status}}', 'chatty']).stdout.trim() === 'exited');
    const out = d.docker(['logs', 'chatty']);
    const all = [...out.stdout.trim().split('\n'), ...out.stderr.trim().split('\n')].map((l) => Number(l.split(' ')[0])).sort((a, b) => a - b);
    assert.equal(all.length, 10240);
    all.forEach((n, i) => assert.equal(n, i + 1));
    // Same with the daemon killed outright.
    d.docker(['run', '-d', '--name', 'chatty2', 'busybox', 'sh', '-c', `sleep 1; ${script}`]);
    const pid2 = pidOf(d, 'chatty2');
    await d.kill();
    await waitFor('writer finished while the daemon is dead', () => identity(pid2) === undefined, 60_000);
    await d.start();
    const out2 = d.docker(['logs', 'chatty2']);
    assert.equal(out2.stdout.trim().split('\n').length + out2.stderr.trim().split('\n').length, 10240);
  });
});

test('without live restore, containers found running after kill -9 are stopped, then policies apply', async () => {
  await withDaemon({}, async (d) => {
    d.docker(['run', '-d', '--name', 'plain', 'busybox', 'sh', '-c', LOOP]);
    d.docker(['run', '-d', '--name', 'back', '--restart', 'always', 'busybox', 'sh', '-c', LOOP]);
    const ids = ['plain', 'back'].map((n) => identity(pidOf(d, n)));
    await d.kill();
    for (const id of ids) assert.ok(identity(Number(id?.split(':')[0])), 'still running while the daemon is dead');
    await d.start();
    for (const id of ids) assert.equal(identity(Number(id?.split(':')[0])), undefined, 'stopped at start');
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'plain']).stdout.trim(), 'exited 0');
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}}', 'back']).stdout.trim(), 'running');
    assert.match(d.log(), /live restore is off: stopping container found running/);
  });
});

test('a monitor killed while berthd is down: the container is stopped and reported', async () => {
  await withDaemon({ liveRestore: true }, async (d) => {
    d.docker(['run', '-d', '--name', 'orphan', 'busybox', 'sleep', '1000']);
    const pid = pidOf(d, 'orphan');
    await d.kill();
    const conmon = d.conmons();
    assert.equal(conmon.length, 1);
    process.kill(conmon[0] as number, 'SIGKILL');
    await sleep(300);
    assert.ok(identity(pid), 'the container outlives its monitor');
    await d.start();
    assert.equal(identity(pid), undefined);
    const [code, err] = d.docker(['inspect', '-f', '{{.State.ExitCode}}|{{.State.Error}}', 'orphan']).stdout.trim().split('|');
    assert.equal(code, '255');
    assert.match(err ?? '', /conmon died without writing exit file/);
  });
});

function berth(d: TestDaemon, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cmd', 'berth.js'), '-H', d.host, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function checkRestore(d: TestDaemon, version: string, extra: string[] = []): { code: number; stdout: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cmd', 'berthd.cjs'), ...d.args(), ...extra, '--check-restore'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, BERTH_TEST_ENGINE_VERSION: version },
  });
  return { code: r.status ?? -1, stdout: r.stdout + r.stderr };
}

test('upgrades: a patch release re-adopts, a minor one refuses and reports; the preflight predicts both', async () => {
  await withDaemon({ liveRestore: true, env: { BERTH_TEST_ENGINE_VERSION: '0.1.0' } }, async (d) => {
    d.docker(['run', '-d', '--name', 'up1', 'busybox', 'sh', '-c', LOOP]);
    d.docker(['run', '-d', '--name', 'up2', 'busybox', 'sh', '-c', LOOP]);
    const id1 = identity(pidOf(d, 'up1'));
    // Preflight while the old daemon runs: read-only, and right.
    let pre = checkRestore(d, '0.1.7');
    assert.equal(pre.code, 0, pre.stdout);
    assert.match(pre.stdout, /up1\s+running: will be adopted/);
    pre = checkRestore(d, '0.2.0');
    assert.equal(pre.code, 3);
    assert.match(pre.stdout, /up1\s+running: will NOT be adopted \(started by berth 0\.1\.0, this is 0\.2\.0\)/);

    await d.stop('SIGTERM');
    d.opts.env = { BERTH_TEST_ENGINE_VERSION: '0.1.7' };
    await d.start();
    assert.equal(identity(pidOf(d, 'up1')), id1, 'patch upgrade re-adopts');
    assert.equal(d.docker(['restart', '-t', '1', 'up2']).code, 0, 'and manages');

    await d.stop('SIGTERM');
    d.opts.env = { BERTH_TEST_ENGINE_VERSION: '0.2.0' };
    await d.start();
    assert.match(d.log(), /since the last start: berth version changed from 0\.1\.7 to 0\.2\.0/);
    const ps = d.docker(['ps', '--format', '{{.Names}}|{{.Status}}']).stdout;
    assert.match(ps, /up1\|Up .* \(not adopted: started by berth 0\.1\.0, this is 0\.2\.0\)/);
    assert.match(ps, /up2\|Up .* \(not adopted: started by berth 0\.1\.7, this is 0\.2\.0\)/);
    assert.match(d.docker(['inspect', '-f', '{{.State.Error}}', 'up1']).stdout, /not adopted/);
    const refused = d.docker(['stop', 'up1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not managed by this daemon \(started by berth 0\.1\.0, this is 0\.2\.0\): stop it with "berth stop-unadopted up1"/);
    assert.match(berth(d, ['unadopted']).stdout, /up1\s+started by berth 0\.1\.0/);
    const stopped = berth(d, ['stop-unadopted', '-t', '2']);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(stopped.stdout.trim().split('\n').length, 2);
    assert.equal(identity(Number(id1?.split(':')[0])), undefined);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}}', 'up1']).stdout.trim(), 'exited');
    // Now managed again: a fresh start is this version's.
    assert.equal(d.docker(['start', 'up1']).code, 0);
    assert.equal(d.docker(['stop', '-t', '1', 'up1']).code, 0);
  });
});

test('a changed bip is detected and named; containers on the bridge started before are not adopted, others are', async () => {
  // Both places: a start-up error naming the directive and both values.
  const d0 = await startDaemon({ liveRestore: true, config: { 'live-restore': true }, busybox: false }).catch((e: Error) => e);
  assert.ok(d0 instanceof Error);
  assert.match(d0.message, /unable to configure the berth daemon with file .*daemon.json: the following directives are specified both as a flag and in the configuration file: live-restore: \(from flag: true, from file: true\)/);

  await withDaemon({ config: { 'live-restore': true, bip: '10.77.0.1/24' } }, async (d) => {
    d.docker(['run', '-d', '--name', 'net', 'busybox', 'sh', '-c', LOOP]);
    d.ok(['run', '-d', '--name', 'iso', '--network', 'none', 'busybox', 'sh', '-c', LOOP]);
    const id = identity(pidOf(d, 'net'));
    const isoId = identity(pidOf(d, 'iso'));
    await d.stop('SIGTERM');
    writeFileSync(d.configFile, JSON.stringify({ 'live-restore': true, bip: '10.78.0.1/24' }));
    const pre = checkRestore(d, readVersion());
    assert.match(pre.stdout, /net\s+running: will NOT be adopted \(bip changed from 10\.77\.0\.1\/24 to 10\.78\.0\.1\/24\)/);
    assert.match(pre.stdout, /iso\s+running: will be adopted/);
    await d.start();
    // A container off the bridge does not care about bip: adopted, managed.
    assert.equal(identity(pidOf(d, 'iso')), isoId);
    assert.equal(d.ok(['inspect', '-f', '{{.State.Error}}', 'iso']).trim(), '');
    d.ok(['rm', '-f', 'iso']);
    assert.match(d.log(), /since the last start: bip changed from 10\.77\.0\.1\/24 to 10\.78\.0\.1\/24/);
    assert.match(d.docker(['ps', '--format', '{{.Status}}']).stdout, /not adopted: bip changed/);
    assert.equal(identity(pidOf(d, 'net')), id, 'left running, untouched');
    assert.equal(berth(d, ['stop-unadopted', '-t', '1']).code, 0);
  });
});

function readVersion(): string {
  return (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

test('SIGHUP toggles live restore, reports options needing a restart, keeps the config on a broken file', async () => {
  await withDaemon({ config: {} }, async (d) => {
    const cfg = d.configFile;
    const info = () => d.docker(['info', '-f', '{{.LiveRestoreEnabled}}']).stdout.trim();
    assert.equal(info(), 'false');
    d.docker(['run', '-d', '--name', 'hup', 'busybox', 'sh', '-c', LOOP]);
    const id = identity(pidOf(d, 'hup'));
    writeFileSync(cfg, JSON.stringify({ 'live-restore': true, mtu: 1400 }));
    process.kill(d.proc?.pid as number, 'SIGHUP');
    await waitFor('reloaded', () => info() === 'true');
    assert.match(d.log(), /configuration changes that need a restart were not applied: mtu/);
    assert.equal(identity(pidOf(d, 'hup')), id, 'reload leaves containers alone');
    writeFileSync(cfg, '{ "live-restore": false, ');
    process.kill(d.proc?.pid as number, 'SIGHUP');
    await waitFor('error logged', () => /Error reloading configuration/.test(d.log()));
    assert.equal(info(), 'true', 'a broken file keeps the running configuration');
    // Live restore is on at the stop: the container survives it.
    writeFileSync(cfg, JSON.stringify({ 'live-restore': true }));
    await d.stop('SIGTERM');
    assert.equal(identity(Number(id?.split(':')[0])), id);
    await d.start();
    assert.equal(identity(pidOf(d, 'hup')), id);
    // And off again: the next stop stops it.
    writeFileSync(cfg, JSON.stringify({}));
    process.kill(d.proc?.pid as number, 'SIGHUP');
    await waitFor('reloaded off', () => info() === 'false');
    const ev = d.docker(['events', '--since', '0', '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=daemon', '--format', '{{.Action}}']);
    assert.match(ev.stdout, /reload/);
    await d.stop('SIGTERM');
    assert.equal(identity(Number(id?.split(':')[0])), undefined);
    assert.ok(existsSync(cfg));
  });
});

test('unknown keys and bad values in daemon.json stop berthd with a message naming the key', async () => {
  for (const [config, msg] of [
    [{ 'no-such-option': 1 }, /the following directives don't match any configuration option: no-such-option/],
    [{ 'live-restore': 'yes' }, /json: cannot unmarshal string into Go struct field Config.live-restore of type bool/],
  ] as const) {
    const r = await startDaemon({ config: config as Record<string, unknown>, busybox: false }).catch((e: Error) => e);
    assert.ok(r instanceof Error);
    assert.match(r.message, msg);
  }
});

test('a changed storage driver is named; containers started with the old one are not adopted', async () => {
  await withDaemon({ liveRestore: true, storageDriver: 'vfs' }, async (d) => {
    d.docker(['run', '-d', '--name', 'sd', 'busybox', 'sh', '-c', LOOP]);
    const id = identity(pidOf(d, 'sd'));
    await d.stop('SIGTERM');
    d.opts.storageDriver = 'overlay2';
    await d.start();
    assert.match(d.log(), /since the last start: storage-driver changed from vfs to overlay2/);
    assert.match(d.docker(['ps', '--format', '{{.Status}}']).stdout, /not adopted: storage-driver changed from vfs to overlay2/);
    assert.equal(identity(pidOf(d, 'sd')), id, 'left running, untouched');
    assert.equal(berth(d, ['stop-unadopted', '-t', '1']).code, 0);
    assert.equal(identity(Number(id?.split(':')[0])), undefined);
  });
});

test('a daemon on another data root sharing the exec-root warns about the first one\'s containers and never touches them', async () => {
  const { TestDaemon } = await import('../helpers/daemon.js');
  const a = await startDaemon({ liveRestore: true });
  const b = new TestDaemon({ liveRestore: true, execRoot: a.execRoot, busybox: false });
  try {
    a.docker(['run', '-d', '--name', 'first', 'busybox', 'sh', '-c', LOOP]);
    const cid = a.docker(['inspect', '-f', '{{.Id}}', 'first']).stdout.trim();
    const id = identity(pidOf(a, 'first'));
    await a.kill();
    await b.start();
    assert.match(b.log(), new RegExp(`containers started from another data root are still running and are not managed by this daemon: ${cid.slice(0, 12)}`));
    assert.equal(b.docker(['ps', '-aq']).stdout.trim(), '', 'the other data root\'s containers are not listed');
    await b.stop('SIGTERM');
    assert.equal(identity(Number(id?.split(':')[0])), id, 'never touched');
    await a.start();
    assert.equal(identity(pidOf(a, 'first')), id, 'and its own daemon adopts it back');
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});

test('a pause or unpause cut short by a crash: after the restart the state is what runc says, not what the record said', async () => {
  await withDaemon({ liveRestore: true }, async (d) => {
    d.ok(['run', '-d', '--name', 'was-paused', 'busybox', 'sleep', '1000']);
    d.ok(['run', '-d', '--name', 'was-running', 'busybox', 'sleep', '1000']);
    d.ok(['pause', 'was-paused']);
    const ids = new Map(['was-paused', 'was-running'].map((n) => [n, d.ok(['inspect', '-f', '{{.Id}}', n]).trim()]));
    await d.kill();
    // What berthd would have done next had it not died: runc acted, the record was not written.
    const runc = (cmd: string, name: string) => spawnSync('runc', ['--root', join(d.execRoot, 'runc'), cmd, ids.get(name) as string], { encoding: 'utf8' });
    assert.equal(runc('resume', 'was-paused').status, 0);
    assert.equal(runc('pause', 'was-running').status, 0);
    await d.start();
    assert.equal(d.ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'was-paused']).trim(), 'running false');
    assert.equal(d.ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'was-running']).trim(), 'paused true');
    d.ok(['unpause', 'was-running']);
    d.ok(['rm', '-f', 'was-paused', 'was-running']);
  });
});
