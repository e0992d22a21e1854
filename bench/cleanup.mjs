#!/usr/bin/env node
// Remove what an interrupted benchmark run left behind (the harness was killed before its own
// cleanup ran): its daemons (by the PIDs it recorded, checked against their command lines),
// containers, monitors, mounts, cgroups, temporary folders, and dockerd's network changes.
//   node bench/cleanup.mjs [--force]     (--force: even if the recorded harness PID is alive)
// Also reachable as `node bench/run.mjs --cleanup`.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Berth, Docker } from './lib/engines.mjs';
import { restoreNetwork } from './lib/host.mjs';
import { alive, log } from './lib/util.mjs';

function cmdlineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** A recorded PID, if that process is still the one we started (its argv names our folder). */
function ours(pid, dir) {
  return pid && alive(pid) && cmdlineOf(pid).some((a) => a.startsWith(dir)) ? pid : undefined;
}

export async function cleanupLeftovers({ force = false } = {}) {
  const roots = readdirSync('/tmp')
    .filter((n) => n.startsWith('berth-bench-'))
    .map((n) => join('/tmp', n));
  let cleaned = 0;
  for (const root of roots) {
    const stateFile = join(root, 'bench-state.json');
    if (!existsSync(stateFile)) {
      log(`${root}: no bench-state.json, skipped (remove it by hand if it is stale)`);
      continue;
    }
    const st = JSON.parse(readFileSync(stateFile, 'utf8'));
    if (!force && alive(st.harnessPid) && cmdlineOf(st.harnessPid).some((a) => a.endsWith('bench/run.mjs'))) {
      log(`${root}: its harness (pid ${st.harnessPid}) is still running; skipped (--force to clean anyway)`);
      continue;
    }
    log(`${root}: cleaning up`);
    for (const es of st.engines) {
      const e = es.name === 'berth' ? new Berth(root, { berthdJs: '' }) : new Docker(root);
      e.prepare();
      e.pid = ours(es.pids.berthd ?? es.pids.dockerd, es.dir);
      if (es.name === 'docker') e.containerdPid = ours(es.pids.containerd, es.dir);
      for (const n of await e.teardown()) log(`  ${es.name}: ${n}`);
    }
    for (const r of st.registries ?? []) {
      const pid = ours(r.pid, r.dir);
      if (pid) {
        process.kill(pid, 'SIGKILL');
        log(`  docker-registry ${pid} killed`);
      }
    }
    if (st.net) for (const n of await restoreNetwork(st.net)) log(`  ${n}`);
    if (st.snapshot) rmSync(st.snapshot, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    cleaned++;
  }
  log(cleaned ? `cleaned ${cleaned} run folder(s)` : 'nothing to clean');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cleanupLeftovers({ force: process.argv.includes('--force') }).catch((err) => {
    console.error(err.stack ?? String(err));
    process.exit(1);
  });
}
