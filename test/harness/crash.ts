// Crash consistency at scale: several clients drive a random mix of API calls (containers:
// create, start, stop, kill, rm, restart, pause, unpause, exec; volumes: create, rm; networks:
// create, connect, disconnect, rm), berthd is SIGKILLed at a random instant among them and
// started again, and then:
//   - nothing acknowledged is lost (a created container, volume or network is there; a started
//     one runs or has exited; a paused one is paused; a connect holds), nothing acknowledged as
//     removed comes back;
//   - the daemon's view matches the machine (crash-check.ts): runc state, monitors, bundles,
//     mounts, layers and records; endpoints, netns, veths, addresses, nat chains, bridges and
//     resolver entries; volumes on disk.
// The choices come from a seed, printed at the start and with any mismatch.
//
//   node dist/test/harness/crash.js [--kills N] [--seed S]     (npm run crash: 2000 kills)
// A short run is part of `npm test` (test/e2e/crash.test.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startDaemon, sleep, holdNetns, type TestDaemon } from '../helpers/daemon.js';
import { onInterrupt } from './interrupt.js';
import { call, machineMismatch, type Known, type Listed, type Reply } from './crash-check.js';
import { rng, seedFrom, numberArg, type Rng } from './random.js';

type Op =
  | 'create' | 'start' | 'stop' | 'kill' | 'rm' | 'restart' | 'pause' | 'unpause' | 'exec'
  | 'volcreate' | 'volrm' | 'netcreate' | 'netrm' | 'connect' | 'disconnect';

type InFlight = { op: Op; id?: string; net?: string; vol?: string; p: Promise<Reply> };

export type CrashReport = { seed: number; kills: number; midOperation: number; operations: number; acknowledged: number; mismatch?: string; ms: number };

// A shell that ends promptly on SIGTERM, so stops are quick and land mid-operation.
const CMD = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'];

/** A container body: a published port, and now and then a volume or a user network. */
function createBody(r: Rng, vols: string[], nets: string[]): { body: unknown; vol?: string } {
  const body: Record<string, unknown> = { Image: 'busybox', Cmd: CMD, ExposedPorts: { '80/tcp': {} } };
  const host: Record<string, unknown> = { PortBindings: { '80/tcp': [{ HostPort: '' }] } };
  const vol = vols.length > 0 && r.chance(0.3) ? r.pick(vols) : undefined;
  if (vol) host['Mounts'] = [{ Type: 'volume', Source: vol, Target: '/data' }];
  if (nets.length > 0 && r.chance(0.25)) host['NetworkMode'] = r.pick(nets);
  return { body: { ...body, HostConfig: host }, ...(vol ? { vol } : {}) };
}

/** An exec that ends soon: created, then started detached (two calls, either may be cut). */
async function execIn(d: TestDaemon, id: string): Promise<Reply> {
  const c = await call(d, 'POST', `/containers/${id}/exec`, { Cmd: ['sh', '-c', 'echo x > /tmp/x; sleep 0.1'] });
  if (c === 'killed' || c.status !== 201) return c;
  return call(d, 'POST', `/exec/${(JSON.parse(c.body) as { Id: string }).Id}/start`, { Detach: true });
}

/** What the daemon said after the last restart: the next batch picks from it. */
type Model = { containers: Map<string, string>; volumes: Set<string>; nets: Map<string, string> };

