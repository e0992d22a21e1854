import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MessageAssembler, parseRecord } from '../../src/logs/k8s-file.js';
import { formatTimestamp, parseDockerTime } from '../../src/lib/docker-time.js';
import type { LogMessage } from '../../src/logs/k8s-file.js';
import { BerthError } from '../../src/lib/errors.js';
import { concatStream, encodeWrites, randomWrites, record } from './k8s-file-fixtures.js';

const line = (s: string) => Buffer.from(s);

test('parses a conmon stdout record to the nanosecond', () => {
  const r = parseRecord(line('2026-11-25T08:13:04.620013167+00:00 stdout F line 1\n'));
  assert.ok(r);
  assert.equal(r.stream, 'stdout');
  assert.equal(r.partial, false);
  assert.equal(r.data.toString(), 'line 1');
  assert.equal(r.timeNs, BigInt(Date.UTC(2026, 10, 25, 8, 13, 4)) * 1_000_000n + 620_013_167n);
});

test('applies the timezone offset conmon wrote (+02:00, -05:30, Z)', () => {
  const utc = BigInt(Date.UTC(2026, 10, 25, 8, 13, 4)) * 1_000_000n + 620_013_167n;
  for (const [stamp, want] of [
    ['2026-11-25T10:13:04.620013167+02:00', utc],
    ['2026-11-25T02:43:04.620013167-05:30', utc],
    ['2026-11-25T08:13:04.620013167Z', utc],
    ['2026-11-25T08:13:04.62+00:00', utc - 13_167n],
    ['2026-11-25T08:13:04+00:00', utc - 620_013_167n],
    ['2026-11-25T00:30:00.000000001-08:00', BigInt(Date.UTC(2026, 10, 25, 8, 30)) * 1_000_000n + 1n],
  ] as const) {
    const r = parseRecord(line(`${stamp} stderr F x`));
    assert.equal(r?.timeNs, want, stamp);
  }
});

test('P records are partial; an empty F record is an empty line', () => {
  const p = parseRecord(line('2026-11-25T08:13:04.620013167+00:00 stdout P abc'));
  assert.equal(p?.partial, true);
  assert.equal(p?.data.toString(), 'abc');
  const empty = parseRecord(line('2026-11-25T08:13:04.620013167+00:00 stdout F \n'));
  assert.equal(empty?.data.length, 0);
  const bare = parseRecord(line('2026-11-25T08:13:04.620013167+00:00 stdout F'));
  assert.equal(bare?.data.length, 0);
  const tags = parseRecord(line('2026-11-25T08:13:04.620013167+00:00 stdout F:P x'));
  assert.equal(tags?.partial, true);
});

test('keeps payload bytes as they are: spaces, \\r, NUL, invalid UTF-8', () => {
  const payload = Buffer.from([0x20, 0x20, 0x0d, 0x00, 0xff, 0xfe, 0x20]);
  const r = parseRecord(record('stdout', 'F', 1n, payload));
  assert.deepEqual(r?.data, payload);
});

test('malformed lines are rejected without throwing', () => {
  for (const bad of [
    '',
    'garbage',
    '2026-11-25T08:13:04.620013167+00:00',
    '2026-11-25T08:13:04.620013167+00:00 stdout',
    '2026-11-25T08:13:04.620013167+00:00 stdin F x',
    '2026-11-25T08:13:04.620013167+00:00 stdout X x',
    '2026-11-25T08:13:04.620013167+00:00 stdout FF x',
    '2026-11-25 08:13:04.620013167+00:00 stdout F x',
    '2026-13-25T08:13:04.620013167+00:00 stdout F x',
    '2026-11-25T25:13:04.620013167+00:00 stdout F x',
    '2026-11-25T08:13:04.620013167 stdout F x',
    '2026-11-25T08:13:04.+00:00 stdout F x',
    '2026-11-25T08:13:04.620013167+0000 stdout F x',
    '2026-11-25T08:13:04.620013167+00:00  stdout F x',
    'x026-11-25T08:13:04.620013167+00:00 stdout F x',
  ]) {
    assert.equal(parseRecord(line(bad)), undefined, JSON.stringify(bad));
  }
});

function assemble(lines: Buffer[], max?: number): LogMessage[] {
  const asm = new MessageAssembler(max);
  const out: LogMessage[] = [];
  for (const l of lines) {
    const r = parseRecord(l);
    assert.ok(r, l.toString());
    const m = asm.push(r);
    if (m) out.push(m);
  }
  return [...out, ...asm.flush()];
}

test('joins P…F into one line, per stream, with the first record’s time', () => {
  const msgs = assemble([
    record('stdout', 'P', 10n, 'hel'),
    record('stderr', 'F', 11n, 'oops'),
    record('stdout', 'P', 12n, 'lo '),
    record('stdout', 'F', 13n, 'world'),
    record('stdout', 'F', 14n, ''),
  ]);
  assert.deepEqual(
    msgs.map((m) => [m.stream, m.timeNs, m.data.toString()]),
    [
      ['stderr', 11n, 'oops\n'],
      ['stdout', 10n, 'hello world\n'],
      ['stdout', 14n, '\n'],
    ],
  );
});

