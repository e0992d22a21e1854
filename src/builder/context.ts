import { lstat, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline, Readable, Transform } from 'node:stream';
import { decompressed, extractTar, formatOf } from '../storage/index.js';
import { resolveInRoot } from '../lib/in-root.js';
import { errnoCode, invalidParameter } from '../lib/errors.js';
import { DockerIgnore, IgnoreError } from './dockerignore.js';

export type BuildContext = {
  /** The extracted context, files .dockerignore excludes already removed. */
  dir: string;
  dockerfile: string;
  dockerfileName: string;
};

/**
 * The request body into a directory: a tar (plain or compressed as dockerd reads them, through the same safe extractor
 * as image layers, so no entry lands outside `dir`), or a Dockerfile alone (`docker build - <
 * Dockerfile` from clients that send it raw). Then the Dockerfile is read and what
 * .dockerignore excludes is removed, as the CLI does before sending: COPY never sees it.
 */
export async function receiveContext(body: Readable, dir: string, dockerfileParam: string | undefined, signal?: AbortSignal): Promise<BuildContext> {
  const { head, stream } = await peek(body, 512);
  if (head.length === 0) {
    // An empty body: an empty context (the Dockerfile is then missing, reported below).
  } else if (isArchive(head)) {
    const plain = await decompressed(stream);
    // Names like `.wh.x` are files to a context, as to dockerd's Unpack.
    // pipeline, not pipe: a client gone mid-upload errors `plain`, and that error must reach
    // the extractor through `pad` (pipe() leaves it unhandled, which ends the daemon).
    const pad = padded();
    pipeline(plain, pad, () => undefined);
    await extractTar(pad, dir, { whiteouts: 'plain', ...(signal ? { signal } : {}) });
  } else {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    await writeFile(join(dir, 'Dockerfile'), Buffer.concat(chunks), { mode: 0o600 });
  }
  const name = dockerfileParam || 'Dockerfile';
  const clean = posix.normalize(name.replace(/^\/+/, ''));
  if (clean.startsWith('..')) throw invalidParameter(`Cannot locate specified Dockerfile: ${name}`);
  let text = await readIn(dir, clean);
  // As dockerd: without -f, a lower-case `dockerfile` does as well.
  if (text === undefined && !dockerfileParam) text = await readIn(dir, 'dockerfile');
  if (text === undefined) throw invalidParameter(`Cannot locate specified Dockerfile: ${name}`);
  const ignoreText = await readIn(dir, '.dockerignore');
  if (ignoreText !== undefined) {
    let ignore: DockerIgnore;
    try {
      ignore = DockerIgnore.parse(ignoreText);
    } catch (err) {
      if (err instanceof IgnoreError) throw invalidParameter(`failed to parse .dockerignore: ${err.message}`);
      throw err;
    }
    await prune(dir, '', ignore);
  }
  return { dir, dockerfile: text, dockerfileName: name };
}

async function readIn(dir: string, rel: string): Promise<string | undefined> {
  try {
    const p = await resolveInRoot(dir, rel);
    if (!(await lstat(p)).isFile()) return undefined;
    return await readFile(p, 'utf8');
  } catch (err) {
    if (['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP'].includes(errnoCode(err) ?? '')) return undefined;
    throw err;
  }
}

/** Remove what `ignore` excludes; a directory excluded stays only for a child an exception keeps. */
async function prune(root: string, rel: string, ignore: DockerIgnore): Promise<boolean> {
  const abs = rel === '' ? root : join(root, rel);
  const kept: boolean[] = [];
  for (const e of await readdir(abs, { withFileTypes: true })) {
    const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) {
      const excluded = ignore.excludes(childRel);
      if (excluded && !ignore.hasExceptions()) {
        await rm(join(root, childRel), { recursive: true, force: true });
        continue;
      }
      const any = await prune(root, childRel, ignore);
      if (excluded && !any) {
        await rmdir(join(root, childRel));
        continue;
      }
      kept.push(true);
    } else if (ignore.excludes(childRel)) {
      await rm(join(root, childRel), { force: true });
    } else kept.push(true);
  }
  return kept.length > 0;
}

/**
 * The tar completed to whole blocks and an end marker: the CLI sends a context with a file
 * rewritten in (`-f -`, its .dockerignore) without the last entry's padding or the final zero
 * blocks, which dockerd's reader tolerates.
 */
function padded(): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      const pad = (512 - (size % 512)) % 512;
      cb(null, Buffer.alloc(pad + 1024));
    },
  });
}

/** As the CLI and dockerd decide: compressed (gzip, bzip2, xz, zstd), or a tar header. */
function isArchive(head: Buffer): boolean {
  if (formatOf(head) !== 'none') return true;
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return true;
  // A tar of only zero blocks is an empty context.
  return head.length >= 512 && head.every((b) => b === 0);
}

/** The first `n` bytes of a stream, and a stream that still yields all of it. */
async function peek(src: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const it = src[Symbol.asyncIterator]();
  let done = false;
  while (size < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as string);
    chunks.push(b);
    size += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* all(): AsyncGenerator<Buffer> {
    yield head;
    if (done) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
  }
  return { head: head.subarray(0, n), stream: Readable.from(all(), { objectMode: false }) };
}
