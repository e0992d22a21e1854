import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { StorageDriver } from '../../src/engine/ports.js';
import { LayerStore } from '../../src/storage/layer-store.js';
import { BerthError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { makeTar, sha256, type TarEntry } from '../helpers/tars.js';
import { testTmpDir } from '../helpers/paths.js';

/**
 * One suite for every storage driver (containerd's snapshotter test suite is the model):
 * layers with whiteouts and opaque directories, a container layer on top, real mounts, and
 * what a restarted daemon finds. Each driver's test file runs it with its own fixture.
 */
export type DriverFixture = {
  make(root: string): StorageDriver;
  /** Whether mount() makes a kernel mount (overlay) or hands back a directory (vfs). */
  mounts: boolean;
  /** Where a container's own writes are stored. */
  writableDir(root: string, containerId: string): string;
};

type Store = { base: string; root: string; driver: StorageDriver; layers: LayerStore };

const dir = (name: string): TarEntry => ({ name, type: 'directory', mode: 0o755 });
const file = (name: string, data: string): TarEntry => ({ name, data, mode: 0o644 });

/** Base layer, then one deleting and hiding things, then one re-creating some of them. */
async function threeLayers(): Promise<Buffer[]> {
  return [
    await makeTar([
      dir('etc/'), file('etc/a', 'a1'), file('etc/b', 'b1'),
      dir('keep/'), file('keep/x', 'x'),
      dir('opq/'), file('opq/old', 'old'), dir('opq/sub/'), file('opq/sub/deep', 'deep'),
      dir('gone-dir/'), file('gone-dir/f', 'f'),
      file('top-file', 't'),
    ]),
    await makeTar([
      dir('etc/'), file('etc/.wh.a', ''), file('etc/c', 'c2'),
      file('.wh.gone-dir', ''), file('.wh.top-file', ''), file('.wh.never-existed', ''),
      dir('opq/'), file('opq/.wh..wh..opq', ''), file('opq/new', 'new'),
    ]),
    await makeTar([
      dir('etc/'), file('etc/a', 'a3'),
      dir('gone-dir/'), file('gone-dir/g', 'g3'),
      dir('opq/'), file('opq/new2', 'n3'),
    ]),
  ];
}

/** What the container sees once the three layers are stacked. */
const MERGED = {
  'etc/': 'dir', 'etc/a': 'a3', 'etc/b': 'b1', 'etc/c': 'c2',
  'gone-dir/': 'dir', 'gone-dir/g': 'g3',
  'keep/': 'dir', 'keep/x': 'x',
  'opq/': 'dir', 'opq/new': 'new', 'opq/new2': 'n3',
};

/** The tree under `root` as path → content ('dir' for directories); anything else is named by type. */
function tree(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(root, p));
    if (st.isDirectory()) {
      out[`${p}/`] = 'dir';
      Object.assign(out, tree(root, p));
    } else if (st.isFile()) out[p] = readFileSync(join(root, p), 'utf8');
    else out[p] = st.isCharacterDevice() ? `chardev ${st.rdev}` : 'other';
  }
  return out;
}

/** Kernel mounts at or under `dir`, from /proc/mounts (not from the code under test). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

async function withStore(f: DriverFixture, fn: (s: Store) => Promise<void>): Promise<void> {
  const base = testTmpDir('bt-storage-');
  try {
    const root = join(base, 'driver');
    const driver = f.make(root);
    await driver.init();
    const layers = new LayerStore(join(base, 'layers'), driver, silentLogger(), join(base, 'blobs'));
    await layers.init();
    await fn({ base, root, driver, layers });
  } finally {
    // A failed test must not leave mounts behind; the tests assert there are none.
    for (const m of mountsUnder(base).reverse()) spawnSync('umount', ['-l', m]);
    rmSync(base, { recursive: true, force: true });
  }
}

/** Apply the layers in order; the cache ids base first (the chain a container mounts). */
async function stack(s: Store, tars: Buffer[]): Promise<{ top: string; chain: string[] }> {
  let parent: string | undefined;
  for (const t of tars) parent = (await s.layers.apply(Readable.from([t]), parent)).chainId;
  assert.ok(parent);
  return { top: parent, chain: s.layers.chain(parent).map((l) => l.cacheId) };
}

