#!/usr/bin/env node
// node-unix-socket lists optional per-platform packages that the npm registry does not have
// (darwin, arm). `npm install` leaves them out of package-lock.json and npm 11's `npm ci` then
// refuses the lock as out of sync. This adds the missing entries, marked optional and
// platform-bound, so `npm ci` skips them on x64 Linux. Run it after any `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const pkgs = lock.packages;
const parent = pkgs['node_modules/node-unix-socket'];
let added = 0;
for (const [name, version] of Object.entries(parent?.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (pkgs[key]) continue;
  const [, os, cpu, libc] = /^node-unix-socket-(linux|darwin|win32)-(x64|arm64|arm|ia32)(?:-(gnu|musl|gnueabihf|msvc))?$/.exec(name) ?? [];
  if (!os) continue;
  pkgs[key] = {
    version,
    cpu: [cpu],
    ...(libc ? { libc: [libc === 'musl' ? 'musl' : 'glibc'] } : {}),
    license: 'MIT',
    optional: true,
    os: [os],
    engines: { node: '>= 10' },
  };
  added++;
}
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: ${added} placeholder entr${added === 1 ? 'y' : 'ies'} added`);
