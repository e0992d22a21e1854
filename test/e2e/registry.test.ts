import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { daemonForFile, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { registryForFile, type TestRegistry } from '../helpers/registry.js';
import { MT, RegistryProxy, fileLayer, pushRawImage, putManifest, randomLayer } from '../helpers/registry-content.js';
import { busyboxTarball } from '../helpers/paths.js';

let d: TestDaemon;
let reg: TestRegistry;
// A registry that stops answering is given up on after 5 s here (60 s by default).
daemonForFile((x) => (d = x), { env: { BERTH_REGISTRY_TIMEOUT: '5' } });
let proxy: RegistryProxy | undefined;
registryForFile(async (x) => {
  reg = x;
  proxy = new RegistryProxy(reg.url);
  await (proxy as RegistryProxy).start();
});
after(async () => {
  await proxy?.stop();
});

const t0 = Date.now();
after(() => console.log(`registry.test: ${((Date.now() - t0) / 1000).toFixed(1)} s`));

const lines = (s: string) => s.trim().split('\n');
/** The CLI run without blocking this process: the proxy lives in it. */
async function viaProxy(args: string[], timeoutMs = 120_000) {
  return d.dockerAsync(args, { timeoutMs }).done;
}
/** A busybox base under the test's own layers, so the images it makes can run commands. */
const busyboxLayer = () => readFileSync(busyboxTarball());
const imageIds = () => d.ok(['images', '-q', '--no-trunc']).trim().split('\n').filter(Boolean).sort();
const layerRecords = () => readdirSync(join(d.dataRoot, 'image', 'overlay2', 'layers')).filter((n) => n.endsWith('.json')).sort();
const blobFiles = () => readdirSync(join(d.dataRoot, 'image', 'overlay2', 'blobs', 'sha256')).sort();

test('push an imported image, remove it, pull it back by tag and by digest, and run it', () => {
  const name = `${reg.addr}/team/app`;
  d.ok(['tag', 'busybox', `${name}:1`]);
  const push = d.ok(['push', `${name}:1`]);
  const pushLines = lines(push);
  assert.equal(pushLines[0], `The push refers to repository [${name}]`);
  assert.match(push, /^[0-9a-f]{12}: Pushed$/m);
  const m = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(push);
  assert.ok(m, push);
  const digest = m[1] as string;
  // The registry has the manifest the CLI was told about, byte for byte.
  const inspectDigests = d.ok(['image', 'inspect', '-f', '{{json .RepoDigests}}', `${name}:1`]).trim();
  assert.deepEqual(JSON.parse(inspectDigests), [`${name}@${digest}`]);
  const id = d.ok(['image', 'inspect', '-f', '{{.Id}}', `${name}:1`]).trim();

  d.ok(['rmi', `${name}:1`]);
  const pull = d.ok(['pull', `${name}:1`]);
  assert.deepEqual(
    lines(pull).map((l) => l.replace(/^[0-9a-f]{12}: /, 'L: ')),
    ['1: Pulling from team/app'.replace('team/app', `${reg.addr}/team/app`), 'L: Already exists', `Digest: ${digest}`, `Status: Downloaded newer image for ${name}:1`, `${name}:1`],
  );
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}}', `${name}:1`]).trim(), id);

  // By digest, into a daemon that lacks the layer: every layer downloaded and checked.
  d.ok(['rmi', `${name}:1`, 'busybox']);
  assert.equal(d.docker(['image', 'inspect', id]).code, 1);
  const byDigest = d.ok(['pull', `${name}@${digest}`]);
  assert.match(byDigest, /^[0-9a-f]{12}: Pulling fs layer$/m);
  assert.match(byDigest, /^[0-9a-f]{12}: Verifying Checksum$/m);
  assert.match(byDigest, /^[0-9a-f]{12}: Download complete$/m);
  assert.match(byDigest, /^[0-9a-f]{12}: Pull complete$/m);
  assert.match(byDigest, new RegExp(`Status: Downloaded newer image for ${name}@${digest}`));
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}}', `${name}@${digest}`]).trim(), id);
  const listed = d.ok(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}', name]).trim();
  assert.equal(listed, `${name} <none> ${digest}`);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', `${name}@${digest}`, 'echo', 'pulled and running']), 'pulled and running\n');
  // rmi by the digest reference removes the image.
  const rmi = d.ok(['rmi', `${name}@${digest}`]);
  assert.match(rmi, new RegExp(`Untagged: ${name}@${digest}`));
  assert.match(rmi, new RegExp(`Deleted: ${id}`));
  assert.equal(d.docker(['image', 'inspect', id]).code, 1);
  // busybox back for the other tests, from the registry, by tag this time.
  d.ok(['pull', `${name}:1`]);
  d.ok(['tag', `${name}:1`, 'busybox:latest']);
  d.ok(['rmi', `${name}:1`]);
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).trim(), id);
});

