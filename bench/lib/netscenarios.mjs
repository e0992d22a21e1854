// The networking rows: `run -d` on the default bridge and with a published port, a published
// port's readiness, latency and throughput through it (dockerd with its userland proxy and with
// `userland-proxy: false`) and straight to the container's address, and the outage row: a client
// hammering a published port on 127.0.0.1 while the daemon is killed and restarted.
//
// Every port is published on 127.0.0.1 only and every request goes to 127.0.0.1 or to a
// container on the engine's own bridge: nothing leaves the machine.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { API } from './http.mjs';
import { get, wallMs } from './httpload.mjs';
import { interleave, pollReady, recordAll } from './scenarios.mjs';
import { checkAbort, log, now, sleep } from './util.mjs';

const BULK_BYTES = 8 * 2 ** 20;
const SMALL_BYTES = 3; // "ok\n"
/**
 * busybox httpd in the foreground, serving a tiny index page and an 8 MiB file; the file is
 * written beside it, so that "until the port answers" does not include writing it.
 */
const HTTPD = `mkdir -p /www && echo ok > /www/index.html && { head -c ${BULK_BYTES} /dev/zero > /www/.big && mv /www/.big /www/big & } && exec httpd -f -p 80 -h /www`;
const LOAD = fileURLToPath(new URL('./httpload.mjs', import.meta.url));
const SECTION = 'Networking: the default bridge and published ports';
const PORTS = 'Published port on 127.0.0.1 (busybox httpd, a new connection per request)';

/** A TCP port nobody on 127.0.0.1 holds right now (the kernel's pick). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One load in a child process of its own (bench/lib/httpload.mjs): its JSON result. */
function load(mode, opts, timeoutMs = 300_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, mode, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`httpload ${mode} exited ${code}: ${err.slice(-1000)}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });
}

/** The paced client of the outage row, until stop() (which closes its stdin). */
function startHammer(url) {
  const child = spawn(process.execPath, [LOAD, 'hammer', JSON.stringify({ url, intervalMs: 5, bucketMs: 100, timeoutMs: 1000, expect: SMALL_BYTES })], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const closed = new Promise((resolve) => child.on('close', resolve));
  const started = new Promise((resolve) => {
    const check = () => (out.includes('\n') ? resolve() : setTimeout(check, 5));
    check();
  });
  return {
    started,
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await closed;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`hammer exited ${code}: ${err.slice(-1000)}`);
      return JSON.parse(out.trim().split('\n').at(-1));
    },
  };
}

/** Until GET url answers 200 with `expect` bytes: a probe every 5 ms, each on its own connection. */
async function firstAnswer(url, { expect = SMALL_BYTES, timeoutMs = 60_000, everyMs = 5, cancel = { stop: false } } = {}) {
  const t0 = now();
  let answered = 0;
  const pending = new Set();
  while (!answered) {
    if (cancel.stop) throw new Error('cancelled');
    if (now() - t0 > timeoutMs) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    const p = get(url, { expect, timeoutMs: 1000 }).then((r) => {
      if (r.ok && !answered) answered = now();
      pending.delete(p);
    });
    pending.add(p);
    await sleep(everyMs);
  }
  await Promise.all(pending);
  return answered;
}

/** An httpd container published on 127.0.0.1:<free port>, answering: { id, port, ip }. */
async function startHttpd(e) {
  const port = await freePort();
  const id = (await e.dockerOk(['run', '-d', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c', HTTPD])).stdout.trim();
  await firstAnswer(`http://127.0.0.1:${port}/`);
  return { id, port, ip: await e.addressOf(id) };
}

const docker = (ctx) => ctx.engines.find((e) => e.name === 'docker');

/**
 * Run `fn(variant)` once per dockerd set-up: its default (userland proxy on), then restarted
 * with `userland-proxy: false` (when dockerd is measured and its iptables set-up is on), then
 * back to the default. dockerd is restarted with none of its containers running.
 */
async function perProxyVariant(ctx, fn) {
  await fn({ key: '', proxy: true, label: 'dockerd with its userland proxy (default)' });
  const d = docker(ctx);
  if (!d) return;
  if (!ctx.opts.dockerIptables) {
    ctx.note('dockerd runs with --iptables=false: no `userland-proxy: false` rows (its ports would need the rules)');
    return;
  }
  const restartWith = async (on) => {
    // What a failed measurement may have left running (never the long-running ct*/bt*).
    for (const c of await d.api.json('GET', `${API}/containers/json?all=1`)) {
      if (!(c.Names ?? []).some((x) => /^\/(ct|bt)\d+$/.test(x))) await d.api.request('DELETE', `${API}/containers/${c.Id}?force=1`);
    }
    if ((await d.runningCount()) !== 0) throw new Error('dockerd still has running containers: cannot change userland-proxy');
    await d.stopDaemon('SIGTERM');
    d.setUserlandProxy(on);
    await d.start();
  };
  await restartWith(false);
  try {
    await fn({ key: '-noproxy', proxy: false, label: 'dockerd with `userland-proxy: false`' });
  } finally {
    await restartWith(true);
  }
}

