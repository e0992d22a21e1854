import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { daemonForFile, sleep, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { registryForFile, type TestRegistry } from '../helpers/registry.js';
import { MT, RegistryProxy, pushRawImage, randomLayer } from '../helpers/registry-content.js';
import { busyboxTarball } from '../helpers/paths.js';

/*
 * kill -9 of berthd in the middle of a pull, a push and a `commit --pause`: after the
 * restart nothing half-made is registered, the operation can be run again, and a container
 * the commit had frozen runs again (a user's pause is kept). Everything here talks to the
 * daemon over HTTP, never through a blocking CLI call while a transfer runs: the throttling
 * proxy lives in this process.
 */

let d: TestDaemon;
let reg: TestRegistry;
let proxy: RegistryProxy | undefined;
daemonForFile((x) => (d = x), { liveRestore: true });
registryForFile(async (x) => {
  reg = x;
  proxy = new RegistryProxy(reg.url);
  await proxy.start();
});
after(async () => {
  await proxy?.stop();
});
const t0 = Date.now();
after(() => console.log(`registry-crash.test: ${((Date.now() - t0) / 1000).toFixed(1)} s`));

type Snapshot = { images: string[]; layers: string[]; blobs: string[] };

async function snapshot(): Promise<Snapshot> {
  const images = ((await d.api('GET', '/images/json')).json() as { Id: string }[]).map((i) => i.Id).sort();
  const root = join(d.dataRoot, 'image', 'overlay2');
  return {
    images,
    layers: readdirSync(join(root, 'layers')).filter((n) => n.endsWith('.json')).sort(),
    blobs: readdirSync(join(root, 'blobs', 'sha256')).sort(),
  };
}

/** A request that is expected to die with the daemon. */
function doomed(method: string, path: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve) => {
    const r = request({ socketPath: d.sock, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
      res.on('error', () => resolve(`${text}<cut>`));
      res.on('aborted', () => resolve(`${text}<cut>`));
    });
    r.on('error', () => resolve('<error>'));
    r.end();
  });
}

async function killAndRestart(): Promise<void> {
  await d.kill();
  await d.start();
}

test('kill -9 in the middle of a pull: no partial image or layer after the restart, and the pull runs again', async () => {
  const p = proxy as RegistryProxy;
  const repo = 'crash/pull';
  await pushRawImage(reg.url, repo, 'v1', { tars: [readFileSync(busyboxTarball()), await randomLayer(6 * 1024 * 1024)], gzip: true });
  const manifest = JSON.parse((await reg.fetch(`/v2/${repo}/manifests/v1`, { headers: { Accept: MT.dockerManifest } })).body.toString()) as { layers: { digest: string }[] };
  const big = manifest.layers[1]?.digest as string;
  const before = await snapshot();
  p.requests.length = 0;
  p.rules.push({ match: new RegExp(`/blobs/${big}$`), method: 'GET', bytesPerSecond: 1024 * 1024, once: true });
  const name = `${p.addr}/${repo}:v1`;
  const pull = doomed('POST', `/images/create?fromImage=${encodeURIComponent(name)}`);
  await waitFor('the big blob downloading', () => p.requests.some((q) => q.path.endsWith(big)), 30_000, 20);
  await sleep(1500);
  await killAndRestart();
  assert.match(await pull, /Downloading[\s\S]*<cut>$|<error>|<cut>$/);
  assert.deepEqual(await snapshot(), before);
  assert.deepEqual(readdirSync(join(d.dataRoot, 'tmp')), []);
  const again = await d.api('POST', `/images/create?fromImage=${encodeURIComponent(name)}`);
  assert.equal(again.status, 200);
  assert.match(again.text, /Status: Downloaded newer image for/);
  assert.equal((await d.api('GET', `/images/${encodeURIComponent(name)}/json`)).status, 200);
  assert.equal((await d.api('DELETE', `/images/${encodeURIComponent(name)}`)).status, 200);
  assert.deepEqual(await snapshot(), before);
});

