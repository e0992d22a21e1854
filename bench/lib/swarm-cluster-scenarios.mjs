// The measurements of bench/swarm-cluster.mjs, the same for either engine's cluster (3
// managers n1–n3, 2 workers n4–n5; lib/berth-swarm-cluster.mjs, lib/docker-swarm-cluster.mjs):
//   formSwarm     init on n1, a short dispatcher heartbeat, the joins, a 0-replica probe service;
//   quorumRound   one manager killed (a survivor's first successful write), a second one killed
//                 (the survivor's first refused call, the cost of refused calls), that one
//                 restarted (the survivor's first successful write), the first one restarted;
//   workerRound   a service on the workers, one worker killed: until it is listed down and until
//                 the service has all its tasks running again on the other.
// Every time is taken by the harness's own clock on the API socket of the node asked, on a
// fresh connection per request (a poller that knows nothing of the daemon's state).
import { API, oneShot } from './http.mjs';
import { checkAbort, log, now, sleep } from './util.mjs';

export const NO_LEADER = 'The swarm does not have a leader';
const PROBE = 'qprobe';
const CONV = 'conv';

async function api(node, method, path, body, timeoutMs = 30_000) {
  const t = now();
  try {
    const r = await oneShot(node.sock, method, `${API}${path}`, body, timeoutMs);
    const text = r.body.toString();
    return { status: r.status, text, ms: now() - t, json: () => JSON.parse(text) };
  } catch (err) {
    return { status: 0, text: String(err.message ?? err), ms: now() - t, json: () => null };
  }
}

const refusedText = (r) => r.status >= 400 && r.text.includes(NO_LEADER);
const short = (r) => (r.status === 0 ? r.text : `${r.status} ${r.text.trim()}`).slice(0, 240);

