import { Transform } from 'node:stream';

/**
 * A zstd decompressor as a stream stage: fzstd (pure JavaScript, decompression only; node 20
 * has no zstd in zlib). Loaded on first use, as tar-stream is.
 */
export async function createZstdDecompress(): Promise<Transform> {
  const fzstd = await import('fzstd');
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        d.push(chunk);
        cb();
      } catch (err) {
        cb(zstdError(err));
      }
    },
    flush(cb) {
      try {
        d.push(new Uint8Array(0), true);
        cb();
      } catch (err) {
        cb(zstdError(err));
      }
    },
  });
  // Its output goes out through the stage; the stage is only called once this exists.
  const d = new fzstd.Decompress((chunk: Uint8Array) => {
    if (chunk.length > 0) out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  });
  return out;
}

function zstdError(err: unknown): Error {
  return Object.assign(new Error(`zstd: ${err instanceof Error ? err.message : String(err)}`), { code: 'Z_ZSTD' });
}
