#!/usr/bin/env node
// Render docs/benchmarks.md (and its SVG charts, docs/benchmarks-*.svg) from a results file (default: the latest full run in bench/results/,
// or the latest quick one when there is no full run). Re-runnable on any saved JSON:
//   node bench/render.mjs [bench/results/FILE.json] [--print]
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownReport, textTable } from './lib/report.mjs';
import { outageChart, restartChart } from './lib/charts.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(repo, 'bench', 'results');

export function latestResults() {
  let files = [];
  try {
    files = readdirSync(resultsDir).filter((f) => f.endsWith('.json') && !f.endsWith('.partial.json')).sort();
  } catch {
    // none yet
  }
  const full = files.filter((f) => !f.endsWith('-quick.json'));
  const pick = (full.length ? full : files).at(-1);
  if (!pick) throw new Error(`no results in ${resultsDir}: run node bench/run.mjs first`);
  return join(resultsDir, pick);
}

/**
 * Write docs/benchmarks.md, and its charts as SVG files beside it, from `file` (default: the
 * latest); returns the path written. A chart the results have no rows for is left out.
 */
export function renderLatest(file = latestResults()) {
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const docs = join(repo, 'docs');
  const charts = {};
  for (const [key, name, make] of [
    ['restart', 'benchmarks-restart.svg', restartChart],
    ['outage', 'benchmarks-outage.svg', outageChart],
  ]) {
    const svg = make(results);
    if (svg) {
      writeFileSync(join(docs, name), svg);
      charts[key] = name;
    } else rmSync(join(docs, name), { force: true });
  }
  const out = join(docs, 'benchmarks.md');
  writeFileSync(out, markdownReport(results, { source: relative(repo, file), charts }));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--')) ?? latestResults();
  if (args.includes('--print')) console.log(textTable(JSON.parse(readFileSync(file, 'utf8'))));
  console.log(`rendered ${renderLatest(file)} from ${relative(repo, file)}`);
}
