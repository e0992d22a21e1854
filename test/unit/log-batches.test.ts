import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogBatches, readLogs } from '../../src/logs/log-reader.js';
import type { LogMessage } from '../../src/logs/log-reader.js';
import { encodeMessages, type FrameOptions } from '../../src/logs/frames.js';
import { parseRecord } from '../../src/logs/k8s-file.js';
import { record } from './k8s-file-fixtures.js';

const T0 = BigInt(Date.UTC(2026, 11, 1, 10, 0, 0)) * 1_000_000n;

function logFile(records: Buffer[]): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-batches-'));
  const path = join(dir, 'container.log');
  writeFileSync(path, Buffer.concat(records));
  return { path, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('batches carry the same messages as one by one, none empty, since/until applied', async () => {
  const recs: Buffer[] = [];
  for (let i = 0; i < 30_000; i++) {
    recs.push(record(i % 3 === 0 ? 'stderr' : 'stdout', 'F', T0 + BigInt(i) * 1_000_000n, `line ${i}`));
    // A long line cut by conmon into P records, joined again.
    if (i === 20_000) recs.push(record('stdout', 'P', T0 + BigInt(i) * 1_000_000n, 'a'.repeat(10)), record('stdout', 'F', T0 + BigInt(i) * 1_000_000n, 'b'));
  }
  const f = logFile(recs);
  try {
    const single: LogMessage[] = [];
    for await (const m of readLogs({ path: f.path, follow: false })) single.push(m);
    const batches: LogMessage[][] = [];
    for await (const b of readLogBatches({ path: f.path, follow: false })) batches.push(b.messages);
    assert.ok(batches.length > 1, 'a 30 000-line file comes in several batches');
    assert.ok(batches.every((b) => b.length > 0));
    assert.deepEqual(batches.flat().map((m) => m.data.toString()), single.map((m) => m.data.toString()));
    assert.equal(single.find((m) => m.data.toString().startsWith('aaaa'))?.data.toString(), `${'a'.repeat(10)}b\n`);
    const window: LogMessage[] = [];
    for await (const b of readLogBatches({ path: f.path, follow: false, sinceNs: T0 + 100_000_000n, untilNs: T0 + 199_000_000n })) window.push(...b.messages);
    assert.equal(window.length, 100);
    assert.equal(window[0]?.data.toString(), 'line 100\n');
  } finally {
    f.done();
  }
});

test('messages encode as Docker frames, one per line, or raw with a terminal; timestamps go in front', () => {
  const msgs: LogMessage[] = [
    { stream: 'stdout', timeNs: T0 + 5n, data: Buffer.from('out\n') },
    { stream: 'stderr', timeNs: T0 + 6n, data: Buffer.from('err\n') },
  ];
  const enc = (o: { stdout: boolean; stderr: boolean; tty: boolean; timestamps: boolean }) => encodeMessages(msgs, { stdout: o.stdout, stderr: o.stderr, multiplexed: !o.tty, timestamps: o.timestamps });
  const framed = enc({ stdout: true, stderr: true, tty: false, timestamps: false });
  assert.deepEqual([...framed.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 4]);
  assert.equal(framed.subarray(8, 12).toString(), 'out\n');
  assert.deepEqual([...framed.subarray(12, 20)], [2, 0, 0, 0, 0, 0, 0, 4]);
  assert.equal(framed.length, 24);
  assert.equal(enc({ stdout: false, stderr: true, tty: false, timestamps: false }).subarray(8).toString(), 'err\n');
  assert.equal(enc({ stdout: true, stderr: true, tty: true, timestamps: false }).toString(), 'out\nerr\n');
  const stamped = enc({ stdout: true, stderr: false, tty: false, timestamps: true });
  assert.equal(stamped.readUInt32BE(4), stamped.length - 8);
  assert.equal(stamped.subarray(8).toString(), '2026-12-01T10:00:00.000000005Z out\n');
});

test('timestamps stay exact when consecutive records share the second but not the zone', () => {
  const a = parseRecord(Buffer.from('2026-12-01T10:00:00.5+02:00 stdout F x'));
  const b = parseRecord(Buffer.from('2026-12-01T10:00:00.5Z stdout F x'));
  const c = parseRecord(Buffer.from('2026-12-01T10:00:00+02:00 stdout F x'));
  assert.equal(b?.timeNs, T0 + 500_000_000n);
  assert.equal(a?.timeNs, T0 - 7_200_000_000_000n + 500_000_000n);
  assert.equal(c?.timeNs, T0 - 7_200_000_000_000n);
});

test('frames the reader writes over its buffer equal the messages encoded one by one, for every stream choice', async () => {
  const recs: Buffer[] = [];
  for (let i = 0; i < 30_000; i++) {
    recs.push(record(i % 2 ? 'stderr' : 'stdout', 'F', T0 + BigInt(i), i % 7 === 0 ? '' : `payload ${'x'.repeat(i % 50)} ${i}`));
    // Lines conmon cut into partial records, some across the reader's 1 MiB chunks.
    if (i % 97 === 0) recs.push(record('stdout', 'P', T0 + BigInt(i), `cut-${'y'.repeat(i % 3000)}`), record('stderr', 'F', T0 + BigInt(i), 'between'), record('stdout', 'F', T0 + BigInt(i), `-end ${i}`));
  }
  // A line cut and never finished (the container exited mid-line).
  recs.push(record('stderr', 'P', T0, 'unfinished'));
  const f = logFile(recs);
  try {
    for (const o of [
      { stdout: true, stderr: true, tty: false },
      { stdout: true, stderr: false, tty: false },
      { stdout: false, stderr: true, tty: true },
    ]) {
      const messages: LogMessage[] = [];
      for await (const m of readLogs({ path: f.path, follow: false })) messages.push(m);
      const expected = encodeMessages(messages, { stdout: o.stdout, stderr: o.stderr, multiplexed: !o.tty });
      const pieces: Buffer[] = [];
      let batches = 0;
      for await (const b of readLogBatches({ path: f.path, follow: false, times: false, frames: { stdout: o.stdout, stderr: o.stderr, multiplexed: !o.tty } })) {
        assert.ok(b.frames && b.frames.length > 0 && b.messages.length === 0);
        pieces.push(...b.frames);
        batches++;
      }
      assert.ok(batches > 1);
      assert.ok(Buffer.concat(pieces).equals(expected), JSON.stringify(o));
    }
    // tail, since and -t take messages one by one; they come out framed all the same.
    const all: LogMessage[] = [];
    for await (const m of readLogs({ path: f.path, follow: false })) all.push(m);
    const framedBy = async (o: FrameOptions, extra: { tail?: number; sinceNs?: bigint }) => {
      const pieces: Buffer[] = [];
      for await (const b of readLogBatches({ path: f.path, follow: false, times: o.timestamps === true, frames: o, ...extra })) {
        assert.ok(b.frames && b.frames.length > 0 && b.messages.length === 0);
        pieces.push(...b.frames);
      }
      return Buffer.concat(pieces);
    };
    const both = { stdout: true, stderr: true, multiplexed: true };
    assert.ok((await framedBy(both, { tail: 3 })).equals(encodeMessages(all.slice(-3), both)));
    const stamped = { ...both, timestamps: true };
    assert.ok((await framedBy(stamped, {})).equals(encodeMessages(all, stamped)));
    const late = all.filter((m) => m.timeNs >= T0 + 29_000n);
    assert.ok(late.length > 900 && late.length < all.length);
    assert.ok((await framedBy(stamped, { sinceNs: T0 + 29_000n })).equals(encodeMessages(late, stamped)));
  } finally {
    f.done();
  }
});