test('docker run of a missing image pulls it, as the CLI does it ("Unable to find image")', () => {
  const name = `${reg.addr}/team/runme:2`;
  d.ok(['tag', 'busybox', name]);
  d.ok(['push', name]);
  d.ok(['rmi', name]);
  d.ok(['rmi', 'busybox']);
  const r = d.docker(['run', '--rm', '--network', 'none', name, 'echo', 'implicit pull']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`Unable to find image '${name}' locally`));
  assert.match(r.stderr, /Pull complete/);
  assert.equal(r.stdout, 'implicit pull\n');
  // busybox back for the other tests.
  d.ok(['tag', name, 'busybox:latest']);
  d.ok(['rmi', name]);
});

test('pushing again: "Layer already exists"; to another repository: the blob is mounted from the first', async () => {
  const first = `${reg.addr}/mount/src:1`;
  const layer = await randomLayer(64 * 1024);
  writeFileSync(join(d.dir, 'l.tar'), layer);
  d.ok(['import', join(d.dir, 'l.tar'), first]);
  const push1 = d.ok(['push', first]);
  assert.match(push1, /: Pushed$/m);
  const again = d.ok(['push', first]);
  assert.match(again, /^[0-9a-f]{12}: Layer already exists$/m);
  assert.doesNotMatch(again, /Pushed/);
  const second = `${reg.addr}/mount/dst:1`;
  d.ok(['tag', first, second]);
  (proxy as RegistryProxy).requests.length = 0;
  const push2 = d.ok(['push', second]);
  assert.match(push2, /^[0-9a-f]{12}: Mounted from mount\/src$/m);
  // The registry now serves the layer from the new repository too.
  const manifest = await reg.fetch('/v2/mount/dst/manifests/1', { headers: { Accept: MT.dockerManifest } });
  assert.equal(manifest.status, 200);
  const digest = (JSON.parse(manifest.body.toString()) as { layers: { digest: string }[] }).layers[0]?.digest as string;
  assert.equal((await reg.fetch(`/v2/mount/dst/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  // push -a: every tag of a repository.
  d.ok(['tag', first, `${reg.addr}/mount/src:2`]);
  const all = d.ok(['push', '-a', `${reg.addr}/mount/src`]);
  assert.match(all, /^1: digest: sha256:/m);
  assert.match(all, /^2: digest: sha256:/m);
  d.ok(['rmi', first, second, `${reg.addr}/mount/src:2`]);
});

test('a manifest list gives linux/amd64 here, --platform another entry; pull -a takes every tag', async () => {
  const repo = 'multi/arch';
  const amd = await pushRawImage(reg.url, repo, 'amd64-only', { tars: [busyboxLayer(), await fileLayer('arch', 'amd64\n')], gzip: true });
  const arm = await pushRawImage(reg.url, repo, 'arm64-only', { tars: [busyboxLayer(), await fileLayer('arch', 'arm64\n')], gzip: true, architecture: 'arm64' });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        // The other platform first: picking the first entry would be wrong.
        { mediaType: MT.dockerManifest, digest: arm.manifestDigest, size: arm.size, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: MT.dockerManifest, digest: amd.manifestDigest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MT.dockerManifest, digest: amd.manifestDigest, size: amd.size, platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    }),
  );
  const indexDigest = await putManifest(reg.url, repo, 'multi', MT.ociIndex, index);
  const name = `${reg.addr}/${repo}`;
  const r = d.ok(['pull', `${name}:multi`]);
  assert.match(r, new RegExp(`Digest: ${indexDigest}`));
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Architecture}} {{.Id}}', `${name}:multi`]).trim(), `amd64 ${amd.configDigest}`);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', `${name}:multi`, 'cat', '/arch']).trim(), 'amd64');
  d.ok(['pull', '--platform', 'linux/arm64', `${name}:multi`]);
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Architecture}}', `${name}:multi`]).trim(), 'arm64');
  const none = d.docker(['pull', '--platform', 'linux/s390x', `${name}:multi`]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);
  // -a: all three tags; the up-to-date one says so.
  const all = d.ok(['pull', '-a', name]);
  for (const tag of ['amd64-only', 'arm64-only', 'multi']) assert.match(all, new RegExp(`^${tag}: Pulling from ${name}$`, 'm'));
  assert.match(all, new RegExp(`Status: Downloaded newer image for ${name}$`, 'm'));
  const tags = d.ok(['images', '--format', '{{.Tag}}', name]).trim().split('\n').sort();
  assert.deepEqual(tags, ['amd64-only', 'arm64-only', 'multi']);
  d.ok(['rmi', `${name}:amd64-only`, `${name}:arm64-only`, `${name}:multi`]);
});

test('an OCI image with an uncompressed layer pulls and runs; save keeps its ids, load brings it back', async () => {
  const repo = 'oci/plain';
  const img = await pushRawImage(reg.url, repo, 'v1', { tars: [busyboxLayer(), await fileLayer('hello.txt', 'from an OCI layer\n')], oci: true, config: { Env: ['PATH=/bin', 'FROM_OCI=1'] } });
  const name = `${reg.addr}/${repo}:v1`;
  d.ok(['pull', name]);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name, 'sh', '-c', 'cat /hello.txt; echo $FROM_OCI']), 'from an OCI layer\n1\n');
  // save → rmi → load: same image id, still runs; the archive is dockerd 25's layout.
  const tar = join(d.dir, 'saved.tar');
  const save = spawnSync('sh', ['-c', `docker -H ${d.host} save -o ${tar} ${name} busybox`], { encoding: 'utf8' });
  assert.equal(save.status, 0, save.stderr);
  const listing = spawnSync('tar', ['-tf', tar], { encoding: 'utf8' }).stdout.split('\n');
  for (const f of ['index.json', 'manifest.json', 'oci-layout', `blobs/sha256/${img.configDigest.slice(7)}`]) assert.ok(listing.includes(f), `${f} in ${listing.join(' ')}`);
  const manifestJson = JSON.parse(spawnSync('tar', ['-xOf', tar, 'manifest.json'], { encoding: 'utf8' }).stdout) as { RepoTags: string[]; Layers: string[] }[];
  assert.deepEqual(manifestJson.map((e) => e.RepoTags.join()).sort(), ['busybox:latest', name].sort());
  // Layers are written uncompressed: their blob name is their diff id.
  const diffIds = JSON.parse(d.ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', name])) as string[];
  assert.deepEqual(manifestJson.find((e) => e.RepoTags[0] === name)?.Layers, diffIds.map((x) => `blobs/sha256/${x.slice(7)}`));
  d.ok(['rmi', name]);
  const load = d.ok(['load', '-i', tar]);
  assert.match(load, new RegExp(`Loaded image: ${name}`));
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}}', name]).trim(), img.configDigest);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name, 'cat', '/hello.txt']), 'from an OCI layer\n');
  // A loaded image can be pushed (its blob was kept) and the registry gets the same config.
  const pushed = d.ok(['push', name]);
  assert.match(pushed, /v1: digest: sha256:/);
  d.ok(['rmi', name]);
});

test('zstd layers (OCI) pull and run; a push keeps them zstd, under an OCI manifest; save writes them uncompressed', async () => {
  const repo = 'zstd/app';
  const img = await pushRawImage(reg.url, repo, 'v1', { tars: [busyboxLayer(), await fileLayer('z.txt', 'zstd layer\n')], oci: true, zstd: true, config: { Env: ['PATH=/bin'] } });
  const name = `${reg.addr}/${repo}:v1`;
  d.ok(['pull', name]);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name, 'cat', '/z.txt']), 'zstd layer\n');
  const copy = `${reg.addr}/zstd/copy:v1`;
  d.ok(['tag', name, copy]);
  d.ok(['push', copy]);
  const pushed = JSON.parse((await reg.fetch('/v2/zstd/copy/manifests/v1', { headers: { Accept: MT.ociManifest } })).body.toString()) as { mediaType: string; layers: { mediaType: string; digest: string }[] };
  const source = JSON.parse(img.manifest.toString()) as { layers: { digest: string }[] };
  assert.equal(pushed.mediaType, MT.ociManifest);
  // busybox's layer was here already (imported, kept gzip-compressed): that blob is sent; the
  // pulled zstd layer goes back byte for byte.
  assert.deepEqual(pushed.layers.map((l) => l.mediaType), [MT.ociGzipLayer, MT.ociZstdLayer]);
  assert.equal(pushed.layers[1]?.digest, source.layers[1]?.digest);
  const tar = join(d.dir, 'zstd-save.tar');
  d.ok(['save', '-o', tar, name]);
  d.ok(['rmi', name, copy]);
  assert.match(d.ok(['load', '-i', tar]), new RegExp(`Loaded image: ${name}`));
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name, 'cat', '/z.txt']), 'zstd layer\n');
  d.ok(['rmi', name]);
});

test('a blob whose bytes do not match its digest is refused, and nothing of the pull is registered', async () => {
  const repo = 'broken/blob';
  const layer = await randomLayer(32 * 1024);
  await pushRawImage(reg.url, repo, 'v1', { tars: [layer], gzip: true });
  const manifest = JSON.parse((await reg.fetch(`/v2/${repo}/manifests/v1`, { headers: { Accept: MT.dockerManifest } })).body.toString()) as { layers: { digest: string }[] };
  const data = reg.blobData(manifest.layers[0]?.digest as string);
  const bytes = readFileSync(data);
  bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0xff;
  writeFileSync(data, bytes);
  const before = { images: imageIds(), layers: layerRecords(), blobs: blobFiles() };
  const r = d.docker(['pull', `${reg.addr}/${repo}:v1`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`filesystem layer verification failed for digest ${manifest.layers[0]?.digest}`));
  assert.deepEqual({ images: imageIds(), layers: layerRecords(), blobs: blobFiles() }, before);
  assert.deepEqual(readdirSync(join(d.dataRoot, 'tmp')), []);
});

test('a download cut mid-blob resumes where it stopped (HTTP Range) and the pull succeeds', async () => {
  const repo = 'resume/big';
  const layer = await randomLayer(3 * 1024 * 1024);
  const img = await pushRawImage(reg.url, repo, 'v1', { tars: [busyboxLayer(), layer], gzip: true });
  const manifest = JSON.parse((await reg.fetch(`/v2/${repo}/manifests/v1`, { headers: { Accept: MT.dockerManifest } })).body.toString()) as { layers: { digest: string }[] };
  const blob = manifest.layers[1]?.digest as string;
  (proxy as RegistryProxy).requests.length = 0;
  (proxy as RegistryProxy).rules.push({ match: new RegExp(`/blobs/${blob}$`), method: 'GET', cutAfter: 1024 * 1024, once: true });
  const r = await viaProxy(['pull', `${(proxy as RegistryProxy).addr}/${repo}:v1`]);
  assert.equal(r.code, 0, r.stderr);
  const gets = (proxy as RegistryProxy).requests.filter((q) => q.path.endsWith(blob) && q.method === 'GET');
  assert.equal(gets.length, 2, JSON.stringify(gets));
  assert.match(gets[1]?.range ?? '', /^bytes=\d+-$/);
  assert.ok(Number(/=(\d+)-/.exec(gets[1]?.range ?? '')?.[1]) > 0);
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}}', `${(proxy as RegistryProxy).addr}/${repo}:v1`]).trim(), img.configDigest);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', `${(proxy as RegistryProxy).addr}/${repo}:v1`, 'sh', '-c', 'wc -c < /data/random.bin']).trim(), String(3 * 1024 * 1024));
  d.ok(['rmi', `${(proxy as RegistryProxy).addr}/${repo}:v1`]);
});

test("registries' refusals are clear messages naming the reference; a registry that does not answer fails in bounded time", async () => {
  let r: { code: number; stdout: string; stderr: string } = d.docker(['pull', `${reg.addr}/team/app:nope`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`manifest for ${reg.addr}/team/app:nope not found: manifest unknown: manifest unknown`));
  r = d.docker(['pull', `${reg.addr}/no/such/repo:1`]);
  assert.match(r.stderr, new RegExp(`(manifest for|repository) ${reg.addr}/no/such/repo(:1)? not found`));
  // Docker Hub is never contacted by the test daemons.
  r = d.docker(['pull', 'alpine:3']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /does not contact Docker Hub/);
  r = d.docker(['push', `${reg.addr}/never/tagged:1`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`An image does not exist locally with the tag: ${reg.addr}/never/tagged`));
  // Schema 1 manifests are refused by name.
  (proxy as RegistryProxy).rules.push({
    match: /\/manifests\/old$/,
    respond: (_req, res) => {
      const body = JSON.stringify({ schemaVersion: 1, name: 'legacy/img', tag: 'old', fsLayers: [], history: [] });
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    },
  });
  r = await viaProxy(['pull', `${(proxy as RegistryProxy).addr}/legacy/img:old`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /schema 1, which berth does not support/);
  // A registry that accepts connections and never answers: an error within the client's bound.
  (proxy as RegistryProxy).rules.push({ match: /\/manifests\/hang$/, respond: () => undefined });
  const t = Date.now();
  r = await viaProxy(['pull', `${(proxy as RegistryProxy).addr}/hangs/img:hang`], 60_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no answer from the registry within 5s/);
  assert.ok(Date.now() - t < 30_000);
  // Nothing listening: connection refused at once.
  r = d.docker(['pull', '127.0.0.1:1/nothing/here:1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /connection refused/);
});

test('docker pull, push and load draw progress bars on a terminal', async () => {
  const repo = 'bars/img';
  const name = `${(proxy as RegistryProxy).addr}/${repo}:v1`;
  const layer = await randomLayer(1024 * 1024);
  await pushRawImage(reg.url, repo, 'v1', { tars: [layer], gzip: true });
  const manifest = JSON.parse((await reg.fetch(`/v2/${repo}/manifests/v1`, { headers: { Accept: MT.dockerManifest } })).body.toString()) as { layers: { digest: string }[] };
  const blob = manifest.layers[0]?.digest as string;
  // Slow enough that several updates are drawn.
  (proxy as RegistryProxy).rules.push({ match: new RegExp(`/blobs/${blob}$`), method: 'GET', bytesPerSecond: 2 * 1024 * 1024, once: true });
  const pull = await pty(`pull ${name}`);
  assert.equal(pull.code, 0, pull.out);
  const id = blob.slice(7, 19);
  // The CLI redraws each layer's line in place (cursor movements) with bars from progressDetail.
  assert.match(pull.out, new RegExp(`${id}: Downloading \\[=*>\\s*\\]\\s+[\\d.]+[kM]B/1\\.0\\d*MB`));
  assert.match(pull.out, new RegExp(`${id}: Extracting \\[=*>\\s*\\]`));
  assert.match(pull.out, /\x1b\[\d*A/);
  assert.match(pull.out, new RegExp(`${id}: Pull complete`));
  // The same pull without a terminal prints status lines only (no bars).
  d.ok(['rmi', name]);
  const plain = (await viaProxy(['pull', name])).stdout;
  assert.doesNotMatch(plain, /\[=/);
  assert.match(plain, new RegExp(`${id}: Download complete`));
  // Push: "Pushing" bars.
  const pushName = `${reg.addr}/bars/pushed:v1`;
  d.ok(['tag', name, pushName]);
  const push = await pty(`push ${pushName}`);
  assert.equal(push.code, 0, push.out);
  assert.match(push.out, /: Pushing \[=*>\s*\]/);
  assert.match(push.out, /v1: digest: sha256:[0-9a-f]{64} size: \d+/);
  // Load: "Loading layer" bars (the CLI asks for them on a terminal).
  const tar = join(d.dir, 'bars.tar');
  d.ok(['save', '-o', tar, pushName]);
  d.ok(['rmi', name, pushName]);
  const load = await pty(`load -i ${tar}`);
  assert.equal(load.code, 0, load.out);
  assert.match(load.out, /Loading layer \[=*>\s*\]/);
  assert.match(load.out, new RegExp(`Loaded image: ${pushName}`));
  d.ok(['rmi', pushName]);
  assert.ok(!existsSync(join(d.dir, 'nothing')));
});

/** A docker command under a pseudo-terminal of 40x150 (util-linux `script`), not blocking this process. */
function pty(cmd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('script', ['-qec', `stty rows 40 cols 150; docker -H ${d.host} ${cmd}`, '/dev/null'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') },
    });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test('commit with --change, -m, -a: the image runs, shows in history, pushes and pulls into another daemon', async () => {
  d.ok(['run', '-d', '--name', 'to-commit', '--network', 'none', 'busybox', 'sh', '-c', 'echo committed > /greeting; rm /bin/vi; mkdir -p /data && echo x > /data/x; exec sleep 1000']);
  await waitForFile('to-commit', '/data/x');
  const id = d
    .ok(['commit', '-c', 'CMD ["cat", "/greeting"]', '-c', 'ENV STAGE=committed', '-c', 'EXPOSE 8080', '-c', 'LABEL team=ci', '-c', 'WORKDIR /data', '-c', 'HEALTHCHECK --interval=5s --retries=2 CMD true', '-m', 'a message', '-a', 'An Author', 'to-commit', `${reg.addr}/commits/app:1`])
    .trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  // --pause (the default) left the running container running, not paused.
  assert.equal(d.ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'to-commit']).trim(), 'running false');
  const name = `${reg.addr}/commits/app:1`;
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name]), 'committed\n');
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name, 'sh', '-c', 'pwd; echo $STAGE; test -e /bin/vi || echo vi-gone']), '/data\ncommitted\nvi-gone\n');
  const cfg = JSON.parse(d.ok(['image', 'inspect', '-f', '{{json .}}', name])) as {
    Author: string;
    Comment: string;
    Config: { ExposedPorts: Record<string, unknown>; Labels: Record<string, string>; Healthcheck: { Test: string[]; Interval: number; Retries: number } };
  };
  assert.equal(cfg.Author, 'An Author');
  assert.equal(cfg.Comment, 'a message');
  assert.deepEqual(Object.keys(cfg.Config.ExposedPorts), ['8080/tcp']);
  assert.equal(cfg.Config.Labels['team'], 'ci');
  assert.deepEqual(cfg.Config.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5_000_000_000, Retries: 2 });
  const history = d.ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', name]).trim().split('\n');
  assert.match(history[0] as string, /^sh -c echo committed > \/greeting.*\|a message$/);
  // A user's pause is the user's: commit leaves it paused.
  d.ok(['pause', 'to-commit']);
  d.ok(['commit', 'to-commit', `${reg.addr}/commits/app:paused`]);
  assert.equal(d.ok(['inspect', '-f', '{{.State.Paused}}', 'to-commit']).trim(), 'true');
  d.ok(['unpause', 'to-commit']);
  // Changes are Dockerfile lines: $VAR comes from the Env as the changes before left it; an
  // ENTRYPOINT drops the inherited CMD.
  d.ok(['commit', '-c', 'ENV A=one', '-c', 'ENV B=${A}-two', '-c', 'LABEL c="$B three"', '-c', 'ENTRYPOINT ["env"]', 'to-commit', 'commit-subst:1']);
  const sub = JSON.parse(d.ok(['image', 'inspect', '-f', '{{json .Config}}', 'commit-subst:1'])) as { Env: string[]; Cmd: unknown; Labels: Record<string, string> };
  assert.ok(sub.Env.includes('B=one-two'), sub.Env.join(' '));
  assert.equal(sub.Labels['c'], 'one-two three');
  assert.equal(sub.Cmd ?? null, null, 'no CMD');
  assert.match(d.ok(['run', '--rm', '--network', 'none', 'commit-subst:1']), /^B=one-two$/m);
  d.ok(['rmi', 'commit-subst:1']);
  d.ok(['rm', '-f', 'to-commit']);
  // Pushed, then pulled by a daemon that has none of its layers.
  assert.match(d.ok(['push', name]), /1: digest: sha256:/);
  const other = await startDaemon({ busybox: false });
  try {
    assert.match(other.ok(['pull', name]), /Pull complete/);
    assert.equal(other.ok(['run', '--rm', '--network', 'none', name]), 'committed\n');
    assert.equal(other.ok(['image', 'inspect', '-f', '{{.Id}}', name]).trim(), id);
  } finally {
    const { leftovers } = await other.cleanup();
    assert.deepEqual(leftovers, []);
  }
  d.ok(['rmi', name, `${reg.addr}/commits/app:paused`]);
});

async function waitForFile(container: string, path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (d.docker(['exec', container, 'test', '-e', path]).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} never appeared in ${container}`);
}

test('registry-mirrors serve Docker Hub names (Docker Hub itself stays out of reach here)', async () => {
  const img = await pushRawImage(reg.url, 'library/mirrored', '1', { tars: [busyboxLayer()], gzip: true });
  writeFileSync(d.configFile, JSON.stringify({ 'registry-mirrors': [reg.url] }));
  process.kill(d.proc?.pid as number, 'SIGHUP');
  await waitForInfo((info) => info.includes(reg.url));
  const r = d.ok(['pull', 'mirrored:1']);
  assert.match(r, /Status: Downloaded newer image for mirrored:1/);
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}} {{json .RepoTags}}', 'mirrored:1']).trim(), `${img.configDigest} ["mirrored:1"]`);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', 'mirrored:1', 'echo', 'via the mirror']), 'via the mirror\n');
  d.ok(['rmi', 'mirrored:1']);
  writeFileSync(d.configFile, '{}');
  process.kill(d.proc?.pid as number, 'SIGHUP');
  await waitForInfo((info) => !info.includes(reg.url));
  assert.match(d.fails(['pull', 'mirrored:1']), /does not contact Docker Hub/);
});

