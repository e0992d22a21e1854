// Pull and push of a ~100 MiB multi-layer image against Debian's docker-registry on loopback,
// berth and dockerd taking turns: cold (no layer present) and with the layers present. The
// image is put into the registry by this harness (HTTP API), so neither engine builds it.
// Also the interoperability check: what berth pushes, dockerd pulls and runs, and back.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { alive, killQuietly, log, now, sleep } from './util.mjs';

const MiB = 1024 * 1024;

/** One docker-registry on a free loopback port, storage in `dir`; stopped by its PID. */
export class BenchRegistry {
  constructor(dir, name) {
    this.dir = join(dir, name);
    this.pid = undefined;
    this.port = 0;
  }

  get addr() {
    return `127.0.0.1:${this.port}`;
  }

  async start() {
    mkdirSync(this.dir, { recursive: true });
    rmSync(join(this.dir, 'storage'), { recursive: true, force: true });
    if (!this.port) this.port = await freePort();
    // No blob-descriptor cache: a restarted registry with emptied storage is really empty.
    const cfg = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(this.dir, 'storage')}`, 'http:', `  addr: ${this.addr}`, ''];
    writeFileSync(join(this.dir, 'config.yml'), cfg.join('\n'));
    const fd = openSync(join(this.dir, 'registry.log'), 'a');
    const child = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
    child.on('error', () => {});
    this.pid = child.pid;
    this.onLaunch?.();
    const deadline = now() + 20_000;
    while (!(await listening(this.port))) {
      if (!alive(this.pid)) throw new Error(`docker-registry exited: ${readFileSync(join(this.dir, 'registry.log'), 'utf8').slice(-1500)}`);
      if (now() > deadline) throw new Error('docker-registry did not listen within 20 s');
      await sleep(20);
    }
  }

  async stop() {
    if (this.pid && alive(this.pid)) {
      killQuietly(this.pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(this.pid); i++) await sleep(20);
      killQuietly(this.pid, 'SIGKILL');
    }
    this.pid = undefined;
  }

  /** Stop, empty the storage, start again on the same port. */
  async reset() {
    await this.stop();
    await this.start();
  }
}

function listening(port) {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function http(method, url, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const r = request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(base, repo, blob) {
  const digest = sha256(blob);
  const start = await http('POST', `${base}/v2/${repo}/blobs/uploads/`, { 'Content-Length': '0' });
  if (start.status !== 202) throw new Error(`upload start ${start.status}`);
  const loc = new URL(start.headers.location, base);
  loc.searchParams.set('digest', digest);
  const put = await http('PUT', loc.href, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) }, blob);
  if (put.status !== 201) throw new Error(`upload ${put.status}`);
  return digest;
}

/** A tar holding one file (ustar, written by hand: the harness has no dependencies). */
function tarOf(path, data) {
  const header = Buffer.alloc(512);
  header.write(path, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, pad, Buffer.alloc(1024)]);
}

/**
 * Layer data that compresses about as real image content does (half random, half text-like),
 * so gzip does real work on both sides.
 */
function layerData(bytes, seed) {
  const random = randomBytes(Math.floor(bytes / 2));
  const words = Buffer.from(`${seed} lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n`);
  const text = Buffer.alloc(bytes - random.length);
  for (let i = 0; i < text.length; i += words.length) words.copy(text, i);
  return Buffer.concat([random, text]);
}

/** busybox + `n` layers of `mib` MiB each, pushed as `<repo>:<tag>`; returns the tars for reuse. */
async function pushImage(reg, repo, tag, busyboxTar, layerTars) {
  const base = `http://${reg.addr}`;
  const tars = [busyboxTar, ...layerTars];
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
      created: '2026-01-01T00:00:00Z',
      rootfs: { type: 'layers', diff_ids: tars.map((t) => sha256(t)) },
      history: tars.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'bench' })),
    }),
  );
  const layers = [];
  for (const t of tars) {
    const blob = gzipSync(t, { level: 6 });
    layers.push({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: blob.length, digest: await putBlob(base, repo, blob) });
  }
  const cfgDigest = await putBlob(base, repo, config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: cfgDigest }, layers }),
  );
  const put = await http('PUT', `${base}/v2/${repo}/manifests/${tag}`, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' }, manifest);
  if (put.status !== 201) throw new Error(`manifest ${put.status}`);
  return layers.reduce((n, l) => n + l.size, 0);
}

