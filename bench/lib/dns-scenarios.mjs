// Name resolution on a user network, both engines: how many lookups fail while the daemon is
// killed and restarted (berth's resolver is a process of its own, dockerd's embedded DNS lives
// inside dockerd), and how long a lookup takes through each engine's resolver. Only container
// names are asked: single-label names no resolver forwards, so nothing leaves the machine.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollReady } from './scenarios.mjs';
import { checkAbort, log, now, run, sleep } from './util.mjs';

const NET = 'benchdns';
const client = fileURLToPath(new URL('./dns-client.mjs', import.meta.url));

async function setUp(e) {
  await e.dockerOk(['network', 'create', NET]);
  await e.dockerOk(['run', '-d', '--name', 'dnssvc', '--network', NET, 'busybox', 'sleep', '100000']);
}

async function tearDown(e) {
  await e.docker(['rm', '-f', 'dnssvc', 'dnswatch']);
  await e.docker(['network', 'rm', NET]);
}

/**
 * A client container looks `dnssvc` up every 50 ms (busybox nslookup, the resolver its
 * resolv.conf names) and appends ok or FAIL to a file on the host; the daemon is killed with
 * SIGKILL and started again `cycles` times (each time until `docker ps` lists both containers,
 * then 1 s more). Every lookup that failed counts, whatever the reason.
 */
export async function dnsOutage(ctx, cycles = ctx.opts.quick ? 5 : 20) {
  const section = 'Name resolution on a user network';
  const failed = {};
  const total = {};
  const downMs = {};
  for (const e of ctx.engines) {
    checkAbort();
    const dir = join(e.dir, 'dnsdown');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'lookups');
    writeFileSync(file, '');
    await setUp(e);
    try {
      const script = 'while true; do if nslookup dnssvc >/dev/null 2>&1; then echo ok >> /out/lookups; else echo FAIL >> /out/lookups; fi; usleep 50000; done';
      await e.dockerOk(['run', '-d', '--name', 'dnswatch', '--network', NET, '-v', `${dir}:/out`, 'busybox', 'sh', '-c', script]);
      const count = () => {
        const lines = readFileSync(file, 'utf8').split('\n');
        return { ok: lines.filter((l) => l === 'ok').length, fail: lines.filter((l) => l === 'FAIL').length };
      };
      for (let i = 0; i < 50 && count().ok < 5; i++) await sleep(100);
      const start = count();
      if (start.ok < 5) throw new Error(`${e.name}: the lookup loop does not resolve dnssvc`);
      const down = [];
      log(`${e.name}: lookups every 50 ms; killing and restarting ${e.daemonName} ${cycles} times`);
      for (let i = 0; i < cycles; i++) {
        checkAbort();
        await e.stopDaemon('SIGKILL');
        await sleep(200);
        const t0 = e.launch();
        const r = await pollReady(e, 2, t0, ctx.opts.readyTimeoutMs);
        down.push(r.readyMs + 200);
        await sleep(1000);
      }
      const end = count();
      failed[e.name] = [end.fail - start.fail];
      total[e.name] = [end.ok + end.fail - start.ok - start.fail];
      downMs[e.name] = down;
      log(`${e.name}: ${failed[e.name][0]} of ${total[e.name][0]} lookups failed over ${cycles} restarts`);
    } finally {
      await tearDown(e);
    }
  }
  for (const [name, v] of Object.entries(failed)) ctx.record('dns-outage-failed', { section, label: `lookups failed while the daemon is killed and restarted ${cycles} times (one every 50 ms)`, unit: 'lookups', goal: { zero: true } }, name, v);
  for (const [name, v] of Object.entries(total)) ctx.record('dns-outage-total', { section, label: 'lookups made meanwhile', unit: 'lookups' }, name, v);
  for (const [name, v] of Object.entries(downMs)) ctx.record('dns-outage-restart', { section, label: 'each restart: kill -9 until `docker ps` lists the containers', unit: 'ms' }, name, v);
}

/**
 * Latency of one lookup through the engine's resolver, from inside a container's network
 * namespace (a Node client entered there with nsenter: the container has no clock fine enough):
 * `n` sequential A queries for a container name, each timed.
 */
export async function dnsLatency(ctx, n = ctx.opts.quick ? 200 : 2000) {
  const section = 'Name resolution on a user network';
  for (const e of ctx.engines) {
    checkAbort();
    await setUp(e);
    try {
      await e.dockerOk(['run', '-d', '--name', 'dnswatch', '--network', NET, 'busybox', 'sleep', '100000']);
      const pid = (await e.dockerOk(['inspect', '-f', '{{.State.Pid}}', 'dnswatch'])).stdout.trim();
      const server = (await e.dockerOk(['exec', 'dnswatch', 'sh', '-c', "awk '/^nameserver/ {print $2; exit}' /etc/resolv.conf"])).stdout.trim();
      const t0 = now();
      const r = await run('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, client, server, 'dnssvc', String(n)], { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`${e.name}: dns client failed: ${r.stderr}`);
      const samples = JSON.parse(r.stdout);
      log(`${e.name}: ${samples.length} lookups through ${server} in ${Math.round(now() - t0)} ms`);
      ctx.record('dns-latency', { section, label: 'one lookup of a container name through the resolver (from the container)', unit: 'ms', goal: { ratioMax: 1 } }, e.name, samples);
    } finally {
      await tearDown(e);
    }
  }
}
