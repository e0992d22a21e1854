import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { dirname, basename } from 'node:path';
import { startDaemon, waitFor, sleep } from '../helpers/daemon.js';

function logFiles(logPath: string): { name: string; size: number }[] {
  // conmon reopens a log through `<log>.tmp`, renamed at once: not one of the rotated files.
  return readdirSync(dirname(logPath))
    .filter((f) => (f === basename(logPath) || f.startsWith(`${basename(logPath)}.`)) && !f.endsWith('.tmp'))
    .flatMap((f) => {
      const st = statSync(`${dirname(logPath)}/${f}`, { throwIfNoEntry: false });
      return st ? [{ name: f, size: st.size }] : [];
    });
}

test('logs rotate by max-size/max-file without losing a line, also for a follower; the daemon away lets them grow', async () => {
  const d = await startDaemon({ liveRestore: true });
  let failed = true;
  try {
    // ~1.2 MiB of numbered 100-byte lines, paced so several rotations happen while it runs.
    const script = 'i=0; while [ $i -lt 12000 ]; do i=$((i+1)); printf "%06d %093d\\n" $i 0; [ $((i%1000)) = 0 ] && sleep 0.3; done; sleep 1';
    d.docker(['run', '-d', '--name', 'rot', '--log-opt', 'max-size=200k', '--log-opt', 'max-file=10', 'busybox', 'sh', '-c', script]);
    const follow = d.dockerAsync(['logs', '-f', 'rot'], { timeoutMs: 120_000 });
    const logPath = d.docker(['inspect', '-f', '{{.LogPath}}', 'rot']).stdout.trim();
    assert.equal(d.docker(['inspect', '-f', '{{index .HostConfig.LogConfig.Config "max-size"}}', 'rot']).stdout.trim(), '200k');
    assert.equal(d.docker(['wait', 'rot'], { timeoutMs: 120_000 }).stdout.trim(), '0');
    const files = logFiles(logPath);
    assert.ok(files.length >= 4, `rotated into several files: ${JSON.stringify(files)}`);
    assert.ok(files.length <= 10);
    const check = (text: string, what: string) => {
      const lines = text.trim().split('\n');
      assert.equal(lines.length, 12000, `${what}: every line`);
      lines.forEach((l, i) => assert.equal(Number(l.slice(0, 6)), i + 1, `${what}: in order`));
    };
    check(d.docker(['logs', 'rot']).stdout, 'docker logs');
    check((await follow.done).stdout, 'docker logs -f across rotations');

    // While berthd is away nothing rotates: the log grows past max-size, and is rotated when it is back.
    d.docker(['run', '-d', '--name', 'away', '--log-opt', 'max-size=100k', '--log-opt', 'max-file=5', 'busybox', 'sh', '-c', 'sleep 1; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); printf "%06d %093d\\n" $i 0; done; sleep 1000']);
    const awayLog = d.docker(['inspect', '-f', '{{.LogPath}}', 'away']).stdout.trim();
    await d.kill();
    await waitFor('log grew while the daemon is dead', () => (logFiles(awayLog).find((f) => f.name === basename(awayLog))?.size ?? 0) >= 300_000, 30_000);
    assert.equal(logFiles(awayLog).length, 1, 'no rotation without the daemon');
    await d.start();
    await waitFor('rotated after restart', () => logFiles(awayLog).length > 1, 10_000);
    await sleep(200);
    const lines = d.docker(['logs', 'away']).stdout.trim().split('\n');
    assert.equal(lines.length, 3000);
    d.docker(['rm', '-f', 'away', 'rot']);
    failed = false;
  } finally {
    const { leftovers } = await d.cleanup();
    if (!failed) assert.deepEqual(leftovers, []);
  }
});
