#!/usr/bin/env node
// Runs the compiled test files with node's built-in runner. Usage:
//   node scripts/run-tests.mjs [unit|integration|e2e ...] [--file substring[,substring...]]
// Suites run one after another (unit first); within a suite each file runs as its own
// `node --test` child, a few at a time (integration and e2e files start real daemons and
// containers), its output printed whole when it ends so concurrent files do not interleave.
// The whole run holds a machine-wide lock, and the host's network and mount state is
// compared before and after it (test/helpers/host-snapshot.ts): a leak fails the run.
import { readdirSync, statSync, existsSync, openSync, readFileSync, ftruncateSync, writeSync, mkdtempSync, rmdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const LOCK = '/run/lock/berth-tests.lock';
const args = process.argv.slice(2);
const fileFilter = args.includes('--file') ? args[args.indexOf('--file') + 1]?.split(',').filter(Boolean) : undefined;
const suites = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--file');
const order = suites.length > 0 ? suites : ['unit', 'integration', 'e2e'];
const concurrency = { unit: 4, integration: 1, e2e: 2 };

function listTests(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/**
 * flock(1) on a descriptor this process keeps open: the lock lives as long as the descriptor,
 * so it goes with this process however it ends (a dead run's lock is never stale), and test
 * children do not inherit it (node opens files close-on-exec). The file names the holder.
 */
function takeLock() {
  const fd = openSync(LOCK, 'a+');
  const flock = (extra) => spawnSync('flock', [...extra, '3'], { stdio: ['ignore', 'inherit', 'inherit', fd] });
  let r = flock(['-n']);
  let shown = '';
  while (r.status === 1) {
    const holder = readFileSync(LOCK, 'utf8').trim() || 'a holder that wrote no name (flock by hand?)';
    if (holder !== shown) console.log(`waiting for the test lock ${LOCK}, held by ${holder}`);
    shown = holder;
    r = flock(['-w', '60']);
  }
  if (r.status !== 0) throw new Error(`flock ${LOCK} failed: ${r.error?.message ?? `exit ${r.status}`}`);
  ftruncateSync(fd, 0);
  writeSync(fd, `pid ${process.pid} (${process.argv.slice(1).join(' ')}) in ${process.cwd()}, since ${new Date().toISOString()}\n`);
  return fd;
}

/** One `node --test` child per file: its combined output, exit code and wall time. */
function runFile(file) {
  const start = Date.now();
  const child = spawn(process.execPath, ['--test', '--test-reporter=spec', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BERTH_REPO_ROOT: root, BERTH_TEST_TMP: runTmp },
  });
  running.add(child);
  const chunks = [];
  child.stdout.on('data', (d) => chunks.push(d));
  child.stderr.on('data', (d) => chunks.push(d));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code: code ?? 1, signal, ms: Date.now() - start, output: Buffer.concat(chunks).toString() });
    });
  });
}

/**
 * Files that run with no other file alongside, before the rest of their suite: five berthds
 * and three etcd members fill both cores, and a second file beside them made either one's
 * timings flaky (a worker seen down, a demotion slower than its wait).
 */
const ALONE = ['e2e/swarm-multinode.test.js'];

async function runSuite(suite, files, results) {
  const isAlone = (f) => ALONE.includes(relative(join(root, 'dist', 'test'), f));
  const started = Date.now();
  let done = 0;
  let queue = files.filter(isAlone);
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined && !interrupted; file = queue.shift()) {
      const name = relative(join(root, 'dist', 'test'), file);
      console.log(`▶ ${name}`);
      const r = await runFile(file);
      done += 1;
      const ok = r.code === 0;
      process.stdout.write(`\n--- [${suite} ${done}/${files.length}] ${name}: ${ok ? 'ok' : `FAILED (${r.signal ?? `exit ${r.code}`})`}, ${secs(r.ms)} ---\n`);
      process.stdout.write(r.output.endsWith('\n') || r.output === '' ? r.output : `${r.output}\n`);
      results.push({ suite, name, ms: r.ms, ok, why: ok ? '' : whyFailed(r.output) });
    }
  };
  await worker();
  queue = files.filter((f) => !isAlone(f));
  await Promise.all(Array.from({ length: Math.min(concurrency[suite] ?? 1, queue.length) }, worker));
  return Date.now() - started;
}

/**
 * The gist of a failed file's output, repeated at the end of the run: a CI log is often read
 * from its tail only, where a failure's seed and assertion would otherwise be long gone.
 */
