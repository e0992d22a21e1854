import { parseRecordHead, type LogMessage, type LogStream, type MessageAssembler, type RecordHead } from './k8s-file.js';
import { formatTimestamp } from '../lib/docker-time.js';
import { STDCOPY_HEADER, writeStdcopyHeader } from '../lib/stdcopy-header.js';

/*
 * Log messages as the client reads them: one stdcopy frame per message (Docker's framing,
 * which clients that iterate frames rely on), or the raw bytes with a terminal. `docker logs`
 * of a whole file, the common case and the heavy one (a million lines), has the reader write
 * the frames straight over the buffer it read, with no object, view or copy per line.
 */

/**
 * Which streams, whether frames carry Docker's 8-byte header (not with a terminal), and
 * whether each message gets its time in front (`docker logs -t`).
 */
export type FrameOptions = { stdout: boolean; stderr: boolean; multiplexed: boolean; timestamps?: boolean };

function writeHeader(out: Buffer, at: number, stream: LogStream, len: number): void {
  writeStdcopyHeader(out, at, stream === 'stdout' ? 1 : 2, len);
}

/** One message as its own frame (a line conmon cut into partial records, joined again). */
export function frameMessage(m: LogMessage, o: FrameOptions): Buffer | undefined {
  if (m.stream === 'stdout' ? !o.stdout : !o.stderr) return undefined;
  if (o.timestamps) return encodeMessages([m], o);
  if (!o.multiplexed) return m.data;
  const out = Buffer.allocUnsafe(STDCOPY_HEADER + m.data.length);
  writeHeader(out, 0, m.stream, m.data.length);
  out.set(m.data, STDCOPY_HEADER);
  return out;
}

/** Messages (those of the chosen streams) framed into one buffer, each with its time in front with `timestamps`. */
export function encodeMessages(messages: readonly LogMessage[], o: FrameOptions): Buffer {
  const header = o.multiplexed ? STDCOPY_HEADER : 0;
  const stamps = o.timestamps ? messages.map((m) => `${formatTimestamp(m.timeNs)} `) : undefined;
  let size = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as LogMessage;
    if (m.stream === 'stdout' ? !o.stdout : !o.stderr) continue;
    size += header + spanLength(m) + (stamps ? (stamps[i] as string).length : 0);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as LogMessage;
    if (m.stream === 'stdout' ? !o.stdout : !o.stderr) continue;
    const stamp = stamps?.[i];
    const bytes = spanLength(m);
    if (header) {
      writeHeader(out, at, m.stream, bytes + (stamp ? stamp.length : 0));
      at += header;
    }
    if (stamp) at += out.write(stamp, at, 'latin1');
    // A span of the reader's buffer is copied from there, without a view made for it.
    if (m.src) m.src.copy(out, at, m.start, m.end);
    else out.set(m.data, at);
    at += bytes;
  }
  return out;
}

function spanLength(m: LogMessage): number {
  return m.src ? (m.end as number) - (m.start as number) : m.data.length;
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
  const header = o.multiplexed ? STDCOPY_HEADER : 0;
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
      at += header;
    }
    buf.copyWithin(at, h.dataStart, nl + 1);
    at += len;
  }
  if (at > segment) pieces.push(buf.subarray(segment, at));
  return pieces;
}
