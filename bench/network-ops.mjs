#!/usr/bin/env node
// Cost of the host-side network operations (src/network), alone: wall time and helper spawns
// per operation, medians over repetitions. As root, after `npm run build`:
//   node bench/network-ops.mjs [--reps=N] [--rules=N] [--restore=N]
// Uses a bridge and a subnet of its own (10.254.x.0/24) and removes everything it made.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/src/', import.meta.url));
const { BridgeDriver } = await import(join(dist, 'network/bridge-driver.js'));
const { silentLogger } = await import(join(dist, 'lib/logger.js'));
const { newId } = await import(join(dist, 'lib/ids.js'));

const arg = (name, dflt) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const reps = arg('reps', 15);
const ruleCount = arg('rules', 1000);
const restoreCount = arg('restore', 50);

const dir = mkdtempSync('/tmp/bt-netbench-');
const net = { name: 'bridge', id: newId(), bridge: `btbench${process.pid % 1000}`, external: false, subnet: '10.254.7.0/24', gateway: '10.254.7.1', mtu: 1500, icc: true, ipMasq: true };
const make = () => new BridgeDriver({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec'), iptables: true, ipForward: false, log: silentLogger() });
const rows = [];

async function measure(label, d, fn, n = reps) {
  const times = [];
  const inSpawns = [];
  let spawns = 0;
  for (let i = 0; i < n; i++) {
    const s0 = d.cmds.spawns;
    const m0 = d.cmds.spawnMs;
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
    inSpawns.push(d.cmds.spawnMs - m0);
    spawns = d.cmds.spawns - s0;
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  rows.push({ label, median: median(times), min: Math.min(...times), spawnMedian: median(inSpawns), spawns, n });
}

const port = (p) => ({ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: p, hostPortEnd: p });
let d = make();
try {
  await d.init();
  await measure('ensureNetwork (create)', d, async () => {
    spawnSync('ip', ['link', 'del', 'dev', net.bridge]);
    await d.ensureNetwork(net);
  }, 1);
  await measure('ensureNetwork (adopt, nothing to do)', d, () => d.ensureNetwork(net));
  for (const [label, ports] of [['connect, no port', []], ['connect, 1 port', [port(0)]], ['connect, 3 ports', [port(0), port(0), port(0)]]]) {
    const ids = [];
    await measure(label, d, async () => {
      const id = newId();
      ids.push(id);
      (await d.connect(id, { network: 'bridge', ports: ports.map((p) => ({ ...p })) })).reservation.close();
    });
    await measure(`disconnect (${label.slice(9)})`, d, async (i) => d.disconnect(ids[i], { keepStaticAddress: false }));
  }

  // Restore with many live endpoints: nothing to change, so nothing spawned but the looks.
  const live = new Map();
  const sleepers = [];
  for (let i = 0; i < restoreCount; i++) {
    const id = newId();
    const c = await d.connect(id, { network: 'bridge', ports: [port(0)] });
    const holder = spawn('sleep', ['3600'], { stdio: ['ignore', 'ignore', 'ignore', ...c.reservation.fds] });
    c.reservation.close();
    sleepers.push(holder);
    live.set(id, { pid: holder.pid, monitorPid: holder.pid });
  }
  const next = make();
  await measure(`restart: init + ensureNetwork + restore, ${restoreCount} live endpoints`, next, async () => {
    await next.init();
    await next.ensureNetwork(net);
    await next.restore({ running: live, existing: new Set(live.keys()) });
  }, 1);
  for (const s of sleepers) s.kill('SIGKILL');
  await next.removeAll();
  d = make();
  await d.init();
  await d.ensureNetwork(net);

  // Rule scaling: with N containers publishing a port, one more container's rules cost one
  // iptables-restore that rewrites the dispatch chain (N jumps) and adds its own chain.
  const fw = d.firewall;
  for (let i = 0; i < ruleCount; i++) {
    const id = newId();
    fw.setContainer(id, { chain: `${fw.names.containerPrefix}${id.slice(0, 12)}`, ip: `10.254.7.${2 + (i % 250)}`, ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPort: 40000 + (i % 20000) }] });
  }
  await measure(`iptables-restore of ${ruleCount} containers' rules at once`, d, () => fw.sync(), 1);
  await measure(`one more container's rules with ${ruleCount} present`, d, async () => {
    const id = newId();
    fw.setContainer(id, { chain: `${fw.names.containerPrefix}${id.slice(0, 12)}`, ip: '10.254.7.9', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPort: 39999 }] });
    await fw.sync();
  }, 5);
} finally {
  await d.removeAll().catch((e) => console.error('cleanup:', e.message));
  spawnSync('ip', ['link', 'del', 'dev', net.bridge]);
  rmSync(dir, { recursive: true, force: true });
}

const load = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim();
console.log(`network operations, median of ${reps} (load average ${load})`);
for (const r of rows) {
  console.log(`${r.label.padEnd(64)} ${r.median.toFixed(1).padStart(7)} ms (min ${r.min.toFixed(1).padStart(6)}; in helpers ${r.spawnMedian.toFixed(1).padStart(6)})  ${r.spawns} spawns  n=${r.n}`);
}
