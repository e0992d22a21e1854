import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BuildCache } from '../../src/builder/cache.js';
import type { BuildImage, BuildImages, NewImage, RunConfig } from '../../src/builder/ports.js';

/*
 * The classic builder's cache rules, on images held in memory: the local cache (children made
 * here, by key) and --cache-from images matched by history (parent's entries and layers, then
 * the step's created_by), restoring a step or taking the image itself for its last one.
 */

const nop = (text: string) => ['/bin/sh', '-c', `#(nop) ${text}`];
const key = (cmd: string[]): RunConfig => ({ Cmd: cmd });
const entry = (createdBy: string, empty = false) => ({ created: '2024-01-01T00:00:00Z', created_by: createdBy, ...(empty ? { empty_layer: true } : {}) });

class FakeImages implements BuildImages {
  readonly all = new Map<string, BuildImage>();
  readonly local = new Set<string>();
  readonly restored: { parentId?: string; sourceId: string; index: number }[] = [];
  readonly adopted: [string, string][] = [];
  #n = 0;

  add(img: BuildImage, local = false): BuildImage {
    this.all.set(img.id, img);
    if (local) this.local.add(img.id);
    return img;
  }
  find(ref: string) {
    return this.all.get(ref);
  }
  async pull(): Promise<void> {
    throw new Error('a cache source is never pulled');
  }
  children(parentId: string | undefined) {
    return [...this.all.values()].filter((i) => this.local.has(i.id) && i.parent === parentId);
  }
  async commit(_req: NewImage): Promise<string> {
    throw new Error('not here');
  }
  async restore(req: { parentId?: string; sourceId: string; index: number; config: RunConfig; containerConfig: RunConfig }): Promise<string> {
    this.restored.push({ ...(req.parentId ? { parentId: req.parentId } : {}), sourceId: req.sourceId, index: req.index });
    const parent = req.parentId ? this.all.get(req.parentId) : undefined;
    const src = this.all.get(req.sourceId) as BuildImage;
    const h = src.history[req.index] as Record<string, unknown>;
    const layers = src.history.slice(0, req.index + 1).filter((x) => x['empty_layer'] !== true).length;
    const id = `restored-${++this.#n}`;
    this.add({
      id,
      ...(req.parentId ? { parent: req.parentId } : {}),
      config: req.config,
      containerConfig: req.containerConfig,
      history: [...(parent?.history ?? []), h],
      diffIds: src.diffIds.slice(0, layers),
    }, true);
    return id;
  }
  async adopt(imageId: string, parentId: string): Promise<void> {
    this.adopted.push([imageId, parentId]);
  }
  async tag(): Promise<void> {}
  normalizeTag(ref: string): string {
    return ref;
  }
}

/** busybox-like base, and an image built on it elsewhere with ENV, RUN, CMD (pulled: no parent here). */
function world() {
  const images = new FakeImages();
  const base = images.add({ id: 'base', config: {}, history: [{ created: '2020-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in /' }], diffIds: ['sha256:l0'] });
  const pulled = images.add({
    id: 'pulled',
    config: {},
    history: [...base.history, entry(nop(' ENV A=1').join(' '), true), entry('/bin/sh -c echo hi > /x'), entry(nop(' CMD ["sh"]').join(' '), true)],
    diffIds: ['sha256:l0', 'sha256:l1'],
  });
  return { images, base, pulled };
}

test('--cache-from on a machine without the build chain: steps restored from the image history, its last step the image itself', async () => {
  const { images } = world();
  const cache = new BuildCache(images, { noCache: false, cacheFrom: ['pulled', 'not-here'] });
  const env = await cache.probe('base', key(nop(' ENV A=1')), { Env: ['A=1'] });
  assert.equal(env, 'restored-1');
  assert.deepEqual(images.restored[0], { parentId: 'base', sourceId: 'pulled', index: 1 });
  const run = await cache.probe(env, key(['/bin/sh', '-c', 'echo hi > /x']), {});
  assert.equal(run, 'restored-2');
  assert.deepEqual(images.find('restored-2')?.diffIds, ['sha256:l0', 'sha256:l1']);
  const cmd = await cache.probe(run, key(nop(' CMD ["sh"]')), {});
  assert.equal(cmd, 'pulled', 'the last step is the --cache-from image itself: the same id');
  assert.deepEqual(images.adopted, [['pulled', 'restored-2']]);
});

