import { readFileSync } from 'node:fs';

/**
 * A process identity that survives PID reuse: the PID plus its start time in clock ticks
 * since boot (field 22 of /proc/<pid>/stat). pid_max is small on these machines, so a PID
 * alone may name another process after a long outage.
 */
export type ProcessIdentity = { pid: number; startTime: string };

export type ProcStat = { pid: number; state: string; ppid: number; startTime: string };

export function parseStat(text: string): ProcStat | undefined {
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number.parseInt(text.slice(0, text.indexOf(' ')), 10);
  const rest = text.slice(close + 2).split(' ');
  const state = rest[0];
  const ppid = rest[1];
  const start = rest[19];
  if (state === undefined || ppid === undefined || start === undefined) return undefined;
  return { pid, state, ppid: Number.parseInt(ppid, 10), startTime: start };
}

/**
 * Async for its callers, synchronous inside: procfs files are generated in memory, so a read
 * never waits on a disk, and one thread-pool round trip (four with fs/promises' readFile)
 * costs far more than the read. The restore pass reads one per container.
 */
export async function readStat(pid: number): Promise<ProcStat | undefined> {
  return readStatSync(pid);
}

export function readStatSync(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Alive means: same PID, same start time, and not a zombie waiting to be reaped. */
export async function isAlive(id: ProcessIdentity): Promise<boolean> {
  const st = await readStat(id.pid);
  return st !== undefined && st.startTime === id.startTime && st.state !== 'Z' && st.state !== 'X';
}

export async function identify(pid: number): Promise<ProcessIdentity | undefined> {
  const st = await readStat(pid);
  return st ? { pid, startTime: st.startTime } : undefined;
}

/** Signal a process only if it is still the one we mean. Returns false if it is gone. */
export async function signalIdentity(id: ProcessIdentity, signal: NodeJS.Signals | number): Promise<boolean> {
  if (!(await isAlive(id))) return false;
  try {
    process.kill(id.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Signal a process and its process group (an exec's children die with it), verified by start time. */
export async function signalGroup(id: ProcessIdentity, signal: NodeJS.Signals | number): Promise<boolean> {
  if (!(await isAlive(id))) return false;
  try {
    process.kill(-id.pid, signal);
    return true;
  } catch {
    // Not a group leader: the process alone.
    return signalIdentity(id, signal);
  }
}

let bootTimeMs: number | undefined;
const CLK_TCK = 100;

/** Wall-clock time a process started, from its start ticks and the boot time. */
export function startTimeToMs(startTicks: string): number {
  if (bootTimeMs === undefined) {
    const stat = readFileSync('/proc/stat', 'utf8');
    const m = /^btime (\d+)$/m.exec(stat);
    bootTimeMs = m ? Number(m[1]) * 1000 : 0;
  }
  return bootTimeMs + (Number(startTicks) * 1000) / CLK_TCK;
}