async function newContainer(s: Store, id: string, chain: string[]): Promise<string> {
  await s.driver.createContainerLayer(id, chain[chain.length - 1] as string, chain);
  return (await s.driver.mount(id, chain)).path;
}

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

export function storageSuite(name: string, f: DriverFixture): void {
  describe(`storage driver ${name}`, () => {
    it('shows a container the merged layers: deleted files absent, opaque directories hide lower content', async () => {
      await withStore(f, async (s) => {
        const { chain } = await stack(s, await threeLayers());
        const rootfs = await newContainer(s, ID_A, chain);
        assert.deepEqual(tree(rootfs), MERGED);
        await s.driver.unmount(ID_A);
        await s.driver.removeContainerLayer(ID_A);
        assert.deepEqual(mountsUnder(s.base), []);
      });
    });

    it('keeps container writes in the container layer: the image and other containers never see them', async () => {
      await withStore(f, async (s) => {
        const { chain } = await stack(s, await threeLayers());
        const a = await newContainer(s, ID_A, chain);
        writeFileSync(join(a, 'etc/b'), 'changed');
        writeFileSync(join(a, 'hello.txt'), 'hi');
        unlinkSync(join(a, 'keep/x'));
        mkdirSync(join(a, 'newdir'));
        assert.equal(readFileSync(join(f.writableDir(s.root, ID_A), 'hello.txt'), 'utf8'), 'hi');
        assert.equal(readFileSync(join(f.writableDir(s.root, ID_A), 'etc/b'), 'utf8'), 'changed');

        const b = await newContainer(s, ID_B, chain);
        assert.deepEqual(tree(b), MERGED);
        assert.equal(existsSync(join(f.writableDir(s.root, ID_B), 'hello.txt')), false);
        // A remounted container keeps its own changes.
        await s.driver.unmount(ID_A);
        const again = await s.driver.mount(ID_A, chain);
        assert.equal(readFileSync(join(again.path, 'etc/b'), 'utf8'), 'changed');
        assert.equal(existsSync(join(again.path, 'keep/x')), false);
        for (const id of [ID_A, ID_B]) await s.driver.removeContainerLayer(id);
        assert.deepEqual(mountsUnder(s.base), []);
      });
    });

    it('mounts and unmounts idempotently; removing a mounted container layer unmounts it first', async () => {
      await withStore(f, async (s) => {
        const { chain } = await stack(s, await threeLayers());
        const expected = f.mounts ? 1 : 0;
        const first = await newContainer(s, ID_A, chain);
        const second = await s.driver.mount(ID_A, chain);
        assert.equal(second.path, first);
        assert.equal(mountsUnder(s.base).length, expected);
        await s.driver.unmount(ID_A);
        await s.driver.unmount(ID_A);
        assert.deepEqual(mountsUnder(s.base), []);
        await s.driver.mount(ID_A, chain);
        assert.equal(mountsUnder(s.base).length, expected);
        await s.driver.removeContainerLayer(ID_A);
        assert.deepEqual(mountsUnder(s.base), []);
        assert.deepEqual(await s.driver.listContainerLayers(), []);
        await s.driver.removeContainerLayer(ID_A);
        await s.driver.unmount(ID_A);
        await assert.rejects(s.driver.mount(ID_A, chain), /container layer .* is missing/);
      });
    });

    it('lists layers and container layers; removing twice is harmless', async () => {
      await withStore(f, async (s) => {
        const { top, chain } = await stack(s, await threeLayers());
        assert.deepEqual((await s.driver.listLayers()).sort(), [...chain].sort());
        await s.driver.createContainerLayer(ID_A, chain[2] as string, chain);
        await s.driver.createContainerLayer(ID_B, chain[2] as string, chain);
        assert.deepEqual((await s.driver.listContainerLayers()).sort(), [ID_A, ID_B]);
        await s.driver.removeContainerLayer(ID_B);
        assert.deepEqual(await s.driver.listContainerLayers(), [ID_A]);
        await s.driver.removeContainerLayer(ID_A);
        await s.layers.remove(top);
        await s.layers.remove(top);
        assert.deepEqual((await s.driver.listLayers()).sort(), chain.slice(0, 2).sort());
        await s.driver.removeLayer(chain[2] as string);
        assert.equal(s.layers.has(top), false);
      });
    });

    it('stores a layer applied twice once, and keeps nothing of a layer whose diff id does not match', async () => {
      await withStore(f, async (s) => {
        const [base] = await threeLayers();
        assert.ok(base);
        const one = await s.layers.apply(Readable.from([base]), undefined);
        const two = await s.layers.apply(Readable.from([base]), undefined, { expectDiffId: sha256(base) });
        assert.equal(two.chainId, one.chainId);
        assert.equal(one.diffId, sha256(base));
        assert.deepEqual(await s.driver.listLayers(), [one.cacheId]);
        await assert.rejects(
          s.layers.apply(Readable.from([await makeTar([file('x', 'y')])]), one.chainId, { expectDiffId: sha256('other') }),
          (err: unknown) => err instanceof BerthError && err.kind === 'InvalidParameter' && /invalid diffID/.test(err.message),
        );
        assert.deepEqual(await s.driver.listLayers(), [one.cacheId]);
      });
    });

    it('turns a container\'s changes into a layer tar (whiteouts, opaque dirs) that gives the same tree on its image', async () => {
      await withStore(f, async (s) => {
        const { chain, top } = await stack(s, await threeLayers());
        const a = await newContainer(s, ID_A, chain);
        writeFileSync(join(a, 'etc/b'), 'changed');
        writeFileSync(join(a, 'hello.txt'), 'hi');
        unlinkSync(join(a, 'keep/x'));
        rmSync(join(a, 'gone-dir'), { recursive: true });
        mkdirSync(join(a, 'gone-dir'));
        writeFileSync(join(a, 'gone-dir/fresh'), 'fresh');
        writeFileSync(join(a, 'etc/hosts'), '');
        const expected = tree(a);
        delete expected['etc/hosts'];
        const tar = await s.driver.diffTar(ID_A, chain, ['/etc/hosts']);
        const layer = await s.layers.apply(tar.stream, top);
        await tar.done;
        const next = await newContainer(s, ID_B, [...chain, layer.cacheId]);
        assert.deepEqual(tree(next), expected);
        for (const id of [ID_A, ID_B]) await s.driver.removeContainerLayer(id);
      });
    });

    it('keeps each layer\'s blob: a gzip layer byte for byte, a plain tar gzip-compressed; removed with its last layer', async () => {
      await withStore(f, async (s) => {
        const [base, second] = await threeLayers();
        assert.ok(base && second);
        const gz = gzipSync(base);
        const one = await s.layers.apply(Readable.from([gz]), undefined);
        assert.deepEqual(one.blob, { digest: sha256(gz), size: gz.length, compression: 'gzip' });
        assert.equal(one.tarSize, base.length);
        assert.ok(readFileSync(s.layers.blobPath(one) as string).equals(gz));
        const two = await s.layers.apply(Readable.from([second]), one.chainId);
        assert.equal(two.blob?.compression, 'gzip');
        assert.ok(gunzipSync(readFileSync(s.layers.blobPath(two) as string)).equals(second));
        await s.layers.remove(two.chainId);
        assert.equal(existsSync(s.layers.blobPath(two) as string), false);
        assert.equal(existsSync(s.layers.blobPath(one) as string), true);
      });
    });

    it('after a crash, a new daemon drops unrecorded layers and unmounts and removes what it finds', async () => {
      await withStore(f, async (s) => {
        const { chain } = await stack(s, await threeLayers());
        await newContainer(s, ID_A, chain);
        // An import that died after extracting but before writing its record.
        const orphan = 'c'.repeat(64);
        writeFileSync(join(await s.driver.createLayer(orphan, chain[2]), 'partial'), 'x');

        const driver = f.make(s.root);
        await driver.init();
        const layers = new LayerStore(join(s.base, 'layers'), driver, silentLogger(), join(s.base, 'blobs'));
        await layers.init();
        assert.deepEqual((await driver.listLayers()).sort(), [...chain].sort());
        assert.deepEqual(await driver.listContainerLayers(), [ID_A]);
        // The mount the old daemon left is found, not stacked a second time.
        const again = await driver.mount(ID_A, chain);
        assert.deepEqual(tree(again.path), MERGED);
        assert.equal(mountsUnder(s.base).length, f.mounts ? 1 : 0);
        await driver.removeContainerLayer(ID_A);
        assert.deepEqual(mountsUnder(s.base), []);
        assert.deepEqual(await driver.listContainerLayers(), []);
      });
    });
  });
}