test('--cache-from: a step made by another instruction, or on another parent, is a miss', async () => {
  const { images } = world();
  const cache = new BuildCache(images, { noCache: false, cacheFrom: ['pulled'] });
  assert.equal(await cache.probe('base', key(nop(' ENV A=2')), {}), undefined);
  // A parent whose history is not the start of the image's.
  images.add({ id: 'other', config: {}, history: [{ created: '2021-01-01T00:00:00Z', created_by: 'something else' }], diffIds: ['sha256:zz'] });
  assert.equal(await cache.probe('other', key(nop(' ENV A=1')), {}), undefined);
  // Same history entries but different layers below.
  images.add({ id: 'relayered', config: {}, history: [{ created: '2020-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in /' }], diffIds: ['sha256:other'] });
  assert.equal(await cache.probe('relayered', key(nop(' ENV A=1')), {}), undefined);
  assert.equal(images.restored.length, 0);
  const off = new BuildCache(images, { noCache: true, cacheFrom: ['pulled'] });
  assert.equal(await off.probe('base', key(nop(' ENV A=1')), {}), undefined);
});

test('the local cache: a child made here with the same key; with --cache-from only one on that image\'s chain', async () => {
  const { images } = world();
  images.add({ id: 'mine', parent: 'base', config: {}, containerConfig: key(nop(' ENV A=1')), history: [], diffIds: [] }, true);
  // A pulled child claiming the same key is not a cache hit: it was not made here.
  images.add({ id: 'claims', parent: 'base', config: {}, containerConfig: key(nop(' ENV A=2')), history: [], diffIds: [] });
  const plain = new BuildCache(images, { noCache: false, cacheFrom: [] });
  assert.equal(await plain.probe('base', key(nop(' ENV A=1')), {}), 'mine');
  assert.equal(await plain.probe('base', key(nop(' ENV A=2')), {}), undefined);
  // With --cache-from naming an image whose chain does not hold `mine`, the history match wins.
  const from = new BuildCache(images, { noCache: false, cacheFrom: ['pulled'] });
  assert.equal(await from.probe('base', key(nop(' ENV A=1')), {}), 'restored-1');
  // Naming an image built on `mine`: the local hit counts.
  images.add({ id: 'top', parent: 'mine', config: {}, history: [], diffIds: [] });
  const chained = new BuildCache(images, { noCache: false, cacheFrom: ['top'] });
  assert.equal(await chained.probe('base', key(nop(' ENV A=1')), {}), 'mine');
});

test('--cache-from from scratch: the first step matches the image\'s first history entry; once one image served, only it is used', async () => {
  const images = new FakeImages();
  const a = images.add({ id: 'a', config: {}, history: [entry('/bin/sh -c #(nop) COPY file:1 in / '), entry(nop(' ENV X=a').join(' '), true), entry('/bin/sh -c #(nop) COPY file:2 in / ')], diffIds: ['sha256:a1', 'sha256:a2'] });
  images.add({ id: 'b', config: {}, history: [a.history[0] as Record<string, unknown>, entry(nop(' ENV X=b').join(' '), true)], diffIds: ['sha256:a1'] });
  const cache = new BuildCache(images, { noCache: false, cacheFrom: ['a', 'b'] });
  const first = await cache.probe(undefined, key(['/bin/sh', '-c', '#(nop) COPY file:1 in / ']), {});
  assert.equal(first, 'restored-1');
  assert.deepEqual(images.restored[0], { sourceId: 'a', index: 0 });
  // b would match ENV X=b here, but the build now follows a alone.
  assert.equal(await cache.probe(first, key(nop(' ENV X=b')), {}), undefined);
  assert.equal(await cache.probe(first, key(nop(' ENV X=a')), {}), 'restored-2');
});
