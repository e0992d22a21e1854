// The measurements. Each scenario takes the run context and records rows through ctx.record():
// one row per metric, one set of samples per engine. Where both engines take turns, the order
// alternates every repetition so a burst of load on the shared machine hits both alike.
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, constants as fsc } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { API, oneShot, ping } from './http.mjs';
import { alive, checkAbort, log, memoryOf, now, run, runOk, sleep } from './util.mjs';
import { recordLogs, recordPs, replayLogsServer, replayServer } from './replay.mjs';
import { sleeperBody } from './engines.mjs';

const RUN_ARGS = ['--network', 'none'];
const MiB = 1024 * 1024;

/** Run fn(engine, i) `reps` times per engine, alternating which engine goes first. */
export async function interleave(ctx, reps, fn) {
  const out = Object.fromEntries(ctx.engines.map((e) => [e.name, []]));
  for (let i = 0; i < reps; i++) {
    checkAbort();
    const order = i % 2 ? [...ctx.engines].reverse() : ctx.engines;
    for (const e of order) out[e.name].push(await fn(e, i));
  }
  return out;
}

export function recordAll(ctx, id, meta, samplesByEngine) {
  for (const [name, samples] of Object.entries(samplesByEngine)) ctx.record(id, meta, name, samples);
}

const cliRun = (e, args) => e.dockerOk(['run', ...RUN_ARGS, ...args]);

// ---------------------------------------------------------------------------------------------
// 0. Daemon start-up with no containers: the fixed cost under every restart

export async function startEmpty(ctx) {
  const ping = await interleave(ctx, ctx.opts.reps.restart, async (e) => {
    await e.stopDaemon('SIGTERM');
    await sleep(200);
    const t0 = e.launch();
    return (await pollReady(e, 0, t0, ctx.opts.readyTimeoutMs)).pingMs;
  });
  recordAll(ctx, 'start-empty', { section: 'Daemon start-up', label: 'start with no containers: launch until `/_ping` answers', unit: 'ms' }, ping);
}

// ---------------------------------------------------------------------------------------------
// 1. docker run -d, rm -f, and the raw API create+start

export async function runDetached(ctx) {
  const n = ctx.opts.reps.run;
  const ids = Object.fromEntries(ctx.engines.map((e) => [e.name, []]));
  for (const e of ctx.engines) {
    for (let i = 0; i < 2; i++) {
      const r = await cliRun(e, ['-d', 'busybox', 'sleep', '1d']); // warm-up
      await e.dockerOk(['rm', '-f', r.stdout.trim()]);
    }
  }
  const runMs = await interleave(ctx, n, async (e) => {
    const r = await cliRun(e, ['-d', 'busybox', 'sleep', '1d']);
    ids[e.name].push(r.stdout.trim());
    return r.ms;
  });
  recordAll(ctx, 'run-d', { section: 'Container lifecycle', label: '`docker run -d --network none busybox sleep 1d`', unit: 'ms', goal: { ratioMax: 0.5 } }, runMs);
  const rmMs = await interleave(ctx, n, async (e, i) => (await e.dockerOk(['rm', '-f', ids[e.name][i]])).ms);
  recordAll(ctx, 'rm-f', { section: 'Container lifecycle', label: '`docker rm -f` of a running container', unit: 'ms' }, rmMs);
}

