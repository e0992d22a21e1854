#!/usr/bin/env node
// Render docs/benchmarks.md (and its SVG charts, docs/benchmarks-*.svg) from a results file
// (default: the latest full run in bench/results/, or the latest quick one when there is no
// full run). Re-runnable on any saved JSON:
//   node bench/render.mjs [bench/results/FILE.json ...] [--print]
// With several files (runs of different scenarios), their rows are put together in that order
// (a row in a later file replaces the same row of an earlier one) and the page names them all.
// The soak run (results/soak.json) and the latest multi-node swarm run (results/swarm-cluster-*,
// bench/swarm-cluster.mjs) have sections of their own after the table; a swarm-cluster file
// given alone rewrites only its section.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownReport, textTable } from './lib/report.mjs';
import { outageChart, restartChart, soakChart } from './lib/charts.mjs';
import { soakSection } from './lib/soak-report.mjs';
import { swarmClusterSection, withSwarmSection } from './lib/swarm-report.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(repo, 'bench', 'results');

export function latestResults() {
  let files = [];
  try {
    // The runs of bench/run.mjs are named by date; soak.json and swarm-cluster-*.json have sections of their own.
    files = readdirSync(resultsDir).filter((f) => /^\d{4}-/.test(f) && f.endsWith('.json') && !f.endsWith('.partial.json')).sort();
  } catch {
    // none yet
  }
  const full = files.filter((f) => !f.endsWith('-quick.json'));
  const pick = (full.length ? full : files).at(-1);
  if (!pick) throw new Error(`no results in ${resultsDir}: run node bench/run.mjs first`);
  return join(resultsDir, pick);
}

/** Several runs as one: rows in order (later replaces earlier by id), details, notes, errors. */
export function mergeResults(list, names) {
  if (list.length === 1) return list[0];
  const [first] = list;
  const out = { ...first, rows: [], details: {}, notes: [], errors: [], sources: [] };
  const byId = new Map();
  list.forEach((r, i) => {
    for (const row of r.rows) {
      if (byId.has(row.id)) out.rows[byId.get(row.id)] = row;
      else {
        byId.set(row.id, out.rows.length);
        out.rows.push(row);
      }
    }
    const seconds = { ...(out.details.scenarioSeconds ?? {}), ...(r.details?.scenarioSeconds ?? {}) };
    const populate = { ...(out.details.populateMs ?? {}), ...(r.details?.populateMs ?? {}) };
    Object.assign(out.details, r.details, { scenarioSeconds: seconds, populateMs: populate });
    out.notes.push(...(r.notes ?? []));
    out.errors.push(...(r.errors ?? []));
    out.sources.push({ file: names[i], startedAt: r.startedAt, durationS: r.durationS ?? Object.values(r.details?.scenarioSeconds ?? {}).reduce((x, y) => x + y, 0), mode: r.mode, partial: !!r.partial, only: r.options?.only, loadStart: r.loadStart, loadEnd: r.loadEnd });
  });
  out.durationS = out.sources.reduce((a, s) => a + (s.durationS ?? 0), 0);
  out.loadEnd = list.at(-1).loadEnd;
  out.options = { ...first.options, many: list.map((r) => r.options?.many).find((x) => x !== undefined), dockerMany: list.some((r) => r.options?.dockerMany) };
  out.partial = false;
  return out;
}

/**
 * Write docs/benchmarks.md, and its charts as SVG files beside it, from `file` (default: the
 * latest; an array: several runs put together); returns the path written. A chart the results
 * have no rows for is left out.
 */
export function renderLatest(file = latestResults()) {
  const files = Array.isArray(file) ? file : [file];
  const results = mergeResults(files.map((f) => JSON.parse(readFileSync(f, 'utf8'))), files.map((f) => relative(repo, f)));
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
  // The soak run (npm run soak) is a results file of its own, charted after the rows.
  const soakFile = join(resultsDir, 'soak.json');
  const soak = existsSync(soakFile) ? JSON.parse(readFileSync(soakFile, 'utf8')) : undefined;
  const soakSvg = soakChart(soak);
  if (soakSvg) writeFileSync(join(docs, 'benchmarks-soak.svg'), soakSvg);
  else rmSync(join(docs, 'benchmarks-soak.svg'), { force: true });
  const page = markdownReport(results, { source: files.map((f) => relative(repo, f)).join('` and `'), charts });
  const withSoak = soak ? `${page.trimEnd()}\n\n${soakSection(soak, relative(repo, soakFile), soakSvg ? 'benchmarks-soak.svg' : undefined)}` : page;
  // The multi-node swarm run (bench/swarm-cluster.mjs), the latest one, after the rest.
  const swarm = latestSwarmResults();
  writeFileSync(out, swarm ? withSwarmSection(withSoak, swarmClusterSection(JSON.parse(readFileSync(swarm, 'utf8')), relative(repo, swarm))) : withSoak);
  return out;
}

/** The latest complete bench/swarm-cluster.mjs run, if any. */
export function latestSwarmResults() {
  let files = [];
  try {
    files = readdirSync(resultsDir).filter((f) => f.startsWith('swarm-cluster-') && f.endsWith('.json') && !f.endsWith('.partial.json')).sort();
  } catch {
    // none yet
  }
  return files.length ? join(resultsDir, files.at(-1)) : undefined;
}

/**
 * Rewrite only the swarm section of docs/benchmarks.md from `file` (a bench/swarm-cluster.mjs
 * run), leaving the rows of the other runs as the page has them. Returns the path written.
 */
export function renderSwarmSection(file = latestSwarmResults()) {
  const out = join(repo, 'docs', 'benchmarks.md');
  const page = existsSync(out) ? readFileSync(out, 'utf8') : '# Benchmarks: berth and dockerd side by side\n';
  writeFileSync(out, withSwarmSection(page, swarmClusterSection(JSON.parse(readFileSync(file, 'utf8')), relative(repo, file))));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const given = args.filter((a) => !a.startsWith('--'));
  // A swarm-cluster run (bench/swarm-cluster.mjs) given alone: only its section changes.
  const swarm = given.filter((a) => /(^|\/)swarm-cluster-[^/]*\.json$/.test(a));
  if (swarm.length && swarm.length === given.length) {
    if (args.includes('--print')) console.log(textTable(JSON.parse(readFileSync(swarm.at(-1), 'utf8'))));
    console.log(`rendered the swarm section of ${renderSwarmSection(swarm.at(-1))} from ${swarm.at(-1)}`);
  } else {
    const files = given.length ? given.filter((a) => !swarm.includes(a)) : [latestResults()];
    if (args.includes('--print')) console.log(textTable(mergeResults(files.map((f) => JSON.parse(readFileSync(f, 'utf8'))), files)));
    console.log(`rendered ${renderLatest(files)} from ${files.map((f) => relative(repo, f)).join(', ')}`);
  }
}
