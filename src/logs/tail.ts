import type { FileHandle } from 'node:fs/promises';
import { parseRecordIn, type LogRecord, type LogStream } from './k8s-file.js';

/*
 * `docker logs --tail n`: where in the files reading must start, found by walking records
 * backwards from the end, so that a 100 MiB log is not read from the start for its last lines.
 */

/** An open log file as the reader holds it. */
export type LogFile = { fh: FileHandle; ino: number; size: number };
/** A file of the reader's list, and an offset in it. */
export type Position = { index: number; offset: number };

const TAIL_CHUNK = 256 * 1024;
// conmon's records hold at most one 8 KiB read; a "line" this long without a newline is not
// one of its records, and dropping it keeps memory bounded on a corrupt file.
export const MAX_RECORD = 1024 * 1024;
const NL = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * Where reading must start so that the last `n` messages come out whole. Walks records
 * backwards from the end: a message ends at an `F` record, or at the last `P` record of a
 * stream (a run not finished yet). Once `n` messages are counted, it keeps walking until the
 * first record of every counted message has been passed, i.e. until an earlier `F` of each
 * such stream (or TAIL_SLACK runs out). Reading forward from there may yield a few extra
 * older messages; the caller's ring of `n` drops them.
 */
export async function findTailStart(files: LogFile[], n: number): Promise<Position> {
  // With n = 0 the walk stops after the last complete record, not at the file's size, which
  // may fall inside a record conmon is still writing.
  const counter = new TailCounter(n);
  for (let index = files.length - 1; index >= 0; index--) {
    const offset = await scanBackward(files[index]!, counter);
    if (offset !== undefined) return { index, offset };
  }
  return { index: 0, offset: 0 };
}

// How far past the n-th message the walk goes looking for where the counted messages begin.
// A P run interleaved with more than this of the other stream is cut (its head is left
// out) rather than having `--tail 10` read a 100 MiB file of one stream to the start.
const TAIL_SLACK = 1024 * 1024;

class TailCounter {
  readonly #n: number;
  #count = 0;
  #seen = { stdout: false, stderr: false };
  #open = { stdout: false, stderr: false };
  #walked = 0;
  #walkedAtN = 0;

  constructor(n: number) {
    this.#n = n;
  }

  /**
   * Visits records last to first (`bytes`: the line's length with its `\n`); true once
   * reading can start right after this record.
   */
  visit(rec: LogRecord | undefined, bytes: number): boolean {
    this.#walked += bytes;
    if (this.#count >= this.#n && this.#walked - this.#walkedAtN > TAIL_SLACK) return true;
    if (!rec) return false;
    const s: LogStream = rec.stream;
    const endsMessage = !rec.partial || !this.#seen[s];
    this.#seen[s] = true;
    if (!endsMessage) return false;
    if (this.#count < this.#n) {
      this.#count++;
      this.#open[s] = true;
      this.#walkedAtN = this.#walked;
      return false;
    }
    this.#open[s] = false;
    return !this.#open.stdout && !this.#open.stderr;
  }
}

/**
 * Reads one file backwards in chunks, feeding complete records to `counter`; returns the
 * offset just after the record where it stopped, or undefined if it reached the start.
 */
async function scanBackward(f: LogFile, counter: TailCounter): Promise<number | undefined> {
  let pos = f.size;
  // The head of the line that straddles the previous (later) chunk boundary, with its `\n`.
  let carry: Buffer = EMPTY;
  // The file's last bytes may be a record conmon is still writing; after an overlong line
  // we are likewise inside something that is not a record.
  let dropTrailing = true;
  while (pos > 0) {
    const len = Math.min(TAIL_CHUNK, pos);
    pos -= len;
    const buf = Buffer.allocUnsafe(len + carry.length);
    await readFully(f.fh, buf, len, pos);
    carry.copy(buf, len);
    let e = dropTrailing ? buf.lastIndexOf(NL) : buf.length - 1;
    if (e < 0) {
      carry = EMPTY;
      continue;
    }
    dropTrailing = false;
    carry = EMPTY;
    while (e >= 0) {
      const s = e === 0 ? 0 : buf.lastIndexOf(NL, e - 1) + 1;
      if (s === 0 && pos > 0) {
        carry = Buffer.from(buf.subarray(0, e + 1));
        if (carry.length > MAX_RECORD) {
          carry = EMPTY;
          dropTrailing = true;
        }
        break;
      }
      const rec = parseRecordIn(buf, s, e);
      if (counter.visit(rec, e + 1 - s)) return pos + e + 1;
      e = s - 1;
    }
  }
  return undefined;
}

async function readFully(fh: FileHandle, buf: Buffer, len: number, pos: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const { bytesRead } = await fh.read(buf, off, len - off, pos + off);
    if (bytesRead === 0) {
      buf.fill(0, off, len);
      return;
    }
    off += bytesRead;
  }
}

/** Keeps the last `n` items pushed. */
export class Ring<T> {
  readonly #n: number;
  #items: T[] = [];
  #start = 0;

  constructor(n: number) {
    this.#n = n;
  }

  push(item: T): void {
    if (this.#n === 0) return;
    if (this.#items.length < this.#n) {
      this.#items.push(item);
      return;
    }
    this.#items[this.#start] = item;
    this.#start = (this.#start + 1) % this.#n;
  }

  take(): T[] {
    const out = [...this.#items.slice(this.#start), ...this.#items.slice(0, this.#start)];
    this.#items = [];
    this.#start = 0;
    return out;
  }
}
