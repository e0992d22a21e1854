#!/usr/bin/env node
// Runs the compiled test files with node's built-in runner. Usage:
//   node scripts/run-tests.mjs [unit|integration|e2e ...] [--file substring]
// Suites run one after another (unit first); within a suite, files run with limited
// concurrency because integration and e2e files start real daemons and containers.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const fileFilter = args.includes('--file') ? args[args.indexOf('--file') + 1] : undefined;
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

let failed = false;
for (const suite of order) {
  let files = listTests(join(root, 'dist', 'test', suite));
  if (fileFilter) files = files.filter((f) => f.includes(fileFilter));
  if (files.length === 0) {
    if (!fileFilter) { console.error(`no test files in suite ${suite}`); failed = true; }
    continue;
  }
  console.log(`\n=== ${suite}: ${files.length} file(s) ===`);
  const r = spawnSync(
    process.execPath,
    ['--test', `--test-concurrency=${concurrency[suite] ?? 1}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...process.env, BERTH_REPO_ROOT: root } },
  );
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
