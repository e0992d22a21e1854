#!/usr/bin/env node
// Swarm mode on five nodes, berth and dockerd side by side: quorum loss to the first refused
// call, quorum restored to the first successful write, convergence after a worker loss. Each
// engine gets 3 managers and 2 workers, each node in a network namespace of its own behind one
// switch (berth: the test harness's cluster; dockerd 20.10: lib/docker-swarm-cluster.mjs), the
// two clusters up at once and measured in turn, round by round. See bench/README.md.
//
//   node bench/swarm-cluster.mjs [--rounds=3] [--replicas=4] [--heartbeat=1s] [--only=quorum,worker]
//                                [--engines=berth,docker] [--berth-repo=DIR] [--no-render] [--cleanup]
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyboxRootfs, gitInfo, harnessOptions, machineFacts, restoreNetwork, snapshotNetwork, versions } from './lib/host.mjs';
import { abort, loadavg, log, now, run, stats } from './lib/util.mjs';
import { textTable } from './lib/report.mjs';
import { DockerCluster } from './lib/docker-swarm-cluster.mjs';
import { startBerthCluster } from './lib/berth-swarm-cluster.mjs';
import { formSwarm, quorumRound, workerRound } from './lib/swarm-cluster-scenarios.mjs';
import { cleanupSwarmLeftovers } from './lib/swarm-cluster-cleanup.mjs';
import { SWARM_ROWS } from './lib/swarm-report.mjs';
import { renderSwarmSection } from './render.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const SCENARIOS = ['quorum', 'worker'];

const USAGE = `Usage: node bench/swarm-cluster.mjs [options]     (as root, after npm run build)

  --rounds=N          rounds of each scenario per engine (default 3)
  --replicas=N        tasks of the service on the workers in "worker" (default 4)
  --heartbeat=D       docker swarm update --dispatcher-heartbeat D (default 1s)
  --only=LIST         quorum,worker (default both)
  --engines=LIST      berth,docker (default both; one alone gives no ratios)
  --berth-repo=DIR    the checkout whose dist/ (npm run build) runs the berth nodes (default: this one;
                      its dist/ is copied at start, so a rebuild during the run changes nothing)
  --no-render         leave docs/benchmarks.md alone
  --cleanup           remove what a run killed with kill -9 left behind, then exit
`;

function parseArgs(argv) {
  const raw = {};
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}\n\n${USAGE}`);
    if (!['rounds', 'replicas', 'heartbeat', 'only', 'engines', 'berth-repo', 'no-render', 'cleanup', 'help'].includes(m[1])) throw new Error(`unknown option --${m[1]}\n\n${USAGE}`);
    raw[m[1]] = m[2] ?? true;
  }
  const o = {
    help: !!raw.help,
    cleanup: !!raw.cleanup,
    rounds: Number(raw.rounds ?? 3),
    replicas: Number(raw.replicas ?? 4),
    heartbeat: String(raw.heartbeat ?? '1s'),
    only: raw.only ? String(raw.only).split(',').filter(Boolean) : SCENARIOS,
    engines: raw.engines ? String(raw.engines).split(',').filter(Boolean) : ['berth', 'docker'],
    berthRepo: resolve(raw['berth-repo'] ? String(raw['berth-repo']) : repo),
    render: !raw['no-render'],
  };
  for (const s of o.only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (one of ${SCENARIOS.join(', ')})`);
  for (const e of o.engines) if (!['berth', 'docker'].includes(e)) throw new Error(`unknown engine ${e}`);
  if (!(o.rounds >= 1) || !(o.replicas >= 2)) throw new Error('--rounds must be at least 1 and --replicas at least 2');
  return o;
}

