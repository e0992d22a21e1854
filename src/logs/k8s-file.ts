/**
 * conmon's "k8s-file" log format, one record a line:
 *   `<RFC3339Nano, conmon's local offset> <stdout|stderr> <F|P> <payload>\n`
 * `P` (partial): the payload had no newline within one of conmon's reads; the record's `\n` is
 * conmon's, not the container's. `F` (full): conmon stripped the container's newline, so the
 * reader adds it back.
 */
export type LogStream = 'stdout' | 'stderr';

export type LogRecord = {
  stream: LogStream;
  /** Unix epoch nanoseconds, UTC. */
  timeNs: bigint;
  partial: boolean;
  /** The payload, without the record's terminating `\n`. */
  data: Buffer;
};

/** What `docker logs` returns: whole lines (ending in `\n`) except where noted in MessageAssembler. */
export type LogMessage = {
  readonly stream: LogStream;
  readonly timeNs: bigint;
  readonly data: Buffer;
  /**
   * A message that is a span of the reader's buffer, `src[start, end)`, says so: a writer can
   * copy it from there without `data` being made (a view per line is most of what a million
   * lines cost).
   */
  readonly src?: Buffer;
  readonly start?: number;
  readonly end?: number;
};

/** A full line read from a file: its bytes stay where they were read, `data` is made on demand. */
export class SpanMessage implements LogMessage {
  readonly stream: LogStream;
  readonly timeNs: bigint;
  readonly src: Buffer;
  readonly start: number;
  readonly end: number;

  constructor(stream: LogStream, timeNs: bigint, src: Buffer, start: number, end: number) {
    this.stream = stream;
    this.timeNs = timeNs;
    this.src = src;
    this.start = start;
    this.end = end;
  }

  get data(): Buffer {
    return this.src.subarray(this.start, this.end);
  }
}

const NS_PER_S = 1_000_000_000n;
const SPACE = 0x20;
const NL = 0x0a;
const NEWLINE = Buffer.from('\n');

/** Parses one record; `line` may include its terminating `\n`. Malformed → undefined. */
export function parseRecord(line: Buffer): LogRecord | undefined {
  const end = line.length > 0 && line[line.length - 1] === NL ? line.length - 1 : line.length;
  return parseRecordIn(line, 0, end);
}

/**
 * Parses the record in `buf[start, end)` (end excludes the `\n`). Works on bytes so that a
 * 100 MiB log is not turned into a million strings; `data` is a view into `buf`, not a copy.
 */
export function parseRecordIn(buf: Buffer, start: number, end: number): LogRecord | undefined {
  const h = parseRecordHead(buf, start, end);
  return h && { stream: h.stream, timeNs: h.timeNs, partial: h.partial, data: buf.subarray(h.dataStart, end) };
}

/** What parseRecordIn finds, with where the payload starts instead of a view of it. */
export type RecordHead = { stream: LogStream; timeNs: bigint; partial: boolean; dataStart: number };

/** `stdout` or `stderr` at buf[at, at+6), byte by byte (no Buffer.compare per record). */
function streamAt(buf: Buffer, at: number): LogStream | undefined {
  if (buf[at] !== 0x73 || buf[at + 1] !== 0x74 || buf[at + 2] !== 0x64) return undefined; // std
  if (buf[at + 3] === 0x6f && buf[at + 4] === 0x75 && buf[at + 5] === 0x74) return 'stdout';
  if (buf[at + 3] === 0x65 && buf[at + 4] === 0x72 && buf[at + 5] === 0x72) return 'stderr';
  return undefined;
}

/**
 * `withTime` false: the time is not worked out (0), only the timestamp's shape checked; for a
 * reader that neither filters by time nor shows it, and reads a million lines.
 */
export function parseRecordHead(buf: Buffer, start: number, end: number, withTime = true, into?: RecordHead): RecordHead | undefined {
  const sp1 = buf.indexOf(SPACE, start);
  if (sp1 < 0 || sp1 >= end) return undefined;
  const timeNs = withTime ? parseTimestampBytes(buf, start, sp1) : looksLikeTimestamp(buf, start, sp1) ? 0n : undefined;
  if (timeNs === undefined) return undefined;
  const sp2 = sp1 + 7;
  if (sp2 >= end || buf[sp2] !== SPACE) return undefined;
  const stream = streamAt(buf, sp1 + 1);
  if (stream === undefined) return undefined;
  // The CRI format allows several tags joined by ':'; conmon writes just F or P.
  let sp3 = buf.indexOf(SPACE, sp2 + 1);
  if (sp3 < 0 || sp3 > end) sp3 = end;
  let partial: boolean | undefined;
  for (let i = sp2 + 1; i < sp3; i += 2) {
    const tag = buf[i];
    if (tag === 0x50 /* P */) partial = true;
    else if (tag === 0x46 /* F */) partial ??= false;
    else return undefined;
    if (i + 1 < sp3 && buf[i + 1] !== 0x3a /* : */) return undefined;
  }
  if (partial === undefined) return undefined;
  const dataStart = sp3 < end ? sp3 + 1 : end;
  if (!into) return { stream, timeNs, partial, dataStart };
  // A reader of a million lines passes one object to fill rather than take a new one each time.
  into.stream = stream;
  into.timeNs = timeNs;
  into.partial = partial;
  into.dataStart = dataStart;
  return into;
}

