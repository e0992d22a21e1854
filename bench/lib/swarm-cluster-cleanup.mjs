// `node bench/swarm-cluster.mjs --cleanup`: what a swarm bench killed with kill -9 left behind,
// from the bench-state.json in its run folder (/tmp/berth-swarm-bench-*): the containers in
// the nodes' runc roots, every process in the clusters' namespaces (berthd, etcd members,
// conmon; dockerd, containerd, shims: all started by the run), shim sockets, mounts under the
// run folder, the nodes' cgroup parents and etcd data, the namespaces, the folders.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeCgroupTree, removeShimSockets, runcDeleteAll, unmountUnder } from './engines.mjs';
import { deleteNetns, killInNetns, netnsInode } from './netns.mjs';
import { log, sleep, staleRunFolders } from './util.mjs';


async function cleanCluster(name, c) {
  const notes = [];
  const runcIds = {};
  for (const n of c.nodes ?? []) {
    runcIds[n.name] = existsSync(n.runcRoot) ? readdirSync(n.runcRoot) : [];
    notes.push(...(await runcDeleteAll(n.runcRoot)));
  }
  // Names unique to the run (its PID and a random token): the inodes they have now are ours.
  const inodes = (c.namespaces ?? []).map((ns) => netnsInode(ns)).filter(Boolean);
  for (let i = 0; i < 3; i++) {
    const killed = killInNetns(inodes);
    if (!killed.length) break;
    notes.push(`killed ${killed.length} process(es) in the namespaces`);
    await sleep(500);
  }
  for (const n of c.nodes ?? []) {
    if (n.cdSock) notes.push(...removeShimSockets(n.cdSock, runcIds[n.name] ?? []));
    if (n.cgroupParent) removeCgroupTree(n.cgroupParent);
    if (n.etcdDir && existsSync(n.etcdDir)) {
      rmSync(n.etcdDir, { recursive: true, force: true });
      notes.push(`removed ${n.etcdDir}`);
    }
  }
  if (c.dir) notes.push(...(await unmountUnder(c.dir)));
  notes.push(...(await deleteNetns(c.namespaces ?? [])));
  if (c.dir) rmSync(c.dir, { recursive: true, force: true });
  return notes.map((x) => `${name}: ${x}`);
}

export async function cleanupSwarmLeftovers({ force = false } = {}) {
  let cleaned = 0;
  for (const { root, st } of staleRunFolders('berth-swarm-bench-', 'swarm-cluster.mjs', force)) {
    for (const [name, c] of Object.entries(st.clusters ?? {})) for (const n of await cleanCluster(name, c)) log(`  ${n}`);
    for (const n of await unmountUnder(root)) log(`  ${n}`);
    if (st.snapshot) rmSync(st.snapshot, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    cleaned++;
  }
  log(cleaned ? `cleaned ${cleaned} run folder(s)` : 'nothing to clean');
}
