#!/usr/bin/env node
// A small HTTP client for the published-port rows, against a busybox httpd (which closes the
// connection after every answer, so every request is a new TCP connection: what a port forward
// costs, per connection and per byte). Each load runs in a child process of its own
// (`node bench/lib/httpload.mjs MODE JSON`), so the harness's own work (spawning the CLI,
// polling a restarting daemon) never shares its event loop; it prints one JSON line.
//
//   seq     { url, n }                      n GETs one after another: each one's latency (ms)
//   conc    { url, concurrency, seconds }   that many back-to-back loops for a fixed time: req/s
//   bulk    { url, n }                      n GETs of a large file, one after another: MiB/s each
//   hammer  { url, intervalMs, bucketMs }   a GET every intervalMs (sequential, paced) until
//                                           stdin closes: sent, failed, longest gap, buckets
//
// Only addresses on this machine are ever given (127.0.0.1, a container on a local bridge).
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** Wall-clock milliseconds (epoch) with sub-millisecond resolution: comparable across processes. */
export const wallMs = () => performance.timeOrigin + performance.now();

/**
 * One GET on a fresh connection, HTTP/1.0 over a plain socket (node's http module costs more
 * than the forwarding path under test on a busy machine). Resolves { ok, status, bytes, ms,
 * error? }; never rejects. `ok` means status 200 with a body of `expect` bytes (when given).
 */
export function get(url, { timeoutMs = 2000, expect } = {}) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const t0 = performance.now();
    let done = false;
    let head = Buffer.alloc(0);
    let headerEnd = -1;
    let status = 0;
    let bytes = 0;
    const sock = connect({ host: u.hostname, port: Number(u.port || 80) });
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ status, bytes, ...r, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), timeoutMs);
    sock.on('connect', () => sock.write(`GET ${u.pathname} HTTP/1.0\r\nHost: ${u.host}\r\n\r\n`));
    sock.on('data', (d) => {
      if (headerEnd >= 0) {
        bytes += d.length;
        return;
      }
      head = Buffer.concat([head, d]);
      headerEnd = head.indexOf('\r\n\r\n');
      if (headerEnd >= 0) {
        status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, Math.min(headerEnd, 64)).toString('latin1'))?.[1] ?? 0);
        bytes = head.length - headerEnd - 4;
        head = Buffer.alloc(0);
      }
    });
    sock.on('end', () => finish({ ok: status === 200 && (expect === undefined || bytes === expect) }));
    sock.on('error', (e) => finish({ ok: false, error: e.code ?? e.message }));
  });
}

/** Unmeasured requests first: a fresh node process runs its first ones slowly (JIT). */
async function warm(url, expect, k = 5) {
  for (let i = 0; i < k; i++) await get(url, { expect, timeoutMs: 60_000 });
}

async function seq({ url, n, expect }) {
  await warm(url, expect);
  const ms = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await get(url, { expect });
    if (r.ok) ms.push(r.ms);
    else failed++;
  }
  return { ms, failed };
}

async function conc({ url, concurrency, seconds, expect }) {
  await warm(url, expect);
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  let ok = 0;
  let failed = 0;
  const loop = async () => {
    while (performance.now() < until) {
      const r = await get(url, { expect });
      if (r.ok) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const s = (performance.now() - t0) / 1000;
  return { ok, failed, seconds: s, reqPerS: ok / s };
}

async function bulk({ url, n, expect }) {
  await warm(url, expect, 1);
  const mibPerS = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await get(url, { expect, timeoutMs: 60_000 });
    if (r.ok) mibPerS.push(r.bytes / 2 ** 20 / (r.ms / 1000));
    else failed++;
  }
  return { mibPerS, failed };
}

/**
 * Paced and sequential: a request starts every intervalMs (or as soon as the previous one ends,
 * when it took longer), so a port that refuses at once is not counted a thousand times a second
 * and the number failed is about (time without service) / intervalMs on every engine.
 */
async function hammer({ url, intervalMs = 5, bucketMs = 100, timeoutMs = 1000, expect }, stopped) {
  const start = wallMs();
  const buckets = []; // [ok, failed] per bucketMs of request start time
  const errors = {};
  let sent = 0;
  let failed = 0;
  let lastOk = start;
  let maxGapMs = 0;
  while (!stopped()) {
    const t = wallMs();
    const r = await get(url, { timeoutMs, expect });
    sent++;
    const b = Math.floor((t - start) / bucketMs);
    while (buckets.length <= b) buckets.push([0, 0]);
    if (r.ok) {
      buckets[b][0]++;
      const end = wallMs();
      maxGapMs = Math.max(maxGapMs, end - lastOk);
      lastOk = end;
    } else {
      buckets[b][1]++;
      failed++;
      const why = r.error ?? `HTTP ${r.status}`;
      errors[why] = (errors[why] ?? 0) + 1;
    }
    const wait = t + intervalMs - wallMs();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  maxGapMs = Math.max(maxGapMs, wallMs() - lastOk);
  return { start, end: wallMs(), bucketMs, sent, failed, errors, maxGapMs, buckets };
}

async function main() {
  const [mode, json] = process.argv.slice(2);
  const o = JSON.parse(json ?? '{}');
  let out;
  if (mode === 'seq') out = await seq(o);
  else if (mode === 'conc') out = await conc(o);
  else if (mode === 'bulk') out = await bulk(o);
  else if (mode === 'hammer') {
    // Runs until the harness closes our stdin (or ends us with SIGTERM): then reports.
    let stop = false;
    process.stdin.on('end', () => (stop = true));
    process.stdin.on('close', () => (stop = true));
    process.on('SIGTERM', () => (stop = true));
    process.stdin.resume();
    process.stdout.write(JSON.stringify({ started: wallMs() }) + '\n');
    out = await hammer(o, () => stop);
  } else throw new Error(`unknown mode ${mode}`);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(err.stack ?? String(err));
    process.exit(1);
  });
}
