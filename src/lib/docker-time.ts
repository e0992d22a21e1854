import { invalidParameter } from './errors.js';

/** Time as Docker's API writes and reads it: RFC 3339 with nanoseconds, unix seconds, Go durations. */

const NS_PER_S = 1_000_000_000n;

/** RFC 3339 with nanoseconds, as Docker prints State.FinishedAt. */
export function nsToIso(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/** Docker's `logs --timestamps` form: RFC3339 in UTC with exactly nine fraction digits. */
export function formatTimestamp(timeNs: bigint): string {
  let s = timeNs / NS_PER_S;
  let ns = timeNs % NS_PER_S;
  if (ns < 0n) {
    ns += NS_PER_S;
    s -= 1n;
  }
  const iso = new Date(Number(s) * 1000).toISOString();
  return `${iso.slice(0, 19)}.${ns.toString().padStart(9, '0')}Z`;
}

const DURATION_UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n,
  'μs': 1_000n,
  ms: 1_000_000n,
  s: NS_PER_S,
  m: 60n * NS_PER_S,
  h: 3600n * NS_PER_S,
};

/** Go's time.ParseDuration, in ns; undefined if `s` is not a duration. */
function parseGoDuration(s: string): bigint | undefined {
  const m = /^([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(s);
  if (!m) return undefined;
  let total = 0n;
  for (const part of m[2]!.matchAll(/(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g)) {
    const unit = DURATION_UNITS[part[3]!]!;
    const frac = part[2] ?? '';
    total += BigInt(part[1] || '0') * unit;
    if (frac !== '') total += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
  }
  return m[1] === '-' ? -total : total;
}

function fractionToNs(frac: string | undefined): bigint {
  if (!frac) return 0n;
  return BigInt(frac.slice(0, 9).padEnd(9, '0'));
}

const DOCKER_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/**
 * `since`/`until` as sent to the API. The docker CLI sends unix seconds with an optional
 * fraction; dockerode and curl users also send RFC3339 forms and Go durations ("10m", "1h30m",
 * meaning that long before now), which the CLI itself would have converted (docker
 * `api/types/time.GetTimestamp`). Forms without a zone are read in the daemon's local zone,
 * as the CLI would when run on this host.
 */
export function parseDockerTime(s: string, nowNs: bigint = BigInt(Date.now()) * 1_000_000n): bigint {
  const value = s.trim();
  const unix = /^(-?\d+)(?:\.(\d+))?$/.exec(value);
  if (unix) {
    const secs = BigInt(unix[1]!);
    const frac = fractionToNs(unix[2]);
    return secs * NS_PER_S + (unix[1]!.startsWith('-') ? -frac : frac);
  }
  if (value !== '0') {
    const d = parseGoDuration(value);
    if (d !== undefined) return nowNs - d;
  }
  const m = DOCKER_TIME.exec(value);
  if (m) {
    const [year, month, day, hour, min, sec] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? '0')) as [
      number, number, number, number, number, number,
    ];
    const valid = month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && min <= 59 && sec <= 60;
    if (valid) {
      const zone = m[8];
      let epochMs: number;
      if (zone === undefined) {
        epochMs = new Date(year, month - 1, day, hour, min, sec).getTime();
      } else {
        epochMs = Date.UTC(year, month - 1, day, hour, min, sec);
        if (zone !== 'Z' && zone !== 'z') {
          const sign = zone.startsWith('-') ? -1 : 1;
          epochMs -= sign * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60) * 1000;
        }
      }
      if (Number.isFinite(epochMs)) return BigInt(epochMs / 1000) * NS_PER_S + fractionToNs(m[7]);
    }
  }
  throw invalidParameter(`failed to parse value as time or duration: "${s}"`);
}
