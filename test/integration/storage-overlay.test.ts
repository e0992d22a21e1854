import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { OverlayDriver } from '../../src/storage/drivers/overlay.js';
import { LayerStore } from '../../src/storage/layer-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { makeTar } from '../helpers/tars.js';
import { mountsUnder, storageSuite } from './storage-suite.js';
import { testTmpDir } from '../helpers/paths.js';

storageSuite('overlay2', {
  make: (root) => new OverlayDriver(root),
  mounts: true,
  writableDir: (root, id) => join(root, 'containers', id, 'upper'),
});

/** A scratch directory that is unmounted and removed whatever happens. */
async function scratch(fn: (base: string) => Promise<void>): Promise<void> {
  const base = testTmpDir('bt-ovl-');
  try {
    await fn(base);
  } finally {
    for (const m of mountsUnder(base).reverse()) spawnSync('umount', ['-l', m]);
    rmSync(base, { recursive: true, force: true });
  }
}

function xattr(path: string, name: string): string | undefined {
  const r = spawnSync('getfattr', ['-h', '--only-values', '-n', name, path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

describe('overlay2 specifics', () => {
  it('stores OCI whiteouts as overlay whiteouts: 0/0 character devices and opaque directories', async () => {
    await scratch(async (base) => {
      const driver = new OverlayDriver(join(base, 'driver'));
      await driver.init();
      const layers = new LayerStore(join(base, 'layers'), driver, silentLogger(), join(base, 'blobs'));
      await layers.init();
      const lower = await layers.apply(Readable.from([await makeTar([{ name: 'd/f', data: 'x' }, { name: 'g', data: 'y' }])]), undefined);
      const upper = await layers.apply(
        Readable.from([await makeTar([{ name: 'd/.wh..wh..opq', data: '' }, { name: 'd/n', data: 'n' }, { name: '.wh.g', data: '' }])]),
        lower.chainId,
      );
      const diff = join(base, 'driver', upper.cacheId, 'diff');
      assert.deepEqual(readdirSync(diff).sort(), ['d', 'g']);
      const g = lstatSync(join(diff, 'g'));
      assert.ok(g.isCharacterDevice());
      assert.equal(g.rdev, 0);
      assert.equal(xattr(join(diff, 'd'), 'trusted.overlay.opaque'), 'y');
      assert.deepEqual(readdirSync(join(diff, 'd')), ['n']);
      // Each layer is linked under l/ by a short name, relative, so the tree can move.
      const links = readdirSync(join(base, 'driver', 'l'));
      assert.equal(links.length, 2);
      for (const l of links) {
        assert.equal(l.length, 26);
        assert.match(readlinkSync(join(base, 'driver', 'l', l)), /^\.\.\/[0-9a-f]{64}\/diff$/);
      }
    });
  });

  it('mounts an image of 125 layers (the lower list fits in one page thanks to the short links)', async () => {
    await scratch(async (base) => {
      const driver = new OverlayDriver(join(base, 'driver'));
      await driver.init();
      const layers = new LayerStore(join(base, 'layers'), driver, silentLogger(), join(base, 'blobs'));
      await layers.init();
      let parent: string | undefined;
      for (let i = 0; i < 125; i++) {
        parent = (await layers.apply(Readable.from([await makeTar([{ name: `f${i}`, data: String(i) }])]), parent)).chainId;
      }
      assert.ok(parent);
      const chain = layers.chain(parent).map((l) => l.cacheId);
      await driver.createContainerLayer('c'.repeat(64), chain[124] as string, chain);
      const { path } = await driver.mount('c'.repeat(64), chain);
      assert.equal(readdirSync(path).length, 125);
      await driver.removeContainerLayer('c'.repeat(64));
      assert.deepEqual(mountsUnder(base), []);
    });
  });

  it('refuses to start with a clear error where overlay cannot work (data root on overlayfs), leaving nothing behind', async () => {
    await scratch(async (base) => {
      for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(base, d));
      const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`, `${base}/merged`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const root = join(base, 'merged', 'overlay2');
      const driver = new OverlayDriver(root);
      await assert.rejects(driver.init(), /the overlay2 storage driver does not work on this machine \(.* is on overlay\).*use --storage-driver vfs/);
      assert.deepEqual(mountsUnder(base), [join(base, 'merged')]);
      assert.deepEqual(readdirSync(root).sort(), ['containers', 'l']);
    });
  });
});
