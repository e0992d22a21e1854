import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogBatches, type DirectSink } from '../../src/logs/log-reader.js';
import { StdcopyDecoder } from '../../src/api/stdcopy.js';
import { encodeWrites, randomWrites, record, concatStream } from './k8s-file-fixtures.js';
import type { Write } from './k8s-file-fixtures.js';

/*
 * `docker logs -f` hands a line written while the follower waits straight to the response
 * (the direct sink) instead of through the iterator. Whatever the mix of the two paths, the
 * client must get every line once, in order, across rotations, truncation and backlogs.
 */

const lines = (from: number, to: number): Write[] =>
  Array.from({ length: to - from }, (_, i) => ({ stream: 'stdout' as const, data: Buffer.from(`line ${from + i}\n`) }));

async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A follower as streamLogs drives it: each batch written before the next is asked for. */
function follow(path: string, o: { ready?: () => boolean } = {}) {
  const out = new StdcopyDecoder();
  const payload: Buffer[] = [];
  const streams: Write[] = [];
  let size = 0;
  const take = (frames: Buffer[]) => {
    for (const f of frames) {
      for (const fr of out.push(f)) {
        // The decoder's frames are views of buffers the reader reuses: copies.
        const data = Buffer.from(fr.data);
        payload.push(data);
        size += data.length;
        streams.push({ stream: fr.stream === 2 ? 'stderr' : 'stdout', data });
      }
    }
  };
  let direct = 0;
  let iterated = 0;
  const sink: DirectSink = {
    ready: o.ready ?? (() => true),
    write: (frames) => {
      direct++;
      take(frames);
    },
  };
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const done = (async () => {
    for await (const b of readLogBatches({ path, follow: true, stopped, signal: AbortSignal.timeout(15_000), times: false, frames: { stdout: true, stderr: true, multiplexed: true }, direct: sink })) {
      iterated++;
      take(b.frames ?? []);
    }
  })();
  return {
    text: () => Buffer.concat(payload).toString(),
    bytes: () => Buffer.concat(payload),
    size: () => size,
    stream: (name: 'stdout' | 'stderr') => concatStream(streams, name),
    counts: () => ({ direct, iterated }),
    stop: async () => {
      stop();
      await done;
      assert.equal(out.pending, 0, 'a frame was cut short');
    },
  };
}

const expected = (w: Write[]) => w.map((x) => x.data.toString()).join('');

test('logs -f: lines written while the follower waits go out from its wake-up, in order, across a rotation and a cut line', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-direct-'));
  try {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 5))));
    const f = follow(path);
    await waitFor(() => f.text() === expected(lines(0, 5)), 'the lines already there');
    for (let i = 5; i < 40; i++) {
      appendFileSync(path, Buffer.concat(encodeWrites(lines(i, i + 1))));
      await waitFor(() => f.text().endsWith(`line ${i}\n`), `line ${i}`);
    }
    // Rotation: conmon still writes to the renamed file before it reopens.
    renameSync(path, `${path}.1`);
    appendFileSync(`${path}.1`, Buffer.concat(encodeWrites(lines(40, 42))));
    await new Promise((r) => setTimeout(r, 30));
    writeFileSync(path, Buffer.concat(encodeWrites(lines(42, 44))));
    await waitFor(() => f.text().endsWith('line 43\n'), 'the lines after the rotation');
    for (let i = 44; i < 60; i++) {
      appendFileSync(path, Buffer.concat(encodeWrites(lines(i, i + 1))));
      await waitFor(() => f.text().endsWith(`line ${i}\n`), `line ${i}`);
    }
    // A line conmon cut in two records, and half a record written in two steps.
    appendFileSync(path, record('stdout', 'P', 5n, 'line '));
    appendFileSync(path, record('stdout', 'F', 6n, '60'));
    const rec = record('stdout', 'F', 7n, 'line 61');
    appendFileSync(path, rec.subarray(0, 20));
    await new Promise((r) => setTimeout(r, 30));
    appendFileSync(path, rec.subarray(20));
    await waitFor(() => f.text().endsWith('line 61\n'), 'the joined lines');
    await f.stop();
    assert.equal(f.text(), expected(lines(0, 62)));
    const c = f.counts();
    assert.ok(c.direct >= 30, `most lines went out directly (${JSON.stringify(c)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logs -f: a slow client (sink not ready) gets every line through the iterator instead', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-direct-'));
  try {
    const path = join(dir, 'log');
    writeFileSync(path, '');
    const f = follow(path, { ready: () => false });
    for (let i = 0; i < 20; i++) {
      appendFileSync(path, Buffer.concat(encodeWrites(lines(i, i + 1))));
      await waitFor(() => f.text().endsWith(`line ${i}\n`), `line ${i}`);
    }
    await f.stop();
    assert.equal(f.text(), expected(lines(0, 20)));
    assert.equal(f.counts().direct, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logs -f: bursts larger than one read, truncation and rotations while streaming lose and repeat nothing', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-direct-'));
  try {
    const path = join(dir, 'log');
    writeFileSync(path, '');
    const f = follow(path);
    const writes: Write[] = [];
    let rotations = 0;
    for (let i = 0; i < 120; i++) {
      // Now and then a burst of several hundred KiB (past the follower's one read).
      const w = i % 25 === 3 ? randomWrites(i, 400) : randomWrites(i, 1 + (i % 4));
      writes.push(...w);
      appendFileSync(path, Buffer.concat(encodeWrites(w)));
      if (i % 30 === 29) {
        for (let n = rotations; n >= 1; n--) renameSync(`${path}.${n}`, `${path}.${n + 1}`);
        renameSync(path, `${path}.1`);
        writeFileSync(path, '');
        rotations++;
      }
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    const want = concatStream(writes, 'stdout').length + concatStream(writes, 'stderr').length;
    await waitFor(() => f.size() >= want, 'everything written', 20_000);
    assert.ok(want > 4 * 1024 * 1024);
    await f.stop();
    // Order is kept within each stream (conmon's records of the two interleave as written).
    assert.ok(f.stream('stdout').equals(concatStream(writes, 'stdout')));
    assert.ok(f.stream('stderr').equals(concatStream(writes, 'stderr')));
    assert.ok(f.counts().direct > 0 && f.counts().iterated > 0, JSON.stringify(f.counts()));
    // Truncation: the follower starts over at the new beginning.
    const g = follow(path);
    await waitFor(() => g.size() === want, 'the file read again');
    truncateSync(path, 0);
    appendFileSync(path, Buffer.concat(encodeWrites(lines(0, 3))));
    await waitFor(() => g.text().endsWith('line 2\n'), 'the lines after the truncation', 10_000);
    await g.stop();
    assert.equal(g.bytes().length, want + expected(lines(0, 3)).length);
    assert.ok(g.text().endsWith(expected(lines(0, 3))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
