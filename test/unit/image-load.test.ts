import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readArchive } from '../../src/images/load.js';
import { imageConfig, makeTar, sha256 } from '../helpers/tars.js';

/** An unpacked archive: files by path, written under a fresh directory. */
async function withArchive(files: Record<string, Buffer | string>, fn: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'berth-load-'));
  try {
    for (const [path, data] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), data);
    }
    await fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const blob = (b: Buffer | string) => `blobs/sha256/${sha256(b).slice(7)}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('reading docker load archives', () => {
  it('follows docker save symlinks for repeated layers, but never out of the archive', async () => {
    const layer = await makeTar([{ name: 'f', data: 'x' }]);
    const { raw, id } = imageConfig({ layers: [layer, layer] });
    const manifest = [{ Config: `${id.slice(7)}.json`, RepoTags: ['a:1'], Layers: ['one/layer.tar', 'two/layer.tar'] }];
    await withArchive({ 'manifest.json': json(manifest), [`${id.slice(7)}.json`]: raw, 'one/layer.tar': layer }, async (root) => {
      mkdirSync(join(root, 'two'));
      symlinkSync('../one/layer.tar', join(root, 'two/layer.tar'));
      const [img] = await readArchive(root);
      assert.equal(img?.id, id);
      assert.deepEqual(img?.refs, ['docker.io/library/a:1']);
      assert.equal(img?.layers[1]?.path, join(root, 'one/layer.tar'));
      // An absolute link is resolved inside the archive, where nothing matches it.
      rmSync(join(root, 'two/layer.tar'));
      symlinkSync('/etc/passwd', join(root, 'two/layer.tar'));
      await assert.rejects(readArchive(root), /layer two\/layer.tar is missing/);
    });
  });

  it('picks this platform from a multi-platform OCI index and checks sizes', async () => {
    const layer = await makeTar([{ name: 'f', data: 'x' }]);
    const { raw, id } = imageConfig({ layers: [layer] });
    const manifest = json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(raw), size: raw.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    });
    const other = json({ schemaVersion: 2, config: { digest: sha256('nope') }, layers: [] });
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const index = (platforms: string[]) =>
      json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(other), size: other.length, platform: { os: 'linux', architecture: platforms[0] } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, platform: { os: 'linux', architecture: platforms[1] } },
        ],
      });
    const files = (nested: Buffer, size: number) => ({
      'index.json': json({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(nested), size, annotations: { 'io.containerd.image.name': 'docker.io/me/multi:2' } }] }),
      [blob(nested)]: nested,
      [blob(manifest)]: manifest,
      [blob(other)]: other,
      [blob(raw)]: raw,
      [blob(layer)]: layer,
    });
    const good = index(['s390x-not-us', arch]);
    await withArchive(files(good, good.length), async (root) => {
      const [img] = await readArchive(root);
      assert.equal(img?.id, id);
      assert.deepEqual(img?.refs, ['docker.io/me/multi:2']);
    });
    await withArchive(files(good, good.length + 1), async (root) => {
      await assert.rejects(readArchive(root), /has \d+ bytes, expected \d+/);
    });
    const none = index(['s390x-not-us', 'mips-not-us']);
    await withArchive(files(none, none.length), async (root) => {
      await assert.rejects(readArchive(root), new RegExp(`no image for linux/${arch}`));
    });
  });

  it('refuses a config whose layer count does not match, and non-Linux images', async () => {
    const layer = await makeTar([{ name: 'f', data: 'x' }]);
    const { raw, id } = imageConfig({ layers: [layer, layer] });
    const entry = { Config: blob(raw), RepoTags: null, Layers: [blob(layer)] };
    await withArchive({ 'manifest.json': json([entry]), [blob(raw)]: raw, [blob(layer)]: layer }, async (root) => {
      await assert.rejects(readArchive(root), /invalid manifest, layers length mismatch: expected 2, got 1/);
    });
    const win = Buffer.from(String(raw).replace('"os": "linux"', '"os": "windows"'));
    assert.notEqual(sha256(win), id);
    await withArchive({ 'manifest.json': json([{ ...entry, Config: blob(win), Layers: [blob(layer), blob(layer)] }]), [blob(win)]: win, [blob(layer)]: layer }, async (root) => {
      await assert.rejects(readArchive(root), /image operating system "windows" cannot be used on this platform/);
    });
  });
});
