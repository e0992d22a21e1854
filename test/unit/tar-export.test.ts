import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { tarDirectory } from '../../src/storage/tar-export.js';
import { overlayDiffTar } from '../../src/storage/tar-pack.js';

/** Every file of a tar stream: name → content. */
async function filesOf(stream: Readable): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const extract = tar.extract();
  stream.pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.type === 'file') out.set(entry.header.name, Buffer.concat(chunks));
  }
  return out;
}

test('a small directory tarred while nobody reads yet: the stream still holds every byte once tar has exited', async () => {
  // What a build's first layer on scratch does: the layer store makes its directory before
  // it reads. node drops the output of a child that exits while its stdout is unread.
  const base = await mkdtemp(join(tmpdir(), 'berth-tarx-'));
  try {
    const dirs = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const dir = join(base, `d${i}`);
        await mkdir(join(dir, 'sub'), { recursive: true });
        await writeFile(join(dir, 'sub', 'f.txt'), `file ${i}\n`);
        return dir;
      }),
    );
    const tars = await Promise.all(dirs.map((d) => tarDirectory(d)));
    // Every tar process has exited and closed its pipes before the first read.
    await Promise.all(tars.map((t) => t.done));
    const read = await Promise.all(tars.map((t) => filesOf(t.stream)));
    for (const [i, files] of read.entries()) assert.equal(files.get('sub/f.txt')?.toString(), `file ${i}\n`, `stream ${i}`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a directory bigger than any buffer, read late: tar waits for the reader and nothing is lost', async () => {
  const base = await mkdtemp(join(tmpdir(), 'berth-tarx-'));
  try {
    const content = randomBytes(4 * 1024 * 1024);
    await writeFile(join(base, 'big.bin'), content);
    const t = await tarDirectory(base);
    // Long enough for tar to fill the pipe and every buffer; it must then wait, not exit.
    await new Promise((r) => setTimeout(r, 300));
    const files = await filesOf(t.stream);
    await t.done;
    assert.ok(files.get('big.bin')?.equals(content), 'the file arrives whole');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a reader that stops early ends tar instead of leaving it blocked', { timeout: 20_000 }, async () => {
  const base = await mkdtemp(join(tmpdir(), 'berth-tarx-'));
  try {
    await writeFile(join(base, 'big.bin'), randomBytes(8 * 1024 * 1024));
    const t = await tarDirectory(base);
    await new Promise<void>((resolve) => t.stream.once('data', () => resolve()));
    t.stream.destroy();
    await t.done;
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a layer diff whose reader goes away in the middle of a file: the stream fails, nothing is left unhandled', { timeout: 20_000 }, async () => {
  // A commit whose layer the store refuses, or a client leaving `docker save`, did this: the
  // pack's own pipeline failed while an entry was written, with no one waiting on it yet.
  const base = await mkdtemp(join(tmpdir(), 'berth-tarx-'));
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    await mkdir(join(base, 'd'));
    await writeFile(join(base, 'd', 'a.txt'), 'small\n');
    await writeFile(join(base, 'd', 'big.bin'), randomBytes(8 * 1024 * 1024));
    const t = await overlayDiffTar(base, []);
    t.done.catch(() => undefined);
    await new Promise<void>((resolve) => t.stream.once('data', () => resolve()));
    t.stream.destroy();
    await assert.rejects(t.done);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await rm(base, { recursive: true, force: true });
  }
});
