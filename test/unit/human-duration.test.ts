import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { containerStatusText, humanDuration } from '../../src/lib/human-duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration follows go-units thresholds', () => {
  const cases: [number, string][] = [
    [-5 * S, 'Less than a second'],
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [S, '1 second'],
    [1999, '1 second'],
    [2 * S, '2 seconds'],
    [59 * S + 999, '59 seconds'],
    [60 * S, 'About a minute'],
    [119 * S, 'About a minute'],
    [2 * M, '2 minutes'],
    [59 * M + 59 * S, '59 minutes'],
    [60 * M, 'About an hour'],
    [H + 29 * M, 'About an hour'],
    [H + 30 * M, '2 hours'],
    [47 * H + 29 * M, '47 hours'],
    [47 * H + 30 * M, '2 days'],
    [13 * D, '13 days'],
    [14 * D - 31 * M, '13 days'],
    [14 * D, '2 weeks'],
    [59 * D, '8 weeks'],
    [60 * D, '2 months'],
    [729 * D, '24 months'],
    [730 * D, '2 years'],
    [3 * 365 * D + 100 * D, '3 years'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
});

test('docker ps STATUS texts', () => {
  const now = Date.UTC(2026, 10, 25, 12);
  assert.equal(containerStatusText({ status: 'created' }, now), 'Created');
  assert.equal(containerStatusText({ status: 'running', startedAtMs: now - 5 * M }, now), 'Up 5 minutes');
  assert.equal(containerStatusText({ status: 'running', startedAtMs: now - 300 }, now), 'Up Less than a second');
  assert.equal(containerStatusText({ status: 'paused', startedAtMs: now - 5 * M }, now), 'Up 5 minutes (Paused)');
  assert.equal(
    containerStatusText({ status: 'restarting', exitCode: 1, startedAtMs: now - H, finishedAtMs: now - 2 * S }, now),
    'Restarting (1) 2 seconds ago',
  );
  assert.equal(
    containerStatusText({ status: 'exited', exitCode: 0, startedAtMs: now - M, finishedAtMs: now - 3 * S }, now),
    'Exited (0) 3 seconds ago',
  );
  assert.equal(
    containerStatusText({ status: 'exited', exitCode: 137, startedAtMs: now - 3 * D, finishedAtMs: now - 2 * D }, now),
    'Exited (137) 2 days ago',
  );
  assert.equal(containerStatusText({ status: 'exited', exitCode: 127 }, now), 'Created');
  assert.equal(containerStatusText({ status: 'removing', startedAtMs: now }, now), 'Removal In Progress');
  assert.equal(containerStatusText({ status: 'dead' }, now), 'Dead');
});
