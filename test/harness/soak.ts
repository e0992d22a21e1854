// Soak: container lifecycles (create, start, exec, logs, rm) by the thousand, then daemon
// restarts with many containers running. Judged by what the daemon holds (GET /berth/resources:
// descriptors, timers, RSS) and what the machine holds once everything is removed: monitors,
// mounts, cgroups, veths, addresses, files under exec-root.
//
//   node dist/test/harness/soak.js [--lifecycles N] [--restarts R] [--running C] [--out file.json]
//   (npm run soak: 10 000 lifecycles, 100 restarts with 200 running; about an hour)
// A short run is part of `npm test` (test/e2e/soak.test.ts). The series it writes is charted in
// docs/benchmarks.md (bench/render.mjs, from bench/results/soak.json).
import { readdirSync, readFileSync, existsSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, holdNetns, sleep, type TestDaemon } from '../helpers/daemon.js';
import { onInterrupt } from './interrupt.js';
import { numberArg } from './random.js';

export type Resources = { Fds: number; Timers: number; RssBytes: number; HeapUsedBytes: number; Active: Record<string, number> };
export type Sample = { lifecycle: number; fds: number; timers: number; rssMiB: number; heapMiB: number; atMs: number };
export type RestartSample = { restart: number; signal: string; readyMs: number; running: number; fds: number; timers: number; rssMiB: number };
export type SoakReport = {
  lifecycles: number;
  failedLifecycles: string[];
  samples: Sample[];
  baseline: { fds: number; timers: number };
  afterLifecycles: { fds: number; timers: number };
  restarts: RestartSample[];
  lostAcrossRestarts: string[];
  leaks: string[];
  rssGrowthMiB: number;
  /** The lifecycles RSS growth is measured between (1 000 and 10 000 in the long run). */
  rssFrom: number;
  ms: number;
};

const MiB = 1024 * 1024;

export async function resources(d: TestDaemon): Promise<Resources> {
  const r = await d.api('GET', '/berth/resources');
  if (r.status !== 200) throw new Error(`GET /berth/resources: ${r.status} ${r.text}`);
  return r.json() as Resources;
}

async function sample(d: TestDaemon, lifecycle: number, t0: number): Promise<Sample> {
  const r = await resources(d);
  return { lifecycle, fds: r.Fds, timers: r.Timers, rssMiB: r.RssBytes / MiB, heapMiB: r.HeapUsedBytes / MiB, atMs: Date.now() - t0 };
}

/** One container's life through the API, as a script would drive it: any step failing is reported. */
async function lifecycle(d: TestDaemon, n: number): Promise<string | undefined> {
  const c = await d.api('POST', `/containers/create?name=soak-${n}`, { Image: 'busybox', Cmd: ['sh', '-c', `echo hello-${n}; exec sleep 60`] });
  if (c.status !== 201) return `create: ${c.status} ${c.text}`;
  const id = (c.json() as { Id: string }).Id;
  try {
    const s = await d.api('POST', `/containers/${id}/start`);
    if (s.status !== 204) return `start: ${s.status} ${s.text}`;
    const e = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['echo', `exec-${n}`], AttachStdout: true, AttachStderr: true });
    if (e.status !== 201) return `exec create: ${e.status} ${e.text}`;
    const out = await d.api('POST', `/exec/${(e.json() as { Id: string }).Id}/start`, { Detach: false, Tty: false });
    if (out.status !== 200 || !out.text.includes(`exec-${n}`)) return `exec start: ${out.status} ${JSON.stringify(out.text.slice(0, 200))}`;
    // The log is written by the monitor: the line may land a moment after the start.
    for (let i = 0; ; i++) {
      const l = await d.api('GET', `/containers/${id}/logs?stdout=1`);
      if (l.status === 200 && l.text.includes(`hello-${n}`)) break;
      if (i > 50) return `logs: ${l.status} ${JSON.stringify(l.text.slice(0, 200))}`;
      await sleep(50);
    }
  } finally {
    const rm = await d.api('DELETE', `/containers/${id}?force=1`);
    if (rm.status !== 204) return `rm: ${rm.status} ${rm.text}`;
  }
  return undefined;
}

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const n of readdirSync(p)) walk(join(p, n));
    } else out.push(p);
  };
  walk(root);
  return out;
}

