// Small helpers shared by the harness: timing, statistics, child processes, /proc readings.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Milliseconds since an arbitrary origin, with sub-millisecond resolution. */
export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Set when the run is being aborted (Ctrl-C, fatal error): long loops check it and stop. */
export const abort = { requested: false, reason: '' };
export function checkAbort() {
  if (abort.requested) throw new Error(`aborted: ${abort.reason}`);
}

/** median / min / max / mean of a list of numbers (null for an empty list). */
export function stats(samples) {
  const xs = samples.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { n: xs.length, median, min: xs[0], max: xs[xs.length - 1], mean, samples: samples.map(round3) };
}

export const round3 = (x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : x);

/**
 * Run a command and time it from spawn to exit. stdout is kept as text unless `onStdout` is
 * given (then each chunk goes there and nothing is kept: 100 MiB of logs).
 */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const t0 = now();
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (opts.onStdout ? opts.onStdout(d) : (stdout += d)));
    child.stderr.on('data', (d) => (stderr += d));
    if (opts.input !== undefined) child.stdin.end(opts.input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      stderr += String(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr, ms: now() - t0, timedOut, child });
    });
    opts.onSpawn?.(child);
  });
}

/** Like run(), but throws when the command fails. */
export async function runOk(cmd, args, opts = {}) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().slice(-2000)}`);
  }
  return r;
}

/** Whether a process exists (and is not a zombie). */
/** A process's argv, empty once it is gone. */
export function cmdlineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/**
 * The run folders /tmp/<prefix>* a harness left behind, with their bench-state.json: those
 * without one, or whose harness (argv ending in `harness`) still runs, are logged and skipped.
 */
export function staleRunFolders(prefix, harness, force) {
  const out = [];
  for (const n of readdirSync('/tmp').filter((x) => x.startsWith(prefix))) {
    const root = join('/tmp', n);
    const stateFile = join(root, 'bench-state.json');
    if (!existsSync(stateFile)) {
      log(`${root}: no bench-state.json, skipped (remove it by hand if it is stale)`);
      continue;
    }
    const st = JSON.parse(readFileSync(stateFile, 'utf8'));
    if (!force && alive(st.harnessPid) && cmdlineOf(st.harnessPid).some((a) => a.endsWith(harness))) {
      log(`${root}: its harness (pid ${st.harnessPid}) is still running; skipped (--force to clean anyway)`);
      continue;
    }
    log(`${root}: cleaning up`);
    out.push({ root, st });
  }
  return out;
}

export function alive(pid) {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Every process as { pid, comm, cmdline[] } (cmdline split on NUL). */
export function processes() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const comm = readFileSync(`/proc/${name}/comm`, 'utf8').trim();
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(name), comm, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** VmRSS and PSS (from smaps_rollup) of a process in KiB; null when it is gone. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    let pss = NaN;
    try {
      pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
    } catch {
      // no smaps_rollup
    }
    return { rssKiB: rss, pssKiB: pss };
  } catch {
    return null;
  }
}

/** Children of a process (from /proc/<pid>/task/<pid>/children). */
export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function killQuietly(pid, signal = 'SIGKILL') {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Wait until a process is gone; true if it went within the time. */
export async function waitGone(pid, timeoutMs, everyMs = 10) {
  const deadline = now() + timeoutMs;
  while (alive(pid)) {
    if (now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

/** Run `fn` over `items` with at most `limit` at a time; results in order. */
export async function pool(items, limit, fn, { abortable = true } = {}) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      if (abortable) checkAbort();
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}

export function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

export function log(...args) {
  const t = new Date().toISOString().slice(11, 19);
  console.error(`[bench ${t}]`, ...args);
}
