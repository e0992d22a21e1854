import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, existsSync, mkdirSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LocalDriver } from '../../src/volumes/local-driver.js';
import { VolumeService, type VolumeUser } from '../../src/volumes/volume-service.js';
import { ANONYMOUS_LABEL, validateVolumeName, validateVolumeOptions } from '../../src/volumes/volume.js';
import { parseVolumeCreate, parseVolumeListFilters, parseVolumePruneFilters, volumeJson } from '../../src/api/wire/volume-json.js';
import { parseBind } from '../../src/api/wire/mounts.js';
import { EventBus } from '../../src/engine/events.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { MountSpec } from '../../src/engine/container.js';
import { testTmpDir } from '../helpers/paths.js';

/** A volume service on a temporary root, with a hand-held list of containers. */
async function withService(fn: (s: VolumeService, ctx: { root: string; users: VolumeUser[]; events: EventBus }) => Promise<void>): Promise<void> {
  const root = testTmpDir('bt-vol-');
  try {
    const users: VolumeUser[] = [];
    const events = new EventBus();
    const s = new VolumeService({ driver: new LocalDriver(join(root, 'volumes'), silentLogger()), users: () => users, events, log: silentLogger() });
    await s.init();
    await fn(s, { root, users, events });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const noRootfs = { mount: () => Promise.reject(new Error('no rootfs expected')), unmount: () => Promise.resolve() };

test('volume names and local options follow Docker\'s rules and messages', () => {
  assert.doesNotThrow(() => validateVolumeName('ab'));
  assert.doesNotThrow(() => validateVolumeName('My_vol.1-x'));
  assert.throws(() => validateVolumeName('a'), (e: Error) => e.message === 'create a: volume name is too short, names should be at least two alphanumeric characters');
  assert.throws(
    () => validateVolumeName('-bad name'),
    (e: Error) =>
      e.message ===
      'create -bad name: "-bad name" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
  );
  assert.throws(() => validateVolumeOptions('v', { colour: 'red' }), (e: Error) => e.message === 'create v: invalid option: "colour"');
  assert.throws(() => validateVolumeOptions('v', { type: 'tmpfs' }), (e: Error) => e.message === 'create v: missing required option: "device"');
  assert.throws(() => validateVolumeOptions('v', { size: '10m' }), /quota size requested but no quota support/);
  assert.doesNotThrow(() => validateVolumeOptions('v', { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }));
});

test('create, inspect, list with filters, remove: records on disk and Docker\'s errors', async () => {
  await withService(async (s, { root, users }) => {
    const v = await s.create({ name: 'data1', labels: { team: 'a' }, options: {} });
    assert.equal(v.mountpoint, join(root, 'volumes', 'data1', '_data'));
    assert.equal(statSync(v.mountpoint).mode & 0o777, 0o755);
    assert.match(v.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const rec = JSON.parse(readFileSync(join(root, 'volumes', 'data1', 'volume.json'), 'utf8'));
    assert.deepEqual([rec.name, rec.driver, rec.labels], ['data1', 'local', { team: 'a' }]);
    assert.deepEqual(volumeJson(v), {
      CreatedAt: v.createdAt, Driver: 'local', Labels: { team: 'a' }, Mountpoint: v.mountpoint, Name: 'data1', Options: {}, Scope: 'local',
    });
    // Creating it again returns the existing one, labels unchanged.
    assert.deepEqual((await s.create({ name: 'data1', labels: { other: 'x' } })).labels, { team: 'a' });
    const anon = await s.create({});
    assert.match(anon.name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.labels, { [ANONYMOUS_LABEL]: '' });
    await assert.rejects(s.create({ name: 'x', driver: 'flocker' }), (e: Error) => e.message === 'create x: error looking up volume plugin flocker: plugin "flocker" not found');

    users.push({ id: 'c1', mounts: [{ ...parseBind('data1:/d'), source: v.mountpoint }] });
    assert.deepEqual(s.list(parseVolumeListFilters('{"dangling":["true"]}')).map((x) => x.name), [anon.name]);
    assert.deepEqual(s.list(parseVolumeListFilters('{"dangling":["false"]}')).map((x) => x.name), ['data1']);
    assert.deepEqual(s.list(parseVolumeListFilters('{"label":["team=a"]}')).map((x) => x.name), ['data1']);
    assert.deepEqual(s.list(parseVolumeListFilters('{"name":["ata"]}')).map((x) => x.name), ['data1']);
    assert.deepEqual(s.list(parseVolumeListFilters('{"driver":["nfs"]}')), []);
    assert.throws(() => parseVolumeListFilters('{"dangling":["maybe"]}'), (e: Error) => e.message === "invalid filter 'dangling=[maybe]'");
    assert.throws(() => parseVolumeListFilters('{"colour":["x"]}'), (e: Error) => e.message === "invalid filter 'colour'");

    await assert.rejects(s.remove('data1', { force: false }), (e: Error) => e.message === 'remove data1: volume is in use - [c1]');
    await assert.rejects(s.remove('data1', { force: true }), /volume is in use/);
    await assert.rejects(s.remove('nope', { force: false }), (e: Error) => e.message === 'get nope: no such volume');
    await s.remove('nope', { force: true });
    users.length = 0;
    await s.remove('data1', { force: false });
    assert.ok(!existsSync(join(root, 'volumes', 'data1')));
    assert.throws(() => s.get('data1'), /get data1: no such volume/);
  });
});

test('prune: anonymous and unused only by default, all=true for named ones, label filters', async () => {
  assert.deepEqual(parseVolumePruneFilters(null, 1047), { all: false, labels: [], notLabels: [] });
  assert.deepEqual(parseVolumePruneFilters(null, 1041), { all: true, labels: [], notLabels: [] });
  assert.deepEqual(parseVolumePruneFilters('{"all":["true"],"label!":["keep"]}', 1047), { all: true, labels: [], notLabels: ['keep'] });
  assert.throws(() => parseVolumePruneFilters('{"all":["yes"]}', 1047), /invalid filter 'all': strconv.ParseBool: parsing "yes": invalid syntax/);
  await withService(async (s, { users }) => {
    const anonFree = await s.create({});
    const anonUsed = await s.create({});
    await s.create({ name: 'named', labels: {} });
    await s.create({ name: 'kept', labels: { keep: '' } });
    writeFileSync(join(anonFree.mountpoint, 'f'), 'x'.repeat(1000));
    users.push({ id: 'c1', mounts: [{ type: 'volume', source: anonUsed.mountpoint, destination: '/x', readOnly: false, name: anonUsed.name, anonymous: true }] });
    let r = await s.prune(parseVolumePruneFilters(null, 1047));
    assert.deepEqual(r, { deleted: [anonFree.name], reclaimed: 1000 });
    r = await s.prune(parseVolumePruneFilters('{"all":["true"],"label!":["keep"]}', 1047));
    assert.deepEqual(r.deleted, ['named']);
    assert.deepEqual(s.list().map((v) => v.name).sort(), [anonUsed.name, 'kept'].sort());
  });
});

test('a container\'s mounts: prepare creates and holds, release removes its anonymous volumes only', async () => {
  await withService(async (s, { root, users }) => {
    const host = join(root, 'host');
    const mounts: MountSpec[] = [parseBind('named1:/n:nocopy'), { ...parseBind('/anon'), nocopy: true }, parseBind(`${host}:/h`)];
    const resolved = await s.prepare('c1', mounts, noRootfs);
    const anonName = resolved[1]?.name as string;
    assert.match(anonName, /^[0-9a-f]{64}$/);
    assert.equal(resolved[0]?.source, join(root, 'volumes', 'named1', '_data'));
    // Held by the create in progress, before the container is recorded.
    await assert.rejects(s.remove('named1', { force: false }), /volume is in use - \[c1\]/);
    users.push({ id: 'c1', mounts: resolved });
    const started = await s.setup('c1', resolved);
    assert.ok(existsSync(host), '-v makes a missing host folder at start');
    assert.equal(started[1]?.source, join(root, 'volumes', anonName, '_data'));
    users.length = 0;
    await s.release('c1', resolved, { removeAnonymous: true });
    assert.deepEqual(s.list().map((v) => v.name), ['named1']);
    await assert.rejects(
      s.prepare('c2', [{ type: 'bind', source: join(root, 'missing'), destination: '/x', readOnly: false, createSource: false }], noRootfs),
      (e: Error) => e.message === `invalid mount config for type "bind": bind source path does not exist: ${join(root, 'missing')}`,
    );
    await assert.rejects(s.setup('c3', [{ ...parseBind('gone:/g'), name: 'gone' }]), /get gone: no such volume/);
  });
});

test('copy-up: an empty volume gets the image content at its path, once', async () => {
  await withService(async (s, { root }) => {
    const rootfs = join(root, 'rootfs');
    mkdirSync(join(rootfs, 'etc', 'sub'), { recursive: true });
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc', 'sub', 'f'), 'deep');
    let mounted = 0;
    const access = { mount: async () => (mounted++, rootfs), unmount: async () => undefined };
    const [m] = await s.prepare('c1', [parseBind('etcvol:/etc')], access);
    assert.equal(readFileSync(join(m?.source as string, 'passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal(readFileSync(join(m?.source as string, 'sub', 'f'), 'utf8'), 'deep');
    // Not empty any more: a second container sees what the first one left, not the image.
    writeFileSync(join(rootfs, 'etc', 'new'), 'n');
    await s.prepare('c2', [parseBind('etcvol:/etc')], access);
    assert.ok(!readdirSync(m?.source as string).includes('new'));
    const [nc] = await s.prepare('c3', [parseBind('bare:/etc:nocopy')], access);
    assert.deepEqual(readdirSync(nc?.source as string), []);
    assert.equal(mounted, 1);
    assert.deepEqual(parseVolumeCreate({ Name: 'x', Driver: 'local', Labels: {}, DriverOpts: {} }), { name: 'x', driver: 'local', labels: {}, options: {} });
    assert.throws(() => parseVolumeCreate(undefined), /got EOF/);
  });
});
