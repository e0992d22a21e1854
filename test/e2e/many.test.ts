import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon } from '../helpers/daemon.js';

test('50 containers: run, list, stop, remove, and nothing is left behind', async () => {
  const d = await startDaemon();
  try {
    const names = Array.from({ length: 50 }, (_, i) => `ct${i}`);
    // A shell that exits on SIGTERM, so stop is prompt and graceful.
    const runs = await Promise.all(
      names.map((n) => d.dockerAsync(['run', '-d', '--name', n, 'busybox', 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done']).done),
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const listed = d.docker(['ps', '--format', '{{.Names}}']).stdout.trim().split('\n').sort();
    assert.deepEqual(listed, [...names].sort());
    assert.equal(d.conmons().length, 50, 'one conmon per container');
    const stop = d.docker(['stop', ...names], { timeoutMs: 180_000 });
    assert.equal(stop.code, 0, stop.stderr);
    const states = d.docker(['ps', '-a', '--format', '{{.State}} {{.Status}}']).stdout.trim().split('\n');
    assert.equal(states.length, 50);
    for (const s of states) assert.match(s, /^exited Exited \(0\)/);
    assert.equal(d.conmons().length, 0, 'monitors exit with their containers');
    assert.deepEqual(d.runcState(), [], 'runc state is removed at exit');
    const rm = d.docker(['rm', ...names]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(d.docker(['ps', '-aq']).stdout.trim(), '');
    assert.deepEqual(d.mounts(), []);
  } finally {
    const { leftovers } = await d.cleanup();
    assert.deepEqual(leftovers, []);
  }
});