/** One batch of operations from several clients at once. */
function launch(d: TestDaemon, r: Rng, m: Model, round: number): InFlight[] {
  const ops: InFlight[] = [];
  const busy = (id: string) => ops.some((o) => o.id === id);
  const ids = [...m.containers.keys()];
  const inState = (...states: string[]) => ids.filter((id) => states.includes(m.containers.get(id) as string) && !busy(id));
  const n = 3 + r.int(3);
  for (let k = 0; k < n; k++) {
    const kind = r.next();
    if (kind < 0.15) {
      // Networks: at most three of ours (the daemon's pool has eight).
      const netOp: Op = m.nets.size < 1 ? 'netcreate' : r.pick(m.nets.size < 3 ? ['netcreate', 'netrm', 'connect', 'connect', 'disconnect'] : ['netrm', 'connect', 'disconnect']);
      if (netOp === 'netcreate') {
        const net = `cn${round}x${k}`;
        ops.push({ op: netOp, net, p: call(d, 'POST', '/networks/create', { Name: net }) });
        continue;
      }
      const free = [...m.nets.keys()].filter((x) => !ops.some((o) => o.net === x));
      if (free.length === 0) continue;
      const net = r.pick(free);
      if (netOp === 'netrm') {
        ops.push({ op: netOp, net, p: call(d, 'DELETE', `/networks/${net}`) });
        continue;
      }
      const cands = ids.filter((x) => !busy(x));
      if (cands.length === 0) continue;
      const id = r.pick(cands);
      ops.push({ op: netOp, id, net, p: call(d, 'POST', `/networks/${net}/${netOp}`, { Container: id }) });
      continue;
    }
    if (kind < 0.25) {
      const vols = [...m.volumes].filter((v) => !ops.some((o) => o.vol === v));
      if (vols.length < 3 || r.chance(0.5)) {
        const vol = `cv${round}x${k}`;
        ops.push({ op: 'volcreate', vol, p: call(d, 'POST', '/volumes/create', { Name: vol }) });
      } else {
        const vol = r.pick(vols);
        ops.push({ op: 'volrm', vol, p: call(d, 'DELETE', `/volumes/${vol}`) });
      }
      continue;
    }
    const op: Op = r.pick<Op>(
      ids.length < 4 ? ['create', 'create', 'start'] : ids.length > 12 ? ['rm', 'rm', 'stop', 'start', 'kill', 'restart', 'pause', 'unpause', 'exec'] : ['create', 'start', 'stop', 'kill', 'rm', 'restart', 'pause', 'unpause', 'exec'],
    );
    if (op === 'create') {
      const c = createBody(r, [...m.volumes], [...m.nets.keys()]);
      ops.push({ op, ...(c.vol ? { vol: c.vol } : {}), p: call(d, 'POST', '/containers/create', c.body) });
      continue;
    }
    const pool = op === 'start' ? inState('created', 'exited') : op === 'unpause' ? inState('paused') : op === 'rm' ? inState('created', 'running', 'paused', 'exited') : op === 'stop' || op === 'kill' ? inState('running', 'paused') : inState('running');
    if (pool.length === 0) continue;
    const id = r.pick(pool);
    const path: Record<string, [string, string]> = {
      start: ['POST', `/containers/${id}/start`],
      stop: ['POST', `/containers/${id}/stop?t=2`],
      kill: ['POST', `/containers/${id}/kill`],
      rm: ['DELETE', `/containers/${id}?force=1${r.chance(0.5) ? '&v=1' : ''}`],
      restart: ['POST', `/containers/${id}/restart?t=1`],
      pause: ['POST', `/containers/${id}/pause`],
      unpause: ['POST', `/containers/${id}/unpause`],
    };
    if (op === 'exec') ops.push({ op, id, p: execIn(d, id) });
    else {
      const [method, p] = path[op] as [string, string];
      ops.push({ op, id, p: call(d, method, p) });
    }
  }
  return ops;
}

type Expect = { containers: Map<string, (now: string | undefined) => string | undefined>; volumes: Map<string, boolean>; nets: Map<string, boolean>; connected: { id: string; net: string }[]; disconnected: { id: string; net: string }[] };

