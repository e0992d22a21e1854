import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogs } from '../../src/logs/log-reader.js';
import type { LogMessage, ReadLogsOptions } from '../../src/logs/log-reader.js';
import { concatStream, encodeWrites, randomWrites, record } from './k8s-file-fixtures.js';
import type { Write } from './k8s-file-fixtures.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'berth-logs-'));
}

/** Any follow test ends within `ms` even if the reader is broken. */
function deadline(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

async function readAll(opts: ReadLogsOptions): Promise<LogMessage[]> {
  const out: LogMessage[] = [];
  for await (const m of readLogs(opts)) out.push(m);
  return out;
}

const text = (msgs: LogMessage[]) => msgs.map((m) => m.data.toString());
const lines = (from: number, to: number, prefix = 'line') =>
  Array.from({ length: to - from }, (_, i) => ({ stream: 'stdout' as const, data: Buffer.from(`${prefix} ${from + i}\n`) }));

/** Spreads records over log.N … log.1, log, cutting at record boundaries. */
function writeRotated(path: string, records: Buffer[], files: number): void {
  const per = Math.ceil(records.length / files);
  for (let i = 0; i < files; i++) {
    const n = files - 1 - i;
    writeFileSync(n === 0 ? path : `${path}.${n}`, Buffer.concat(records.slice(i * per, (i + 1) * per)));
  }
}

async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

test('a container that never started has no logs', async () => {
  const dir = tempDir();
  try {
    assert.deepEqual(await readAll({ path: join(dir, 'log'), follow: false }), []);
    assert.deepEqual(await readAll({ path: join(dir, 'missing-dir', 'log'), follow: false, tail: 5 }), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker logs returns every byte the container wrote, across rotated files', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    for (const seed of [11, 12, 13]) {
      const writes = randomWrites(seed, 400);
      writeRotated(path, encodeWrites(writes, { offsetMin: seed === 12 ? -330 : 120 }), 3);
      const msgs = await readAll({ path, follow: false });
      for (const s of ['stdout', 'stderr'] as const) {
        assert.ok(concatStream(msgs, s).equals(concatStream(writes, s)), `seed ${seed} ${s}`);
      }
      const times = msgs.map((m) => m.timeNs);
      assert.ok(times.every((t) => t > 1_700_000_000_000_000_000n));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('skips malformed lines and holds back a record conmon is still writing', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(
      path,
      Buffer.concat([
        record('stdout', 'F', 1n, 'one'),
        Buffer.from('not a record\n\n'),
        record('stderr', 'F', 2n, 'two'),
        record('stdout', 'F', 3n, 'half-writ').subarray(0, 40),
      ]),
    );
    assert.deepEqual(text(await readAll({ path, follow: false })), ['one\n', 'two\n']);
    assert.deepEqual(text(await readAll({ path, follow: false, tail: 1 })), ['two\n']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker logs --tail counts lines across rotated files', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeRotated(path, encodeWrites(lines(0, 30)), 3);
    assert.deepEqual(text(await readAll({ path, follow: false, tail: 15 })), lines(15, 30).map((l) => l.data.toString()));
    assert.deepEqual(text(await readAll({ path, follow: false, tail: 3 })), ['line 27\n', 'line 28\n', 'line 29\n']);
    assert.deepEqual(await readAll({ path, follow: false, tail: 0 }), []);
    assert.equal((await readAll({ path, follow: false, tail: 100 })).length, 30);
    assert.equal((await readAll({ path, follow: false, tail: -1 })).length, 30);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--tail n gives the last n of all messages, with long and interleaved lines', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    for (const seed of [21, 22]) {
      const writes = randomWrites(seed, 300);
      writeRotated(path, encodeWrites(writes), 4);
      const all = await readAll({ path, follow: false });
      for (const n of [1, 2, 5, 17, 100, 250, all.length, all.length + 5]) {
        const got = await readAll({ path, follow: false, tail: n });
        assert.deepEqual(
          got.map((m) => [m.stream, m.timeNs, m.data]),
          all.slice(-n).map((m) => [m.stream, m.timeNs, m.data]),
          `seed ${seed} tail ${n}`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--tail 10 of a 64 MiB log reads only its end', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    // A sparse 64 MiB of NULs (one huge malformed "line") before the last records.
    writeFileSync(path, '');
    truncateSync(path, 64 * 1024 * 1024);
    appendFileSync(path, '\n');
    appendFileSync(path, Buffer.concat(encodeWrites(lines(0, 50))));
    const rchar = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const before = rchar();
    const got = await readAll({ path, follow: false, tail: 10 });
    const read = rchar() - before;
    assert.deepEqual(text(got), lines(40, 50).map((l) => l.data.toString()));
    assert.ok(read < 4 * 1024 * 1024, `read ${read} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--tail 1 does not read a whole file of the other stream to find where a line began', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    const noise = encodeWrites([{ stream: 'stderr', data: Buffer.alloc(17 * 200_000, '0123456789abcdef\n') }]);
    writeFileSync(path, Buffer.concat([record('stdout', 'F', 1n, 'first'), ...noise, record('stdout', 'F', 2n, 'last')]));
    const rchar = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const before = rchar();
    const got = await readAll({ path, follow: false, tail: 1 });
    const read = rchar() - before;
    assert.deepEqual(text(got), ['last\n']);
    assert.ok(read < 4 * 1024 * 1024, `read ${read} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('since and until filter by record time', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    const start = 1_800_000_000_000_000_000n;
    const sec = 1_000_000_000n;
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 10), { startNs: start, stepNs: sec })));
    const got = await readAll({ path, follow: false, sinceNs: start + 3n * sec, untilNs: start + 6n * sec });
    assert.deepEqual(text(got), ['line 3\n', 'line 4\n', 'line 5\n', 'line 6\n']);
    // Docker applies --tail before --since.
    const tailed = await readAll({ path, follow: false, tail: 3, sinceNs: start + 8n * sec });
    assert.deepEqual(text(tailed), ['line 8\n', 'line 9\n']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker logs -f follows appends and a rotation, then ends once the container stopped', { timeout: 15_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 5))));
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const got: LogMessage[] = [];
    const reading = (async () => {
      for await (const m of readLogs({ path, follow: true, stopped, signal: deadline(12_000) })) got.push(m);
    })();
    await waitFor(() => got.length === 5, 'initial lines');
    appendFileSync(path, Buffer.concat(encodeWrites(lines(5, 8))));
    await waitFor(() => got.length === 8, 'appended lines');
    // conmon may still write to the old file between berthd's rename and its reopen.
    renameSync(path, `${path}.1`);
    appendFileSync(`${path}.1`, Buffer.concat(encodeWrites(lines(8, 10))));
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(path, Buffer.concat(encodeWrites(lines(10, 12))));
    await waitFor(() => got.length === 12, 'lines after rotation');
    // A line split over two writes, and one the container never finished.
    appendFileSync(path, record('stdout', 'P', 5n, 'line '));
    appendFileSync(path, record('stdout', 'F', 6n, '12'));
    appendFileSync(path, record('stderr', 'P', 7n, 'no newline'));
    await waitFor(() => got.length === 13, 'joined line');
    stop();
    await reading;
    assert.deepEqual(text(got), [...lines(0, 13).map((l) => l.data.toString()), 'no newline']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow with tail starts from the last lines', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 20))));
    const got: LogMessage[] = [];
    const ac = new AbortController();
    const signal = AbortSignal.any([ac.signal, deadline(8_000)]);
    const reading = (async () => {
      for await (const m of readLogs({ path, follow: true, tail: 2, signal })) got.push(m);
    })();
    await waitFor(() => got.length === 2, 'tail');
    appendFileSync(path, Buffer.concat(encodeWrites(lines(20, 21))));
    await waitFor(() => got.length === 3, 'new line');
    ac.abort();
    await reading;
    assert.deepEqual(text(got), ['line 18\n', 'line 19\n', 'line 20\n']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow waits for the log file to appear', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const got: LogMessage[] = [];
    const reading = (async () => {
      for await (const m of readLogs({ path, follow: true, stopped, signal: deadline(8_000) })) got.push(m);
    })();
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 2))));
    await waitFor(() => got.length === 2, 'lines in the new file');
    appendFileSync(path, Buffer.concat(encodeWrites(lines(2, 3))));
    stop();
    await reading;
    assert.deepEqual(text(got), lines(0, 3).map((l) => l.data.toString()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow starts over when the file is truncated', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 5))));
    const got: LogMessage[] = [];
    const ac = new AbortController();
    const signal = AbortSignal.any([ac.signal, deadline(8_000)]);
    const reading = (async () => {
      for await (const m of readLogs({ path, follow: true, signal })) got.push(m);
    })();
    await waitFor(() => got.length === 5, 'initial lines');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 1, 'fresh'))));
    await waitFor(() => got.length === 6, 'line after truncation');
    ac.abort();
    await reading;
    assert.equal(got[5]!.data.toString(), 'fresh 0\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow of an already stopped container returns what is there', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 3))));
    const got = await readAll({ path, follow: true, stopped: Promise.resolve(), signal: deadline(8_000) });
    assert.deepEqual(text(got), lines(0, 3).map((l) => l.data.toString()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('until ends a follow once a later record shows up', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    const now = BigInt(Date.now()) * 1_000_000n;
    const sec = 1_000_000_000n;
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 2), { startNs: now, stepNs: sec })));
    const got: LogMessage[] = [];
    const reading = (async () => {
      for await (const m of readLogs({ path, follow: true, untilNs: now + 60n * sec, signal: deadline(8_000) })) got.push(m);
    })();
    await waitFor(() => got.length === 2, 'lines before until');
    appendFileSync(path, Buffer.concat(encodeWrites(lines(2, 4), { startNs: now + 120n * sec })));
    await reading;
    assert.deepEqual(text(got), ['line 0\n', 'line 1\n']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('until already past ends a follow after draining', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    const past = BigInt(Date.now() - 60_000) * 1_000_000n;
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 2), { startNs: past - 1_000_000_000n })));
    const got = await readAll({ path, follow: true, untilNs: past, signal: deadline(8_000) });
    assert.deepEqual(text(got), ['line 0\n', 'line 1\n']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('aborting a follow returns quietly', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 1))));
    const ac = new AbortController();
    const got: LogMessage[] = [];
    const reading = (async () => {
      for await (const m of readLogs({ path, follow: true, signal: ac.signal })) got.push(m);
    })();
    await waitFor(() => got.length === 1, 'first line');
    ac.abort();
    await reading;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a follower that falls two rotations behind reads the file in between', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.concat(encodeWrites(lines(0, 3))));
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const it = readLogs({ path, follow: true, stopped, signal: deadline(8_000) });
    const first = await it.next();
    assert.equal(first.done, false);
    // The generator is paused: nothing reads while berthd rotates twice.
    renameSync(path, `${path}.1`);
    writeFileSync(path, Buffer.concat(encodeWrites(lines(3, 5))));
    renameSync(`${path}.1`, `${path}.2`);
    renameSync(path, `${path}.1`);
    writeFileSync(path, Buffer.concat(encodeWrites(lines(5, 7))));
    stop();
    const got = [first.value as LogMessage];
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value);
    assert.deepEqual(text(got), lines(0, 7).map((l) => l.data.toString()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a client that goes away mid-follow leaves no fds or watchers behind', { timeout: 10_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeRotated(path, encodeWrites(lines(0, 30)), 3);
    // libuv opens its inotify fd on first use and keeps it; take that out of the count.
    for await (const _ of readLogs({ path, follow: true, stopped: Promise.resolve() })) break;
    const before = openFds();
    for (let i = 0; i < 5; i++) {
      let n = 0;
      for await (const _ of readLogs({ path, follow: true, signal: deadline(8_000) })) if (++n === 12) break;
      for await (const _ of readLogs({ path, follow: false, tail: 5 })) break;
    }
    assert.equal(openFds(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow loses nothing while lines stream in during rotations', { timeout: 20_000 }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'log');
    writeFileSync(path, '');
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const got: LogMessage[] = [];
    const reading = (async () => {
      for await (const m of readLogs({ path, follow: true, stopped, signal: deadline(18_000) })) got.push(m);
    })();
    const writes: Write[] = [];
    let rotations = 0;
    for (let i = 0; i < 200; i++) {
      const w = lines(i, i + 1);
      writes.push(...w);
      appendFileSync(path, Buffer.concat(encodeWrites(w)));
      if (i % 40 === 39) {
        // berthd: shift log.N → log.N+1, log → log.1; conmon reopens `log`.
        for (let n = rotations; n >= 1; n--) renameSync(`${path}.${n}`, `${path}.${n + 1}`);
        renameSync(path, `${path}.1`);
        writeFileSync(path, '');
        rotations++;
      }
      if (i % 7 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    stop();
    await reading;
    assert.ok(concatStream(got, 'stdout').equals(concatStream(writes, 'stdout')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
