import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { frame, frameHeader, StdcopyDecoder } from '../../src/api/stdcopy.js';
import type { StdFrame } from '../../src/api/stdcopy.js';
import { BerthError } from '../../src/lib/errors.js';

test('the header is [stream, 0, 0, 0, size as uint32 big-endian]', () => {
  assert.deepEqual([...frameHeader(2, 0x01020304)], [2, 0, 0, 0, 1, 2, 3, 4]);
  assert.deepEqual([...frame(1, Buffer.from('hi\n'))], [1, 0, 0, 0, 0, 0, 0, 3, 0x68, 0x69, 0x0a]);
});

test('frames decode back to the same streams and bytes, whatever the chunking', () => {
  const sent: StdFrame[] = [
    { stream: 1, data: Buffer.from('hello\n') },
    { stream: 2, data: Buffer.from([0, 1, 2, 255]) },
    { stream: 1, data: Buffer.alloc(0) },
    { stream: 3, data: Buffer.from('boom') },
    { stream: 0, data: Buffer.alloc(70_000, 7) },
  ];
  const wire = Buffer.concat(sent.map((f) => frame(f.stream, f.data)));
  for (const step of [1, 3, 8, 9, 1000, wire.length]) {
    const dec = new StdcopyDecoder();
    const got: StdFrame[] = [];
    for (let i = 0; i < wire.length; i += step) got.push(...dec.push(wire.subarray(i, i + step)));
    assert.deepEqual(got, sent, `chunks of ${step}`);
    assert.equal(dec.pending, 0);
  }
});

test('a payload over 1 MiB is split into frames that concatenate to it', () => {
  const big = Buffer.alloc(2.5 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const frames = new StdcopyDecoder().push(frame(2, big));
  assert.equal(frames.length, 3);
  assert.ok(frames.every((f) => f.stream === 2 && f.data.length <= 1024 * 1024));
  assert.ok(Buffer.concat(frames.map((f) => f.data)).equals(big));
});

test('a stream cut mid-frame leaves pending bytes; a bad stream byte is an error', () => {
  const dec = new StdcopyDecoder();
  assert.deepEqual(dec.push(frame(1, Buffer.from('abcdef')).subarray(0, 10)), []);
  assert.equal(dec.pending, 10);
  assert.throws(
    () => new StdcopyDecoder().push(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])),
    (err: unknown) => err instanceof BerthError && /Unrecognized input header: 9/.test(err.message),
  );
});
