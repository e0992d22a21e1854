#!/usr/bin/env node
// Render docs/benchmarks.md from a results file (default: the latest full run in bench/results/,
// or the latest quick one when there is no full run). Re-runnable on any saved JSON:
//   node bench/render.mjs [bench/results/FILE.json] [--print]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownReport, textTable } from './lib/report.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(repo, 'bench', 'results');

export function latestResults() {
  let files = [];
  try {
    files = readdirSync(resultsDir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    // none yet
  }
  const full = files.filter((f) => !f.endsWith('-quick.json'));
  const pick = (full.length ? full : files).at(-1);
  if (!pick) throw new Error(`no results in ${resultsDir}: run node bench/run.mjs first`);
  return join(resultsDir, pick);
}

/** Write docs/benchmarks.md from `file` (default: the latest); returns the path written. */
export function renderLatest(file = latestResults()) {
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const out = join(repo, 'docs', 'benchmarks.md');
  writeFileSync(out, markdownReport(results, { source: relative(repo, file) }));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--')) ?? latestResults();
  if (args.includes('--print')) console.log(textTable(JSON.parse(readFileSync(file, 'utf8'))));
  console.log(`rendered ${renderLatest(file)} from ${relative(repo, file)}`);
}
