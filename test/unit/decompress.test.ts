import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { decompressed, isTarArchive } from '../../src/storage/decompress.js';
import { makeTar } from '../helpers/tars.js';

function tool(cmd: string, args: string[], data: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input: data, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

async function all(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const from = (b: Buffer) => Readable.from([b]);

test('every format dockerd reads comes out as the plain bytes; plain input passes through', async () => {
  const data = Buffer.concat([await makeTar([{ name: 'a.txt', data: 'a\n' }]), randomBytes(300_000)]);
  for (const input of [data, gzipSync(data), tool('bzip2', ['-c'], data), tool('xz', ['-c'], data), tool('zstd', ['-c', '-q'], data)]) {
    assert.ok((await all(await decompressed(from(input)))).equals(data));
  }
});

test('a broken bzip2 or xz stream fails with the tool\'s first line and a Z_ code (malformed input, not the daemon\'s fault)', async () => {
  const data = randomBytes(400_000);
  for (const [cmd, re] of [
    ['bzip2', /^bzip2: Compressed file ends unexpectedly$/],
    ['xz', /^xz: Unexpected end of input$/],
  ] as const) {
    const whole = tool(cmd, ['-c'], data);
    await assert.rejects(all(await decompressed(from(whole.subarray(0, whole.length >> 1)))), (err: Error & { code?: string }) => {
      assert.match(err.message, re);
      assert.equal(err.code, `Z_${cmd.toUpperCase()}`);
      return true;
    });
  }
});

test('isTarArchive decides as dockerd\'s ADD: a tar in any format is one; a compressed non-tar, a corrupt stream, an empty tar or a short file is not', async () => {
  const tar = await makeTar([{ name: 'x', data: 'x' }]);
  const text = Buffer.from('hello, not a tar\n'.repeat(100));
  const cases: [string, Buffer, boolean][] = [
    ['plain tar', tar, true],
    ['gzip tar', gzipSync(tar), true],
    ['bzip2 tar', tool('bzip2', ['-c'], tar), true],
    ['xz tar', tool('xz', ['-c'], tar), true],
    ['gzip text', gzipSync(text), false],
    ['bzip2 text', tool('bzip2', ['-c'], text), false],
    ['text', text, false],
    ['corrupt bzip2', Buffer.concat([Buffer.from('BZh91AY&SY'), randomBytes(100)]), false],
    ['empty tar', Buffer.alloc(1024), false],
    ['short', Buffer.from('abc'), false],
    ['bad checksum', Buffer.concat([tar.subarray(0, 148), Buffer.from('0000000\0'), tar.subarray(156)]), false],
  ];
  for (const [name, input, expected] of cases) assert.equal(await isTarArchive(from(input)), expected, name);
});