test('a container that exits mid-line leaves its last bytes without a newline', () => {
  const msgs = assemble([record('stdout', 'F', 1n, 'a'), record('stdout', 'P', 2n, 'b'), record('stdout', 'P', 3n, 'c')]);
  assert.deepEqual(msgs.map((m) => m.data.toString()), ['a\n', 'bc']);
});

test('an endless line is emitted in bounded pieces that still add up', () => {
  const msgs = assemble(
    [record('stdout', 'P', 1n, 'aaaa'), record('stdout', 'P', 2n, 'bbbb'), record('stdout', 'P', 3n, 'cc'), record('stdout', 'F', 4n, 'd')],
    8,
  );
  assert.deepEqual(msgs.map((m) => m.data.toString()), ['aaaabbbb', 'ccd\n']);
});

test('reassembled output equals what the container wrote, byte for byte', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const writes = randomWrites(seed, 300);
    const msgs = assemble(encodeWrites(writes));
    for (const s of ['stdout', 'stderr'] as const) {
      assert.ok(concatStream(msgs, s).equals(concatStream(writes, s)), `seed ${seed} ${s}`);
    }
  }
});

test('a 20000-byte line comes back as P,P,F records joined into one message', () => {
  const data = Buffer.concat([Buffer.alloc(20_000, 0x61), Buffer.from('\n')]);
  const lines = encodeWrites([{ stream: 'stdout', data }]);
  assert.deepEqual(lines.map((l) => parseRecord(l)?.partial), [true, true, false]);
  const msgs = assemble(lines);
  assert.equal(msgs.length, 1);
  assert.ok(msgs[0]!.data.equals(data));
});

test('formats timestamps as docker logs -t does: UTC, nine fraction digits', () => {
  const t = BigInt(Date.UTC(2026, 10, 25, 8, 13, 4)) * 1_000_000n + 620_013_167n;
  assert.equal(formatTimestamp(t), '2026-11-25T08:13:04.620013167Z');
  assert.equal(formatTimestamp(t - 620_013_167n + 5n), '2026-11-25T08:13:04.000000005Z');
  assert.equal(formatTimestamp(0n), '1970-01-01T00:00:00.000000000Z');
  const parsed = parseRecord(line('2026-11-25T10:13:04.620013167+02:00 stdout F x'));
  assert.equal(formatTimestamp(parsed!.timeNs), '2026-11-25T08:13:04.620013167Z');
});

test('parses since/until as the docker CLI sends them: unix seconds with fraction', () => {
  assert.equal(parseDockerTime('1700000000'), 1_700_000_000_000_000_000n);
  assert.equal(parseDockerTime('1700000000.123456789'), 1_700_000_000_123_456_789n);
  assert.equal(parseDockerTime('1700000000.5'), 1_700_000_000_500_000_000n);
  assert.equal(parseDockerTime('0'), 0n);
});

test('parses RFC3339 forms with zones and nanoseconds', () => {
  const base = BigInt(Date.UTC(2026, 10, 25, 8, 13, 4)) * 1_000_000n;
  assert.equal(parseDockerTime('2026-11-25T08:13:04Z'), base);
  assert.equal(parseDockerTime('2026-11-25T08:13:04.620013167Z'), base + 620_013_167n);
  assert.equal(parseDockerTime('2026-11-25T10:13:04+02:00'), base);
  assert.equal(parseDockerTime('2026-11-25T02:43:04.1-05:30'), base + 100_000_000n);
  const local = BigInt(new Date(2026, 10, 25).getTime()) * 1_000_000n;
  assert.equal(parseDockerTime('2026-11-25'), local);
  const localT = BigInt(new Date(2026, 10, 25, 8, 13).getTime()) * 1_000_000n;
  assert.equal(parseDockerTime('2026-11-25T08:13'), localT);
});

test('parses Go durations relative to now', () => {
  const now = 1_800_000_000_000_000_000n;
  const min = 60_000_000_000n;
  assert.equal(parseDockerTime('10m', now), now - 10n * min);
  assert.equal(parseDockerTime('1h30m', now), now - 90n * min);
  assert.equal(parseDockerTime('1.5h', now), now - 90n * min);
  assert.equal(parseDockerTime('500ms', now), now - 500_000_000n);
  assert.equal(parseDockerTime('2s300us', now), now - 2_000_300_000n);
});

test('rejects what is neither a time nor a duration', () => {
  for (const bad of ['', 'yesterday', '10x', '2026-13-01', '2026-11-25T08:13:04+0200', '1h 30m', '1.2.3']) {
    assert.throws(
      () => parseDockerTime(bad),
      (err: unknown) => err instanceof BerthError && err.kind === 'InvalidParameter' && err.message.includes('failed to parse'),
      bad,
    );
  }
});