/** What is left on the machine of containers that are all gone, beyond what was there at the start. */
export function leftovers(d: TestDaemon, execRootBefore: Set<string>): string[] {
  const out: string[] = [];
  const conmons = d.conmons();
  if (conmons.length > 0) out.push(`${conmons.length} conmon process(es)`);
  for (const m of d.mounts()) out.push(`mount ${m.split(' ')[1]}`);
  for (const c of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    const dir = join('/sys/fs/cgroup', c, d.cgroupParent);
    if (!existsSync(dir)) continue;
    const subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
    if (subs.length > 0) out.push(`${subs.length} cgroup(s) under ${dir}`);
  }
  const veths = d.inNetns('ip', ['-o', 'link', 'show', 'type', 'veth']).split('\n').filter((l) => /^\d+: vb/.test(l));
  if (veths.length > 0) out.push(`${veths.length} veth(s)`);
  const netDir = join(d.dataRoot, 'network', 'networks');
  for (const n of existsSync(netDir) ? readdirSync(netDir) : []) {
    const f = join(netDir, n, 'ipam.json');
    if (!existsSync(f)) continue;
    const held = Object.keys((JSON.parse(readFileSync(f, 'utf8')) as { allocations: object }).allocations);
    if (held.length > 0) out.push(`${held.length} address(es) held on ${n}`);
  }
  for (const f of filesUnder(d.execRoot)) if (!execRootBefore.has(f)) out.push(`file ${f}`);
  return out.slice(0, 50);
}

/** Descriptors and timers back within ±5 of the baseline (waits up to 15 s for them to settle). */
async function settledResources(d: TestDaemon, baseline: { fds: number; timers: number }): Promise<{ fds: number; timers: number }> {
  let last = { fds: -1, timers: -1 };
  for (let i = 0; i < 150; i++) {
    const r = await resources(d);
    last = { fds: r.Fds, timers: r.Timers };
    if (Math.abs(last.fds - baseline.fds) <= 5 && Math.abs(last.timers - baseline.timers) <= 5) break;
    await sleep(100);
  }
  return last;
}