async function preflight(o) {
  const problems = [];
  if (process.getuid?.() !== 0) problems.push('run as root (namespaces, containers, mounts)');
  const need = [['docker', 'the docker CLI'], ['nsenter', 'nsenter (util-linux)'], ['ip', 'ip (iproute2)'], ['runc', 'runc']];
  if (o.engines.includes('docker')) need.push(['dockerd', 'dockerd: run ./scripts/install-bench-deps.sh'], ['containerd', 'containerd: run ./scripts/install-bench-deps.sh']);
  if (o.engines.includes('berth')) need.push(['etcd', 'etcd (etcd-server): run ./scripts/install-deps.sh'], ['conmon', 'conmon']);
  for (const [bin, why] of need) if ((await run('sh', ['-c', `command -v ${bin}`])).code !== 0) problems.push(`${why} is missing`);
  if (o.engines.includes('berth')) {
    for (const f of ['dist/src/cmd/berthd.cjs', 'dist/test/helpers/swarm-cluster.js']) if (!existsSync(join(o.berthRepo, f))) problems.push(`${join(o.berthRepo, f)} is missing: npm run build there`);
  }
  if (problems.length) throw new Error(`cannot run the swarm bench:\n  - ${problems.join('\n  - ')}`);
  return busyboxRootfs(repo);
}

/**
 * What the berth build is, in branch names: a checkout made only for a run (say, a merge of
 * two branches not yet merged on any) has a commit no one else can look up.
 */
async function gitProvenance(dir) {
  const name = async (rev) => {
    const r = await run('git', ['-C', dir, 'name-rev', '--name-only', '--refs=refs/heads/*', rev]);
    const n = r.stdout.trim();
    return n && n !== 'undefined' ? n : '';
  };
  const short = async (rev) => (await run('git', ['-C', dir, 'rev-parse', '--short=7', rev])).stdout.trim();
  const branch = await name('HEAD');
  if (branch && !/[~^]/.test(branch)) return `branch ${branch}`;
  const parents = (await run('git', ['-C', dir, 'log', '-1', '--format=%P'])).stdout.trim().split(/\s+/).filter(Boolean);
  if (parents.length < 2) return branch ? `${branch}` : '';
  const named = [];
  for (const p of parents) named.push(`${await short(p)}${(await name(p)) ? ` (${await name(p)})` : ''}`);
  return `a merge of ${named.join(' and ')}`;
}

/** What the measurement rows need from the rounds: each row's samples per engine. */
function buildRows(results) {
  const rows = [];
  for (const def of SWARM_ROWS(results.options)) {
    const row = { id: def.id, section: def.section, label: def.label, unit: 'ms', values: {}, ...(def.goal ? { goal: def.goal } : {}) };
    for (const [engine, r] of Object.entries(results.rounds)) {
      const samples = (r[def.scenario] ?? []).flatMap((x) => (Array.isArray(x[def.key]) ? x[def.key] : [x[def.key]])).filter((v) => typeof v === 'number');
      const s = stats(samples);
      if (s) row.values[engine] = s;
    }
    if (Object.keys(row.values).length) rows.push(row);
  }
  return rows;
}