// ---------------------------------------------------------------------------------------------
// run -d on the default bridge, and with a published port

export async function runNetworked(ctx) {
  const n = ctx.opts.reps.run;
  const forms = [
    ['bridge', '`docker run -d busybox sleep 1d` (default bridge)', () => []],
    ['publish', '`docker run -d -p 127.0.0.1::80 busybox sleep 1d` (default bridge, one published port)', () => ['-p', '127.0.0.1::80']],
  ];
  for (const [key, label, extra] of forms) {
    for (const e of ctx.engines) {
      for (let i = 0; i < 2; i++) {
        const r = await e.dockerOk(['run', '-d', ...extra(), 'busybox', 'sleep', '1d']); // warm-up
        await e.dockerOk(['rm', '-f', r.stdout.trim()]);
      }
    }
    const ids = Object.fromEntries(ctx.engines.map((e) => [e.name, []]));
    const runMs = await interleave(ctx, n, async (e) => {
      const r = await e.dockerOk(['run', '-d', ...extra(), 'busybox', 'sleep', '1d']);
      ids[e.name].push(r.stdout.trim());
      return r.ms;
    });
    recordAll(ctx, `run-d-${key}`, { section: SECTION, label, unit: 'ms', goal: { ratioMax: 0.5 } }, runMs);
    const rmMs = await interleave(ctx, n, async (e, i) => (await e.dockerOk(['rm', '-f', ids[e.name][i]])).ms);
    recordAll(ctx, `rm-f-${key}`, { section: SECTION, label: `\`docker rm -f\` of it (running)`, unit: 'ms' }, rmMs);
  }
}

// ---------------------------------------------------------------------------------------------
// A published port: until it answers, latency, throughput; and the container's own address

