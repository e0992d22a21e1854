#!/usr/bin/env node
// Remove what an interrupted benchmark run left behind (the harness was killed before its own
// cleanup ran): its daemons (by the PIDs it recorded, checked against their command lines),
// containers, monitors, mounts, cgroups, temporary folders, berth's bridge and chains (`berth
// network-cleanup` on the run's data root) and both daemons' other network changes.
//   node bench/cleanup.mjs [--force]     (--force: even if the recorded harness PID is alive)
// Also reachable as `node bench/run.mjs --cleanup`. Holds the tests' lock (lib/lock.mjs).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Berth, Docker } from './lib/engines.mjs';
import { restoreNetwork } from './lib/host.mjs';
import { alive, cmdlineOf, log, staleRunFolders } from './lib/util.mjs';
import { takeTestLock } from './lib/lock.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** A recorded PID, if that process is still the one we started (its argv names our folder). */
function ours(pid, dir) {
  return pid && alive(pid) && cmdlineOf(pid).some((a) => a.startsWith(dir)) ? pid : undefined;
}

export async function cleanupLeftovers({ force = false } = {}) {
  let cleaned = 0;
  for (const { root, st } of staleRunFolders('berth-bench-', 'bench/run.mjs', force)) {
    for (const es of st.engines) {
      // berth network-cleanup from the run's own copy of berth if it is still there, else dist/.
      const copy = st.snapshot ? join(st.snapshot, 'dist', 'src', 'cmd', 'berthd.cjs') : '';
      const berthdJs = copy && existsSync(copy) ? copy : join(repo, 'dist', 'src', 'cmd', 'berthd.cjs');
      const e = es.name === 'berth' ? new Berth(root, { berthdJs }) : new Docker(root);
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
    if (st.net) for (const n of await restoreNetwork(st.net, st.owned)) log(`  ${n}`);
    if (st.snapshot) rmSync(st.snapshot, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    cleaned++;
  }
  log(cleaned ? `cleaned ${cleaned} run folder(s)` : 'nothing to clean');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  takeTestLock('node bench/cleanup.mjs');
  cleanupLeftovers({ force: process.argv.includes('--force') }).catch((err) => {
    console.error(err.stack ?? String(err));
    process.exit(1);
  });
}
