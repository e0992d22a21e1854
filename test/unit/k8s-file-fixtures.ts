/**
 * Writes k8s-file records the way conmon 2.1.6 does, so reader tests can check that what
 * comes back is byte for byte what the "container" wrote.
 */
export type Write = { stream: 'stdout' | 'stderr'; data: Buffer };

const CONMON_READ = 8192;

/** `2026-11-25T08:13:04.620013167+02:00` for an epoch-ns time shown at `offsetMin`. */
export function conmonTime(timeNs: bigint, offsetMin = 0): string {
  const local = timeNs + BigInt(offsetMin) * 60_000_000_000n;
  const s = local / 1_000_000_000n;
  const ns = local % 1_000_000_000n;
  const iso = new Date(Number(s) * 1000).toISOString().slice(0, 19);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${iso}.${ns.toString().padStart(9, '0')}${off}`;
}

export function record(stream: 'stdout' | 'stderr', tag: 'F' | 'P', timeNs: bigint, payload: Buffer | string, offsetMin = 0): Buffer {
  return Buffer.concat([
    Buffer.from(`${conmonTime(timeNs, offsetMin)} ${stream} ${tag} `),
    Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    Buffer.from('\n'),
  ]);
}

/**
 * conmon reads at most 8 KiB at a time; each newline-terminated piece of a read becomes an F
 * record and a trailing piece without newline a P record.
 */
export function encodeWrites(writes: Write[], opts: { startNs?: bigint; stepNs?: bigint; offsetMin?: number } = {}): Buffer[] {
  let t = opts.startNs ?? 1_764_058_384_620_013_167n;
  const step = opts.stepNs ?? 1_000n;
  const out: Buffer[] = [];
  for (const w of writes) {
    for (let off = 0; off < w.data.length; off += CONMON_READ) {
      const chunk = w.data.subarray(off, off + CONMON_READ);
      let s = 0;
      while (s < chunk.length) {
        const nl = chunk.indexOf(0x0a, s);
        if (nl < 0) {
          out.push(record(w.stream, 'P', t, chunk.subarray(s), opts.offsetMin));
          s = chunk.length;
        } else {
          out.push(record(w.stream, 'F', t, chunk.subarray(s, nl), opts.offsetMin));
          s = nl + 1;
        }
        t += step;
      }
    }
  }
  return out;
}

/** A deterministic PRNG so a failing case can be replayed. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** Writes of any byte values, with short lines, long lines and unterminated tails. */
export function randomWrites(seed: number, count: number): Write[] {
  const r = rng(seed);
  const writes: Write[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r();
    const len = kind < 0.05 ? 20_000 + Math.floor(r() * 20_000) : kind < 0.15 ? 0 : Math.floor(r() * 300);
    const data = Buffer.alloc(len + 1);
    for (let j = 0; j < len; j++) {
      const b = Math.floor(r() * 256);
      data[j] = b === 0x0a && r() < 0.9 ? 0x41 : b;
    }
    data[len] = r() < 0.8 ? 0x0a : 0x2e;
    writes.push({ stream: r() < 0.7 ? 'stdout' : 'stderr', data });
  }
  return writes;
}

export function concatStream(writes: { stream: string; data: Buffer }[], stream: 'stdout' | 'stderr'): Buffer {
  return Buffer.concat(writes.filter((w) => w.stream === stream).map((w) => w.data));
}
