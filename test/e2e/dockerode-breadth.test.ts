import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import Docker from 'dockerode';
import { Readable } from 'node:stream';
import { daemonForFile, sleep } from '../helpers/daemon.js';
import { busyboxTarball } from '../helpers/paths.js';
import { dockerSaveArchive } from '../helpers/tars.js';

// The issue-3 features driven through dockerode, beside the CLI tests of the same features.
let docker: Docker;

daemonForFile((x) => {
  docker = new Docker({ socketPath: x.sock });
});

type ApiError = { statusCode?: number; json?: { message?: string } };

async function drain(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) out += chunk.toString();
  return out;
}

test('dockerode: restart policy with RestartCount, stop signal and timeout, limits', async () => {
  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sh', '-c', 'exit 1'],
    HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 1 }, Memory: 32 * 1024 * 1024, NanoCpus: 250_000_000, PidsLimit: 20 },
  });
  await c.start();
  for (let i = 0; i < 100; i++) {
    const s = await c.inspect();
    if (s.RestartCount === 1 && s.State.Status === 'exited') break;
    await sleep(100);
  }
  const info = await c.inspect();
  assert.equal(info.RestartCount, 1);
  assert.equal(info.State.ExitCode, 1);
  assert.equal(info.HostConfig.Memory, 32 * 1024 * 1024);
  assert.equal(info.HostConfig.PidsLimit, 20);
  await c.remove();
  const s = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'], StopSignal: 'SIGKILL', StopTimeout: 30 });
  await s.start();
  const t0 = Date.now();
  await s.stop();
  assert.ok(Date.now() - t0 < 5000, 'SIGKILL as stop signal ends it at once');
  assert.equal((await s.inspect()).State.ExitCode, 137);
  await s.remove();
});

test('dockerode: volumes, binds, rm -v', async () => {
  await docker.createVolume({ Name: 'dv1', Labels: { k: 'v' } });
  assert.equal((await docker.getVolume('dv1').inspect()).Labels['k'], 'v');
  const w = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo kept > /v/f'], HostConfig: { Binds: ['dv1:/v'] } });
  await w.start();
  await w.wait();
  await w.remove();
  const r = await docker.createContainer({ Image: 'busybox', Cmd: ['cat', '/v/f'], HostConfig: { Binds: ['dv1:/v:ro'] } });
  await r.start();
  await r.wait();
  const logs = (await r.logs({ stdout: true })) as unknown as Buffer;
  assert.equal(logs.subarray(8).toString(), 'kept\n');
  await assert.rejects(docker.getVolume('dv1').remove(), (e: ApiError) => e.statusCode === 409 && /volume is in use/.test(e.json?.message ?? ''));
  await r.remove({ v: true });
  await docker.getVolume('dv1').remove();
  const list = await docker.listVolumes();
  assert.ok(!(list.Volumes ?? []).some((v) => v.Name === 'dv1'));
});

test('dockerode: wait conditions, logs since/until, list filters', async () => {
  const c = await docker.createContainer({ Image: 'busybox', name: 'dw', Labels: { grp: 'x' }, Cmd: ['sh', '-c', 'echo one; sleep 1.5; echo two; exit 3'] });
  const removed = c.wait({ condition: 'removed' });
  await c.start();
  const exit = (await c.wait({ condition: 'not-running' })) as { StatusCode: number };
  assert.equal(exit.StatusCode, 3);
  const all = (await c.logs({ stdout: true, timestamps: true })) as unknown as Buffer;
  const lines = all.toString('latin1').split('\n').filter(Boolean).map((l) => l.slice(8));
  const second = Date.parse(lines[1]?.split(' ')[0] ?? '') / 1000;
  const since = (await c.logs({ stdout: true, since: second - 0.5 })) as unknown as Buffer;
  assert.equal(since.subarray(8).toString(), 'two\n');
  const byLabel = await docker.listContainers({ all: true, filters: { label: ['grp=x'] } });
  assert.deepEqual(byLabel.map((x) => x.Names[0]), ['/dw']);
  const exited = await docker.listContainers({ all: true, filters: { exited: ['3'] } });
  assert.equal(exited.length, 1);
  await c.remove();
  assert.equal(((await removed) as { StatusCode: number }).StatusCode, 3);
});

