// A short soak (test/harness/soak.ts; the long one is `npm run soak`): about 50 container
// lifecycles (create, start, exec, logs, rm) and a few restarts with containers running. The
// daemon's descriptors and timers come back to where they were, and nothing is left behind.
// (The RSS bound, 20 MiB from lifecycle 1 000 to 10 000, is the long run's: over 50
// lifecycles RSS measures the JIT and the heap growing to size, not a leak.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, holdNetns } from '../helpers/daemon.js';
import { soak, soakFailures } from '../harness/soak.js';

test('50 lifecycles of run, exec, logs and rm, then restarts with containers running: descriptors and timers back to their baseline, no monitor, mount, cgroup, veth, address or exec-root file left', async () => {
  const ns = holdNetns();
  const d = await startDaemon({ liveRestore: true, netns: ns.path });
  try {
    const r = await soak(d, { lifecycles: 50, restarts: 2, running: 5, sampleEvery: 10 });
    console.log(`soak: ${r.lifecycles} lifecycles in ${(r.ms / 1000).toFixed(0)} s; fds ${r.baseline.fds} → ${r.afterLifecycles.fds}, timers ${r.baseline.timers} → ${r.afterLifecycles.timers}, rss ${r.samples[0]?.rssMiB.toFixed(1)} → ${r.samples.at(-1)?.rssMiB.toFixed(1)} MiB; restarts ready in ${r.restarts.map((x) => `${x.readyMs} ms`).join(', ')}`);
    assert.equal(r.lifecycles, 50);
    assert.equal(r.restarts.length, 2);
    assert.ok(r.restarts.every((x) => x.running === 5), 'the running containers survive each restart');
    assert.deepEqual(soakFailures(r, { rssBoundMiB: Infinity }), []);
  } finally {
    const { leftovers } = await d.cleanup();
    ns.release();
    assert.deepEqual(leftovers, []);
  }
});
