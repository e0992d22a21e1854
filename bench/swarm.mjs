#!/usr/bin/env node
// Swarm-mode figures for one engine, through the docker CLI: the time to converge a
// 50-replica service (create until every task runs) and the latency of a service update (an
// env change on a 1-replica service until its new task runs, and until a 5-replica rolling
// update with parallelism 5 is running the new spec). Drives whatever daemon -H names: a berthd
// or a dockerd without live restore (dockerd refuses swarm mode with it, so the main bench's
// dockerd cannot take part). It leaves the swarm when done if it initialized it.
//
//   node bench/swarm.mjs -H unix:///path/to.sock [--replicas=50] [--reps=5] [--out=FILE.json]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, dflt) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt;
const host = args[args.indexOf('-H') + 1];
if (!host || args.indexOf('-H') < 0) {
  console.error('usage: node bench/swarm.mjs -H unix:///path/to.sock [--replicas=50] [--reps=5] [--out=FILE.json]');
  process.exit(2);
}
const replicas = Number(opt('replicas', '50'));
const reps = Number(opt('reps', '5'));

function docker(argv, ok = true) {
  const r = spawnSync('docker', ['-H', host, ...argv], { encoding: 'utf8', timeout: 600_000 });
  if (ok && r.status !== 0) throw new Error(`docker ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

/** Until `n` tasks of the service run the current spec (the CLI's own `_up-to-date` test). */
async function untilRunning(service, n, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = docker(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}', service]);
    const running = out.split('\n').filter((l) => l.startsWith('Running')).length;
    const ids = docker(['service', 'inspect', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Env}}', service]).trim();
    if (running === n) return ids;
    if (Date.now() > deadline) throw new Error(`${service}: ${running} of ${n} running after ${timeoutMs} ms`);
    await sleep(20);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stats = (xs) => ({ n: xs.length, median: Math.round(median(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)) });

const server = docker(['version', '--format', '{{.Server.Version}}']).trim();
const state = docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).trim();
const initialized = state !== 'active';
if (initialized) docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
const results = { engine: server, replicas, reps, converge: [], update1: [], update5: [] };
try {
  for (let i = 0; i < reps; i++) {
    const t0 = nowMs();
    docker(['service', 'create', '-d', '-q', '--name', 'bench50', '--replicas', String(replicas), '--no-resolve-image', '--stop-grace-period', '1s', 'busybox', 'sleep', '100000']);
    await untilRunning('bench50', replicas);
    results.converge.push(nowMs() - t0);
    docker(['service', 'rm', 'bench50']);
    // Until the containers are gone, so the next round starts from nothing.
    for (let k = 0; k < 600 && docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=bench50']).trim() !== ''; k++) await sleep(100);
  }
  for (const [name, n, key] of [['bench1', 1, 'update1'], ['bench5', 5, 'update5']]) {
    docker(['service', 'create', '-d', '-q', '--name', name, '--replicas', String(n), '--update-parallelism', String(n), '--update-monitor', '1s', '--no-resolve-image', '--stop-grace-period', '1s', 'busybox', 'sleep', '100000']);
    await untilRunning(name, n);
    for (let i = 0; i < reps; i++) {
      const t0 = nowMs();
      docker(['service', 'update', '-d', '-q', '--env-add', `ROUND=${i}`, name]);
      // Running the new spec: every running task's service spec has the new env.
      for (;;) {
        const rows = docker(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.ID}} {{.CurrentState}}', name]).trim().split('\n').filter(Boolean);
        const inspect = rows.length === n ? docker(['inspect', '--format', '{{.Spec.ContainerSpec.Env}} {{.Status.State}}', ...rows.map((r) => r.split(' ')[0])]) : '';
        if (rows.length === n && inspect.trim().split('\n').every((l) => l.includes(`ROUND=${i}`) && l.endsWith('running'))) break;
        await sleep(20);
      }
      results[key].push(nowMs() - t0);
      // The update's own monitor, so the next update starts from a completed one.
      await sleep(1500);
    }
    docker(['service', 'rm', name]);
  }
} finally {
  if (initialized) docker(['swarm', 'leave', '--force'], false);
}
const summary = { engine: results.engine, replicas, convergeMs: stats(results.converge), update1Ms: stats(results.update1), update5Ms: stats(results.update5) };
console.log(JSON.stringify(summary, null, 1));
const out = opt('out', '');
if (out) writeFileSync(out, JSON.stringify({ ...summary, raw: results }, null, 1) + '\n');
