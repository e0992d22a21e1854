import { open, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { fstatSync, readSync, statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MessageAssembler, parseRecordHead, SpanMessage, type RecordHead } from './k8s-file.js';
import { findTailStart, MAX_RECORD, Ring, type LogFile, type Position } from './tail.js';
import { encodeMessages, frameMessage, frameRegion, type FrameOptions } from './frames.js';
import type { LogMessage } from './k8s-file.js';
import { errnoCode, messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export type { LogMessage } from './k8s-file.js';

export type ReadLogsOptions = {
  /** conmon's current log file; rotated ones are `path.1` (newest) … `path.N` (oldest). */
  path: string;
  follow: boolean;
  /** The last n messages; undefined or negative means all. */
  tail?: number;
  sinceNs?: bigint;
  untilNs?: bigint;
  signal?: AbortSignal;
  /** Resolves once the container has exited: a follow then drains the files and ends. */
  stopped?: Promise<unknown>;
  log?: Logger;
  /**
   * Whether messages need their time (`-t`, since/until do; the default). Without, timeNs is 0
   * and a large read is cheaper.
   */
  times?: boolean;
  /**
   * Hand out Docker's frames instead of messages (see frames.ts). Written over the read
   * buffer when nothing asks for messages one by one (tail, since/until, timestamps).
   */
  frames?: FrameOptions;
  /**
   * With `frames` and `follow`: where a follower that has caught up puts the frames of a line
   * written meanwhile, synchronously from the file watch's wake-up, instead of yielding them
   * (a promise hop per layer is most of a line's latency when the code runs this rarely).
   * The caller must have written out every batch already yielded before it asks for the next
   * one: direct frames come while it waits for that next one, and must follow what came before.
   * `ready()` false (a slow client) sends the line the usual way, through the iterator.
   */
  direct?: DirectSink;
};

export type DirectSink = { ready(): boolean; write(frames: Buffer[]): void };

// Large reads keep a 100 MiB `docker logs` in a few hundred syscalls.
const CHUNK = 1024 * 1024;
// A follower reads this much or less with a synchronous read (see LineReader.next).
const SYNC_READ = 256 * 1024;
// What a follower reads at once when woken, into this one buffer (reads are synchronous, so
// every follower can share it); the bytes read are copied out into a buffer of their own.
const SCRATCH = Buffer.allocUnsafe(64 * 1024);
// fs.watch can miss events (and cannot watch a directory that does not exist yet).
const POLL_MS = 250;
const NL = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * Reads a container's k8s-file logs as Docker's `logs` does: rotated files oldest first, then
 * the current one; with `follow`, keeps reading across rotations until `signal` aborts or the
 * container has stopped and everything written is read. Files are opened up front, so a
 * rotation during the read renames them under us without losing or repeating lines.
 */
export async function* readLogs(opts: ReadLogsOptions): AsyncGenerator<LogMessage> {
  for await (const batch of readLogBatches(opts)) yield* batch.messages;
}

/**
 * readLogs a chunk of the file at a time: one await per batch rather than per message, which
 * is what a 100 MiB `docker logs` of short lines spends its time on otherwise. A follower gets
 * a batch as soon as there is something new; batches are never empty.
 */
export async function* readLogBatches(opts: ReadLogsOptions): AsyncGenerator<LogBatch> {
  const tail = opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined;
  const source = new LogSource(opts);
  const since = opts.sinceNs;
  const until = opts.untilNs;
  const framing = opts.frames;
  // Messages as the caller wants them: as they are, or framed into one buffer.
  const out = (messages: LogMessage[]): LogBatch | undefined => {
    if (messages.length === 0) return undefined;
    if (!framing) return { messages };
    const framed = encodeMessages(messages, framing);
    return framed.length > 0 ? { messages: [], frames: [framed] } : undefined;
  };
  try {
    await source.open(tail);
    // Docker applies `tail` first, then since/until to what is left.
    let ring = tail !== undefined ? new Ring<LogMessage>(tail) : undefined;
    for (;;) {
      const batch = await source.next();
      if (batch === null) return;
      if (batch.frames) {
        if (batch.frames.length > 0) yield { messages: [], frames: batch.frames };
        continue;
      }
      let messages = batch.messages;
      if (ring) {
        for (const m of messages) ring.push(m);
        if (!batch.caughtUp) continue;
        messages = ring.take();
        ring = undefined;
      }
      if (since === undefined && until === undefined) {
        const b = out(messages);
        if (b) yield b;
        continue;
      }
      const kept: LogMessage[] = [];
      let ended = false;
      for (const m of messages) {
        if (since !== undefined && m.timeNs < since) continue;
        if (until !== undefined && m.timeNs > until) {
          ended = true;
          break;
        }
        kept.push(m);
      }
      const b = out(kept);
      if (b) yield b;
      if (ended) return;
    }
  } finally {
    await source.close();
  }
}

type Batch = { messages: LogMessage[]; caughtUp: boolean; frames?: Buffer[] };

/** What readLogBatches yields: messages, or with the `frames` option Docker's frames (then `messages` is empty). Never empty. */
export type LogBatch = { messages: LogMessage[]; frames?: Buffer[] };

/** Files, positions, rotation and waiting; hands out messages a chunk at a time. */
class LogSource {
  readonly #opts: ReadLogsOptions;
  readonly #asm = new MessageAssembler();
  readonly #handles = new Set<FileHandle>();
  #queue: LogFile[] = [];
  #file: LogFile | undefined;
  #reader: LineReader | undefined;
  #wake: Wake | undefined;
  #stopped = { seen: false };
  #drainingAfterStop = false;
  #reportedCaughtUp = false;
  #ended = false;
  readonly #direct: (() => boolean) | undefined;

  readonly #withTimes: boolean;
  readonly #frames: FrameOptions | undefined;

  constructor(opts: ReadLogsOptions) {
    this.#opts = opts;
    // since/until need times whatever the caller said.
    this.#withTimes = opts.times !== false || opts.sinceNs !== undefined || opts.untilNs !== undefined;
    const oneByOne = (opts.tail !== undefined && opts.tail >= 0) || opts.sinceNs !== undefined || opts.untilNs !== undefined || opts.frames?.timestamps === true;
    this.#frames = oneByOne ? undefined : opts.frames;
    this.#direct = this.#frames && opts.follow && opts.direct ? () => this.#readDirect() : undefined;
  }

  /**
   * Woken while waiting for the file to grow: the common case (new complete lines in the same
   * file) read, framed and handed to the direct sink right here. True when that was all there
   * was to do; false sends the wake-up on to next(), which handles everything else (a stop, an
   * abort, a rotation, truncation, a backlog, a slow client) as it always has.
   */
  #readDirect(): boolean {
    const sink = this.#opts.direct;
    const reader = this.#reader;
    const file = this.#file;
    const o = this.#frames;
    if (!sink || !o || !reader || !file || this.#ended || this.#stopped.seen || this.#queue.length > 0) return false;
    if (this.#opts.signal?.aborted || !sink.ready()) return false;
    try {
      const region = reader.nextFollowing();
      if (region === undefined) return false;
      if (region) {
        const frames = frameRegion(region.buf, region.start, region.end, this.#asm, o);
        if (frames.length > 0) sink.write(frames);
      }
      // After the write: the path still this file and not cut short (else next() sees to it).
      const st = statSync(this.#opts.path, { throwIfNoEntry: false });
      return st !== undefined && st.ino === file.ino && st.size >= reader.pos && !reader.behind;
    } catch {
      // next() meets the same error and reports it.
      return false;
    }
  }

  async open(tail: number | undefined): Promise<void> {
    const { rotated, current } = await this.#openAll();
    const files = current ? [...rotated, current] : rotated;
    const from: Position = tail !== undefined ? await findTailStart(files, tail) : { index: 0, offset: 0 };
    this.#queue = files.slice(from.index);
    const first = this.#queue.shift();
    if (first) this.#startFile(first, from.offset);
    if (this.#opts.follow) {
      this.#wake = new Wake(dirname(this.#opts.path), this.#opts.signal, this.#opts.log);
      // Only a small flag is kept alive by a container that never stops.
      const flag = this.#stopped;
      const wake = this.#wake;
      const onStop = () => {
        flag.seen = true;
        wake.poke();
      };
      this.#opts.stopped?.then(onStop, onStop);
    }
  }

  /** The next messages; `caughtUp` once everything present at that moment has been read. */
  async next(): Promise<Batch | null> {
    const follow = this.#opts.follow;
    for (;;) {
      if (this.#ended || this.#opts.signal?.aborted) return null;
      if (this.#reader && this.#file) {
        const region = await this.#reader.next(follow ? undefined : this.#file.size);
        if (region) {
          if (this.#frames) {
            const frames = frameRegion(region.buf, region.start, region.end, this.#asm, this.#frames);
            if (frames.length > 0) return { messages: [], frames, caughtUp: false };
            continue;
          }
          const messages = collect(region, this.#asm, this.#withTimes);
          if (messages.length > 0) return { messages, caughtUp: false };
          continue;
        }
        const nextFile = this.#queue.shift();
        if (nextFile) {
          await this.#closeHandle(this.#file.fh);
          this.#startFile(nextFile, 0);
          continue;
        }
      }
      if (!follow) return this.#finish();
      if (await this.#checkPath()) continue;
      if (this.#drainingAfterStop) return this.#finish();
      const untilPassed = this.#opts.untilNs !== undefined && nowNs() > this.#opts.untilNs;
      if (this.#stopped.seen || untilPassed) {
        // Everything the container wrote is in the files now: one more full pass, then end.
        this.#drainingAfterStop = true;
        continue;
      }
      if (!this.#reportedCaughtUp) {
        this.#reportedCaughtUp = true;
        return { messages: [], caughtUp: true };
      }
      await this.#wake?.wait(POLL_MS, this.#direct);
    }
  }

  async close(): Promise<void> {
    this.#ended = true;
    this.#wake?.close();
    for (const fh of [...this.#handles]) await this.#closeHandle(fh);
  }

  #finish(): Batch {
    this.#ended = true;
    const rest = this.#asm.flush();
    const o = this.#frames;
    if (!o) return { messages: rest, caughtUp: true };
    return { messages: [], frames: rest.flatMap((m) => frameMessage(m, o) ?? []), caughtUp: true };
  }

  /**
   * At EOF of the newest file: has `path` become another file (rotation), been truncated, or
   * appeared at last? True if there is something new to read.
   */
  async #checkPath(): Promise<boolean> {
    const path = this.#opts.path;
    // Synchronous: a stat is cheaper than the thread-pool round trip, and this runs per wake.
    const st = statSync(path, { throwIfNoEntry: false });
    // Missing: never started, or between berthd's rename and conmon's reopen.
    if (!st) return false;
    if (!this.#file || !this.#reader) {
      const f = await this.#openFile(path);
      if (!f) return false;
      this.#startFile(f, 0);
      return true;
    }
    if (st.ino !== this.#file.ino) {
      // conmon creates the new file only once it is done writing the old one, so the old
      // one is finished: read its rest first, then whatever was rotated after it (we may be
      // more than one rotation behind), then the new file from the start.
      const { rotated, current } = await this.#openAll();
      const files = current ? [...rotated, current] : rotated;
      const at = files.findIndex((f) => f.ino === this.#file?.ino);
      // Not found: the old file was already pruned, so what came between is gone; as with
      // Docker, a reader that falls that far behind loses those lines.
      const next = at >= 0 ? files.slice(at + 1) : current && current.ino !== this.#file.ino ? [current] : [];
      for (const f of files) if (!next.includes(f)) await this.#closeHandle(f.fh);
      this.#queue.push(...next);
      return next.length > 0;
    }
    // The same file as ours: its size says whether it was truncated, without an fstat.
    if (st.size < this.#reader.pos) {
      this.#reader.reset();
      this.#asm.reset();
      return true;
    }
    return false;
  }

  #startFile(f: LogFile, offset: number): void {
    this.#file = f;
    this.#reader = new LineReader(f.fh, offset);
  }

  /** `path` first, then its rotated siblings; a file renamed between two opens is kept once. */
  async #openAll(): Promise<{ rotated: LogFile[]; current: LogFile | undefined }> {
    const path = this.#opts.path;
    const current = await this.#openFile(path);
    const base = basename(path);
    const dir = dirname(path);
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    const numbers = names
      .filter((n) => n.startsWith(`${base}.`) && /^\d+$/.test(n.slice(base.length + 1)))
      .map((n) => Number(n.slice(base.length + 1)))
      .sort((a, b) => a - b);
    const rotated: LogFile[] = [];
    const inodes = new Set(current ? [current.ino] : []);
    for (const n of numbers) {
      const f = await this.#openFile(join(dir, `${base}.${n}`));
      if (!f) continue;
      if (inodes.has(f.ino)) {
        await this.#closeHandle(f.fh);
        continue;
      }
      inodes.add(f.ino);
      rotated.push(f);
    }
    return { rotated: rotated.reverse(), current };
  }

  async #openFile(p: string): Promise<LogFile | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(p, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    this.#handles.add(fh);
    const st = await fh.stat();
    return { fh, ino: st.ino, size: st.size };
  }

  async #closeHandle(fh: FileHandle): Promise<void> {
    this.#handles.delete(fh);
    try {
      await fh.close();
    } catch (err) {
      this.#opts.log?.debug({ err: messageOf(err), path: this.#opts.path }, 'closing a log file failed');
    }
  }
}

/** A span of `buf` holding only complete lines, each ending in `\n`. */
type Region = { buf: Buffer; start: number; end: number };

/** Forward reads of whole lines; an unfinished last line waits in `#carry` for its `\n`. */
class LineReader {
  readonly #fh: FileHandle;
  /** File offset of the next byte to read (bytes in `#carry` are already read). */
  pos: number;
  #carry: Buffer = EMPTY;
  #skipping = false;
  /** A follower behind by more than a SCRATCH read: sized reads (fstat) until it catches up. */
  #behind = false;

  constructor(fh: FileHandle, pos: number) {
    this.#fh = fh;
    this.pos = pos;
  }

  /** Behind: the last follow read filled SCRATCH, more is waiting (nextFollowing leaves it to next()). */
  get behind(): boolean {
    return this.#behind;
  }

  /**
   * The next complete lines before `limit` (or EOF); null when there are none yet. Without a
   * limit (following a file being written) it reads whatever is there.
   */
  async next(limit?: number): Promise<Region | null> {
    for (;;) {
      let buf: Buffer | null;
      if (limit !== undefined) buf = await this.#readSized(Math.min(CHUNK, limit - this.pos), false);
      else {
        if (!this.#behind) {
          const region = this.nextFollowing();
          if (region !== undefined) return region;
          continue;
        }
        const want = Math.min(CHUNK, fstatSync(this.#fh.fd).size - this.pos);
        if (want <= SCRATCH.length) {
          this.#behind = false;
          continue;
        }
        buf = await this.#readSized(want, want <= SYNC_READ);
      }
      if (!buf) return null;
      const region = this.#lines(buf);
      if (region) return region;
    }
  }

  /**
   * A follower woken for one new line reads it with one synchronous read and no fstat (a
   * page-cache copy is cheaper than the thread pool's round trip, and this is the latency of
   * `logs -f`): the complete lines read, null if none yet, undefined when it is behind (that
   * read came back full: next() reads what fstat says is there, in large chunks).
   */
  nextFollowing(): Region | null | undefined {
    for (;;) {
      if (this.#behind) return undefined;
      const n = readSync(this.#fh.fd, SCRATCH, 0, SCRATCH.length, this.pos);
      if (n === 0) return null;
      if (n === SCRATCH.length) this.#behind = true;
      this.pos += n;
      // A fresh buffer each time: records of an unfinished P run keep views of it.
      const buf = Buffer.allocUnsafe(this.#carry.length + n);
      this.#carry.copy(buf, 0);
      SCRATCH.copy(buf, this.#carry.length, 0, n);
      const region = this.#lines(buf);
      if (region) return region;
    }
  }

  /** The complete lines of the carry and `buf` (which starts with it); the rest is carried. */
  #lines(buf: Buffer): Region | null {
    const filled = buf.length;
    const lastNl = buf.lastIndexOf(NL, filled - 1);
    if (lastNl < 0) {
      this.#carry = buf;
      if (this.#carry.length > MAX_RECORD) {
        this.#carry = EMPTY;
        this.#skipping = true;
      }
      return null;
    }
    let start = 0;
    if (this.#skipping) {
      start = buf.indexOf(NL) + 1;
      this.#skipping = false;
    }
    // A follower's read usually ends at a line's end: nothing to carry.
    this.#carry = lastNl + 1 === filled ? EMPTY : Buffer.from(buf.subarray(lastNl + 1, filled));
    return start <= lastNl ? { buf, start, end: lastNl + 1 } : null;
  }

  /** The carry and up to `want` bytes after it, in a fresh buffer; null at EOF. */
  async #readSized(want: number, sync: boolean): Promise<Buffer | null> {
    if (want <= 0) return null;
    const buf = Buffer.allocUnsafe(this.#carry.length + want);
    this.#carry.copy(buf, 0);
    const bytesRead = sync
      ? readSync(this.#fh.fd, buf, this.#carry.length, want, this.pos)
      : (await this.#fh.read(buf, this.#carry.length, want, this.pos)).bytesRead;
    if (bytesRead === 0) return null;
    this.pos += bytesRead;
    return buf.subarray(0, this.#carry.length + bytesRead);
  }

  reset(): void {
    this.pos = 0;
    this.#carry = EMPTY;
    this.#skipping = false;
    this.#behind = false;
  }
}

const head: RecordHead = { stream: 'stdout', timeNs: 0n, partial: false, dataStart: 0 };

function collect(region: Region, asm: MessageAssembler, withTimes: boolean): LogMessage[] {
  const { buf, end } = region;
  const out: LogMessage[] = [];
  let s = region.start;
  while (s < end) {
    const nl = buf.indexOf(NL, s);
    const h = parseRecordHead(buf, s, nl, withTimes, head);
    s = nl + 1;
    // Malformed lines are skipped, as Docker's json-file reader skips what it cannot decode.
    if (!h) continue;
    // A full line's payload is followed by the record's `\n`: the message is a span of both.
    const m = h.partial || asm.pending(h.stream)
      ? asm.push({ stream: h.stream, timeNs: h.timeNs, partial: h.partial, data: buf.subarray(h.dataStart, nl) })
      : new SpanMessage(h.stream, h.timeNs, buf, h.dataStart, nl + 1);
    if (m) out.push(m);
  }
  return out;
}

/** Wakes a follower on a directory change, an abort, a stop, or after a poll interval. */
class Wake {
  #dirty = false;
  #resolve: (() => void) | undefined;
  #watcher: FSWatcher | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.poke();
  // A poll that finds no waiter leaves the next wait to return at once: one extra look. One
  // handled on the spot polls again later.
  readonly #onTimer = () => {
    this.poke();
    if (this.#resolve) this.#timer?.refresh();
  };
  #timer: NodeJS.Timeout | undefined;
  #handle: (() => boolean) | undefined;

  constructor(dir: string, signal: AbortSignal | undefined, log: Logger | undefined) {
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    try {
      this.#watcher = watch(dir, { persistent: false }, () => this.poke());
      this.#watcher.on('error', (err) => {
        log?.debug({ err: messageOf(err), dir }, 'log directory watch failed; polling');
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      // The directory may not exist yet; the poll covers it.
      log?.debug({ err: messageOf(err), dir }, 'cannot watch log directory; polling');
    }
  }

  poke(): void {
    // A waiter whose wake-up is handled on the spot stays parked.
    if (this.#resolve && this.#handle?.()) return;
    this.#dirty = true;
    const r = this.#resolve;
    this.#resolve = undefined;
    this.#handle = undefined;
    r?.();
  }

  /** Until poked (or `ms` pass); `handle` may take care of a wake-up itself (true: keep waiting). */
  wait(ms: number, handle?: () => boolean): Promise<void> {
    if (this.#dirty) {
      this.#dirty = false;
      return Promise.resolve();
    }
    // One timer, re-armed per wait: a follower waits once per line written.
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(this.#onTimer, ms);
    this.#handle = handle;
    return new Promise((resolve) => {
      this.#resolve = () => {
        this.#dirty = false;
        resolve();
      };
    });
  }

  close(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#handle = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
    this.poke();
  }
}


function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