async function main() {
  const o = await harnessOptions('bench/swarm-cluster.mjs', parseArgs, USAGE, () => cleanupSwarmLeftovers());
  if (!o) return;
  const tar = await preflight(o);
  const startedAt = new Date();
  const t0 = now();
  const root = mkdtempSync('/tmp/berth-swarm-bench-');
  const token = randomBytes(3).toString('hex');
  const commit = await gitInfo(o.berthRepo);
  const berthVersion = JSON.parse(readFileSync(join(o.berthRepo, 'package.json'), 'utf8')).version;
  // A private copy of the compiled berth, under its checkout so that node finds node_modules.
  const snapshot = join(o.berthRepo, 'build', `bench-swarm-${root.slice(-6)}`);
  const clusters = {};
  const hostNet = await snapshotNetwork();
  const saveState = () => {
    try {
      writeFileSync(join(root, 'bench-state.json'), JSON.stringify({ harnessPid: process.pid, root, snapshot, clusters: Object.fromEntries(Object.entries(clusters).map(([k, c]) => [k, c.state()])) }, null, 1));
    } catch (err) {
      log(`could not save the state file: ${err.message}`);
    }
  };
  saveState();

  const etcd = await run('etcd', ['--version']);
  const results = {
    schema: 1,
    kind: 'swarm-cluster',
    startedAt: startedAt.toISOString(),
    options: { rounds: o.rounds, replicas: o.replicas, heartbeat: o.heartbeat, only: o.only, engines: o.engines, berthRepo: relative(repo, o.berthRepo) || '.', managers: 3, workers: 2 },
    machine: machineFacts(),
    versions: { ...(await versions({ berthVersion, berthCommit: commit })), berthBuild: await gitProvenance(o.berthRepo), etcd: (etcd.stdout.split('\n')[0] ?? '').replace(/^etcd Version: /, '') },
    loadStart: loadavg(),
    loadSamples: [],
    rows: [],
    rounds: Object.fromEntries(o.engines.map((e) => [e, { quorum: [], worker: [] }])),
    details: {},
    notes: [],
    errors: [],
  };
  const loadTimer = setInterval(() => results.loadSamples.push([Math.round((now() - t0) / 1000), loadavg()[0]]), 5000);
  const stamp = startedAt.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const resultsDir = join(repo, 'bench', 'results');
  const baseName = `swarm-cluster-${stamp}-${results.machine.host}`;
  const partialFile = join(resultsDir, `${baseName}.partial.json`);
  const savePartial = () => {
    try {
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(partialFile, JSON.stringify({ ...results, rows: buildRows(results), partial: true, loadEnd: loadavg(), durationS: Math.round((now() - t0) / 1000) }, null, 1) + '\n');
    } catch (err) {
      log(`could not save ${partialFile}: ${err.message}`);
    }
  };

  let finalizing;
  const finalize = () =>
    (finalizing ??= (async () => {
      clearInterval(loadTimer);
      const notes = [];
      for (const [name, c] of Object.entries(clusters)) {
        try {
          const r = await c.cleanup();
          notes.push(...r.notes.map((n) => `${name}: ${n}`));
          if (r.residue.length) notes.push(`${name}: LEFT ON THE HOST: ${r.residue.join('; ')}`);
        } catch (err) {
          notes.push(`${name}: cleanup failed: ${err.message}`);
        }
      }
      try {
        notes.push(...(await restoreNetwork(hostNet, [])));
      } catch (err) {
        notes.push(`network check failed: ${err.message}`);
      }
      rmSync(snapshot, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
      return notes;
    })());
  let signals = 0;
  const onSignal = (sig) => {
    signals++;
    abort.requested = true;
    abort.reason = sig;
    if (signals === 1) {
      log(`${sig}: stopping and removing both clusters (a third signal exits at once; then run node bench/swarm-cluster.mjs --cleanup)`);
      finalize().then((notes) => {
        for (const n of notes) log(`cleanup: ${n}`);
        process.exit(130);
      });
    } else if (signals >= 3) process.exit(130);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => onSignal(sig));

  let failed = false;
  const broken = new Set();
  try {
    log(`run directory ${root}; engines ${o.engines.join(', ')}; ${o.rounds} rounds; load average ${results.loadStart.join(' ')}`);
    if (o.engines.includes('berth')) {
      mkdirSync(join(snapshot, 'build'), { recursive: true });
      cpSync(join(o.berthRepo, 'dist'), join(snapshot, 'dist'), { recursive: true });
      cpSync(join(o.berthRepo, 'package.json'), join(snapshot, 'package.json'));
      cpSync(tar, join(snapshot, 'build', 'busybox-rootfs.tar'));
      const s = now();
      await startBerthCluster({ repoRoot: snapshot, tmpDir: root, nodes: 5, prefix: 'bsb', subnet: '10.237.8', onCreated: (c) => { clusters.berth = c; saveState(); } });
      saveState();
      results.details.startMs = { berth: Math.round(now() - s) };
      log(`berth: 5 nodes up in ${((now() - s) / 1000).toFixed(1)} s`);
    }
    if (o.engines.includes('docker')) {
      const c = new DockerCluster(join(root, 'docker'), { nodes: 5, prefix: 'bsd', subnet: '10.239.0', token });
      clusters.docker = c;
      c.onLaunch = saveState;
      const s = now();
      await c.start(tar);
      (results.details.startMs ??= {}).docker = Math.round(now() - s);
      log(`docker: 5 nodes up in ${((now() - s) / 1000).toFixed(1)} s`);
    }
    const order = o.engines.filter((e) => clusters[e]);
    for (const e of order) {
      (results.details.formMs ??= {})[e] = Math.round(await formSwarm(clusters[e], { heartbeat: o.heartbeat }));
      saveState();
    }
    const scenario = async (name, fn) => {
      for (let r = 0; r < o.rounds; r++) {
        // Engines take turns round by round, the order flipping, so a burst of load hits both.
        for (const e of r % 2 ? [...order].reverse() : order) {
          if (abort.requested || broken.has(e)) continue;
          (results.details.loadAtRound ??= []).push({ scenario: name, engine: e, round: r + 1, load1: loadavg()[0] });
          try {
            results.rounds[e][name].push(await fn(clusters[e], r));
          } catch (err) {
            if (abort.requested) throw err;
            log(`${e} ${name} round ${r + 1} failed: ${err.stack ?? err}`);
            results.errors.push({ scenario: `${name} round ${r + 1}`, engine: e, error: String(err.message ?? err).slice(0, 2000) });
            if (err.rec) results.rounds[e][name].push({ ...err.rec, failed: true });
            if (!(await recover(clusters[e]))) broken.add(e);
          }
          savePartial();
        }
      }
    };
    if (o.only.includes('quorum')) await scenario('quorum', (c, r) => quorumRound(c, r));
    if (o.only.includes('worker')) await scenario('worker', (c, r) => workerRound(c, r, { replicas: o.replicas }));
    for (const e of broken) results.notes.push(`${e}: rounds skipped after a failure the cluster could not recover from`);
  } catch (err) {
    failed = true;
    log(`run failed: ${err.stack ?? err}`);
    results.errors.push({ scenario: 'harness', error: String(err.message ?? err).slice(0, 2000) });
  } finally {
    results.loadEnd = loadavg();
    log('removing both clusters');
    results.cleanup = await finalize();
    for (const n of results.cleanup) log(`cleanup: ${n}`);
  }
  if (abort.requested) return; // the signal handler exits
  results.rows = buildRows(results);
  results.finishedAt = new Date().toISOString();
  results.durationS = Math.round((now() - t0) / 1000);
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${baseName}.json`);
  writeFileSync(file, JSON.stringify(results, null, 1) + '\n');
  rmSync(partialFile, { force: true });
  console.log('\n' + textTable(results) + '\n');
  const loads = results.loadSamples.map(([, l]) => l);
  if (loads.length) console.log(`load average (1 min) during the run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}, median ${stats(loads).median.toFixed(2)}`);
  if (results.errors.length) console.log('Failed:\n' + results.errors.map((e) => `  - ${e.engine ?? ''} ${e.scenario}: ${e.error.split('\n')[0]}`).join('\n') + '\n');
  console.log(`results: ${file}`);
  if (o.render) console.log(`rendered: ${renderSwarmSection(file)}`);
  if (failed || results.errors.length) process.exitCode = 1;
}

/** After a failed round: every node's daemon up again, no service but the probe. False if that fails. */
async function recover(cl) {
  try {
    for (const n of cl.nodes) if (!n.running) await n.restart();
    const S = cl.node(1);
    for (let i = 0; i < 120; i++) {
      const r = await S.docker(['service', 'rm', 'conv'], { timeoutMs: 30_000 });
      if (r.code === 0 || /not found/i.test(r.stderr)) return true;
      await new Promise((res) => setTimeout(res, 1000));
    }
    return false;
  } catch (err) {
    log(`${cl.name}: could not recover: ${err.message}`);
    return false;
  }
}

main().catch((err) => {
  console.error(err.stack ?? String(err));
  process.exit(1);
});