test('kill -9 in the middle of a push: nothing new registered here, no tag in the registry; the push runs again', async () => {
  const p = proxy as RegistryProxy;
  const layer = join(d.dir, 'push-layer.tar');
  writeFileSync(layer, await randomLayer(6 * 1024 * 1024));
  const name = `${p.addr}/crash/push:v1`;
  const imp = await d.api('POST', `/images/create?fromSrc=-&repo=${encodeURIComponent(name)}`, readFileSync(layer), { 'Content-Type': 'application/x-tar' });
  assert.equal(imp.status, 200, imp.text);
  const before = await snapshot();
  p.requests.length = 0;
  p.rules.push({ match: /\/blobs\/uploads\//, method: 'PATCH', uploadBytesPerSecond: 1024 * 1024, once: true });
  const push = doomed('POST', `/images/${encodeURIComponent(name)}/push`, { 'X-Registry-Auth': 'e30=' });
  await waitFor('the upload under way', () => p.requests.some((q) => q.method === 'PATCH'), 30_000, 20);
  await sleep(1500);
  await killAndRestart();
  assert.match(await push, /Pushing|<cut>|<error>/);
  assert.deepEqual(await snapshot(), before);
  assert.equal((await reg.fetch('/v2/crash/push/manifests/v1', { headers: { Accept: MT.dockerManifest } })).status, 404);
  const again = await d.api('POST', `/images/${encodeURIComponent(name)}/push`, undefined, { 'X-Registry-Auth': 'e30=' });
  assert.equal(again.status, 200);
  assert.match(again.text, /v1: digest: sha256:/);
  assert.equal((await reg.fetch('/v2/crash/push/manifests/v1', { headers: { Accept: MT.dockerManifest } })).status, 200);
});

test('kill -9 during commit --pause: the container runs again, unfrozen, no image made; a user\'s pause is kept', async () => {
  const create = (name: string, cmd: string[]) => d.api('POST', `/containers/create?name=${name}`, { Image: 'busybox', Cmd: cmd, HostConfig: { NetworkMode: 'none' } });
  assert.equal((await create('busy', ['sh', '-c', 'head -c 64000000 /dev/urandom > /big; touch /ready; exec sleep 1000'])).status, 201);
  assert.equal((await d.api('POST', '/containers/busy/start')).status, 204);
  assert.equal((await create('held', ['sleep', '1000'])).status, 201);
  assert.equal((await d.api('POST', '/containers/held/start')).status, 204);
  assert.equal((await d.api('POST', '/containers/held/pause')).status, 204);
  const merged = join(d.storageRoot, 'containers');
  await waitFor('the container\'s big file', () => readdirSync(merged).some((id) => existsSync(join(merged, id, 'upper', 'ready'))), 60_000, 100);
  const before = await snapshot();
  const commit = doomed('POST', '/commit?container=busy&repo=crash/commit&pause=1');
  await waitFor('the commit pausing the container', async () => {
    const st = (await d.api('GET', '/containers/busy/json')).json() as { State: { Paused: boolean } };
    return st.State.Paused;
  }, 30_000, 10);
  await killAndRestart();
  await commit;
  const state = (name: string) => d.api('GET', `/containers/${name}/json`).then((r) => (r.json() as { State: { Status: string; Paused: boolean } }).State);
  assert.deepEqual(await state('busy'), { ...(await state('busy')), Status: 'running', Paused: false });
  // Really thawed: a process starts in it and answers.
  const exec = d.docker(['exec', 'busy', 'echo', 'thawed'], { timeoutMs: 20_000 });
  assert.equal(exec.stdout, 'thawed\n', exec.stderr);
  const held = await state('held');
  assert.equal(held.Paused, true);
  assert.deepEqual(await snapshot(), before);
  // The commit can be made again.
  const again = await d.api('POST', '/commit?container=busy&repo=crash/commit');
  assert.equal(again.status, 201, again.text);
  d.removeAllContainersAndVolumes();
});
