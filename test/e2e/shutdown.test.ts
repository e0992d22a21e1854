import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startDaemon } from '../helpers/daemon.js';

test('SIGTERM without live restore stops every container gracefully, then exits 0', async () => {
  const d = await startDaemon();
  try {
    d.docker(['run', '-d', '--name', 'graceful', 'busybox', 'sh', '-c', 'trap "echo bye; exit 0" TERM; while true; do sleep 0.2; done']);
    d.docker(['run', '-d', '--name', 'stubborn', '--stop-timeout', '1', 'busybox', 'sleep', '1000']);
    const pids = ['graceful', 'stubborn'].map((n) => Number(d.docker(['inspect', '-f', '{{.State.Pid}}', n]).stdout.trim()));
    const t0 = Date.now();
    const code = await d.stop('SIGTERM');
    const took = Date.now() - t0;
    assert.equal(code, 0);
    // Bounded by the longest stop timeout (1 s) + SIGKILL, far below the 15 s default.
    assert.ok(took < 10_000, `shutdown took ${took} ms`);
    for (const pid of pids) assert.throws(() => readFileSync(`/proc/${pid}/stat`), 'container process is gone');
    assert.equal(d.conmons().length, 0);
    await d.start();
    const states = d.docker(['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Status}}']).stdout.trim().split('\n').sort();
    assert.match(states[0] ?? '', /^graceful exited Exited \(0\)/);
    assert.match(states[1] ?? '', /^stubborn exited Exited \(137\)/);
    assert.match(d.docker(['logs', 'graceful']).stdout, /bye\n$/);
  } finally {
    const { leftovers } = await d.cleanup();
    assert.deepEqual(leftovers, []);
  }
});

test('a second berthd on the same pidfile refuses to start', async () => {
  const d = await startDaemon({ busybox: false });
  try {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [new URL('../../src/cmd/berthd.cjs', import.meta.url).pathname, ...d.args()], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr + r.stdout, /pid file found, ensure berthd is not running/);
    assert.equal(await d.ping(), true);
  } finally {
    await d.cleanup();
  }
});
