import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTarball } from '../helpers/paths.js';
import { dockerSaveArchive, imageConfig, makeTar, ociArchive, sha256, type ArchiveImage } from '../helpers/tars.js';

let d: TestDaemon;
let scratch: string;
let busybox: Buffer;

daemonForFile((x) => (d = x));

before(() => {
  scratch = mkdtempSync('/tmp/bt-load-');
  busybox = readFileSync(busyboxTarball());
});

after(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
function save(archive: Buffer): string {
  const path = join(scratch, `archive-${n++}.tar`);
  writeFileSync(path, archive);
  return path;
}

const layerTar = (name: string, data: string) => makeTar([{ name, data, mode: 0o644 }]);

/** What is stored: layer records and the layer directories of the storage driver. */
function stored(): { records: string[]; dirs: string[]; tmp: string[] } {
  const records = readdirSync(join(d.dataRoot, 'image', 'overlay2', 'layers')).filter((f) => f.endsWith('.json'));
  const dirs = readdirSync(d.storageRoot).filter((f) => /^[0-9a-f]{64}$/.test(f));
  const tmpDir = join(d.dataRoot, 'tmp');
  return { records: records.sort(), dirs: dirs.sort(), tmp: existsSync(tmpDir) ? readdirSync(tmpDir) : [] };
}

function imageNames(): string[] {
  return d.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']).stdout.trim().split('\n').sort();
}

function inspect(ref: string): { Id: string; RepoTags: string[]; RootFS: { Layers: string[] }; Config: Record<string, unknown> } {
  const r = d.docker(['image', 'inspect', ref]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout)[0];
}

test('docker load of a docker save archive (old layout): the image runs and keeps its config bytes as its ID', async () => {
  const img: ArchiveImage = { layers: [busybox, await layerTar('etc/motd', 'from the archive\n')], repoTags: ['saved/bb:v1'] };
  const r = d.docker(['load', '-i', save(await dockerSaveArchive([img], 'legacy'))]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Loaded image: saved/bb:v1\n');
  const info = inspect('saved/bb:v1');
  assert.equal(info.Id, imageConfig(img).id);
  assert.deepEqual(info.RootFS.Layers, img.layers.map((l) => sha256(l)));
  const run = d.docker(['run', '--rm', 'saved/bb:v1', 'cat', '/etc/motd']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'from the archive\n');
});

test('docker load of a Docker 25+ archive (blobs, gzipped layers, two tags), from stdin and quiet', async () => {
  const img: ArchiveImage = { layers: [busybox, await layerTar('hello', 'gz')], gzip: true, repoTags: ['blobs:1', 'localhost:5000/team/blobs:2'] };
  const archive = await dockerSaveArchive([img], 'blobs');
  const r = spawnSync('docker', ['-H', d.host, 'load', '-q'], { input: archive, encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config') } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'Loaded image: blobs:1\nLoaded image: localhost:5000/team/blobs:2\n');
  assert.equal(inspect('localhost:5000/team/blobs:2').Id, imageConfig(img).id);
  assert.equal(d.docker(['run', '--rm', 'blobs:1', 'cat', '/hello']).stdout, 'gz');
});

test('docker load of an OCI image layout: named by ref.name, untagged when ref.name is a bare tag', async () => {
  const named = { layers: [busybox, await layerTar('oci', 'named')], refName: 'oci/app:3', config: { Labels: { from: 'oci' } } };
  const bare = { layers: [busybox, await layerTar('oci', 'bare')], refName: 'latest', gzip: true };
  const r = d.docker(['load', '-i', save(await ociArchive([named, bare]))]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Loaded image: oci/app:3\nLoaded image ID: ${imageConfig(bare).id}\n`);
  assert.equal(inspect('oci/app:3').Id, imageConfig(named).id);
  assert.deepEqual(inspect(imageConfig(bare).id).RepoTags, []);
  assert.equal(d.docker(['run', '--rm', 'oci/app:3', 'cat', '/oci']).stdout, 'named');
  assert.equal(d.docker(['rmi', imageConfig(bare).id]).code, 0);
});

test('two images sharing a base layer store it once, and it stays until the last one goes', async () => {
  const base = await makeTar([{ name: 'base.txt', data: 'shared base' }]);
  const a = { layers: [base, await layerTar('a.txt', 'a')], repoTags: ['share/a:1'] };
  const b = { layers: [base, await layerTar('b.txt', 'b')], repoTags: ['share/b:1'] };
  const before = stored();
  assert.equal(d.docker(['load', '-i', save(await dockerSaveArchive([a]))]).code, 0);
  const afterA = stored();
  assert.equal(afterA.records.length, before.records.length + 2);
  assert.equal(d.docker(['load', '-i', save(await dockerSaveArchive([b], 'blobs'))]).code, 0);
  const afterB = stored();
  assert.equal(afterB.records.length, before.records.length + 3, 'the base layer is stored once');
  assert.equal(afterB.dirs.length, before.dirs.length + 3);
  assert.equal(inspect('share/a:1').RootFS.Layers[0], inspect('share/b:1').RootFS.Layers[0]);
  // The base record is the diff id itself (a base layer's chain id).
  assert.ok(afterB.records.includes(`${sha256(base).slice(7)}.json`));

  let r = d.docker(['rmi', 'share/a:1']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes(`Deleted: ${sha256(base)}`), 'the shared base stays');
  assert.equal(stored().records.length, before.records.length + 2);
  r = d.docker(['rmi', 'share/b:1']);
  assert.match(r.stdout, new RegExp(`Deleted: ${sha256(base)}`));
  assert.deepEqual(stored(), before);
});

test('loading the same archive twice changes nothing; a name moved to another image says so', async () => {
  const one = { layers: [busybox], repoTags: ['again:1'], created: '2020-01-01T00:00:00Z' };
  const archive = save(await dockerSaveArchive([one]));
  assert.equal(d.docker(['load', '-i', archive]).code, 0);
  const s = stored();
  const r = d.docker(['load', '-i', archive]);
  assert.equal(r.stdout, 'Loaded image: again:1\n');
  assert.deepEqual(stored(), s);
  const two = { ...one, created: '2021-01-01T00:00:00Z' };
  const moved = d.docker(['load', '-i', save(await dockerSaveArchive([two]))]);
  assert.equal(
    moved.stdout,
    `The image again:1 already exists, renaming the old one with ID ${imageConfig(one).id} to empty string\nLoaded image: again:1\n`,
  );
  assert.deepEqual(inspect(imageConfig(one).id).RepoTags, []);
  assert.equal(d.docker(['rmi', imageConfig(one).id]).code, 0);
  assert.equal(d.docker(['rmi', 'again:1']).code, 0);
});

test('bad archives are refused with a 400 and a clear message, leaving nothing behind', async () => {
  const fresh = await makeTar([{ name: 'fresh.txt', data: 'never seen before' }]);
  const good = { layers: [fresh, await layerTar('x', 'x')], repoTags: ['bad:good'] };
  const blobsArchive = async (mutate: (files: Map<string, Buffer>) => void) => {
    const files = new Map<string, Buffer>();
    const archive = await dockerSaveArchive([good], 'blobs');
    // Rebuild the archive with one file changed.
    const { default: tar } = await import('tar-stream');
    const ex = tar.extract();
    const done = new Promise<void>((resolve, reject) => {
      ex.on('entry', (h, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => chunks.push(c as Buffer));
        stream.on('end', () => {
          files.set(h.name, Buffer.concat(chunks));
          next();
        });
      });
      ex.on('finish', resolve);
      ex.on('error', reject);
    });
    ex.end(archive);
    await done;
    mutate(files);
    return makeTar([...files].map(([name, data]) => ({ name, data })));
  };
  const manifestWith = (layers: string[]) => (files: Map<string, Buffer>) => {
    const m = JSON.parse(String(files.get('manifest.json')));
    m[0].Layers = layers;
    files.set('manifest.json', Buffer.from(JSON.stringify(m)));
  };
  const configPath = `blobs/sha256/${imageConfig(good).id.slice(7)}`;
  const cases: [string, Buffer, RegExp][] = [
    ['a layer whose content does not match the config', await dockerSaveArchive([{ ...good, diffIds: [sha256(fresh), sha256('lie')] }]), /invalid diffID for layer: expected "sha256:[0-9a-f]+", got/],
    ['a config whose digest does not match its name', await blobsArchive((f) => f.set(configPath, Buffer.from(String(f.get(configPath)).replace('amd64', 'arm64')))), /image config .* has digest sha256:[0-9a-f]+, expected sha256:/],
    ['a layer blob whose digest does not match', await blobsArchive((f) => {
      const m = JSON.parse(String(f.get('manifest.json')));
      f.set(m[0].Layers[1], Buffer.concat([f.get(m[0].Layers[1]) as Buffer, Buffer.alloc(1024)]));
    }), /has digest sha256:[0-9a-f]+, expected sha256:/],
    ['a layer path escaping the archive', await blobsArchive(manifestWith(['../../../../etc/passwd', 'x'])), /layer path "..\/..\/..\/..\/etc\/passwd" escapes the archive/],
    ['a missing layer file', await blobsArchive(manifestWith([`blobs/sha256/${'0'.repeat(64)}`, 'nope/layer.tar'])), /layer blobs\/sha256\/0+ is missing/],
    ['a missing manifest', await makeTar([{ name: 'hello.txt', data: 'x' }]), /neither a manifest.json \(docker save\) nor an index.json/],
    ['a pre-1.10 archive', await makeTar([{ name: 'repositories', data: '{}' }]), /pre-1.10 docker save format/],
    ['an untagged RepoTags entry', await dockerSaveArchive([{ ...good, repoTags: ['notag@sha256:' + 'a'.repeat(64)] }]), /invalid tag/],
    ['a second image with a bad layer (the first is not kept either)', await dockerSaveArchive([good, { layers: [fresh, await layerTar('y', 'y')], diffIds: [sha256(fresh), sha256('lie')], repoTags: ['bad:second'] }]), /invalid diffID/],
    ['garbage', Buffer.alloc(3000, 7), /invalid tar archive|neither a manifest/],
  ];
  const before = stored();
  const names = imageNames();
  for (const [what, archive, message] of cases) {
    const api = await d.api('POST', '/images/load?quiet=1', archive, { 'Content-Type': 'application/x-tar' });
    // As dockerd: 200, and the failure as the JSON stream's last message (clients raise it).
    assert.equal(api.status, 200, `${what}: ${api.text}`);
    const last = JSON.parse(api.text.trim().split('\n').pop() as string) as { error: string; errorDetail: { message: string } };
    assert.match(last.errorDetail.message, message, what);
    assert.equal(last.error, last.errorDetail.message, what);
    const cli = d.docker(['load', '-i', save(archive)]);
    assert.equal(cli.code, 1, what);
    assert.match(cli.stderr, message, what);
    assert.deepEqual(stored(), before, `${what}: nothing is left behind`);
    assert.deepEqual(imageNames(), names, what);
  }
  // The good archive itself loads, so the failures above were about what they changed.
  assert.equal(d.docker(['load', '-i', save(await dockerSaveArchive([good], 'blobs'))]).code, 0);
  assert.equal(d.docker(['rmi', 'bad:good']).code, 0);
  assert.deepEqual(stored(), before);
});