export async function apiCreateStart(ctx) {
  const n = ctx.opts.reps.run;
  const create = {};
  const start = {};
  const total = {};
  const del = {};
  for (const e of ctx.engines) {
    create[e.name] = [];
    start[e.name] = [];
    total[e.name] = [];
    del[e.name] = [];
    await e.api.json('GET', `${API}/version`); // open the persistent connection
  }
  const ids = Object.fromEntries(ctx.engines.map((e) => [e.name, []]));
  await interleave(ctx, n + 2, async (e, i) => {
    const t0 = now();
    const c = await e.api.json('POST', `${API}/containers/create`, sleeperBody());
    const t1 = now();
    await e.api.json('POST', `${API}/containers/${c.Id}/start`);
    const t2 = now();
    ids[e.name].push(c.Id);
    if (i >= 2) {
      // the first two are warm-up
      create[e.name].push(t1 - t0);
      start[e.name].push(t2 - t1);
      total[e.name].push(t2 - t0);
    }
  });
  const meta = { section: 'Container lifecycle' };
  recordAll(ctx, 'api-create-start', { ...meta, label: 'API create+start (one persistent client)', unit: 'ms', goal: { ratioMax: 0.5 } }, total);
  recordAll(ctx, 'api-create', { ...meta, label: 'API `POST /containers/create`', unit: 'ms' }, create);
  recordAll(ctx, 'api-start', { ...meta, label: 'API `POST /containers/{id}/start`', unit: 'ms' }, start);
  await interleave(ctx, n + 2, async (e, i) => {
    const t0 = now();
    const r = await e.api.request('DELETE', `${API}/containers/${ids[e.name][i]}?force=1`);
    if (r.status >= 300) throw new Error(`${e.name}: DELETE: HTTP ${r.status} ${r.body}`);
    if (i >= 2) del[e.name].push(now() - t0);
  });
  recordAll(ctx, 'api-delete', { ...meta, label: 'API `DELETE /containers/{id}?force=1` (running)', unit: 'ms' }, del);
}

export async function runRm(ctx) {
  for (const e of ctx.engines) await cliRun(e, ['--rm', 'busybox', 'true']); // warm-up
  const ms = await interleave(ctx, ctx.opts.reps.runRm, async (e) => (await cliRun(e, ['--rm', 'busybox', 'true'])).ms);
  recordAll(ctx, 'run-rm', { section: 'Container lifecycle', label: '`docker run --rm --network none busybox true`', unit: 'ms', goal: { ratioMax: 0.5 } }, ms);
}

// ---------------------------------------------------------------------------------------------
// 2. Logs: throughput, follow lag, and a writer while the daemon is down

/** Bytes that are not newlines: what the writer wrote, whatever line endings came back. */
function payloadBytes(buf) {
  let nl = 0;
  let i = -1;
  while ((i = buf.indexOf(10, i + 1)) !== -1) nl++;
  return buf.length - nl;
}

async function waitExit(e, id, timeoutMs = 600_000) {
  const r = await oneShot(e.sock, 'POST', `${API}/containers/${id}/wait`, undefined, timeoutMs);
  if (r.status !== 200) throw new Error(`${e.name}: wait ${id}: HTTP ${r.status} ${r.body}`);
  return r.json().StatusCode;
}

