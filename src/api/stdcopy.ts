import { invalidParameter } from '../lib/errors.js';
import { STDCOPY_HEADER as HEADER, writeStdcopyHeader } from '../lib/stdcopy-header.js';

/**
 * Docker's multiplexed stream framing (moby `pkg/stdcopy`), used for attach, exec and logs
 * when there is no TTY: an 8-byte header `[stream, 0, 0, 0, size uint32 BE]`, then the payload.
 */
export type StdStream = 0 | 1 | 2 | 3;

export const STDIN: StdStream = 0;
export const STDOUT: StdStream = 1;
export const STDERR: StdStream = 2;
/** The CLI turns a frame on this stream into an error. */
export const SYSTEMERR: StdStream = 3;

// Clients read a frame whole before writing it out; bounded frames keep their memory bounded.
const MAX_FRAME = 1024 * 1024;

export function frameHeader(stream: StdStream, size: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER);
  writeStdcopyHeader(h, 0, stream, size);
  return h;
}

/** One buffer holding `payload` framed, split into frames of at most 1 MiB. */
export function frame(stream: StdStream, payload: Buffer): Buffer {
  if (payload.length <= MAX_FRAME) {
    const out = Buffer.allocUnsafe(HEADER + payload.length);
    writeStdcopyHeader(out, 0, stream, payload.length);
    payload.copy(out, HEADER);
    return out;
  }
  const parts: Buffer[] = [];
  for (let off = 0; off < payload.length; off += MAX_FRAME) {
    const piece = payload.subarray(off, off + MAX_FRAME);
    parts.push(frameHeader(stream, piece.length), piece);
  }
  return Buffer.concat(parts);
}

export type StdFrame = { stream: StdStream; data: Buffer };

/** Splits a multiplexed byte stream back into frames, whatever the chunk boundaries. */
export class StdcopyDecoder {
  // Chunks are joined only once a whole frame is there, so a large frame arriving in many
  // small chunks is copied once, not once per chunk.
  #chunks: Buffer[] = [];
  #length = 0;
  #need = HEADER;

  /** The frames completed by `chunk`. */
  push(chunk: Buffer): StdFrame[] {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#length < this.#need) return [];
    const buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out: StdFrame[] = [];
    let off = 0;
    this.#need = HEADER;
    while (buf.length - off >= HEADER) {
      const stream = buf[off]!;
      if (stream > 3) throw invalidParameter(`Unrecognized input header: ${stream}`);
      const size = buf.readUInt32BE(off + 4);
      if (buf.length - off - HEADER < size) {
        this.#need = HEADER + size;
        break;
      }
      out.push({ stream: stream as StdStream, data: buf.subarray(off + HEADER, off + HEADER + size) });
      off += HEADER + size;
    }
    const rest = buf.subarray(off);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
    return out;
  }

  /** Bytes of an unfinished frame; non-zero at the end of a stream means it was cut short. */
  get pending(): number {
    return this.#length;
  }
}
