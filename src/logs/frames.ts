import { parseRecordHead, type LogMessage, type LogStream, type MessageAssembler, type RecordHead } from './k8s-file.js';

/*
 * `docker logs` of a whole file, the common case and the heavy one (a million lines): the
 * reader writes Docker's stdcopy frames (or the raw bytes of a terminal) straight over the
 * buffer it read, with no object, view or copy per line.
 */

/** Which streams, and whether frames carry Docker's 8-byte header (not with a terminal). */
export type FrameOptions = { stdout: boolean; stderr: boolean; multiplexed: boolean };

/** Docker's stdcopy header: the stream (1 stdout, 2 stderr), three zeros, the length big endian. */
function writeHeader(out: Buffer, at: number, stream: LogStream, len: number): void {
  out[at] = stream === 'stdout' ? 1 : 2;
  out[at + 1] = 0;
  out[at + 2] = 0;
  out[at + 3] = 0;
  out[at + 4] = len >>> 24;
  out[at + 5] = (len >>> 16) & 0xff;
  out[at + 6] = (len >>> 8) & 0xff;
  out[at + 7] = len & 0xff;
}

/** One message as its own frame (a line conmon cut into partial records, joined again). */
export function frameMessage(m: LogMessage, o: FrameOptions): Buffer | undefined {
  if (m.stream === 'stdout' ? !o.stdout : !o.stderr) return undefined;
  if (!o.multiplexed) return m.data;
  const out = Buffer.allocUnsafe(8 + m.data.length);
  writeHeader(out, 0, m.stream, m.data.length);
  out.set(m.data, 8);
  return out;
}

const head: RecordHead = { stream: 'stdout', timeNs: 0n, partial: false, dataStart: 0 };
const NL = 0x0a;

/**
 * The frames of the complete records in `buf[start, end)`, written over that same span: each
 * line's payload follows its k8s-file prefix (a timestamp, the stream, the tag: always more
 * than a frame header), so frames moved down with copyWithin never overtake what is still to
 * be read. Partial records go to the assembler as copies (frames written later may cover their
 * place), and a line it completes goes out as a frame of its own, between two runs of frames
 * written in place. Returns the pieces, in order.
 */
export function frameRegion(buf: Buffer, start: number, end: number, asm: MessageAssembler, o: FrameOptions): Buffer[] {
  const header = o.multiplexed ? 8 : 0;
  const pieces: Buffer[] = [];
  let segment = start;
  let at = -1;
  let s = start;
  while (s < end) {
    const nl = buf.indexOf(NL, s);
    const h = parseRecordHead(buf, s, nl, false, head);
    s = nl + 1;
    // Malformed lines are skipped, as Docker's json-file reader skips what it cannot decode.
    if (!h) continue;
    if (h.partial || asm.pending(h.stream)) {
      const m = asm.push({ stream: h.stream, timeNs: h.timeNs, partial: h.partial, data: Buffer.from(buf.subarray(h.dataStart, nl)) });
      const f = m && frameMessage(m, o);
      if (f) {
        if (at > segment) pieces.push(buf.subarray(segment, at));
        pieces.push(f);
        at = -1;
      }
      continue;
    }
    if (h.stream === 'stdout' ? !o.stdout : !o.stderr) continue;
    const len = nl + 1 - h.dataStart;
    if (at < 0) {
      // A new run starts over this line's own prefix.
      at = h.dataStart - header;
      segment = at;
    }
    if (header) {
      writeHeader(buf, at, h.stream, len);
      at += 8;
    }
    buf.copyWithin(at, h.dataStart, nl + 1);
    at += len;
  }
  if (at > segment) pieces.push(buf.subarray(segment, at));
  return pieces;
}