/** What the answers the clients got promise about the state after the restart. */
function settle(ops: InFlight[], results: Reply[], m: Model, known: Known): { expect: Expect; midOperation: number; acked: number } {
  const expect: Expect = { containers: new Map(), volumes: new Map(), nets: new Map(), connected: [], disconnected: [] };
  let midOperation = 0;
  let acked = 0;
  // Everything known before stays unless an in-flight removal may have taken it.
  for (const id of m.containers.keys()) expect.containers.set(id, (now) => (now ? undefined : 'lost'));
  for (const v of m.volumes) expect.volumes.set(v, true);
  for (const n of m.nets.keys()) expect.nets.set(n, true);
  ops.forEach((o, i) => {
    const r = results[i] as Reply;
    if (r === 'killed') {
      midOperation++;
      // Cut short: it may or may not have happened.
      if (o.op === 'rm' && o.id) expect.containers.delete(o.id);
      if (o.op === 'volrm' && o.vol) expect.volumes.delete(o.vol);
      if (o.op === 'netrm' && o.net) expect.nets.delete(o.net);
      return;
    }
    const ok = r.status >= 200 && r.status < 300;
    if (ok) acked++;
    const id = o.id;
    switch (o.op) {
      case 'create':
        if (r.status === 201) {
          const newId = (JSON.parse(r.body) as { Id: string }).Id;
          known.containers.add(newId);
          expect.containers.set(newId, (now) => (now ? undefined : 'acknowledged create lost'));
        }
        break;
      case 'start':
      case 'restart':
      case 'unpause':
        if (ok && id) expect.containers.set(id, (now) => (now === 'running' ? undefined : `acknowledged ${o.op}, now ${now ?? 'gone'}`));
        break;
      case 'pause':
        if (ok && id) expect.containers.set(id, (now) => (now === 'paused' ? undefined : `acknowledged pause, now ${now ?? 'gone'}`));
        break;
      case 'stop':
      case 'kill':
        if (ok && id) expect.containers.set(id, (now) => (now === 'exited' ? undefined : `acknowledged ${o.op}, now ${now ?? 'gone'}`));
        break;
      case 'rm':
        if (r.status === 204 && id) expect.containers.set(id, (now) => (now ? `removed, now ${now}` : undefined));
        break;
      case 'volcreate':
        if (r.status === 201 && o.vol) expect.volumes.set(o.vol, true);
        break;
      case 'volrm':
        // A create of the same batch that mounts it makes it again (as in Docker), acknowledged or not.
        if (r.status === 204 && o.vol) {
          if (ops.some((x) => x.op === 'create' && x.vol === o.vol)) expect.volumes.delete(o.vol);
          else expect.volumes.set(o.vol, false);
        }
        break;
      case 'netcreate':
        if (r.status === 201 && o.net) expect.nets.set(o.net, true);
        break;
      case 'netrm':
        if (r.status === 204 && o.net) expect.nets.set(o.net, false);
        break;
      case 'connect':
        if (r.status === 200 && id && o.net) expect.connected.push({ id, net: o.net });
        break;
      case 'disconnect':
        if (r.status === 200 && id && o.net) expect.disconnected.push({ id, net: o.net });
        break;
      case 'exec':
        break;
    }
  });
  return { expect, midOperation, acked };
}

async function list<T>(d: TestDaemon, path: string): Promise<T> {
  const r = await call(d, 'GET', path);
  if (r === 'killed' || r.status !== 200) throw new Error(`GET ${path}: ${r === 'killed' ? 'no answer' : `${r.status} ${r.body}`}`);
  return JSON.parse(r.body) as T;
}

/** Promises the restarted daemon broke, if any. */
async function brokenPromise(d: TestDaemon, e: Expect): Promise<string | undefined> {
  const byId = new Map((await list<Listed[]>(d, '/containers/json?all=1')).map((c) => [c.Id, c.State]));
  for (const [id, check] of e.containers) {
    const why = check(byId.get(id));
    if (why) return `container ${id.slice(0, 12)}: ${why}`;
  }
  const vols = new Set(((await list<{ Volumes: { Name: string }[] | null }>(d, '/volumes')).Volumes ?? []).map((v) => v.Name));
  for (const [v, there] of e.volumes) if (vols.has(v) !== there) return `volume ${v}: ${there ? 'acknowledged, lost' : 'removed, back'}`;
  const nets = new Set((await list<{ Name: string }[]>(d, '/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D')).map((n) => n.Name));
  for (const [n, there] of e.nets) if (nets.has(n) !== there) return `network ${n}: ${there ? 'acknowledged, lost' : 'removed, back'}`;
  const attached = async (id: string) => {
    const r = await call(d, 'GET', `/containers/${id}/json`);
    return r === 'killed' || r.status !== 200 ? undefined : Object.keys((JSON.parse(r.body) as { NetworkSettings: { Networks: object } }).NetworkSettings.Networks);
  };
  for (const c of e.connected) {
    const on = await attached(c.id);
    if (on && nets.has(c.net) && !on.includes(c.net)) return `acknowledged connect of ${c.id.slice(0, 12)} to ${c.net} lost`;
  }
  for (const c of e.disconnected) {
    const on = await attached(c.id);
    if (on && !e.connected.some((x) => x.id === c.id && x.net === c.net) && on.includes(c.net)) return `acknowledged disconnect of ${c.id.slice(0, 12)} from ${c.net} undone`;
  }
  return undefined;
}

/**
 * The machine agrees with the daemon, checked until it holds (3 s): a stop the killed daemon
 * had sent may still end a container just after the restart (its shell answers SIGTERM within
 * 0.2 s), an exec may still be ending, and that is then being recorded.
 */
