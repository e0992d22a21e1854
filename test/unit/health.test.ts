import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyProbeResult, effectiveHealthConfig, healthText, limitOutput, probeCommand, probeDelayMs, validateHealthConfig, type HealthConfig, type HealthState } from '../../src/engine/health.js';
import { formatGoDuration, parseGoDuration } from '../../src/lib/go-duration.js';
import { applyChanges } from '../../src/images/changes.js';
import { containerStatusText } from '../../src/lib/human-duration.js';

const cfg = (o: Partial<HealthConfig> = {}): HealthConfig => ({ test: ['CMD-SHELL', 'true'], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0, ...o });
const at = (ms: number) => new Date(ms).toISOString();
const result = (ms: number, exitCode: number) => ({ start: at(ms), end: at(ms + 10), exitCode, output: '' });

test('probe results move the status as dockerd moves it: retries, start period, the last five', () => {
  let h: HealthState = { status: 'starting', failingStreak: 0, log: [] };
  const c = cfg({ retries: 2, startPeriod: 5e9 });
  // Failures inside the start period do not count while starting.
  h = applyProbeResult(h, result(1000, 1), c, 0);
  assert.deepEqual([h.status, h.failingStreak], ['starting', 0]);
  h = applyProbeResult(h, result(6000, 1), c, 0);
  assert.deepEqual([h.status, h.failingStreak], ['starting', 1]);
  h = applyProbeResult(h, result(7000, 2), c, 0);
  assert.deepEqual([h.status, h.failingStreak], ['unhealthy', 2]);
  h = applyProbeResult(h, result(8000, 0), c, 0);
  assert.deepEqual([h.status, h.failingStreak], ['healthy', 0]);
  // Once healthy, a failure in the start period counts (it is no longer starting).
  const early = applyProbeResult({ status: 'healthy', failingStreak: 0, log: [] }, result(1000, 1), c, 0);
  assert.equal(early.failingStreak, 1);
  for (let i = 0; i < 10; i++) h = applyProbeResult(h, result(9000 + i, 0), c, 0);
  assert.equal(h.log.length, 5);
  assert.equal(h.log[4]?.start, at(9009));
  // Default retries: 3.
  let d: HealthState = { status: 'healthy', failingStreak: 0, log: [] };
  for (let i = 0; i < 2; i++) d = applyProbeResult(d, result(i, 1), cfg(), 0);
  assert.equal(d.status, 'healthy');
  assert.equal(applyProbeResult(d, result(3, 1), cfg(), 0).status, 'unhealthy');
});

test('the next probe: the start interval while starting within the start period, else the interval', () => {
  const c = cfg({ interval: 10e9, startPeriod: 60e9, startInterval: 2e9 });
  assert.equal(probeDelayMs(c, 0, 1000, 'starting'), 2000);
  assert.equal(probeDelayMs(c, 0, 1000, 'healthy'), 10_000);
  assert.equal(probeDelayMs(c, 0, 61_000, 'starting'), 10_000);
  assert.equal(probeDelayMs(cfg(), 0, 0, 'starting'), 30_000, 'default interval 30 s');
  assert.equal(probeDelayMs(cfg({ startPeriod: 10e9 }), 0, 0, 'starting'), 5000, 'default start interval 5 s');
});

test('the request\'s health check over the image\'s, NONE and unknown kinds are none', () => {
  const image = cfg({ test: ['CMD', 'probe'], interval: 5e9, retries: 4 });
  assert.deepEqual(effectiveHealthConfig(cfg({ test: [], timeout: 1e9 }), image), cfg({ test: ['CMD', 'probe'], interval: 5e9, timeout: 1e9, retries: 4 }));
  assert.equal(effectiveHealthConfig(cfg({ test: ['NONE'] }), image), undefined);
  assert.equal(effectiveHealthConfig(cfg({ test: ['HTTP', 'x'] }), undefined), undefined);
  assert.deepEqual(effectiveHealthConfig(undefined, image), image);
  assert.deepEqual(probeCommand(cfg({ test: ['CMD-SHELL', 'a && b'] })), ['/bin/sh', '-c', 'a && b']);
  assert.deepEqual(probeCommand(cfg({ test: ['CMD', 'curl', '-f', 'x'] })), ['curl', '-f', 'x']);
  assert.throws(() => validateHealthConfig(cfg({ timeout: 1 })), /Timeout in Healthcheck cannot be less than 1ms/);
  assert.throws(() => validateHealthConfig(cfg({ startInterval: 999_999 })), /StartInterval in Healthcheck cannot be less than 1ms/);
  validateHealthConfig(cfg({ interval: 1e6 }));
});

test('probe output, ps status text', () => {
  assert.equal(limitOutput([Buffer.alloc(5000, 'a')], true), `${'a'.repeat(4096)}...`);
  assert.equal(limitOutput([Buffer.from('ok\n')], false), 'ok\n');
  assert.equal(containerStatusText({ status: 'running', startedAtMs: 0, health: healthText('starting') }, 5000), 'Up 5 seconds (health: starting)');
  assert.equal(containerStatusText({ status: 'running', startedAtMs: 0, health: healthText('unhealthy') }, 5000), 'Up 5 seconds (unhealthy)');
});

test('Go durations both ways', () => {
  assert.equal(parseGoDuration('1s'), 1e9);
  assert.equal(parseGoDuration('1m30s'), 90e9);
  assert.equal(parseGoDuration('1.5h'), 5400e9);
  assert.equal(parseGoDuration('250ms'), 250e6);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('5'), undefined);
  assert.equal(parseGoDuration('1x'), undefined);
  assert.equal(formatGoDuration(1e9), '1s');
  assert.equal(formatGoDuration(1.5e9), '1.5s');
  assert.equal(formatGoDuration(500e6), '500ms');
  assert.equal(formatGoDuration(90e9), '1m30s');
  assert.equal(formatGoDuration(3600e9), '1h0m0s');
  assert.equal(formatGoDuration(0), '0s');
});

test('HEALTHCHECK as an import change', () => {
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK --interval=2s --retries=3 --start-period=1m CMD curl -f http://x/ || exit 1'])['Healthcheck'], {
    Test: ['CMD-SHELL', 'curl -f http://x/ || exit 1'], Interval: 2e9, Retries: 3, StartPeriod: 60e9,
  });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK CMD ["/probe", "-q"]'])['Healthcheck'], { Test: ['CMD', '/probe', '-q'] });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK NONE'])['Healthcheck'], { Test: ['NONE'] });
  assert.throws(() => applyChanges({}, ['HEALTHCHECK --interval=soon CMD x']), /time: invalid duration "soon"/);
  assert.throws(() => applyChanges({}, ['HEALTHCHECK RUN x']), /Unknown type "RUN" in HEALTHCHECK/);
});
