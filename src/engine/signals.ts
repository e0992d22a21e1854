import { constants } from 'node:os';
import { invalidParameter } from '../lib/errors.js';

const SIGNALS = constants.signals as Record<string, number>;

/** Parse a signal as Docker accepts it: `9`, `KILL`, `SIGKILL`, `sigkill`, `SIGRTMIN+3`. */
export function parseSignal(s: string): number {
  const t = s.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n <= 0 || n > 64) throw invalidParameter(`Invalid signal: ${s}`);
    return n;
  }
  const name = t.toUpperCase().replace(/^SIG/, '');
  const rt = /^RTMIN(?:\+(\d+))?$/.exec(name) ?? /^RTMAX(?:-(\d+))?$/.exec(name);
  if (rt) {
    const off = Number(rt[1] ?? 0);
    const n = name.startsWith('RTMIN') ? 34 + off : 64 - off;
    if (n < 34 || n > 64) throw invalidParameter(`Invalid signal: ${s}`);
    return n;
  }
  const n = SIGNALS[`SIG${name}`];
  if (n === undefined) throw invalidParameter(`Invalid signal: ${s}`);
  return n;
}