export async function soak(d: TestDaemon, o: { lifecycles: number; restarts: number; running: number; concurrency?: number; sampleEvery?: number; log?: (s: string) => void; progress?: (r: SoakReport) => void }): Promise<SoakReport> {
  const log = o.log ?? ((s: string) => console.log(s));
  const t0 = Date.now();
  const every = o.sampleEvery ?? Math.max(1, Math.floor(o.lifecycles / 100));
  const report: SoakReport = { lifecycles: 0, failedLifecycles: [], samples: [], baseline: { fds: 0, timers: 0 }, afterLifecycles: { fds: 0, timers: 0 }, restarts: [], lostAcrossRestarts: [], leaks: [], rssGrowthMiB: 0, rssFrom: 0, ms: 0 };
  // A few lifecycles first: what the daemon opens once (its log, the bridge, lazily loaded
  // modules) is not a leak. The baseline is taken after them, with nothing running.
  for (let i = 0; i < 3; i++) {
    const why = await lifecycle(d, -1 - i);
    if (why) report.failedLifecycles.push(`warm-up: ${why}`);
  }
  const execRootBefore = new Set(filesUnder(d.execRoot));
  const base = await resources(d);
  report.baseline = { fds: base.Fds, timers: base.Timers };
  report.samples.push(await sample(d, 0, t0));
  let next = 0;
  const worker = async () => {
    for (let n = next++; n < o.lifecycles; n = next++) {
      const why = await lifecycle(d, n);
      report.lifecycles++;
      if (why) report.failedLifecycles.push(`lifecycle ${n}: ${why}`);
      if (report.lifecycles % every === 0) {
        report.samples.push(await sample(d, report.lifecycles, t0));
        o.progress?.(report);
      }
      if (report.lifecycles % 500 === 0) log(`soak: ${report.lifecycles} lifecycles, ${report.failedLifecycles.length} failed, rss ${report.samples.at(-1)?.rssMiB.toFixed(1)} MiB, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker));
  report.afterLifecycles = await settledResources(d, report.baseline);
  report.samples.push(await sample(d, report.lifecycles, t0));
  // From lifecycle 1 000 of 10 000 (a tenth in), once caches and pools have grown to size.
  report.rssFrom = Math.round(o.lifecycles / 10);
  const from = report.samples.find((s) => s.lifecycle >= report.rssFrom) ?? report.samples[0];
  report.rssGrowthMiB = (report.samples.at(-1)?.rssMiB ?? 0) - (from?.rssMiB ?? 0);
  report.leaks.push(...leftovers(d, execRootBefore).map((l) => `after the lifecycles: ${l}`));
  log(`soak: ${report.lifecycles} lifecycles done; fds ${report.baseline.fds} → ${report.afterLifecycles.fds}, timers ${report.baseline.timers} → ${report.afterLifecycles.timers}, rss +${report.rssGrowthMiB.toFixed(1)} MiB from lifecycle ${report.rssFrom}`);

  if (o.restarts > 0) {
    const ids: string[] = [];
    const queue = Array.from({ length: o.running }, (_, i) => i);
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const c = await d.api('POST', `/containers/create?name=soak-running-${i}`, { Image: 'busybox', Cmd: ['sleep', '36000'] });
        if (c.status !== 201) throw new Error(`create soak-running-${i}: ${c.text}`);
        const id = (c.json() as { Id: string }).Id;
        const s = await d.api('POST', `/containers/${id}/start`);
        if (s.status !== 204) throw new Error(`start soak-running-${i}: ${s.text}`);
        ids.push(id);
      }
    }));
    log(`soak: ${ids.length} containers running; ${o.restarts} restarts`);
    for (let k = 1; k <= o.restarts; k++) {
      const signal = k % 2 === 0 ? 'SIGKILL' : 'SIGTERM';
      await d.stop(signal);
      const t = Date.now();
      await d.start();
      const readyMs = Date.now() - t;
      const list = await d.api('GET', '/containers/json?filters=%7B%22status%22%3A%5B%22running%22%5D%7D');
      const running = new Set((list.json() as { Id: string }[]).map((c) => c.Id));
      const lost = ids.filter((id) => !running.has(id));
      if (lost.length > 0) report.lostAcrossRestarts.push(`restart ${k} (${signal}): ${lost.length} not running, e.g. ${lost[0]?.slice(0, 12)}`);
      const r = await resources(d);
      report.restarts.push({ restart: k, signal, readyMs, running: running.size, fds: r.Fds, timers: r.Timers, rssMiB: r.RssBytes / MiB });
      o.progress?.(report);
      if (k % 10 === 0) log(`soak: restart ${k}: ready in ${readyMs} ms with ${running.size} running, fds ${r.Fds}, rss ${(r.RssBytes / MiB).toFixed(1)} MiB`);
    }
    const rm = d.docker(['rm', '-f', ...ids], { timeoutMs: 600_000 });
    if (rm.code !== 0) report.leaks.push(`rm -f of the running containers failed: ${rm.stderr.slice(0, 300)}`);
    report.leaks.push(...leftovers(d, execRootBefore).map((l) => `after the restarts: ${l}`));
  }
  report.ms = Date.now() - t0;
  return report;
}

/** The bounds the issue sets, as sentences for what is broken; empty when all hold. */
export function soakFailures(r: SoakReport, o: { rssBoundMiB: number }): string[] {
  const out: string[] = [];
  if (r.failedLifecycles.length > 0) out.push(`${r.failedLifecycles.length} lifecycles failed, first: ${r.failedLifecycles[0]}`);
  if (Math.abs(r.afterLifecycles.fds - r.baseline.fds) > 5) out.push(`descriptors ${r.baseline.fds} at the start, ${r.afterLifecycles.fds} after`);
  if (Math.abs(r.afterLifecycles.timers - r.baseline.timers) > 5) out.push(`timers ${r.baseline.timers} at the start, ${r.afterLifecycles.timers} after`);
  if (r.rssGrowthMiB > o.rssBoundMiB) out.push(`RSS grew by ${r.rssGrowthMiB.toFixed(1)} MiB from lifecycle ${r.rssFrom}`);
  out.push(...r.lostAcrossRestarts, ...r.leaks);
  return out;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const outIdx = argv.indexOf('--out');
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  const out = outIdx >= 0 ? (argv[outIdx + 1] as string) : join(repo, 'bench', 'results', 'soak.json');
  // Containers on a bridge in a network namespace of the run's own: nothing on the host's network.
  const ns = holdNetns();
  const d = await startDaemon({ liveRestore: true, netns: ns.path });
  onInterrupt(async () => {
    await d.cleanup();
    ns.release();
  });
  let ok = false;
  const meta = { startedAt: new Date().toISOString(), machine: `${process.arch}, node ${process.version}` };
  const write = (r: SoakReport, done: boolean) => writeFileSync(out, `${JSON.stringify({ ...meta, done, running: numberArg(argv, 'running', 200), ...r }, null, 1)}\n`);
  try {
    const report = await soak(d, {
      lifecycles: numberArg(argv, 'lifecycles', 10_000),
      restarts: numberArg(argv, 'restarts', 100),
      running: numberArg(argv, 'running', 200),
      concurrency: numberArg(argv, 'concurrency', 4),
      progress: (r) => write(r, false),
    });
    write(report, true);
    const failures = soakFailures(report, { rssBoundMiB: 20 });
    console.log(JSON.stringify({ ...report, samples: report.samples.length, restarts: report.restarts.length, failures }, null, 1));
    ok = failures.length === 0;
  } finally {
    const { leftovers: left } = await d.cleanup();
    if (left.length > 0) {
      console.log(`left behind: ${left.join(', ')}`);
      ok = false;
    }
    ns.release();
  }
  console.log(ok ? `soak: passed, series in ${out}` : `soak: FAILED, series in ${out}`);
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