async function until(what, fn, timeoutMs, everyMs = 200) {
  const deadline = now() + timeoutMs;
  let last;
  for (;;) {
    checkAbort();
    last = await fn();
    if (last?.done) return last;
    if (now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last?.why ? `: ${last.why}` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * `docker service scale qprobe=0` as the CLI sends it: the service read, then its spec posted
 * back at its version. A write through the managers' store in both engines, and no task to run.
 */
export async function scaleProbe(node) {
  const t = now();
  const g = await api(node, 'GET', `/services/${PROBE}`);
  if (g.status !== 200) return { ok: false, refused: refusedText(g), ms: now() - t, why: short(g) };
  const s = g.json();
  const spec = { ...s.Spec, Mode: { Replicated: { Replicas: 0 } } };
  const u = await api(node, 'POST', `/services/${s.ID}/update?version=${s.Version.Index}`, spec);
  return { ok: u.status === 200, refused: refusedText(u), ms: now() - t, why: u.status === 200 ? '' : short(u) };
}

/** Scale attempts one after another (one every `everyMs` at most) until one succeeds: ms since t0. */
async function untilScaled(node, t0, timeoutMs, everyMs = 50) {
  let attempts = 0;
  let last;
  for (;;) {
    checkAbort();
    const start = now();
    attempts++;
    last = await scaleProbe(node);
    if (last.ok) return { ms: now() - t0, attempts, lastMs: last.ms };
    if (now() - t0 > timeoutMs) throw new Error(`${node.name}: no successful scale within ${Math.round(timeoutMs / 1000)} s (${attempts} attempts; last: ${last.why})`);
    await sleep(Math.max(0, start + everyMs - now()));
  }
}

/**
 * From t0, a `GET /services` to the survivor every `everyMs` (each on its own connection; at
 * most `maxInFlight` unanswered at once, since a call may hang until the daemon knows), until an
 * answer carries Docker's no-leader sentence. Returns that first refusal and every probe.
 */
async function untilRefused(node, t0, { everyMs = 50, timeoutMs = 60_000, maxInFlight = 200 } = {}) {
  const probes = [];
  const pending = new Set();
  let first;
  let inFlight = 0;
  let next = t0;
  while (!first && now() - t0 < timeoutMs) {
    checkAbort();
    if (inFlight < maxInFlight) {
      const start = now();
      inFlight++;
      const p = api(node, 'GET', '/services', undefined, 60_000).then((r) => {
        inFlight--;
        const rec = { startMs: start - t0, endMs: now() - t0, status: r.status, refused: refusedText(r) };
        if (r.status !== 200 && !rec.refused) rec.error = short(r);
        probes.push(rec);
        if (rec.refused && !first) first = rec;
      });
      pending.add(p);
      p.finally(() => pending.delete(p));
    }
    next += everyMs;
    await sleep(Math.max(0, next - now()));
  }
  // The probes still out: their answers are part of the record (bounded).
  await Promise.race([Promise.all([...pending]), sleep(10_000)]);
  if (!first) throw new Error(`${node.name}: no refusal within ${Math.round(timeoutMs / 1000)} s (${probes.length} probes; last: ${JSON.stringify(probes.at(-1))})`);
  return { first, probes: probes.sort((a, b) => a.startMs - b.startMs) };
}

/** Every manager answers its reads, every node is active and listed ready, every manager reachable. */
async function waitHealthy(cl, timeoutMs = 240_000) {
  const managers = cl.nodes.slice(0, 3);
  await until(`${cl.name}: a healthy cluster`, async () => {
    for (const n of cl.nodes) {
      const i = await api(n, 'GET', '/info', undefined, 10_000);
      if (i.status !== 200) return { why: `${n.name}: info ${short(i)}` };
      const st = i.json().Swarm?.LocalNodeState;
      if (st !== 'active') return { why: `${n.name}: ${st}` };
    }
    for (const m of managers) {
      const s = await api(m, 'GET', '/services', undefined, 10_000);
      if (s.status !== 200) return { why: `${m.name}: services ${short(s)}` };
    }
    const ls = await api(managers[0], 'GET', '/nodes', undefined, 10_000);
    if (ls.status !== 200) return { why: `nodes ${short(ls)}` };
    const nodes = ls.json();
    if (nodes.length !== cl.nodes.length) return { why: `${nodes.length} nodes listed` };
    const notReady = nodes.filter((x) => x.Status?.State !== 'ready');
    if (notReady.length) return { why: `not ready: ${notReady.map((x) => x.Description?.Hostname).join(', ')}` };
    const unreachable = nodes.filter((x) => x.ManagerStatus && x.ManagerStatus.Reachability !== 'reachable');
    if (unreachable.length) return { why: `unreachable: ${unreachable.map((x) => x.Description?.Hostname).join(', ')}` };
    return { done: true };
  }, timeoutMs, 500);
  await untilScaled(managers[0], now(), 120_000, 200);
}

/** Init, heartbeat, joins (managers first), node IDs, the probe service. */
export async function formSwarm(cl, { heartbeat }) {
  const t0 = now();
  const [n1, n2, n3, n4, n5] = cl.nodes;
  n1.nodeId = await cl.swarmInit(n1);
  await n1.dockerOk(['swarm', 'update', '--dispatcher-heartbeat', heartbeat]);
  n2.nodeId = await cl.join(n2, 'manager');
  n3.nodeId = await cl.join(n3, 'manager');
  n4.nodeId = await cl.join(n4, 'worker');
  n5.nodeId = await cl.join(n5, 'worker');
  await n1.dockerOk(['service', 'create', '-d', '-q', '--name', PROBE, '--replicas', '0', '--constraint', 'node.role==worker', '--no-resolve-image', 'busybox', 'sleep', '100000']);
  await waitHealthy(cl);
  const ms = now() - t0;
  log(`${cl.name}: swarm of ${cl.nodes.length} formed in ${(ms / 1000).toFixed(1)} s`);
  return ms;
}

async function refusedCalls(S, n) {
  const out = { apiRead: [], apiWrite: [], cli: [], other: [] };
  for (let i = 0; i < n; i++) {
    const r = await api(S, 'GET', '/services');
    if (refusedText(r)) out.apiRead.push(r.ms);
    else out.other.push(`GET /services: ${short(r)}`);
    const w = await scaleProbe(S);
    if (w.refused) out.apiWrite.push(w.ms);
    else out.other.push(`scale: ${w.ok ? 'succeeded' : w.why}`);
    const c = await S.docker(['service', 'ls'], { timeoutMs: 60_000 });
    if (c.code !== 0 && c.stderr.includes(NO_LEADER)) out.cli.push(c.ms);
    else out.other.push(`docker service ls: exit ${c.code} ${c.stderr.trim().slice(0, 200)}`);
  }
  return out;
}

/**
 * One round of quorum loss and recovery; the survivor is n1, the two killed are n2 and n3 (in
 * turn first and second). Returns the round's figures (ms).
 */
export async function quorumRound(cl, round, { refusedSamples = 3 } = {}) {
  const S = cl.node(1);
  const [A, B] = round % 2 ? [cl.node(3), cl.node(2)] : [cl.node(2), cl.node(3)];
  await waitHealthy(cl);
  const rec = { round, survivor: S.name, first: A.name, second: B.name };
  // One of three lost: the cluster keeps its quorum; how soon does a write go through again?
  const a = await A.kill();
  await a.gone;
  const one = await untilScaled(S, a.t0, 120_000);
  rec.oneLostScaleMs = one.ms;
  // Two of three: the survivor's first refusal.
  const b = await B.kill();
  const refusal = await untilRefused(S, b.t0);
  await b.gone;
  rec.refusalMs = refusal.first.endMs;
  rec.refusalCallMs = refusal.first.endMs - refusal.first.startMs;
  // The call that was on its way when quorum went: what a client that asked at that moment waits.
  const atLoss = refusal.probes[0];
  rec.atLossCallMs = atLoss.endMs - atLoss.startMs;
  rec.atLossAnswer = atLoss.refused ? 'refused' : atLoss.status === 200 ? 'success' : atLoss.error;
  const fails = refusal.probes.filter((p) => p.status !== 200);
  rec.firstFailureMs = Math.min(...fails.map((p) => p.endMs));
  const oks = refusal.probes.filter((p) => p.status === 200);
  rec.lastOkAnswerMs = oks.length ? Math.max(...oks.map((p) => p.endMs)) : null;
  // Compact: [sent, answered (ms from the kill), HTTP status (0: no answer), refused (1/0)].
  rec.probes = refusal.probes.map((p) => [Math.round(p.startMs), Math.round(p.endMs), p.status, p.refused ? 1 : 0]);
  rec.otherErrors = [...new Set(refusal.probes.filter((p) => p.error).map((p) => p.error))].slice(0, 5);
  const calls = await refusedCalls(S, refusedSamples);
  Object.assign(rec, { refusedReadMs: calls.apiRead, refusedWriteMs: calls.apiWrite, refusedCliMs: calls.cli });
  if (calls.other.length) rec.notRefused = calls.other;
  // B back: from the restart command to the survivor's first successful write.
  const t1 = now();
  let pingMs;
  const restarting = B.restart().then(() => (pingMs = now() - t1));
  const back = await untilScaled(S, t1, 180_000);
  await restarting;
  rec.restoreScaleMs = back.ms;
  rec.restoreAttempts = back.attempts;
  rec.restartPingMs = pingMs;
  await A.restart();
  log(`${cl.name} quorum round ${round + 1}: one lost → write ${fmt(rec.oneLostScaleMs)}; two lost → refused ${fmt(rec.refusalMs)} (call ${fmt(rec.refusalCallMs)}); restart → write ${fmt(rec.restoreScaleMs)} (daemon up ${fmt(pingMs)})`);
  return rec;
}

const fmt = (ms) => (ms === undefined || ms === null ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

async function convTasks(S) {
  const f = encodeURIComponent(JSON.stringify({ service: { [CONV]: true } }));
  const r = await api(S, 'GET', `/tasks?filters=${f}`, undefined, 10_000);
  return r.status === 200 ? r.json() : undefined;
}

const runningOn = (tasks, pred) => tasks.filter((t) => t.DesiredState === 'running' && t.Status?.State === 'running' && pred(t.NodeID)).length;

/**
 * One round of a worker loss: `replicas` tasks on the workers, one worker killed (n4 and n5 in
 * turn). Until the leader lists it down, and until `replicas` tasks run on the other one.
 */
export async function workerRound(cl, round, { replicas, timeoutMs = 120_000 } = {}) {
  const S = cl.node(1);
  const workers = cl.nodes.slice(3);
  const W = workers[round % workers.length];
  await waitHealthy(cl);
  await S.dockerOk(['service', 'create', '-d', '-q', '--name', CONV, '--replicas', String(replicas), '--constraint', 'node.role==worker', '--stop-grace-period', '1s', '--no-resolve-image', 'busybox', 'sleep', '100000']);
  const spread = await until(`${cl.name}: ${replicas} ${CONV} tasks running`, async () => {
    const tasks = await convTasks(S);
    if (!tasks) return { why: 'tasks unreadable' };
    const n = runningOn(tasks, () => true);
    return n === replicas ? { done: true, perNode: Object.fromEntries(workers.map((w) => [w.name, runningOn(tasks, (id) => id === w.nodeId)])) } : { why: `${n} running` };
  }, 180_000, 250);
  const rec = { round, killed: W.name, before: spread.perNode };
  const k = await W.kill();
  let downMs;
  let convergedMs;
  const deadline = k.t0 + timeoutMs;
  while (convergedMs === undefined || downMs === undefined) {
    checkAbort();
    const start = now();
    if (start > deadline) break;
    const [node, tasks] = await Promise.all([api(S, 'GET', `/nodes/${W.nodeId}`, undefined, 10_000), convTasks(S)]);
    if (downMs === undefined && node.status === 200 && node.json().Status?.State === 'down') downMs = now() - k.t0;
    if (convergedMs === undefined && tasks && runningOn(tasks, (id) => id !== W.nodeId) >= replicas) convergedMs = now() - k.t0;
    await sleep(Math.max(0, start + 100 - now()));
  }
  await k.gone;
  Object.assign(rec, { downMs, convergedMs });
  log(`${cl.name} worker round ${round + 1}: ${W.name} killed → down ${fmt(downMs)}, ${replicas} running elsewhere ${fmt(convergedMs)}`);
  // Put things back: the worker up again and the service gone (its orphans with it).
  await W.restart();
  await S.dockerOk(['service', 'rm', CONV]);
  await until(`${cl.name}: the ${CONV} containers gone`, async () => {
    for (const w of workers) {
      const f = encodeURIComponent(JSON.stringify({ label: { [`com.docker.swarm.service.name=${CONV}`]: true } }));
      const r = await api(w, 'GET', `/containers/json?all=1&filters=${f}`, undefined, 10_000);
      if (r.status !== 200) return { why: `${w.name}: ${short(r)}` };
      if (r.json().length) return { why: `${w.name}: ${r.json().length} left` };
    }
    return { done: true };
  }, 180_000, 500);
  if (convergedMs === undefined) throw Object.assign(new Error(`${cl.name}: ${replicas} tasks were not running on the other worker ${Math.round(timeoutMs / 1000)} s after ${W.name} was killed${downMs === undefined ? ', nor was it listed down' : ''}`), { rec });
  return rec;
}
