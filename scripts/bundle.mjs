#!/usr/bin/env node
// Second step of `npm run build`, after tsc: bundles berthd's modules (dist/src/cmd/berthd-main.js
// and everything it imports, pino included) into dist/src/cmd/berthd.bundle.cjs, then runs
// `berthd --version` through the launcher once so it saves V8's code cache beside the bundle.
// The bundle sits in the same directory as the module it replaces, so paths the code derives
// from its own location (package.json for the version) stay the same. See src/cmd/berthd.cts.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cmdDir = fileURLToPath(new URL('../dist/src/cmd/', import.meta.url));
const bundle = `${cmdDir}berthd.bundle.cjs`;
rmSync(`${bundle}.v8cache`, { force: true });

await build({
  entryPoints: [`${cmdDir}berthd-main.js`],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  // A native addon: it stays a require() resolved from node_modules at run time.
  external: ['node-unix-socket'],
  // CommonJS has no import.meta; the bundle's own URL stands in for each module's.
  banner: { js: "const __bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__bundle_url' },
});

// The launcher evaluates the bundle with node:vm, which has no import(): a dynamic import left
// in the bundle (of an external module) would fail only when that code path runs.
const dynamicImports = readFileSync(bundle, 'utf8').match(/\bimport\((["'`])[^"'`]*\1\)/g);
if (dynamicImports) {
  process.stderr.write(`bundle: dynamic import() left in ${bundle}: ${dynamicImports.join(', ')}; use require (createRequire) for externals\n`);
  process.exit(1);
}

const r = spawnSync(process.execPath, [`${cmdDir}berthd.cjs`, '--version'], {
  env: { ...process.env, BERTH_STARTUP_TRACE: 'write-code-cache' },
  encoding: 'utf8',
  timeout: 30_000,
});
if (r.status !== 0 || !existsSync(`${bundle}.v8cache`)) {
  process.stderr.write(`bundle: berthd --version through the bundle failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}\n`);
  process.exit(1);
}
