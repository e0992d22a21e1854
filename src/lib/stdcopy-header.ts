/**
 * Docker's multiplexed-stream frame header (moby `pkg/stdcopy`): the stream (0 stdin,
 * 1 stdout, 2 stderr, 3 the daemon's error), three zeros, then the payload's length, 32 bits
 * big endian. The one place it is written: the API's frames (attach, exec) and the log
 * reader's (which writes them over its read buffer) both come here.
 */
export const STDCOPY_HEADER = 8;

/** The header of a `len`-byte frame on `stream`, at `out[at, at + 8)`. */
export function writeStdcopyHeader(out: Buffer, at: number, stream: number, len: number): void {
  // Plain byte stores: writeUInt32BE checks its arguments on each call, and a log of short
  // lines writes a header per line.
  out[at] = stream;
  out[at + 1] = 0;
  out[at + 2] = 0;
  out[at + 3] = 0;
  out[at + 4] = len >>> 24;
  out[at + 5] = (len >>> 16) & 0xff;
  out[at + 6] = (len >>> 8) & 0xff;
  out[at + 7] = len & 0xff;
}
