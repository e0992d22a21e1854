import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTarball } from '../helpers/paths.js';

let d: TestDaemon;

daemonForFile((x) => (d = x), { liveRestore: true });

type Health = { Status: string; FailingStreak: number; Log: { Start: string; End: string; ExitCode: number; Output: string }[] };

function health(name: string): Health | undefined {
  const out = d.ok(['inspect', '-f', '{{json .State.Health}}', name]).trim();
  return out === 'null' ? undefined : (JSON.parse(out) as Health);
}

const status = (name: string) => health(name)?.Status;

/** Processes on the host whose command line is exactly `cmd` (a probe's unique sleep). */
function processesRunning(cmd: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim() === cmd) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

const FAST = ['--health-interval', '1s', '--health-retries', '2'];

test.afterEach(() => d.removeAllContainersAndVolumes());

test('a container turns healthy, another unhealthy: inspect, ps status and filter, events', async () => {
  const since = Math.floor(Date.now() / 1000);
  d.ok(['run', '-d', '--name', 'good', ...FAST, '--health-cmd', 'test -f /ready && echo ready', 'busybox', 'sh', '-c', 'sleep 1; touch /ready; sleep 1000']);
  d.ok(['run', '-d', '--name', 'bad', ...FAST, '--health-cmd', 'echo broken >&2; exit 3', 'busybox', 'sleep', '1000']);
  assert.match(d.ok(['ps', '--filter', 'name=good', '--format', '{{.Status}}']), /^Up .* \((health: starting|healthy)\)\n$/);
  await waitFor('good is healthy', () => status('good') === 'healthy', 30_000);
  await waitFor('bad is unhealthy', () => status('bad') === 'unhealthy', 30_000);

  const good = health('good') as Health;
  assert.equal(good.FailingStreak, 0);
  const last = good.Log[good.Log.length - 1];
  assert.equal(last?.ExitCode, 0);
  assert.equal(last?.Output, 'ready\n');
  assert.ok(Date.parse(last?.End ?? '') >= Date.parse(last?.Start ?? ''));
  const bad = health('bad') as Health;
  assert.ok(bad.FailingStreak >= 2, `streak ${bad.FailingStreak}`);
  assert.deepEqual([bad.Log.at(-1)?.ExitCode, bad.Log.at(-1)?.Output], [3, 'broken\n']);
  assert.deepEqual(JSON.parse(d.ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'bad'])), { Test: ['CMD-SHELL', 'echo broken >&2; exit 3'], Interval: 1e9, Retries: 2 });

  assert.match(d.ok(['ps', '--filter', 'name=good', '--format', '{{.Status}}']), /^Up .* \(healthy\)\n$/);
  assert.match(d.ok(['ps', '--filter', 'name=bad', '--format', '{{.Status}}']), /^Up .* \(unhealthy\)\n$/);
  d.ok(['run', '-d', '--name', 'plain', 'busybox', 'sleep', '1000']);
  const names = (f: string) => d.ok(['ps', '--filter', `health=${f}`, '--format', '{{.Names}}']).trim().split('\n').filter(Boolean).sort();
  assert.deepEqual(names('healthy'), ['good']);
  assert.deepEqual(names('unhealthy'), ['bad']);
  assert.deepEqual(names('none'), ['plain']);
  assert.match(d.fails(['ps', '--filter', 'health=great']), /Unrecognised filter value for health: great/);

  const ev = d.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=health_status', '--format', '{{.Actor.Attributes.name}} {{.Action}}']);
  assert.match(ev, /^good health_status: healthy$/m);
  assert.match(ev, /^bad health_status: unhealthy$/m);
  d.ok(['rm', '-f', 'good', 'bad', 'plain']);
});

