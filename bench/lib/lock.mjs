// The machine-wide lock test runs hold (scripts/run-tests.mjs): a test run compares the host's
// links, iptables rules and network sysctls before and after itself and fails on any
// difference, so a benchmark that makes bridges, veths and rules while it runs would be taken
// for its leak. The harness (and bench/cleanup.mjs) hold the same lock for as long as they
// change the host's network: test runs wait for them, and they wait for test runs.
import { ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { log } from './util.mjs';

export const TEST_LOCK = '/run/lock/berth-tests.lock';

/**
 * flock(1) on a descriptor this process keeps open (close-on-exec: the daemons we launch do
 * not inherit it), so the lock goes with this process however it ends. Waits, saying who holds
 * it, up to `maxWaitS`; returns the descriptor.
 */
export function takeTestLock(what, { maxWaitS = 3600 } = {}) {
  const fd = openSync(TEST_LOCK, 'a+');
  const flock = (extra) => spawnSync('flock', [...extra, '3'], { stdio: ['ignore', 'inherit', 'inherit', fd] });
  let r = flock(['-n']);
  let shown = '';
  const t0 = Date.now();
  while (r.status === 1) {
    if (Date.now() - t0 > maxWaitS * 1000) throw new Error(`the test lock ${TEST_LOCK} is still held after ${maxWaitS} s by ${shown}`);
    let holder = '';
    try {
      holder = readFileSync(TEST_LOCK, 'utf8').trim();
    } catch {
      // unreadable: say so below
    }
    holder ||= 'a holder that wrote no name (flock by hand?)';
    if (holder !== shown) log(`waiting for the test lock ${TEST_LOCK} (test runs and the bench change the host's network), held by ${holder}`);
    shown = holder;
    r = flock(['-w', '60']);
  }
  if (r.status !== 0) throw new Error(`flock ${TEST_LOCK} failed: ${r.error?.message ?? `exit ${r.status}`}`);
  ftruncateSync(fd, 0);
  writeSync(fd, `pid ${process.pid} (${what}) in ${process.cwd()}, since ${new Date().toISOString()}\n`);
  return fd;
}