export async function logsThroughput(ctx) {
  const mib = ctx.opts.logMiB;
  const want = mib * MiB;
  const cmd = `head -c ${want} /dev/zero | tr '\\0' a | fold -w 100`;
  const exit = {};
  const read = {};
  const total = {};
  const follow = {};
  const followLag = {};
  for (const e of ctx.engines) [exit, read, total, follow, followLag].forEach((m) => (m[e.name] = []));
  const sizes = {};
  const floor = {};
  const again = {};
  for (const e of ctx.engines) [floor, again].forEach((m) => (m[e.name] = []));
  await interleave(ctx, ctx.opts.reps.logs, async (e) => {
    log(`${e.name}: ${mib} MiB to stdout, then docker logs`);
    const t0 = now();
    const id = (await cliRun(e, ['-d', 'busybox', 'sh', '-c', cmd])).stdout.trim();
    const code = await waitExit(e, id);
    const tExit = now();
    let got = 0;
    let bytes = 0;
    const r = await e.docker(['logs', id], { timeoutMs: 600_000, onStdout: (d) => ((got += payloadBytes(d)), (bytes += d.length)) });
    const tRead = now();
    if (r.code !== 0 || code !== 0) throw new Error(`${e.name}: logs run: exit ${code}, docker logs ${r.code}: ${r.stderr.slice(-500)}`);
    if (got !== want) throw new Error(`${e.name}: docker logs returned ${got} payload bytes of ${want}`);
    sizes[e.name] = bytes;
    exit[e.name].push(tExit - t0);
    read[e.name].push(tRead - tExit);
    total[e.name].push(tRead - t0);
    // Once the written log is on disk (its writeback no longer competes), the same read again,
    // then the CLI alone: `docker logs` against this engine's answer replayed from memory.
    await run('sync', []);
    const r2 = await e.docker(['logs', id], { timeoutMs: 600_000, onStdout: (d) => void d });
    if (r2.code !== 0) throw new Error(`${e.name}: docker logs again: ${r2.stderr.slice(-300)}`);
    again[e.name].push(r2.ms);
    floor[e.name].push(await logsAgainstReplay(e, id, want));
    await e.dockerOk(['rm', '-f', id]);
  });
  await interleave(ctx, ctx.opts.reps.logsFollow, async (e) => {
    log(`${e.name}: ${mib} MiB to stdout with docker logs -f`);
    const t0 = now();
    const id = (await cliRun(e, ['-d', 'busybox', 'sh', '-c', cmd])).stdout.trim();
    let got = 0;
    const follower = e.docker(['logs', '-f', id], { timeoutMs: 600_000, onStdout: (d) => (got += payloadBytes(d)) });
    const tExit = await waitExit(e, id).then(() => now());
    const r = await follower;
    const tDone = now();
    if (r.code !== 0) throw new Error(`${e.name}: docker logs -f exited ${r.code}: ${r.stderr.slice(-500)}`);
    if (got !== want) throw new Error(`${e.name}: docker logs -f returned ${got} payload bytes of ${want}`);
    follow[e.name].push(tDone - t0);
    followLag[e.name].push(tDone - tExit);
    await e.dockerOk(['rm', '-f', id]);
  });
  const section = 'Logs';
  const label = `${mib} MiB to stdout (100-byte lines)`;
  recordAll(ctx, 'logs-exit', { section, label: `${label}: \`run -d\` until the container exits`, unit: 'ms', goal: { ratioMax: 1 } }, exit);
  recordAll(ctx, 'logs-read', { section, label: `${label}: \`docker logs\` returns all of it (after exit)`, unit: 'ms', goal: { ratioMax: 1 } }, read);
  recordAll(ctx, 'logs-read-synced', { section, label: `${label}: \`docker logs\` again, the log on disk (after sync)`, unit: 'ms', goal: { floorRow: 'logs-read-replay', floorMax: 1.2 } }, again);
  recordAll(ctx, 'logs-read-replay', { section, label: `${label}: \`docker logs\` against its answer replayed from memory (the CLI floor)`, unit: 'ms' }, floor);
  recordAll(ctx, 'logs-total', { section, label: `${label}: \`run -d\` until all of it is read back`, unit: 'ms', goal: { ratioMax: 1 } }, total);
  recordAll(ctx, 'logs-follow', { section, label: `${label}: \`run -d\` until \`logs -f\` has all of it`, unit: 'ms', goal: { ratioMax: 1 } }, follow);
  recordAll(ctx, 'logs-follow-lag', { section, label: `${label}: \`logs -f\` done after the container exited`, unit: 'ms' }, followLag);
  ctx.details.logBytesReturned = sizes;
}

/** `docker logs` of a finished container against a stand-in that replays the engine's answer at once: ms. */
async function logsAgainstReplay(e, id, want) {
  const rec = await recordLogs(e, id);
  const sock = join(e.dir, 'replay-logs.sock');
  const server = await replayLogsServer(sock, rec);
  try {
    let got = 0;
    const r = await run('docker', ['-H', `unix://${sock}`, 'logs', id], { env: e.cliEnv, timeoutMs: 600_000, onStdout: (d) => (got += payloadBytes(d)) });
    if (r.code !== 0 || got !== want) throw new Error(`${e.name}: docker logs against the replay: exit ${r.code}, ${got} of ${want} bytes: ${r.stderr.slice(-300)}`);
    return r.ms;
  } finally {
    await server.close();
  }
}

/**
 * `docker logs -f` lag per line: the harness writes a line into a FIFO bind-mounted into the
 * container, which echoes it to stdout; lag is the time until the follower prints it. Both
 * engines' containers and followers run at once and take turns line by line (the order flips
 * each line), each line alone in flight, so a burst of load on the shared machine hits both.
 */
