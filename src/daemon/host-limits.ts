import { readFileSync } from 'node:fs';
import { ALL_CAPABILITIES } from '../lib/capabilities.js';

const NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** The daemon's own hard rlimits: without CAP_SYS_RESOURCE no container may exceed them. */
export function hardLimits(): Map<string, number> {
  const out = new Map<string, number>();
  const text = readFileSync('/proc/self/limits', 'utf8');
  for (const line of text.split('\n').slice(1)) {
    const name = Object.keys(NAMES).find((n) => line.startsWith(n));
    if (!name) continue;
    const fields = line.slice(name.length).trim().split(/\s+/);
    const hard = fields[1];
    if (hard && hard !== 'unlimited') out.set(NAMES[name] as string, Number(hard));
  }
  return out;
}

/** Capabilities in the daemon's own bounding set (ALL_CAPABILITIES is ordered by bit number). */
export function hostCapabilities(): string[] {
  const m = /^CapBnd:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const mask = m ? BigInt(`0x${m[1]}`) : 0n;
  return ALL_CAPABILITIES.filter((_c, bit) => (mask >> BigInt(bit)) & 1n);
}
