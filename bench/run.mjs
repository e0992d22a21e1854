#!/usr/bin/env node
// berth vs dockerd, side by side, in one run. See bench/README.md.
//
//   node bench/run.mjs [--quick] [--only=start,run,api,rm,logs,logsf,logsdown,runnet,ports,outage,
//                                         ps,exec,mem,restart,many,netrestart,netmany]
//                      [--engines=berth,docker] [--n=100] [--many=1000] [--docker-many]
//                      [--berth-dist=DIR] [--no-render] [--cleanup]
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Berth, Docker, BERTH_BIP, DOCKER_BIP, subnetOf, inSubnet } from './lib/engines.mjs';
import { busyboxRootfs, gitInfo, harnessOptions, machineFacts, restoreNetwork, snapshotNetwork, versions } from './lib/host.mjs';
import { abort, alive, loadavg, log, now, run, stats } from './lib/util.mjs';
import { API } from './lib/http.mjs';
import * as sc from './lib/scenarios.mjs';
import * as dns from './lib/dns-scenarios.mjs';
import { registryPullPush } from './lib/registry.mjs';
import { buildDockerfile } from './lib/build.mjs';
import * as net from './lib/netscenarios.mjs';
import { textTable } from './lib/report.mjs';
import { renderLatest } from './render.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const ALL = ['start', 'run', 'api', 'rm', 'logs', 'logsf', 'logsdown', 'registry', 'build', 'dns', 'runnet', 'ports', 'outage', 'ps', 'exec', 'mem', 'restart', 'many', 'netrestart', 'netmany'];

const USAGE = `Usage: node bench/run.mjs [options]     (as root; npm run bench)

  --quick             few repetitions, 20 containers instead of 100, 20 MiB of logs, 10 s outage
  --only=LIST         scenarios, comma-separated: ${ALL.join(',')}
                      (default: all; "many"/"netmany" are berth with --many containers)
  --engines=LIST      berth,docker (default both; one engine alone gives no ratios)
  --n=N               running containers for ps/mem/restart/netrestart (default 100; quick 20)
  --many=N            containers for "many" and "netmany" (default 1000; quick 50)
  --docker-many       run "many" and "netmany" on dockerd too (creating 1000 there takes minutes)
  --outage-restarts=N kill -9 and restarts of each daemon in "outage" (default 20; quick 5)
  --reps=N            repetitions of run -d / API create+start (default 30; quick 5)
  --restart-reps=N    repetitions of each restart row (default 5; quick 2)
  --log-mib=N         MiB the log-throughput container writes (default 100; quick 20)
  --follow-lines=N    lines timed in logsf, the engines taking turns (default 200; quick 20)
  --outage=S          seconds the daemon is away in "logsdown" (default 30; quick 10)
  --berth-dist=DIR    compiled berth to run (default: <repo>/dist, copied at start)
  --storage-driver=D  berthd's storage driver (default overlay2, as dockerd's)
  --docker-iptables=false  start dockerd with --iptables=false
  --no-render         do not rewrite docs/benchmarks.md
  --cleanup           remove what an interrupted run left behind, then exit
`;

