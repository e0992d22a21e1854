#!/usr/bin/env node
// berthd's entry point. Every millisecond between a restart and the first answered request is
// time a client sees the daemon gone, so berthd does not start from ~100 separate ES modules:
// `npm run build` bundles them into one CommonJS file (scripts/bundle.mjs) and saves V8's code
// cache for it, and this launcher compiles the bundle with that cache. Loading modules one by
// one (resolve, stat, read, compile each) cost ~70 ms of a ~130 ms start here; the bundle with
// its cache loads in ~15 ms. Without a bundle (a plain `tsc` build) it falls back to the modules.
//
// CommonJS on purpose: an ES module entry costs Node ~5 ms more to start than a CommonJS one.
const { readFileSync, writeFileSync }: typeof import('node:fs') = require('node:fs');
const { createRequire }: typeof import('node:module') = require('node:module');
const { dirname, join }: typeof import('node:path') = require('node:path');
const { Script }: typeof import('node:vm') = require('node:vm');

type Run = (argv: string[]) => void;

const bundlePath = join(__dirname, 'berthd.bundle.cjs');
const cachePath = `${bundlePath}.v8cache`;

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Compiles and evaluates the bundle as Node would a CommonJS module, with the code cache. */
function loadBundle(source: string): Run {
  const cachedData = readOrUndefined(cachePath);
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundlePath,
    ...(cachedData ? { cachedData } : {}),
  });
  const mod: { exports: { run?: Run } } = { exports: {} };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(mod.exports, mod.exports, createRequire(bundlePath), mod, bundlePath, dirname(bundlePath));
  const trace = process.env['BERTH_STARTUP_TRACE'];
  if (trace === 'write-code-cache') {
    // Used by scripts/bundle.mjs: by exit, the functions the run compiled are in the cache too.
    process.on('exit', () => writeFileSync(cachePath, script.createCachedData()));
  } else if (trace) {
    const cache = cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted';
    process.stderr.write(`berthd start-up: bundle ${bundlePath}, code cache ${cache}\n`);
  }
  if (typeof mod.exports.run !== 'function') throw new Error(`${bundlePath} does not export run()`);
  return mod.exports.run;
}

const source = readOrUndefined(bundlePath);
if (source) {
  loadBundle(source.toString('utf8'))(process.argv.slice(2));
} else {
  import('./berthd-main.js').then(
    (m) => m.run(process.argv.slice(2)),
    (err: unknown) => {
      process.stderr.write(`berthd: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