async function settledMismatch(d: TestDaemon, known: Known): Promise<string | undefined> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const listed = await list<Listed[]>(d, '/containers/json?all=1');
    const mismatch = await machineMismatch(d, listed, known);
    if (!mismatch || Date.now() > deadline) return mismatch;
    await sleep(100);
  }
}

export async function crashRun(d: TestDaemon, o: { seed: number; kills: number; log?: (s: string) => void }): Promise<CrashReport> {
  const log = o.log ?? ((s: string) => console.log(s));
  const r = rng(o.seed);
  const started = Date.now();
  const report: CrashReport = { seed: o.seed, kills: 0, midOperation: 0, operations: 0, acknowledged: 0, ms: 0 };
  const known: Known = { containers: new Set(), networks: new Set() };
  const m: Model = { containers: new Map(), volumes: new Set(), nets: new Map() };
  log(`crash: seed ${o.seed}, ${o.kills} kills (reproduce the choices with --seed ${o.seed})`);
  while (report.kills < o.kills) {
    const ops = launch(d, r, m, report.kills);
    report.operations += ops.length;
    // Anywhere from the first bytes of the requests to after some of them were answered.
    await sleep(r.next() * 600);
    process.kill(d.proc?.pid as number, 'SIGKILL');
    report.kills++;
    const results = await Promise.all(ops.map((x) => x.p));
    await d.stop('SIGKILL').catch(() => undefined);
    const { expect, midOperation, acked } = settle(ops, results, m, known);
    report.midOperation += midOperation;
    report.acknowledged += acked;
    await d.start();
    const where = `kill ${report.kills} (seed ${o.seed}; in flight: ${ops.map((x, i) => `${x.op}${x.id ? ` ${x.id.slice(0, 12)}` : ''}${x.net ? ` ${x.net}` : ''}${x.vol ? ` ${x.vol}` : ''} → ${results[i] === 'killed' ? 'cut' : (results[i] as { status: number }).status}`).join(', ')})`;
    const broken = await brokenPromise(d, expect);
    const mismatch = broken ?? (await settledMismatch(d, known));
    if (mismatch) {
      report.mismatch = `${mismatch} — ${where}`;
      log(`crash: MISMATCH ${report.mismatch}`);
      break;
    }
    // Adopt what the daemon says now (in-flight operations may or may not have happened).
    m.containers = new Map((await list<Listed[]>(d, '/containers/json?all=1')).map((c) => [c.Id, c.State]));
    for (const id of m.containers.keys()) known.containers.add(id);
    m.volumes = new Set(((await list<{ Volumes: { Name: string }[] | null }>(d, '/volumes')).Volumes ?? []).map((v) => v.Name));
    m.nets = new Map((await list<{ Name: string; Id: string }[]>(d, '/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D')).map((n) => [n.Name, n.Id]));
    if (report.kills % 50 === 0) log(`crash: ${report.kills} kills, ${report.midOperation} mid-operation, ${m.containers.size} containers, ${m.volumes.size} volumes, ${m.nets.size} networks, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  report.ms = Date.now() - started;
  return report;
}

/** The daemon's log, last lines: what it did is the only way to understand a randomized failure. */
export function logTail(d: TestDaemon, lines = 150): string {
  return readFileSync(d.logFile, 'utf8').split('\n').slice(-lines).join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const seed = seedFrom(argv, 'CRASH_SEED');
  // The daemon's bridges, veths and rules live in a network namespace of the run's own, kept
  // across the restarts: the host's network is untouched, so no test lock is needed.
  const ns = holdNetns();
  const d = await startDaemon({ liveRestore: true, netns: ns.path });
  onInterrupt(async () => {
    await d.cleanup();
    ns.release();
  });
  let ok = false;
  try {
    const report = await crashRun(d, { seed, kills: numberArg(argv, 'kills', 2000) });
    console.log(JSON.stringify(report, null, 1));
    if (report.mismatch) process.stderr.write(`--- berthd log, last 150 lines:\n${logTail(d)}\n`);
    ok = report.mismatch === undefined;
  } finally {
    const { leftovers } = await d.cleanup();
    if (leftovers.length > 0) {
      console.log(`left behind: ${leftovers.join(', ')}`);
      ok = false;
    }
    ns.release();
  }
  console.log(ok ? `crash: passed (seed ${seed})` : `crash: FAILED (seed ${seed})`);
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