test('an image HEALTHCHECK runs unless --no-healthcheck; flags override its settings; a slow probe times out', async () => {
  d.ok(['import', '-c', 'CMD ["sleep", "1000"]', '-c', 'HEALTHCHECK --interval=1s --retries=1 CMD echo from-image', busyboxTarball(), 'checked:1']);
  assert.deepEqual(JSON.parse(d.ok(['image', 'inspect', '-f', '{{json .Config.Healthcheck}}', 'checked:1'])), { Test: ['CMD-SHELL', 'echo from-image'], Interval: 1e9, Retries: 1 });
  d.ok(['run', '-d', '--name', 'img', 'checked:1']);
  d.ok(['run', '-d', '--name', 'off', '--no-healthcheck', 'checked:1']);
  d.ok(['run', '-d', '--name', 'slow', '--health-timeout', '1s', 'checked:1', 'sleep', '1000']);
  d.ok(['run', '-d', '--name', 'hang', '--health-cmd', 'sleep 5', '--health-timeout', '1s', ...FAST, 'busybox', 'sleep', '1000']);
  await waitFor('image check healthy', () => status('img') === 'healthy', 30_000);
  assert.equal(health('img')?.Log.at(-1)?.Output, 'from-image\n');
  assert.equal(health('off'), undefined, '--no-healthcheck: no health at all');
  assert.deepEqual(JSON.parse(d.ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'off'])), { Test: ['NONE'] });
  // Only the timeout given: the image's test and interval stay.
  assert.deepEqual(JSON.parse(d.ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'slow'])), { Test: ['CMD-SHELL', 'echo from-image'], Interval: 1e9, Timeout: 1e9, Retries: 1 });
  await waitFor('hang timed out twice', () => status('hang') === 'unhealthy', 30_000);
  const timedOut = health('hang')?.Log.at(-1);
  assert.deepEqual([timedOut?.ExitCode, timedOut?.Output], [-1, 'Health check exceeded timeout (1s)']);
  assert.ok(Date.parse(timedOut?.End ?? '') - Date.parse(timedOut?.Start ?? '') < 4000, 'the probe was stopped at its timeout');

  // Docker's 400s for settings below a millisecond.
  const create = (hc: Record<string, unknown>) => d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], ...hc } });
  let r = await create({ Interval: 500_000 });
  assert.equal(r.status, 400);
  assert.equal((r.json() as { message: string }).message, 'Interval in Healthcheck cannot be less than 1ms');
  r = await create({ Retries: -1 });
  assert.equal((r.json() as { message: string }).message, 'Retries in Healthcheck cannot be negative');
  r = await create({ StartPeriod: 10 });
  assert.equal((r.json() as { message: string }).message, 'StartPeriod in Healthcheck cannot be less than 1ms');
  d.ok(['rm', '-f', 'img', 'off', 'slow', 'hang']);
  d.ok(['rmi', 'checked:1']);
});

test('kill -9 of berthd: health is kept, and the checks resume on schedule (streak and log move on)', async () => {
  d.ok(['run', '-d', '--name', 'sick', ...FAST, '--health-cmd', 'exit 1', 'busybox', 'sleep', '1000']);
  d.ok(['run', '-d', '--name', 'fine', ...FAST, '--health-cmd', 'true', 'busybox', 'sleep', '1000']);
  await waitFor('sick is unhealthy', () => status('sick') === 'unhealthy', 30_000);
  await waitFor('fine is healthy', () => status('fine') === 'healthy', 30_000);
  await d.kill();
  const killedAt = Date.now();
  await new Promise((r) => setTimeout(r, 1500));
  await d.start();
  // Right after the restart, before any new probe: what was recorded.
  const sick = health('sick') as Health;
  assert.equal(sick.Status, 'unhealthy');
  assert.equal(status('fine'), 'healthy');
  const newer = (h: Health | undefined) => (h?.Log ?? []).filter((l) => Date.parse(l.Start) > killedAt);
  await waitFor('checks resumed', () => newer(health('sick')).length >= 2 && newer(health('fine')).length >= 2, 30_000);
  const after = health('sick') as Health;
  assert.ok(after.FailingStreak >= sick.FailingStreak + 2, `streak went on: ${sick.FailingStreak} -> ${after.FailingStreak}`);
  assert.ok(after.Log.length <= 5, 'the last five kept');
  assert.ok(Date.parse(after.Log.at(-1)?.Start ?? '') > killedAt);
  assert.match(d.ok(['ps', '--filter', 'name=fine', '--format', '{{.Status}}']), /\(healthy\)/);
  d.ok(['rm', '-f', 'sick', 'fine']);
});

test('kill -9 of berthd while a probe runs: the probe ends at its timeout, nothing is left, checks go on', async () => {
  const dir = mkdtempSync('/tmp/bt-hc-');
  const tag = `sleep ${1100 + Math.floor(Math.random() * 800)}`;
  try {
    writeFileSync(join(dir, 'hang'), '');
    // The probe hangs while /ctl/hang exists; it is a bind mount, so the test can clear it with berthd down.
    d.ok(['run', '-d', '--name', 'probed', '-v', `${dir}:/ctl`, '--health-interval', '1s', '--health-timeout', '2s',
      '--health-cmd', `if [ -f /ctl/hang ]; then ${tag}; fi; true`, 'busybox', 'sleep', '1000']);
    await waitFor('a probe is hanging', () => processesRunning(tag).length > 0, 30_000);
    await d.kill();
    rmSync(join(dir, 'hang'));
    // conmon's own timeout (2 s + 1) ends it, berthd or not.
    await waitFor('the hanging probe is gone without berthd', () => processesRunning(tag).length === 0, 10_000);
    await d.start();
    await waitFor('healthy again', () => status('probed') === 'healthy', 30_000);
    assert.deepEqual(processesRunning(tag), []);
    d.ok(['rm', '-f', 'probed']);
    // No monitor of a probe is left behind (the daemon file's cleanup checks the rest).
    await waitFor('no probe monitors left', () => d.conmons().length === 0, 10_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