function parseArgs(argv) {
  const o = { quick: false, only: ALL, engines: ['berth', 'docker'], render: true, dockerMany: false, dockerIptables: true, berthStorageDriver: 'overlay2' };
  const raw = {};
  for (const a of argv) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}\n\n${USAGE}`);
    raw[m[1]] = m[2] ?? true;
  }
  for (const k of Object.keys(raw)) {
    if (!['quick', 'only', 'engines', 'n', 'many', 'docker-many', 'reps', 'restart-reps', 'log-mib', 'follow-lines', 'outage', 'outage-restarts', 'berth-dist', 'storage-driver', 'docker-iptables', 'no-render', 'cleanup', 'help'].includes(k)) {
      throw new Error(`unknown option --${k}\n\n${USAGE}`);
    }
  }
  o.help = !!raw.help;
  o.cleanup = !!raw.cleanup;
  o.quick = !!raw.quick;
  const q = o.quick;
  if (raw.only) o.only = String(raw.only).split(',').filter(Boolean);
  for (const s of o.only) if (!ALL.includes(s)) throw new Error(`unknown scenario ${s} (one of ${ALL.join(', ')})`);
  if (raw.engines) o.engines = String(raw.engines).split(',').filter(Boolean);
  for (const e of o.engines) if (!['berth', 'docker'].includes(e)) throw new Error(`unknown engine ${e}`);
  const num = (k, d) => (raw[k] === undefined ? d : Number(raw[k]));
  o.n = num('n', q ? 20 : 100);
  o.many = num('many', q ? 50 : 1000);
  o.dockerMany = !!raw['docker-many'];
  o.logMiB = num('log-mib', q ? 20 : 100);
  o.outageS = num('outage', q ? 10 : 30);
  o.outageCycles = num('outage-restarts', q ? 5 : 20);
  o.reps = {
    run: num('reps', q ? 5 : 30),
    runRm: q ? 3 : 20,
    logs: q ? 1 : 3,
    logsFollow: q ? 1 : 2,
    followLines: num('follow-lines', q ? 20 : 200),
    ps: q ? 5 : 30,
    psMany: q ? 3 : 10,
    restart: num('restart-reps', q ? 2 : 5),
  };
  o.berthDist = raw['berth-dist'] ? String(raw['berth-dist']) : join(repo, 'dist');
  o.berthStorageDriver = raw['storage-driver'] ? String(raw['storage-driver']) : 'overlay2';
  o.dockerIptables = raw['docker-iptables'] !== 'false';
  o.render = !raw['no-render'];
  o.readyTimeoutMs = 600_000;
  return o;
}

async function preflight(o) {
  const problems = [];
  if (process.getuid?.() !== 0) problems.push('run as root (containers, mounts, iptables)');
  const cli = await run('docker', ['--version']);
  if (cli.code !== 0) problems.push('no `docker` CLI on PATH');
  for (const [bin, why] of [
    ['runc', 'runc'],
    ['conmon', 'conmon (berth)'],
    ...(o.engines.includes('docker') ? [['dockerd', 'dockerd'], ['containerd', 'containerd'], ['iptables', 'iptables']] : []),
  ]) {
    if ((await run('sh', ['-c', `command -v ${bin}`])).code !== 0) problems.push(`${why} is missing: run ./scripts/install-bench-deps.sh`);
  }
  if (o.engines.includes('berth') && !existsSync(join(o.berthDist, 'src', 'cmd', 'berthd.cjs'))) {
    problems.push(`${o.berthDist}/src/cmd/berthd.cjs is missing: run npm run build`);
  }
  problems.push(...(await networkConflicts(o)));
  if (problems.length) throw new Error(`cannot run the benchmark:\n  - ${problems.join('\n  - ')}`);
  return busyboxRootfs(repo);
}

/**
 * What would make the two daemons' networks collide with something on this machine: a route
 * into their subnets, or another dockerd that manages iptables.
 */
async function networkConflicts(o) {
  const problems = [];
  const routes = (await run('ip', ['-4', 'route', 'show'], { timeoutMs: 10_000 })).stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  const overlaps = (a, b) => {
    const [ia, la] = a.split('/');
    const [ib, lb] = b.split('/');
    const len = Math.min(Number(la ?? 32), Number(lb ?? 32));
    return inSubnet(ia, `${ib}/${len}`);
  };
  for (const [who, bip] of [['berth', BERTH_BIP], ['docker', DOCKER_BIP]]) {
    if (!o.engines.includes(who)) continue;
    for (const r of routes) if (r !== 'default' && overlaps(r, subnetOf(bip))) problems.push(`a route to ${r} overlaps the ${who} bench subnet ${subnetOf(bip)}: another run still up? (node bench/run.mjs --cleanup)`);
  }
  // A dockerd with its iptables set-up starts by emptying the DOCKER chains: two of them would
  // remove each other's rules. (Ours has a bridge of its own, so docker0 is no concern.)
  if (o.engines.includes('docker') && o.dockerIptables) {
    const pids = (await run('pgrep', ['-x', 'dockerd'], { timeoutMs: 10_000 })).stdout.split('\n').filter(Boolean);
    const withRules = pids.filter((pid) => {
      try {
        return !readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--iptables=false');
      } catch {
        return false;
      }
    });
    if (withRules.length) problems.push(`a dockerd with its iptables set-up is running (pid ${withRules.join(', ')}): it and the bench's would empty each other's DOCKER chains`);
  }
  return problems;
}

async function main() {
  const o = await harnessOptions('bench/run.mjs', parseArgs, USAGE, async () => (await import('./cleanup.mjs')).cleanupLeftovers({ force: false }));
  if (!o) return;
  const tar = await preflight(o);
  const startedAt = new Date();
  const t0 = now();
  const loadStart = loadavg();
  const commit = await gitInfo(repo);
  const berthVersion = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;

  const root = mkdtempSync('/tmp/berth-bench-');
  // A private copy of the compiled berth: a rebuild of dist/ during the run does not change the
  // daemon under test. It sits under the repository so that node finds node_modules.
  const snapshot = join(repo, 'build', `bench-berthd-${root.slice(-6)}`);
  const engines = [];
  if (o.engines.includes('berth')) {
    mkdirSync(snapshot, { recursive: true });
    cpSync(join(o.berthDist, 'src'), join(snapshot, 'dist', 'src'), { recursive: true });
    cpSync(join(repo, 'package.json'), join(snapshot, 'package.json'));
    engines.push(new Berth(root, { berthdJs: join(snapshot, 'dist', 'src', 'cmd', 'berthd.cjs'), storageDriver: o.berthStorageDriver, commit }));
  }
  if (o.engines.includes('docker')) engines.push(new Docker(root, { iptables: o.dockerIptables }));
  const hostNet = await snapshotNetwork();
  const owned = () => engines.map((e) => e.netOwned());

  const registries = [];
  const state = () => ({ harnessPid: process.pid, root, snapshot, net: hostNet, owned: owned(), engines: engines.map((e) => e.state()), registries: registries.map((r) => ({ dir: r.dir, pid: r.pid })) });
  const saveState = () => writeFileSync(join(root, 'bench-state.json'), JSON.stringify(state(), null, 2));
  for (const e of engines) e.onLaunch = saveState;
  saveState();

  const results = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    mode: o.quick ? 'quick' : 'full',
    options: {
      only: o.only,
      engines: o.engines,
      n: o.n,
      many: o.only.includes('many') ? o.many : undefined,
      dockerMany: o.dockerMany,
      reps: o.reps,
      logMiB: o.logMiB,
      outageS: o.outageS,
      outageCycles: o.outageCycles,
      berthBip: BERTH_BIP,
      dockerBip: DOCKER_BIP,
      berthStorageDriver: o.berthStorageDriver,
      dockerIptables: o.dockerIptables,
    },
    machine: { ...machineFacts(), spawnMs: await spawnFloor() },
    loadStart,
    versions: await versions({ berthVersion, berthCommit: commit }),
    rows: [],
    details: {},
    notes: [],
    errors: [],
  };
  // Saved after every scenario, so that a run stopped half-way still leaves its rows
  // (node bench/render.mjs FILE.partial.json renders them); replaced by the whole file at the end.
  const stamp = startedAt.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const resultsDir = join(repo, 'bench', 'results');
  const baseName = `${stamp}-${results.machine.host}${o.quick ? '-quick' : ''}`;
  const partialFile = join(resultsDir, `${baseName}.partial.json`);
  const savePartial = () => {
    try {
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(partialFile, JSON.stringify({ ...results, partial: true, loadEnd: loadavg(), durationS: Math.round((now() - t0) / 1000) }, null, 1) + '\n');
    } catch (err) {
      log(`could not save ${partialFile}: ${err.message}`);
    }
  };
  const rowIndex = new Map();
  const ctx = {
    opts: o,
    engines,
    details: results.details,
    record(id, meta, engine, samples) {
      let row = rowIndex.get(id);
      if (!row) {
        row = { id, ...meta, values: {} };
        rowIndex.set(id, row);
        results.rows.push(row);
      }
      row.values[engine] = stats(samples);
    },
    note(msg) {
      log(`note: ${msg}`);
      results.notes.push(msg);
    },
  };

  // --- teardown, once, on success, failure or signal ---
  let finalizing;
  const finalize = () =>
    (finalizing ??= (async () => {
      const notes = [];
      for (const e of engines) {
        try {
          notes.push(...(await e.teardown()).map((n) => `${e.name}: ${n}`));
        } catch (err) {
          notes.push(`${e.name}: teardown failed: ${err.message}`);
        }
      }
      if (hostNet) {
        try {
          notes.push(...(await restoreNetwork(hostNet, owned())));
        } catch (err) {
          notes.push(`network restore failed: ${err.message}`);
        }
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
      log(`${sig}: stopping and cleaning up both engines (press Ctrl-C twice more to exit at once; then run node bench/run.mjs --cleanup)`);
      finalize().then((notes) => {
        for (const n of notes) log(`cleanup: ${n}`);
        process.exit(130);
      });
    } else if (signals >= 3) {
      process.exit(130);
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => onSignal(sig));

  let failed = false;
  try {
    log(`run directory ${root}; engines: ${engines.map((e) => e.name).join(', ')}; load average ${loadStart.join(' ')}`);
    for (const e of engines) {
      e.prepare();
      await e.start();
      const imp = await e.dockerOk(['import', '-c', 'CMD ["sh"]', tar, 'busybox:latest']);
      (results.details.importMs ??= {})[e.name] = Math.round(imp.ms);
      log(`${e.name}: up, busybox imported`);
    }
    const step = async (name, fn) => {
      if (abort.requested) return;
      log(`--- ${name}`);
      (results.details.loadAtStep ??= {})[name] = loadavg()[0];
      const s = now();
      try {
        await fn();
      } catch (err) {
        if (abort.requested) throw err;
        log(`scenario ${name} failed: ${err.stack ?? err}`);
        results.errors.push({ scenario: name, error: String(err.message ?? err).slice(0, 2000) });
        // Leave the engines as the next scenario expects them: up, without that scenario's containers.
        for (const e of engines) await recover(e);
      }
      (results.details.scenarioSeconds ??= {})[name] = Math.round((now() - s) / 1000);
      savePartial();
    };
    const want = (s) => o.only.includes(s);
    if (want('start')) await step('start', () => sc.startEmpty(ctx));
    if (want('run')) await step('run', () => sc.runDetached(ctx));
    if (want('api')) await step('api', () => sc.apiCreateStart(ctx));
    if (want('rm')) await step('rm', () => sc.runRm(ctx));
    if (want('logs')) await step('logs', () => sc.logsThroughput(ctx));
    if (want('logsf')) await step('logsf', () => sc.logsFollowLatency(ctx));
    if (want('logsdown')) await step('logsdown', () => sc.logsWhileDown(ctx));
    if (want('registry')) {
      await step('registry', () =>
        registryPullPush({ ...ctx, onRegistry: (r) => { registries.push(r); r.onLaunch = saveState; } }, root, tar),
      );
    }
    if (want('build')) await step('build', () => buildDockerfile(ctx, root));
    if (want('dns')) {
      await step('dns latency', () => dns.dnsLatency(ctx));
      await step('dns outage', () => dns.dnsOutage(ctx));
    }
    if (want('runnet')) await step('runnet', () => net.runNetworked(ctx));
    if (want('ports')) await step('ports', () => net.publishedPorts(ctx));
    if (want('outage')) await step('outage', () => net.outage(ctx));
    if (['ps', 'exec', 'mem', 'restart', 'many'].some(want)) {
      await step(`populate ${o.n}`, async () => {
        for (const e of engines) {
          log(`${e.name}: starting ${o.n} containers`);
          (results.details.populateMs ??= {})[e.name] = Math.round(await e.populate(o.n));
        }
      });
      const tag = `n${o.n}`;
      if (want('ps')) await step('ps', () => sc.psInspect(ctx, o.n, tag));
      if (want('exec')) await step('exec', () => sc.exec(ctx, o.n, tag));
      if (want('mem')) await step('mem', () => sc.memory(ctx, o.n, tag));
      if (want('restart')) await step('restart', () => sc.restart(ctx, o.n, tag));
      if (want('many') && o.many > o.n) {
        const big = engines.filter((e) => e.name === 'berth' || o.dockerMany);
        const sub = { ...ctx, engines: big, opts: { ...o, reps: { ...o.reps, ps: o.reps.psMany } } };
        const mtag = `n${o.many}`;
        await step(`populate ${o.many}`, async () => {
          for (const e of big) {
            log(`${e.name}: starting ${o.many - o.n} more containers`);
            (results.details.populateMs ??= {})[`${e.name} +${o.many - o.n}`] = Math.round(await e.populate(o.many - o.n, { from: o.n }));
          }
        });
        await step(`mem ${o.many}`, () => sc.memory(sub, o.many, mtag, big));
        await step(`ps ${o.many}`, () => sc.psInspect(sub, o.many, mtag));
        await step(`restart ${o.many}`, () => sc.restart(sub, o.many, mtag, big));
      }
    }
    // The same restarts with containers on the default bridge: endpoints to adopt as well.
    if (['netrestart', 'netmany'].some(want)) {
      const section = (n) => `With ${n} running containers on the default bridge`;
      await step(`populate ${o.n} bridged`, async () => {
        for (const e of engines) {
          const gone = await e.removeAll();
          if (gone) log(`${e.name}: removed ${gone} containers`);
          log(`${e.name}: starting ${o.n} containers on the default bridge`);
          (results.details.populateMs ??= {})[`${e.name} bridged`] = Math.round(await e.populate(o.n, { prefix: 'bt', network: 'bridge' }));
        }
      });
      if (want('netrestart')) await step('restart bridged', () => sc.restart(ctx, o.n, `bridge-n${o.n}`, engines, o.reps.restart, { probe: 'bt0', section: section(o.n) }));
      if (want('netmany') && o.many > o.n) {
        const big = engines.filter((e) => e.name === 'berth' || o.dockerMany);
        const sub = { ...ctx, engines: big };
        await step(`populate ${o.many} bridged`, async () => {
          for (const e of big) {
            log(`${e.name}: starting ${o.many - o.n} more containers on the default bridge`);
            (results.details.populateMs ??= {})[`${e.name} bridged +${o.many - o.n}`] = Math.round(await e.populate(o.many - o.n, { prefix: 'bt', from: o.n, network: 'bridge' }));
          }
        });
        await step(`restart ${o.many} bridged`, () => sc.restart(sub, o.many, `bridge-n${o.many}`, big, o.reps.restart, { probe: 'bt0', section: section(o.many) }));
      }
    }
  } catch (err) {
    failed = true;
    log(`run failed: ${err.stack ?? err}`);
    results.errors.push({ scenario: 'harness', error: String(err.message ?? err).slice(0, 2000) });
  } finally {
    results.loadEnd = loadavg();
    log('cleaning up both engines');
    const notes = await finalize();
    results.cleanup = notes;
    for (const n of notes) log(`cleanup: ${n}`);
  }
  if (abort.requested) return; // the signal handler exits
  results.finishedAt = new Date().toISOString();
  results.durationS = Math.round((now() - t0) / 1000);

  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${baseName}.json`);
  writeFileSync(file + '.tmp', JSON.stringify(results, null, 1) + '\n');
  rmSync(file, { force: true });
  cpSync(file + '.tmp', file);
  rmSync(file + '.tmp');
  rmSync(partialFile, { force: true });
  console.log('\n' + textTable(results) + '\n');
  if (results.notes.length) console.log('Notes:\n' + results.notes.map((n) => `  - ${n}`).join('\n') + '\n');
  if (results.errors.length) console.log('Failed:\n' + results.errors.map((e) => `  - ${e.scenario}: ${e.error.split('\n')[0]}`).join('\n') + '\n');
  console.log(`results: ${file}`);
  if (o.render) console.log(`rendered: ${renderLatest()}`);
  if (failed || results.errors.length) process.exitCode = 1;
}

