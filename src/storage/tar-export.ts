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
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(systemError(`cannot run tar: ${err.message}`, err)));
    child.on('close', (code, signal) => {
      // A client that goes away ends tar with SIGPIPE: not an error of ours.
      if (code === 0 || signal === 'SIGPIPE' || signal === 'SIGTERM') resolve();
      else reject(systemError(`tar of ${dir} failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
  return { stream: child.stdout, done };
}