export async function publishedPorts(ctx) {
  const q = ctx.opts.quick;
  const reps = { ready: q ? 3 : 15, rounds: q ? 2 : 10, perRound: q ? 50 : 100, concRounds: q ? 1 : 3, concS: q ? 2 : 3, concurrency: 8, bulk: q ? 2 : 5 };
  ctx.details.httpLoad = { ...reps, smallBytes: SMALL_BYTES, bulkBytes: BULK_BYTES };
  await perProxyVariant(ctx, async (v) => {
    const section = `${PORTS}; ${v.label}`;
    log(`published ports, ${v.label}`);
    // 1. From `docker run -d -p` until the port answers: probes start with the CLI.
    const ids = Object.fromEntries(ctx.engines.map((e) => [e.name, []]));
    const ready = await interleave(ctx, reps.ready, async (e) => {
      const port = await freePort();
      const cancel = { stop: false };
      const t0 = now();
      const cli = e.dockerOk(['run', '-d', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c', HTTPD]);
      const answer = firstAnswer(`http://127.0.0.1:${port}/`, { cancel });
      answer.catch(() => {});
      try {
        ids[e.name].push((await cli).stdout.trim());
      } catch (err) {
        cancel.stop = true;
        throw err;
      }
      return (await answer) - t0;
    });
    recordAll(ctx, `port-ready${v.key}`, { section, label: '`docker run -d -p 127.0.0.1:H:80 … httpd` until `127.0.0.1:H` answers', unit: 'ms' }, ready);
    for (const e of ctx.engines) for (const id of ids[e.name]) await e.dockerOk(['rm', '-f', id]);

    // 2. One server per engine; every target takes turns, round by round.
    const servers = {};
    for (const e of ctx.engines) servers[e.name] = await startHttpd(e);
    try {
      const targets = [];
      for (const e of ctx.engines) targets.push({ engine: e.name, via: 'lo', base: `http://127.0.0.1:${servers[e.name].port}` });
      if (!v.key) for (const e of ctx.engines) targets.push({ engine: e.name, via: 'ip', base: `http://${servers[e.name].ip}:80` });
      const lat = {};
      const rps = {};
      const bulk = {};
      const failed = {};
      const key = (t) => `${t.via}|${t.engine}`;
      for (const t of targets) [lat, rps, bulk, failed].forEach((m) => (m[key(t)] = m === failed ? 0 : []));
      for (const t of targets) await load('seq', { url: `${t.base}/`, n: 20, expect: SMALL_BYTES }); // warm-up
      for (let r = 0; r < reps.rounds; r++) {
        checkAbort();
        for (const t of r % 2 ? [...targets].reverse() : targets) {
          const res = await load('seq', { url: `${t.base}/`, n: reps.perRound, expect: SMALL_BYTES });
          lat[key(t)].push(...res.ms);
          failed[key(t)] += res.failed;
        }
      }
      for (let r = 0; r < reps.concRounds; r++) {
        for (const t of r % 2 ? [...targets].reverse() : targets) {
          const res = await load('conc', { url: `${t.base}/`, concurrency: reps.concurrency, seconds: reps.concS, expect: SMALL_BYTES });
          rps[key(t)].push(res.reqPerS);
          failed[key(t)] += res.failed;
        }
      }
      for (let r = 0; r < reps.bulk; r++) {
        for (const t of r % 2 ? [...targets].reverse() : targets) {
          const res = await load('bulk', { url: `${t.base}/big`, n: 1, expect: BULK_BYTES });
          bulk[key(t)].push(...res.mibPerS);
          failed[key(t)] += res.failed;
        }
      }
      const pick = (m, via) => Object.fromEntries(ctx.engines.map((e) => [e.name, m[`${via}|${e.name}`]]));
      const vias = v.key ? [['lo', section, 'through `127.0.0.1:H`']] : [['lo', section, 'through `127.0.0.1:H`'], ['ip', 'Straight to the container\'s address on its bridge (the limit: no port forwarding)', 'to `<container address>:80`']];
      for (const [via, sec, where] of vias) {
        const k = via === 'lo' ? `lo${v.key}` : 'ip';
        recordAll(ctx, `http-lat-${k}`, { section: sec, label: `GET ${where}, one at a time (${reps.rounds}×${reps.perRound}): latency`, unit: 'ms' }, pick(lat, via));
        recordAll(ctx, `http-rps-${k}`, { section: sec, label: `GET ${where}, ${reps.concurrency} concurrent loops for ${reps.concS} s: requests/s (higher is better)`, unit: 'req/s' }, pick(rps, via));
        recordAll(ctx, `http-bulk-${k}`, { section: sec, label: `GET of an 8 MiB file ${where}: MiB/s (higher is better)`, unit: 'MiB/s' }, pick(bulk, via));
      }
      const lost = Object.entries(failed).filter(([, x]) => x > 0);
      if (lost.length) ctx.note(`published ports (${v.label}): failed requests ${lost.map(([k, x]) => `${k.replace('|', ' ')} ${x}`).join(', ')}`);
    } finally {
      for (const e of ctx.engines) if (servers[e.name]) await e.dockerOk(['rm', '-f', servers[e.name].id]);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The outage row: a client on 127.0.0.1:H while the daemon is killed and restarted K times

export async function outage(ctx) {
  const cycles = ctx.opts.outageCycles;
  const upMs = 1000;
  const per = (ctx.details.portOutage = { cycles, upMs, intervalMs: 5, variants: {} });
  let flip = false;
  await perProxyVariant(ctx, async (v) => {
    const section = `Published port on 127.0.0.1 while the daemon is killed (kill -9) and restarted ${cycles} times; ${v.label}`;
    const res = {};
    const order = flip ? [...ctx.engines].reverse() : ctx.engines;
    flip = !flip;
    for (const e of order) {
      checkAbort();
      const srv = await startHttpd(e);
      const url = `http://127.0.0.1:${srv.port}/`;
      log(`${e.name}: hammering ${url} while ${e.daemonName} is killed and restarted ${cycles} times (${v.label})`);
      const h = startHammer(url);
      await h.started;
      const downs = [];
      try {
        await sleep(upMs);
        for (let i = 0; i < cycles; i++) {
          checkAbort();
          const tKill = wallMs();
          await e.stopDaemon('SIGKILL');
          await sleep(200);
          const t0 = e.launch();
          const tLaunch = wallMs();
          const r = await pollReady(e, 1, t0, ctx.opts.readyTimeoutMs);
          downs.push({ kill: tKill, launch: tLaunch, ready: tLaunch + r.readyMs, readyMs: r.readyMs });
          await sleep(upMs);
        }
      } finally {
        res[e.name] = { ...(await h.stop()), downs };
      }
      await e.dockerOk(['rm', '-f', srv.id]);
      const x = res[e.name];
      log(`${e.name}: ${x.failed} of ${x.sent} requests failed; longest without an answer ${Math.round(x.maxGapMs)} ms; ${JSON.stringify(x.errors)}`);
    }
    per.variants[v.key || 'default'] = { label: v.label, engines: res };
    const one = (f) => Object.fromEntries(Object.entries(res).map(([k, x]) => [k, [f(x)]]));
    recordAll(ctx, `outage-failed${v.key}`, { section, label: `requests failed (a GET every 5 ms, 1 s timeout)`, unit: 'req', noRatio: true, goal: { zero: true } }, one((x) => x.failed));
    recordAll(ctx, `outage-sent${v.key}`, { section, label: 'requests sent', unit: 'req', noRatio: true }, one((x) => x.sent));
    recordAll(ctx, `outage-gap${v.key}`, { section, label: 'longest time without an answer', unit: 'ms', noRatio: true }, one((x) => x.maxGapMs));
    recordAll(ctx, `outage-ready${v.key}`, { section, label: 'each restart: kill -9 until `docker ps -q` lists the server again (200 ms pause included)', unit: 'ms' }, Object.fromEntries(Object.entries(res).map(([k, x]) => [k, x.downs.map((d) => d.ready - d.kill)])));
  });
}
