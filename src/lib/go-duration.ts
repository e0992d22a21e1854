/**
 * Go's time.Duration text, as Docker shows and takes durations (`1.5s`, `500ms`, `1m30s`):
 * health check settings, and the message of a probe that timed out.
 */
const UNITS: [string, number][] = [
  ['ns', 1],
  ['us', 1e3],
  ['µs', 1e3],
  ['μs', 1e3],
  ['ms', 1e6],
  ['s', 1e9],
  ['m', 60e9],
  ['h', 3600e9],
];

/** time.ParseDuration, in nanoseconds; undefined when Go would refuse it. */
export function parseGoDuration(s: string): number | undefined {
  const m = /^([+-]?)(.*)$/.exec(s);
  let rest = m?.[2] ?? '';
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const num = /^(\d*\.?\d*)/.exec(rest)?.[1] ?? '';
    if (num === '' || num === '.') return undefined;
    rest = rest.slice(num.length);
    const unit = UNITS.filter(([u]) => rest.startsWith(u)).sort((a, b) => b[0].length - a[0].length)[0];
    if (!unit) return undefined;
    rest = rest.slice(unit[0].length);
    total += Number(num) * unit[1];
  }
  return Math.round(m?.[1] === '-' ? -total : total);
}

/** time.Duration.String(): `1m30s`, `1.5s`, `500ms`, `0s`. */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  let n = Math.abs(ns);
  if (n < 1e9) {
    const [unit, div] = n < 1e3 ? ['ns', 1] : n < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    return `${sign}${trim(n / (div as number))}${unit as string}`;
  }
  const h = Math.floor(n / 3600e9);
  n -= h * 3600e9;
  const min = Math.floor(n / 60e9);
  n -= min * 60e9;
  const s = `${trim(n / 1e9)}s`;
  if (h > 0) return `${sign}${h}h${min}m${s}`;
  if (min > 0) return `${sign}${min}m${s}`;
  return `${sign}${s}`;
}

function trim(v: number): string {
  return String(Number(v.toFixed(9)));
}