function looksLikeTimestamp(buf: Buffer, start: number, end: number): boolean {
  return end - start >= 20 && buf[start + 4] === 0x2d && buf[start + 10] === 0x54 && buf[start + 13] === 0x3a;
}

function digits(buf: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = (buf[i] ?? 0) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±hh:mm)` in buf[start, end) → epoch ns. */
function parseTimestampBytes(buf: Buffer, start: number, end: number): bigint | undefined {
  if (end - start < 20) return undefined;
  const year = digits(buf, start, 4);
  const month = digits(buf, start + 5, 2);
  const day = digits(buf, start + 8, 2);
  const hour = digits(buf, start + 11, 2);
  const min = digits(buf, start + 14, 2);
  const sec = digits(buf, start + 17, 2);
  if (
    buf[start + 4] !== 0x2d || buf[start + 7] !== 0x2d || buf[start + 10] !== 0x54 ||
    buf[start + 13] !== 0x3a || buf[start + 16] !== 0x3a
  ) return undefined;
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  if (hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60) return undefined;
  let i = start + 19;
  let nanos = 0;
  if (buf[i] === 0x2e /* . */) {
    i++;
    let n = 0;
    while (i < end && n < 9 && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
      nanos = nanos * 10 + (buf[i]! - 0x30);
      i++;
      n++;
    }
    if (n === 0) return undefined;
    for (; n < 9; n++) nanos *= 10;
  }
  let offsetS = 0;
  if (i === end - 1 && (buf[i] === 0x5a || buf[i] === 0x7a) /* Z z */) {
    // UTC
  } else if (i === end - 6 && (buf[i] === 0x2b || buf[i] === 0x2d) && buf[i + 3] === 0x3a) {
    const oh = digits(buf, i + 1, 2);
    const om = digits(buf, i + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return undefined;
    offsetS = (oh * 3600 + om * 60) * (buf[i] === 0x2d ? -1 : 1);
  } else {
    return undefined;
  }
  // Date.UTC is exact to the second; the nanoseconds ride separately as a bigint. Lines come
  // many to a second: the second's value is kept from the previous call.
  const key = ((((year * 13 + month) * 32 + day) * 24 + hour) * 60 + min) * 61 + sec;
  if (key !== lastSecond.key || offsetS !== lastSecond.offsetS) {
    lastSecond.key = key;
    lastSecond.offsetS = offsetS;
    lastSecond.ns = BigInt(Date.UTC(year, month - 1, day, hour, min, sec) / 1000 - offsetS) * NS_PER_S;
  }
  return nanos === 0 ? lastSecond.ns : lastSecond.ns + BigInt(nanos);
}

const lastSecond = { key: -1, offsetS: 0, ns: 0n };

/**
 * Joins conmon's records into messages. A run of `P` records of one stream, up to and
 * including its `F`, becomes one message ending in `\n`; each stream keeps its own run because
 * conmon interleaves stdout and stderr records. A message takes the time of its first record
 * (as Docker's copier does for partial lines). Runs longer than `maxMessage` are emitted in
 * pieces without a newline, so a container writing endless bytes without a newline cannot
 * make the reader buffer without bound; the concatenation of a stream's messages stays
 * byte-identical to what the container wrote.
 */
export class MessageAssembler {
  readonly #maxMessage: number;
  #pending: { stdout: LogRecord[]; stderr: LogRecord[] } = { stdout: [], stderr: [] };
  #pendingBytes = { stdout: 0, stderr: 0 };

  constructor(maxMessage = 1024 * 1024) {
    this.#maxMessage = maxMessage;
  }

  /** Returns the message this record completes, if any. */
  push(rec: LogRecord): LogMessage | undefined {
    const s = rec.stream;
    const run = this.#pending[s];
    if (!rec.partial) {
      if (run.length === 0) return { stream: s, timeNs: rec.timeNs, data: Buffer.concat([rec.data, NEWLINE]) };
      run.push(rec);
      return this.#take(s, true);
    }
    run.push(rec);
    this.#pendingBytes[s] += rec.data.length;
    return this.#pendingBytes[s] >= this.#maxMessage ? this.#take(s, false) : undefined;
  }

  /** Whether a run of `P` records of this stream waits for its end (a full record then joins it). */
  pending(s: LogStream): boolean {
    return this.#pending[s].length > 0;
  }

  /** Unfinished runs as messages without a newline (the container exited mid-line). */
  flush(): LogMessage[] {
    const out: LogMessage[] = [];
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#pending[s].length > 0) out.push(this.#take(s, false));
    }
    return out.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  }

  /** Forgets unfinished runs, e.g. after the file was truncated under us. */
  reset(): void {
    this.#pending = { stdout: [], stderr: [] };
    this.#pendingBytes = { stdout: 0, stderr: 0 };
  }

  #take(s: LogStream, newline: boolean): LogMessage {
    const run = this.#pending[s];
    const parts = run.map((r) => r.data);
    if (newline) parts.push(NEWLINE);
    this.#pending[s] = [];
    this.#pendingBytes[s] = 0;
    return { stream: s, timeNs: run[0]!.timeNs, data: Buffer.concat(parts) };
  }
}