async function waitForInfo(ok: (mirrors: string) => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (ok(d.ok(['info', '--format', '{{json .RegistryConfig.Mirrors}}']))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the reload did not apply');
}

test('a layer stored before berth kept blobs: the image runs, but push and save refuse it by name; prune keeps pulled-by-digest images', async () => {
  const tar = join(d.dir, 'legacy.tar');
  writeFileSync(tar, await fileLayer('legacy.txt', 'old\n'));
  const name = `${reg.addr}/legacy/app:1`;
  d.ok(['import', tar, name]);
  const diffId = (JSON.parse(d.ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', name])) as string[])[0] as string;
  await d.stop();
  // What an earlier berth wrote: the record without the blob and the tar's length.
  const layers = join(d.dataRoot, 'image', 'overlay2', 'layers');
  const file = join(layers, `${diffId.slice(7)}.json`);
  const rec = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  delete rec['blob'];
  delete rec['tarSize'];
  writeFileSync(file, JSON.stringify(rec));
  await d.start();
  const push = d.fails(['push', name]);
  assert.match(push, new RegExp(`image ${name} \\([0-9a-f]{12}\\) cannot be pushed: its layer ${diffId} was stored by an earlier berth`));
  assert.match(d.fails(['save', '-o', join(d.dir, 'legacy-save.tar'), name]), /cannot be saved: its layer .* earlier berth/);
  assert.equal((await reg.fetch('/v2/legacy/app/manifests/1')).status, 404);
  d.ok(['rmi', name]);
  // Dangling means no tag and no digest: an image pulled by digest survives `image prune`.
  const img = await pushRawImage(reg.url, 'prune/kept', 'v1', { tars: [await fileLayer('p', 'p')], gzip: true });
  d.ok(['pull', `${reg.addr}/prune/kept@${img.manifestDigest}`]);
  d.ok(['image', 'prune', '-f']);
  assert.equal(d.docker(['image', 'inspect', `${reg.addr}/prune/kept@${img.manifestDigest}`]).code, 0);
  assert.doesNotMatch(d.ok(['images', '--filter', 'dangling=true', '-q', '--no-trunc']), new RegExp(img.configDigest));
  const pruned = d.ok(['image', 'prune', '-a', '-f']);
  assert.match(pruned, new RegExp(`deleted: ${img.configDigest}`));
});

test('a push or save whose layer blob has gone from disk fails with an error and berthd goes on; with the blob back it pushes', async () => {
  const before = new Set(blobFiles());
  const tarFile = join(d.dir, 'gone-blob.tar');
  writeFileSync(tarFile, await randomLayer(64 * 1024));
  const name = `${reg.addr}/gone/blob`;
  d.ok(['import', tarFile, `${name}:1`]);
  const added = blobFiles().filter((f) => !before.has(f));
  assert.equal(added.length, 1, `the import kept one blob: ${JSON.stringify(added)}`);
  const blob = join(d.dataRoot, 'image', 'overlay2', 'blobs', 'sha256', added[0] as string);
  renameSync(blob, `${blob}.away`);
  try {
    const r = d.docker(['push', `${name}:1`]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr + r.stdout, /no such file or directory|ENOENT/i);
    assert.ok(await d.ping(), `berthd stopped answering: ${readFileSync(d.logFile, 'utf8').slice(-2000)}`);
    // docker save of it, too: the archive is cut short (the CLI fails), berthd goes on.
    const saved = d.docker(['save', '-o', join(d.dir, 'gone-blob-save.tar'), `${name}:1`]);
    assert.notEqual(saved.code, 0, saved.stdout);
    assert.ok(await d.ping(), `berthd stopped answering after save: ${readFileSync(d.logFile, 'utf8').slice(-2000)}`);
    // A blob there but damaged: save fails in the middle of its archive, berthd goes on.
    writeFileSync(blob, randomBytes(4096));
    const damaged = d.docker(['save', '-o', join(d.dir, 'damaged-blob-save.tar'), `${name}:1`]);
    assert.notEqual(damaged.code, 0, damaged.stdout);
    assert.ok(await d.ping(), `berthd stopped answering after a save cut short: ${readFileSync(d.logFile, 'utf8').slice(-2000)}`);
    rmSync(blob);
  } finally {
    renameSync(`${blob}.away`, blob);
  }
  assert.match(d.ok(['push', `${name}:1`]), /^1: digest: sha256:/m);
  d.ok(['rmi', `${name}:1`]);
});
