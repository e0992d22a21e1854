import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { systemError } from '../lib/errors.js';

export type TarStream = { stream: Readable; done: Promise<void> };

/**
 * A directory as a tar stream, the way `docker export` writes a container's filesystem:
 * entries relative to it without a `./` prefix, numeric owners, links kept as links. GNU tar
 * does the walking (special files, sparse files, long names) in its own process.
 */
export async function tarDirectory(dir: string): Promise<TarStream> {
  const entries = (await readdir(dir)).sort();
  if (entries.length === 0) {
    // GNU tar refuses an empty archive; an empty tar is two zero blocks.
    const empty = new PassThrough();
    empty.end(Buffer.alloc(1024));
    return { stream: empty, done: Promise.resolve() };
  }
  const child = spawn('tar', ['--numeric-owner', '--sparse', '-C', dir, '-cf', '-', '--', ...entries], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Piped at once: when a child exits, node resumes the stdio streams nobody reads yet (to
  // flush them), dropping their data. A small tar is written and tar gone before a consumer
  // that first awaits something (the layer store making a directory) attaches; the
  // PassThrough holds the bytes until it does, and its backpressure still stops tar on a big one.
  const stream = new PassThrough();
  child.stdout.pipe(stream);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // A consumer that stops early (a client gone) closes tar's pipe, so tar does not wait on a
  // pipe nobody reads; how it then ends (SIGPIPE, or "Cannot write: Connection reset by
  // peer" on node's socket pair) is no failure of ours.
  let abandoned = false;
  stream.once('close', () => {
    if (stream.readableEnded) return;
    abandoned = true;
    child.stdout.destroy();
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(systemError(`cannot run tar: ${err.message}`, err)));
    child.on('close', (code, signal) => {
      if (code === 0 || abandoned || signal === 'SIGPIPE' || signal === 'SIGTERM') resolve();
      else reject(systemError(`tar of ${dir} failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
  return { stream, done };
}