export async function registryPullPush(ctx, root, busyboxTarPath) {
  const reps = ctx.opts.quick ? 2 : 5;
  const src = new BenchRegistry(root, 'registry-src');
  const dst = new BenchRegistry(root, 'registry-dst');
  ctx.onRegistry?.(src);
  ctx.onRegistry?.(dst);
  try {
    await src.start();
    await dst.start();
    const busybox = readFileSync(busyboxTarPath);
    const shared = [0, 1, 2].map((i) => tarOf(`data/layer${i}.bin`, layerData(25 * MiB, `layer${i}`)));
    const compressed = await pushImage(src, 'bench/big', 'v1', busybox, [...shared, tarOf('data/layer3.bin', layerData(25 * MiB, 'v1'))]);
    // v2 shares busybox and the three first layers with v1: a pull "with layers present".
    await pushImage(src, 'bench/big', 'v2', busybox, [...shared, tarOf('data/layer3.bin', layerData(4 * MiB, 'v2'))]);
    log(`registry: image of 5 layers, ${Math.round((4 * 25 * MiB + busybox.length) / MiB)} MiB uncompressed, ${Math.round(compressed / MiB)} MiB compressed`);
    const v1 = `${src.addr}/bench/big:v1`;
    const v2 = `${src.addr}/bench/big:v2`;
    const samples = { pullCold: {}, pullWarm: {}, pushCold: {}, pushWarm: {} };
    for (const k of Object.keys(samples)) for (const e of ctx.engines) samples[k][e.name] = [];
    const pushName = (e, i) => `${dst.addr}/bench/pushed-${e.name}:${i}`;
    for (let i = 0; i < reps; i++) {
      const order = i % 2 ? [...ctx.engines].reverse() : ctx.engines;
      for (const e of order) {
        // Cold: nothing of the image here (busybox comes from an import, not the registry: its
        // layer is the same, so it counts as present, as it would for any base image).
        const cold = await e.dockerOk(['pull', '-q', v1], { timeoutMs: 600_000 });
        samples.pullCold[e.name].push(cold.ms);
        const warm = await e.dockerOk(['pull', '-q', v2], { timeoutMs: 600_000 });
        samples.pullWarm[e.name].push(warm.ms);
        await dst.reset();
        await e.dockerOk(['tag', v1, pushName(e, i)]);
        const push = await e.dockerOk(['push', '-q', pushName(e, i)], { timeoutMs: 600_000 });
        samples.pushCold[e.name].push(push.ms);
        const again = await e.dockerOk(['push', '-q', pushName(e, i)], { timeoutMs: 600_000 });
        samples.pushWarm[e.name].push(again.ms);
        await e.dockerOk(['rmi', v1, v2, pushName(e, i)]);
      }
    }
    const meta = (label) => ({ section: 'Images over the registry API', label, unit: 'ms' });
    const rec = (id, label, byEngine) => {
      for (const [name, s] of Object.entries(byEngine)) ctx.record(id, meta(label), name, s);
    };
    rec('pull-cold', '`docker pull` of a 5-layer ~100 MiB image, no layer present (loopback registry)', samples.pullCold);
    rec('pull-warm', '`docker pull` of an image sharing 4 of its 5 layers with one present', samples.pullWarm);
    rec('push-cold', '`docker push` of that image to an empty registry', samples.pushCold);
    rec('push-warm', '`docker push` again: every layer already there', samples.pushWarm);
    await interop(ctx, src, dst);
  } finally {
    await src.stop();
    await dst.stop();
  }
}

/** berth pushes, dockerd pulls and runs it; dockerd pushes, berth pulls and runs it. */
async function interop(ctx, src, dst) {
  const berth = ctx.engines.find((e) => e.name === 'berth');
  const docker = ctx.engines.find((e) => e.name === 'docker');
  if (!berth || !docker) return;
  const v1 = `${src.addr}/bench/big:v1`;
  const check = async (from, to) => {
    const name = `${dst.addr}/interop/from-${from.name}:1`;
    await from.dockerOk(['pull', '-q', v1], { timeoutMs: 600_000 });
    await from.dockerOk(['tag', v1, name]);
    await from.dockerOk(['push', '-q', name], { timeoutMs: 600_000 });
    await to.dockerOk(['pull', '-q', name], { timeoutMs: 600_000 });
    const r = await to.dockerOk(['run', '--rm', '--network', 'none', name, 'sh', '-c', 'cat /data/*.bin | wc -c']);
    if (r.stdout.trim() !== String(4 * 25 * MiB)) throw new Error(`${to.name} ran ${from.name}'s push and saw ${r.stdout.trim()} bytes`);
    const ids = await Promise.all([from, to].map(async (e) => (await e.dockerOk(['image', 'inspect', '-f', '{{.Id}}', name])).stdout.trim()));
    if (ids[0] !== ids[1]) throw new Error(`image ids differ: ${from.name} ${ids[0]}, ${to.name} ${ids[1]}`);
    await from.dockerOk(['rmi', v1, name]);
    await to.dockerOk(['rmi', name]);
    log(`registry: ${from.name} pushed, ${to.name} pulled and ran it (same image id)`);
  };
  await check(berth, docker);
  await check(docker, berth);
  ctx.details.registryInterop = 'berth → dockerd and dockerd → berth: pushed, pulled, ran, same image id';
}
