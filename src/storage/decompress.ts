import { spawn } from 'node:child_process';
import { Duplex, PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { formatOf, sniff, toBuffer, type Format } from './tar-entries.js';
import { createZstdDecompress } from './zstd.js';

/*
 * What Docker's archive.DecompressStream reads: plain, gzip, bzip2, xz and zstd. Image layers
 * go through extractTar, which takes only what a registry serves (gzip, zstd); a build's
 * context and ADD's local archives take all of these, as dockerd's do. Node has no bzip2 or
 * xz decoder: Debian's `bzip2 -dc` and `xz -dc` decode those (dockerd spawns `xz` too).
 */

/** The input decompressed, whichever of the formats it is in (sniffed from its first bytes). */
export async function decompressed(input: Readable): Promise<Readable> {
  const { head, body } = await sniff(input);
  const format = formatOf(head);
  if (format === 'none') return body;
  const out = new PassThrough();
  // Errors reach `out` (destroyed with them); the callback only keeps them from being unhandled.
  pipeline(body, await inflater(format), out, () => undefined);
  return out;
}

async function inflater(format: Exclude<Format, 'none'>): Promise<Duplex> {
  switch (format) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return createZstdDecompress();
    case 'bzip2':
      return external('bzip2', ['-d', '-c']);
    case 'xz':
      return external('xz', ['-d', '-c', '-q']);
  }
}

/** What `bzip2` or `xz` says when it fails: the first line is the reason; the rest is advice. */
const STDERR_LIMIT = 4096;

/**
 * A decoder process as a stream stage: input to its stdin, its stdout out, backpressure both
 * ways. It fails with the tool's first line of complaint (code `Z_<TOOL>`, malformed input as
 * zlib's errors are), and is killed if the stage is destroyed before it ends.
 */
function external(cmd: string, args: string[]): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += d.slice(0, STDERR_LIMIT - stderr.length);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  // A write waiting for 'drain' when the process goes away (it stops reading at an error).
  let pending: (() => void) | undefined;
  const release = () => {
    const cb = pending;
    pending = undefined;
    cb?.();
  };
  let stdinGone = false;
  const stdinEnded = () => {
    stdinGone = true;
    release();
  };
  // EPIPE when the decoder exits before reading everything: its exit status tells why.
  child.stdin.on('error', stdinEnded);
  child.stdin.on('close', stdinEnded);
  child.stdin.on('drain', release);
  const stage = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      if (stdinGone || child.stdin.write(chunk)) cb();
      else pending = cb;
    },
    final(cb) {
      if (!stdinGone) child.stdin.end();
      cb();
    },
    read() {
      child.stdout.resume();
    },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      release();
      cb(err);
    },
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    const message = err.code === 'ENOENT' ? `cannot decompress: ${cmd} is not installed` : `cannot run ${cmd}: ${err.message}`;
    stage.destroy(Object.assign(new Error(message), { code: 'EDECOMPRESSOR' }));
  });
  child.stdout.on('data', (c: Buffer) => {
    if (!stage.push(toBuffer(c))) child.stdout.pause();
  });
  child.stdout.once('end', () => {
    void exited.then(({ code, signal }) => {
      if (stage.destroyed) return;
      if (code === 0) stage.push(null);
      else stage.destroy(decoderError(cmd, stderr, code, signal));
    });
  });
  return stage;
}

function decoderError(cmd: string, stderr: string, code: number | null, signal: NodeJS.Signals | null): Error {
  const first = stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  // `bzip2: Compressed file ends unexpectedly;`, `xz: (stdin): Compressed data is corrupt`.
  const reason = first
    ?.replace(new RegExp(`^${cmd}: `), '')
    .replace(/^\(stdin\): /, '')
    .replace(/[;:,.]+$/, '');
  const message = `${cmd}: ${reason || (signal ? `killed by ${signal}` : `exit status ${String(code)}`)}`;
  return Object.assign(new Error(message), { code: `Z_${cmd.toUpperCase()}` });
}

/**
 * Whether the input is a tar archive, as dockerd's ADD decides (builder's isArchivePath):
 * it decompresses (any of the formats) and its first header block is a valid tar header.
 * A compressed file that is not a tar (`notes.txt.gz`), a corrupt one, an empty tar: false.
 */
export async function isTarArchive(input: Readable): Promise<boolean> {
  let plain: Readable;
  try {
    plain = await decompressed(input);
  } catch {
    input.destroy();
    return false;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // Leaving the loop early destroys the stream (and kills a decoder process).
    for await (const c of plain) {
      chunks.push(toBuffer(c));
      size += chunks[chunks.length - 1]?.length ?? 0;
      if (size >= 512) break;
    }
  } catch {
    return false;
  } finally {
    plain.destroy();
    input.destroy();
  }
  return size >= 512 && validHeader(Buffer.concat(chunks).subarray(0, 512));
}

/** Go's archive/tar: a header block whose checksum (unsigned or signed sum) is right; all zeros is the end. */
function validHeader(block: Buffer): boolean {
  if (block.every((b) => b === 0)) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (!/^[0-7]*$/.test(field)) return false;
  const stored = field === '' ? 0 : parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}
