import { invalidParameter } from './errors.js';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`1m30s`, `500ms`) in nanoseconds. */
export function goDuration(v: string): number {
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * (UNIT_NS[m[2] as string] as number);
    at = re.lastIndex;
  }
  if (at !== v.length || v === '') throw invalidParameter(`time: invalid duration "${v}"`);
  return Math.round(total);
}
