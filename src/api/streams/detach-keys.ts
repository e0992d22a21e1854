import { invalidParameter } from '../../lib/errors.js';

/**
 * Docker's detach key syntax: comma-separated keys, each a single character or `ctrl-<x>`
 * (a-z, @, [, \\, ], ^, _). Default `ctrl-p,ctrl-q`.
 */
export function parseDetachKeys(spec: string | null | undefined): Buffer {
  const s = spec && spec !== '' ? spec : 'ctrl-p,ctrl-q';
  const out: number[] = [];
  for (const key of s.split(',')) {
    if (key.length === 1) {
      out.push(key.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
    if (!m) throw invalidParameter(`Invalid detach keys (${s}) provided`);
    const c = (m[1] as string).charCodeAt(0);
    out.push(c >= 97 ? c - 96 : c - 64);
  }
  return Buffer.from(out);
}

/** Watches an input stream for the detach sequence; returns the bytes to forward. */
export class DetachMatcher {
  readonly #keys: Buffer;
  #matched = 0;

  constructor(keys: Buffer) {
    this.#keys = keys;
  }

  /** `detach` is true once the full sequence was typed; held-back bytes are released otherwise. */
  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.#keys[this.#matched]) {
        this.#matched++;
        if (this.#matched === this.#keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      if (this.#matched > 0) {
        out.push(...this.#keys.subarray(0, this.#matched));
        this.#matched = 0;
      }
      if (b === this.#keys[0]) this.#matched = 1;
      else out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}