function whyFailed(output) {
  const lines = output.split('\n');
  const at = lines.findIndex((l) => l.startsWith('✖ failing tests:'));
  const picked = at >= 0 ? lines.slice(at + 1) : lines.slice(-20);
  // A daemon that ended by itself (test/helpers/daemon.ts prints how, and its log's end).
  const diagnosis = lines.filter((l) => l.startsWith('[diagnosis] ')).slice(0, 44);
  const failures = picked.filter((l) => l.trim() !== '' && !/^\s+at /.test(l)).slice(0, 24);
  return [...failures, ...diagnosis].map((l) => `    ${l.slice(0, 400)}`).join('\n');
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** Each file's wall time and its share of all files' summed time: what a file costs `npm test`. */
function printTimes(results, suiteWall, totalMs) {
  console.log('\n=== time per file (in the order they ended; share = of all files\' summed time) ===');
  const width = Math.max(...results.map((r) => r.name.length), 40);
  const all = results.reduce((s, r) => s + r.ms, 0);
  const share = (ms) => (all > 0 ? `${((100 * ms) / all).toFixed(1)}%` : '-');
  for (const suite of Object.keys(suiteWall)) {
    const rows = results.filter((r) => r.suite === suite);
    const sum = rows.reduce((s, r) => s + r.ms, 0);
    for (const r of rows) console.log(`  ${r.name.padEnd(width)} ${secs(r.ms).padStart(8)} ${share(r.ms).padStart(6)}${r.ok ? '' : '  FAILED'}`);
    const label = `${suite}: ${rows.length} file(s), ${concurrency[suite] ?? 1} at a time`;
    console.log(`  ${label.padEnd(width)} ${secs(sum).padStart(8)} ${share(sum).padStart(6)}  summed; ${secs(suiteWall[suite])} wall\n`);
  }
  console.log(`  ${'total'.padEnd(width)} ${secs(all).padStart(8)} 100.0%  summed; ${secs(totalMs)} wall`);
}

const running = new Set();
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // Queued files are not started; running ones get the signal and end as their tests allow.
    // A second signal does not wait for them.
    if (interrupted) process.exit(130);
    interrupted = true;
    for (const c of running) c.kill(sig);
  });
}

const { takeSnapshot, compareSnapshots, formatDifferences } = await import(join(root, 'dist', 'test', 'helpers', 'host-snapshot.js'));
takeLock();
// The run's own tree: test files make theirs inside it (test/helpers/paths.ts testTmpDir), so
// the snapshot sees this run's daemons, mounts and directories and not another run's.
const runTmp = mkdtempSync('/tmp/bt-run-');
const scope = { root: `${runTmp}/` };
const before = takeSnapshot(scope);
console.log(`host snapshot taken; this run's files keep their trees in ${runTmp}`);

const runStart = Date.now();
const results = [];
const suiteWall = {};
let failed = false;
for (const suite of order) {
  if (interrupted) break;
  let files = listTests(join(root, 'dist', 'test', suite));
  if (fileFilter) files = files.filter((f) => fileFilter.some((s) => relative(root, f).includes(s)));
  if (files.length === 0) {
    if (!fileFilter) { console.error(`no test files in suite ${suite}`); failed = true; }
    continue;
  }
  console.log(`\n=== ${suite}: ${files.length} file(s) ===`);
  suiteWall[suite] = await runSuite(suite, files, results);
}
if (results.length > 0) printTimes(results, suiteWall, Date.now() - runStart);

const failedFiles = results.filter((r) => !r.ok);
if (failedFiles.length > 0) {
  failed = true;
  console.log(`\nFAILED files (${failedFiles.length}):\n${failedFiles.map((r) => `  ${r.name}\n${r.why}`).join('\n')}`);
}
if (fileFilter && results.length === 0) {
  console.error(`no test file matches --file ${fileFilter.join(',')}`);
  failed = true;
}
if (interrupted) failed = true;

const leaks = compareSnapshots(before, takeSnapshot(scope));
// Empty when every file cleaned up after itself; what is left was reported above as a leak.
try {
  rmdirSync(runTmp);
} catch {
  console.log(`(left in place for a look: ${runTmp})`);
}
if (leaks.length > 0) {
  failed = true;
  console.log(`\nFAILED: the run left the host changed (compared with its start; test/helpers/host-snapshot.ts):\n${formatDifferences(leaks)}`);
  console.log(`(a change made meanwhile by something not holding ${LOCK} shows here too)`);
} else {
  console.log('\nhost snapshot: links, netns, iptables, sysctls, mounts and processes as at the start');
}
process.exit(failed ? 1 : 0);