test('dockerode: events stream, top and stats', async () => {
  const events = await docker.getEvents({ filters: { type: ['container'], event: ['start', 'die'] } });
  const seen: string[] = [];
  events.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as { Action: string };
      seen.push(e.Action);
    }
  });
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'sleep 1000'] });
  await c.start();
  const top = await c.top();
  assert.deepEqual(top.Titles.slice(0, 2), ['UID', 'PID']);
  assert.ok((top.Processes as string[][]).some((p) => p.join(' ').includes('sleep 1000')));
  const stats = (await c.stats({ stream: false })) as { memory_stats: { usage?: number }; pids_stats: { current?: number } };
  assert.ok((stats.memory_stats.usage ?? 0) > 0);
  // busybox sh execs its last command: one process.
  assert.equal(stats.pids_stats.current, 1);
  await c.kill();
  await c.wait();
  await sleep(300);
  (events as unknown as { destroy(): void }).destroy();
  assert.deepEqual(seen, ['start', 'die']);
  await c.remove();
});

test('dockerode: import, load, history, prune, rmi conflicts', async () => {
  const imported = await docker.importImage(createReadStream(busyboxTarball()), { repo: 'dimp', tag: '1' });
  const out = await drain(imported);
  assert.match(out, /sha256:[0-9a-f]{64}/);
  const archive = await dockerSaveArchive([{ layers: [readFileSync(busyboxTarball())], repoTags: ['dload:1'] }]);
  const loaded = await drain((await docker.loadImage(Readable.from([archive]) as unknown as NodeJS.ReadableStream, { quiet: true })) as NodeJS.ReadableStream);
  assert.match(loaded, /Loaded image: dload:1/);
  const hist = await docker.getImage('dload:1').history();
  assert.ok(hist.length >= 1);
  const user = await docker.createContainer({ Image: 'dimp:1', Cmd: ['true'] });
  await assert.rejects(docker.getImage('dimp:1').remove(), (e: ApiError) => e.statusCode === 409 && /must force/.test(e.json?.message ?? ''));
  await user.remove();
  await docker.getImage('dimp:1').remove();
  await docker.getImage('dload:1').remove();
  const pruned = await docker.pruneImages();
  assert.ok(Array.isArray(pruned.ImagesDeleted) || pruned.ImagesDeleted === null);
});

test('dockerode: update, putArchive/getArchive/infoArchive, State.Health', async () => {
  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sleep', '1000'],
    Healthcheck: { Test: ['CMD-SHELL', 'test -f /etc/passwd'], Interval: 1e9, Retries: 1 },
    HostConfig: { Memory: 64 * 1024 * 1024 },
  });
  await c.start();
  const up = await c.update({ Memory: 96 * 1024 * 1024, PidsLimit: 30 });
  assert.equal((up as { Warnings: unknown }).Warnings, null);
  const hc = (await c.inspect()).HostConfig;
  assert.deepEqual([hc.Memory, hc.PidsLimit], [96 * 1024 * 1024, 30]);
  // A tar in, the same file out.
  const tar = spawnSync('sh', ['-c', 'd=$(mktemp -d) && printf "via dockerode" > $d/dk.txt && tar -cf - -C $d dk.txt && rm -r $d']).stdout;
  await c.putArchive(tar, { path: '/tmp' });
  const info = (await c.infoArchive({ path: '/tmp/dk.txt' })) as unknown as { headers?: Record<string, string> };
  const stat = JSON.parse(Buffer.from(String(info.headers?.['x-docker-container-path-stat']), 'base64').toString()) as { name: string; size: number };
  assert.deepEqual([stat.name, stat.size], ['dk.txt', 13]);
  const out = await c.getArchive({ path: '/tmp/dk.txt' });
  const chunks: Buffer[] = [];
  for await (const chunk of out as AsyncIterable<Buffer>) chunks.push(chunk);
  assert.ok(Buffer.concat(chunks).includes('via dockerode'));
  for (let i = 0; i < 100 && (await c.inspect()).State.Health?.Status !== 'healthy'; i++) await sleep(200);
  assert.equal((await c.inspect()).State.Health?.Status, 'healthy');
  await c.remove({ force: true });
});