/** What starting a process costs here (every CLI timing includes it; berthd is a node process). */
async function spawnFloor() {
  const median = async (cmd, args) => {
    const xs = [];
    for (let i = 0; i < 10; i++) xs.push((await run(cmd, args)).ms);
    return Math.round(stats(xs).median * 10) / 10;
  };
  return {
    true: await median('/bin/true', []),
    'node -e 0': await median(process.execPath, ['-e', '0']),
    'docker --version': await median('docker', ['--version']),
  };
}

/** After a failed scenario: daemon up again, and only the long-running ct* / bt* containers left. */
async function recover(e) {
  try {
    if (!e.pid || !alive(e.pid)) await e.start();
    else if (e.stopped) {
      process.kill(e.pid, 'SIGCONT');
      e.stopped = false;
    }
    const list = await e.api.json('GET', `${API}/containers/json?all=1`);
    for (const c of list) {
      if (!(c.Names ?? []).some((n) => /^\/(ct|bt)\d+$/.test(n))) await e.api.request('DELETE', `${API}/containers/${c.Id}?force=1`);
    }
  } catch (err) {
    log(`${e.name}: could not recover after a failed scenario: ${err.message}`);
  }
}

main().catch((err) => {
  console.error(err.stack ?? String(err));
  process.exit(1);
});