export async function logsFollowLatency(ctx) {
  const lines = ctx.opts.reps.followLines;
  const lag = {};
  const sides = [];
  try {
    for (const e of ctx.engines) sides.push(await startFollower(e));
    for (let i = 1; i <= lines; i++) {
      checkAbort();
      const order = i % 2 ? [...sides].reverse() : sides;
      for (const f of order) {
        await f.line(i);
        await sleep(25);
      }
    }
  } finally {
    for (const f of sides) await f.stop();
  }
  for (const f of sides) {
    lag[f.e.name] = f.lags;
    const missing = f.lags.filter((x) => Number.isNaN(x)).length;
    if (missing) ctx.note(`${f.e.name}: ${missing} of ${lines} lines never reached \`logs -f\``);
  }
  recordAll(ctx, 'logs-f-line-lag', { section: 'Logs', label: '`logs -f` lag: line written until the follower prints it', unit: 'ms', goal: { ratioMax: 1 } }, lag);
}

/** A container echoing what the harness writes into its FIFO, and `docker logs -f` of it. */
async function startFollower(e) {
  const dir = join(e.dir, 'fifo');
  mkdirSync(dir, { recursive: true });
  const fifo = join(dir, `in-${Date.now()}`);
  const mk = await run('mkfifo', [fifo]);
  if (mk.code) throw new Error(`mkfifo: ${mk.stderr}`);
  const id = (await cliRun(e, ['-d', '-v', `${fifo}:/in`, 'busybox', 'sh', '-c', 'while read l; do echo "$l"; done < /in'])).stdout.trim();
  const arrived = new Map();
  let waiting;
  let buf = '';
  const follower = e.docker(['logs', '-f', id], {
    timeoutMs: 600_000,
    onStdout: (d) => {
      const t = now();
      buf += d.toString();
      let k;
      while ((k = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, k);
        buf = buf.slice(k + 1);
        const m = /^L(-?\d+)/.exec(line);
        if (!m || arrived.has(Number(m[1]))) continue;
        arrived.set(Number(m[1]), t);
        if (waiting && waiting.i === Number(m[1])) waiting.resolve();
      }
    },
  });
  let fh;
  try {
    fh = await openWithTimeout(fifo, 30_000);
  } catch (err) {
    await e.docker(['rm', '-f', id]);
    await follower;
    throw err;
  }
  const written = new Map();
  /** Line i written, then until it shows (at most 2 s): its lag, or NaN. */
  const send = async (i, ms) => {
    const shown = new Promise((resolve) => (waiting = { i, resolve }));
    written.set(i, now());
    await fh.write(`L${i}\n`);
    let timer;
    await Promise.race([shown, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    waiting = undefined;
    return arrived.has(i) ? arrived.get(i) - written.get(i) : NaN;
  };
  // Warm-up lines (negative numbers) until the follower is attached and streaming.
  const deadline = now() + 30_000;
  for (let w = 0; ; w++) {
    if (!Number.isNaN(await send(-w, 100))) break;
    if (now() > deadline) {
      await fh.close();
      await e.docker(['rm', '-f', id]);
      await follower;
      throw new Error(`${e.name}: logs -f shows nothing after 30 s`);
    }
  }
  const lags = [];
  return {
    e,
    lags,
    line: async (i) => void lags.push(await send(i, 2000)),
    stop: async () => {
      await fh.close();
      await waitExit(e, id, 30_000).catch(() => {});
      const fr = await follower;
      if (fr.code !== 0 && fr.code !== 128) log(`${e.name}: logs -f exited ${fr.code}`);
      await e.dockerOk(['rm', '-f', id]);
    },
  };
}

async function openWithTimeout(fifo, ms) {
  let timer;
  const t = new Promise((_, rej) => {
    timer = setTimeout(() => {
      // Unblock the pending open (a reader appears), then report.
      try {
        closeSync(openSync(fifo, fsc.O_RDONLY | fsc.O_NONBLOCK));
      } catch {
        // nothing
      }
      rej(new Error(`nobody opened ${fifo} for reading within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([open(fifo, 'w'), t]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A writer of 1 KiB lines (10 lines, then `usleep 10000`: about 1000 lines/s at most) keeps
 * writing while the daemon is SIGSTOPped and then killed; after each line it writes its counter
 * to a bind-mounted file. We count what it wrote while the daemon was away, restart the daemon
 * (live restore), stop the writer and check that every line is in `docker logs`.
 */
export async function logsWhileDown(ctx) {
  const outage = ctx.opts.outageS * 1000;
  const section = 'Logs while the daemon is down';
  const per = {};
  for (const e of ctx.engines) {
    checkAbort();
    const dir = join(e.dir, 'logsdown');
    mkdirSync(dir, { recursive: true });
    const counter = join(dir, 'n');
    writeFileSync(counter, '0\n');
    // Builtins only in the inner loop (echo, test, arithmetic): one fork per 10 lines.
    const script = [
      'PAD=$(head -c 1014 /dev/zero | tr "\\0" x)',
      'i=0',
      'while [ ! -e /out/stop ]; do',
      '  j=0',
      '  while [ $j -lt 10 ]; do i=$((i+1)); j=$((j+1)); echo "$i $PAD"; echo $i > /out/n; done',
      '  usleep 10000',
      'done',
    ].join('\n');
    const id = (await cliRun(e, ['-d', '-v', `${dir}:/out`, 'busybox', 'sh', '-c', script])).stdout.trim();
    // The writer truncates and rewrites the file after every line: a read can land in between.
    const read = () => {
      for (let k = 0; k < 1000; k++) {
        const v = parseInt(readFileSync(counter, 'utf8'), 10);
        if (Number.isFinite(v)) return v;
      }
      return undefined;
    };
    let last = 0;
    const samples = [];
    const sample = () => {
      const v = read();
      if (v !== undefined) last = v;
      samples.push([Math.round(now()), last]);
      return last;
    };
    await sleep(3000);
    const nBefore0 = sample();
    const tBefore0 = now();
    await sleep(2000);
    const n0 = sample();
    const rate = ((n0 - nBefore0) / (now() - tBefore0)) * 1000; // lines/s with the daemon up
    log(`${e.name}: writer at ${Math.round(rate)} lines/s; stopping ${e.daemonName} (SIGSTOP ${outage / 2000} s, then kill -9, ${outage / 2000} s)`);
    const tStop = now();
    e.pause();
    let stalledAt = null;
    let prev = n0;
    let prevT = tStop;
    const poll = async (until) => {
      while (now() < until) {
        await sleep(100);
        const v = sample();
        if (v !== prev) {
          prev = v;
          prevT = now();
          stalledAt = null;
        } else if (stalledAt === null && now() - prevT > 1000) {
          stalledAt = prevT - tStop;
        }
      }
    };
    await poll(tStop + outage / 2);
    const nAtKill = sample();
    await e.stopDaemon('SIGKILL');
    await poll(tStop + outage);
    const n1 = sample();
    // Back up with live restore; a blocked writer should move again as soon as it is back.
    let resumedAt = null;
    const watcher = setInterval(() => {
      if (resumedAt === null && (read() ?? 0) > n1) resumedAt = now();
    }, 5);
    const t0 = e.launch();
    let ready;
    try {
      ready = await pollReady(e, 1, t0, ctx.opts.readyTimeoutMs);
      const until = now() + 10_000;
      while (resumedAt === null && now() < until) await sleep(10);
    } finally {
      clearInterval(watcher);
    }
    // Only meaningful when the writer was blocked.
    const resumedMs = stalledAt !== null && resumedAt !== null ? resumedAt - t0 : null;
    await sleep(1000);
    writeFileSync(join(dir, 'stop'), '');
    await waitExit(e, id, 60_000);
    const written = read();
    // Every line, once, in order, intact.
    const pad = 'x'.repeat(1014);
    let lines = 0;
    let malformed = 0;
    let outOfOrder = 0;
    let expect = 1;
    let rest = '';
    const seen = new Set();
    const r = await e.docker(['logs', id], {
      timeoutMs: 300_000,
      onStdout: (d) => {
        const parts = (rest + d.toString()).split('\n');
        rest = parts.pop();
        for (const l of parts) {
          lines++;
          const sp = l.indexOf(' ');
          const k = Number(l.slice(0, sp));
          if (sp < 0 || !Number.isInteger(k) || l.slice(sp + 1) !== pad) {
            malformed++;
            continue;
          }
          if (k !== expect) outOfOrder++;
          expect = k + 1;
          seen.add(k);
        }
      },
    });
    if (rest) {
      lines++;
      malformed++;
    }
    if (r.code !== 0) ctx.note(`${e.name}: docker logs after the outage exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
    let missing = 0;
    for (let k = 1; k <= written; k++) if (!seen.has(k)) missing++;
    per[e.name] = {
      rateLinesPerS: Math.round(rate),
      outageS: outage / 1000,
      linesDuringOutage: n1 - n0,
      linesBeforeKill: nAtKill - n0,
      stalledAfterMs: stalledAt === null ? null : Math.round(stalledAt),
      restartReadyMs: Math.round(ready.readyMs),
      resumedAfterLaunchMs: resumedMs === null ? null : Math.round(resumedMs),
      written,
      linesInLogs: lines,
      missing,
      malformed,
      outOfOrder,
    };
    log(`${e.name}: ${JSON.stringify(per[e.name])}`);
    await e.dockerOk(['rm', '-f', id]);
  }
  ctx.details.logsWhileDown = per;
  const one = (f) => Object.fromEntries(Object.entries(per).map(([k, v]) => [k, [f(v)]]));
  const s = ctx.opts.outageS;
  recordAll(ctx, 'down-rate', { section, label: 'writer rate with the daemon up (1 KiB lines)', unit: 'lines/s', noRatio: true }, one((v) => v.rateLinesPerS));
  recordAll(ctx, 'down-lines', { section, label: `lines written during a ${s} s outage (SIGSTOP ${s / 2} s, then kill -9 ${s / 2} s)`, unit: 'lines', noRatio: true, goal: { noBlocking: true } }, one((v) => v.linesDuringOutage));
  recordAll(ctx, 'down-stall', { section, label: 'writer blocked after (from SIGSTOP; — = never)', unit: 'ms', noRatio: true }, one((v) => v.stalledAfterMs));
  recordAll(ctx, 'down-missing', { section, label: 'lines missing or broken in `docker logs` afterwards', unit: 'lines', noRatio: true }, one((v) => v.missing + v.malformed));
}

// ---------------------------------------------------------------------------------------------
// 3. With N running containers: ps / inspect, memory, restart-to-ready

export async function psInspect(ctx, n, tag) {
  const reps = ctx.opts.reps.ps;
  const target = 'ct' + Math.floor(n / 2);
  const cli = [
    ['ps', '`docker ps`', ['ps'], { ratioMax: 0.5 }],
    ['ps-a', '`docker ps -a`', ['ps', '-a'], { ratioMax: 0.5 }],
    ['inspect', `\`docker inspect ${target}\``, ['inspect', target], undefined],
    ['version', '`docker version` (CLI floor)', ['version'], undefined],
  ];
  const section = `With ${n} running containers`;
  for (const [id, label, args, goal] of cli) {
    for (const e of ctx.engines) for (let i = 0; i < 3; i++) await e.dockerOk(args); // warm-up
    const ms = await interleave(ctx, reps, async (e) => (await e.dockerOk(args)).ms);
    recordAll(ctx, `${id}-${tag}`, { section, label, unit: 'ms', goal }, ms);
  }
  // The CLI's own share: the same `docker ps`, against each engine's answers replayed instantly.
  const floor = {};
  for (const e of ctx.engines) {
    const rec = await recordPs(e);
    const sock = join(e.dir, 'replay.sock');
    const server = await replayServer(sock, rec);
    try {
      const args = ['-H', `unix://${sock}`, 'ps'];
      const rows = (await runOk('docker', args, { env: e.cliEnv })).stdout.trim().split('\n').length - 1;
      if (rows !== n) throw new Error(`${e.name}: docker ps against the replay listed ${rows} containers, not ${n}`);
      for (let i = 0; i < 2; i++) await runOk('docker', args, { env: e.cliEnv });
      const ms = [];
      for (let i = 0; i < reps; i++) ms.push((await runOk('docker', args, { env: e.cliEnv })).ms);
      floor[e.name] = ms;
    } finally {
      await server.close();
    }
  }
  recordAll(ctx, `ps-replay-${tag}`, { section, label: '`docker ps` against its answers replayed from memory (the CLI alone)', unit: 'ms' }, floor);
  const api = [
    ['api-list', 'API `GET /containers/json` (persistent client)', `${API}/containers/json`],
    ['api-inspect', `API \`GET /containers/${target}/json\``, `${API}/containers/${target}/json`],
  ];
  for (const [id, label, path] of api) {
    for (const e of ctx.engines) for (let i = 0; i < 5; i++) await e.api.json('GET', path);
    const ms = await interleave(ctx, reps * 3, async (e) => {
      const t0 = now();
      await e.api.json('GET', path);
      return now() - t0;
    });
    recordAll(ctx, `${id}-${tag}`, { section, label, unit: 'ms' }, ms);
  }
}

/** `docker exec` into a running container (its create, start and wait for the exit code). */
export async function exec(ctx, n, tag) {
  const target = 'ct' + Math.floor(n / 2);
  for (const e of ctx.engines) await e.dockerOk(['exec', target, 'true']); // warm-up
  const ms = await interleave(ctx, ctx.opts.reps.runRm, async (e) => (await e.dockerOk(['exec', target, 'true'])).ms);
  recordAll(ctx, `exec-${tag}`, { section: `With ${n} running containers`, label: `\`docker exec ${target} true\``, unit: 'ms' }, ms);
}

export async function memory(ctx, n, tag, engines = ctx.engines) {
  const section = `With ${n} running containers`;
  const rows = {};
  for (const e of engines) {
    const daemons = {};
    let daemonRss = 0;
    let daemonPss = 0;
    for (const [name, pid] of Object.entries(e.daemonPids())) {
      const m = memoryOf(pid);
      daemons[name] = m;
      daemonRss += m?.rssKiB ?? 0;
      daemonPss += m?.pssKiB ?? 0;
    }
    const mons = e.monitorPids().map((pid) => memoryOf(pid)).filter(Boolean);
    const monRss = mons.map((m) => m.rssKiB);
    const monPss = mons.map((m) => m.pssKiB);
    const sum = (xs) => xs.reduce((a, b) => a + b, 0);
    rows[e.name] = {
      daemons,
      monitors: mons.length,
      daemonRssMiB: daemonRss / 1024,
      monitorRssMiB: monRss.map((x) => x / 1024),
      monitorPssMiB: monPss.map((x) => x / 1024),
      totalRssPerCtMiB: (daemonRss + sum(monRss)) / 1024 / n,
      totalPssPerCtMiB: (daemonPss + sum(monPss)) / 1024 / n,
      monitorsRssSumMiB: sum(monRss) / 1024,
    };
    if (mons.length !== n) ctx.note(`${e.name}: ${mons.length} monitor processes for ${n} containers`);
  }
  ctx.details[`memory-${tag}`] = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, { ...v, monitorRssMiB: undefined, monitorPssMiB: undefined }]));
  const pick = (f) => Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, f(v)]));
  recordAll(ctx, `mem-daemon-${tag}`, { section, label: 'daemon RSS (berthd | dockerd + containerd)', unit: 'MiB' }, pick((v) => [v.daemonRssMiB]));
  recordAll(ctx, `mem-mon-rss-${tag}`, { section, label: 'monitor RSS, each (conmon | containerd-shim)', unit: 'MiB' }, pick((v) => v.monitorRssMiB));
  recordAll(ctx, `mem-mon-pss-${tag}`, { section, label: 'monitor PSS, each (conmon | containerd-shim)', unit: 'MiB', goal: { ratioMax: 0.25 } }, pick((v) => v.monitorPssMiB));
  recordAll(ctx, `mem-total-rss-${tag}`, { section, label: 'engine RSS per container (daemons + monitors) / N', unit: 'MiB', goal: { ratioMax: 0.25 } }, pick((v) => [v.totalRssPerCtMiB]));
  recordAll(ctx, `mem-total-pss-${tag}`, { section, label: 'engine PSS per container (daemons + monitors) / N', unit: 'MiB', goal: { ratioMax: 0.25 } }, pick((v) => [v.totalPssPerCtMiB]));
}

/**
 * The readiness loop both engines get: from launch, (1) GET /_ping on a fresh connection every
 * 10 ms until 200, (2) GET /containers/json every 10 ms until it lists `expected` running,
 * (3) `docker ps -q` until it prints `expected` lines. Times are from launch.
 */
export async function pollReady(e, expected, t0, timeoutMs = 300_000) {
  const deadline = t0 + timeoutMs;
  const res = { pingMs: NaN, apiListMs: NaN, readyMs: NaN, cliPolls: 0 };
  const fail = (what) => {
    throw new Error(`${e.name}: ${what} not reached ${Math.round(now() - t0)} ms after launch${alive(e.pid) ? '' : ` (${e.daemonName} exited)`}\n${e.logTail(1500)}`);
  };
  while (!(await ping(e.sock, 1000))) {
    if (now() > deadline || !alive(e.pid)) fail('/_ping');
    await sleep(10);
  }
  res.pingMs = now() - t0;
  for (;;) {
    let r;
    try {
      r = await oneShot(e.sock, 'GET', `${API}/containers/json`, undefined, 60_000);
    } catch {
      r = undefined;
    }
    if (r?.status === 200 && r.json().length >= expected) break;
    if (now() > deadline) fail(`GET /containers/json listing ${expected}`);
    await sleep(10);
  }
  res.apiListMs = now() - t0;
  for (;;) {
    checkAbort();
    const r = await e.docker(['ps', '-q'], { timeoutMs: 60_000 });
    res.cliPolls++;
    if (r.code === 0 && r.stdout.split('\n').filter(Boolean).length >= expected) break;
    if (now() > deadline) fail(`docker ps -q listing ${expected}`);
  }
  res.readyMs = now() - t0;
  return res;
}

async function pidOf(e, name) {
  const c = await e.api.json('GET', `${API}/containers/${name}/json`);
  return `${c.State.Pid}@${c.State.StartedAt}`;
}

/**
 * With n running, `reps` times after SIGTERM and after kill -9 of the daemon: launch until
 * ready. `probe` is a container whose PID and StartedAt must survive (adopted, not restarted);
 * `section` names the block of rows (the bridged containers have their own).
 */
export async function restart(ctx, n, tag, engines = ctx.engines, reps = ctx.opts.reps.restart, { probe = 'ct0', section = `With ${n} running containers` } = {}) {
  const sub = { ...ctx, engines };
  const before = {};
  for (const e of engines) before[e.name] = await pidOf(e, probe);
  const shutdown = {};
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    const ready = {};
    const ping = {};
    const list = {};
    const res = await interleave(sub, reps, async (e) => {
      const ms = await e.stopDaemon(signal);
      (shutdown[`${e.name} ${signal}`] ??= []).push(Math.round(ms));
      const mons = e.monitorPids().length;
      if (mons < n) ctx.note(`${e.name}: only ${mons} monitors of ${n} after ${signal} of the daemon`);
      await sleep(200);
      const t0 = e.launch();
      return await pollReady(e, n, t0, ctx.opts.readyTimeoutMs);
    });
    for (const [name, rs] of Object.entries(res)) {
      ready[name] = rs.map((r) => r.readyMs);
      ping[name] = rs.map((r) => r.pingMs);
      list[name] = rs.map((r) => r.apiListMs);
    }
    const how = signal === 'SIGTERM' ? 'SIGTERM' : 'kill -9';
    const goal = n >= 1000 ? { absMax: 1000, ratioMax: 0.2 } : { ratioMax: 0.2 };
    recordAll(ctx, `restart-${signal}-${tag}`, { section, label: `restart after ${how}: launch until \`docker ps -q\` lists ${n}`, unit: 'ms', goal }, ready);
    recordAll(ctx, `restart-ping-${signal}-${tag}`, { section, label: `restart after ${how}: launch until \`/_ping\` answers`, unit: 'ms' }, ping);
    recordAll(ctx, `restart-list-${signal}-${tag}`, { section, label: `restart after ${how}: launch until \`GET /containers/json\` lists ${n}`, unit: 'ms' }, list);
  }
  ctx.details[`shutdown-ms-${tag}`] = shutdown;
  const adopted = {};
  for (const e of engines) adopted[e.name] = (await pidOf(e, probe)) === before[e.name];
  ctx.details[`adopted-same-pid-${tag}`] = adopted;
  for (const [name, ok] of Object.entries(adopted)) if (!ok) ctx.note(`${name}: ${probe} has another PID/StartedAt after the restarts (${tag}): restarted, not adopted`);
}
