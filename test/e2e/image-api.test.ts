import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTarball, testTmpDir } from '../helpers/paths.js';
import { dockerSaveArchive, imageConfig, makeTar, type ArchiveImage } from '../helpers/tars.js';

let d: TestDaemon;
let scratch: string;
let busybox: Buffer;

daemonForFile((x) => (d = x));

before(() => {
  scratch = testTmpDir('bt-imgapi-');
  busybox = readFileSync(busyboxTarball());
});

after(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
/** Load images from a docker-save archive; returns their IDs. */
async function load(...images: ArchiveImage[]): Promise<string[]> {
  const path = join(scratch, `a${n++}.tar`);
  writeFileSync(path, await dockerSaveArchive(images));
  const r = d.docker(['load', '-i', path]);
  assert.equal(r.code, 0, r.stderr);
  return images.map((i) => imageConfig(i).id);
}

const small = (tag: string, extra: Partial<ArchiveImage> = {}) =>
  makeTar([{ name: `${tag.replace(/[^a-z0-9]/g, '_')}.txt`, data: tag }]).then((l) => ({ layers: [busybox, l], repoTags: [tag], ...extra }));

function lines(args: string[]): string[] {
  const r = d.docker(args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('docker history lists the config history newest first, with layer sizes and the image ID on top', async () => {
  const layer = await makeTar([{ name: 'data.bin', data: Buffer.alloc(5000, 1) }]);
  const img: ArchiveImage = {
    layers: [busybox, layer],
    repoTags: ['hist:1', 'hist:alias'],
    history: [
      { created: '2020-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:busybox in /' },
      { created: '2020-01-02T00:00:00Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
      { created: '2020-01-03T00:00:00Z', created_by: 'COPY data.bin /', comment: 'buildkit.dockerfile.v0' },
    ],
  };
  const [id] = await load(img);
  const rows = lines(['history', '--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}', 'hist:1']);
  assert.deepEqual(rows, [
    `${id}|COPY data.bin /|5kB|buildkit.dockerfile.v0`,
    '<missing>|/bin/sh -c #(nop)  CMD ["sh"]|0B|',
    `<missing>|/bin/sh -c #(nop) ADD file:busybox in /|${lines(['history', '--format', '{{.Size}}', 'busybox'])[0]}|`,
  ]);
  const api = await d.api('GET', '/images/hist:1/history');
  assert.equal(api.status, 200);
  const items = api.json() as Record<string, unknown>[];
  assert.deepEqual(Object.keys(items[0] ?? {}).sort(), ['Comment', 'Created', 'CreatedBy', 'Id', 'Size', 'Tags']);
  assert.deepEqual(items[0]?.['Tags'], ['hist:1', 'hist:alias']);
  assert.equal(items[0]?.['Size'], 5000);
  assert.equal(items[0]?.['Created'], Date.parse('2020-01-03T00:00:00Z') / 1000);
  assert.equal(items[1]?.['Tags'], null);
  // An imported image has one entry, carrying the import message.
  const imp = d.docker(['import', '-m', 'from a tarball', busyboxTarball(), 'imp:1']);
  assert.equal(imp.code, 0, imp.stderr);
  assert.deepEqual(lines(['history', '--format', '{{.Comment}}', 'imp:1']), ['from a tarball']);
  const missing = d.docker(['history', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such image: nope:latest/);
  for (const t of ['hist:1', 'hist:alias', 'imp:1']) assert.equal(d.docker(['rmi', t]).code, 0);
});

test('image ls filters: dangling, reference globs, label, before and since', async () => {
  const [old, mid, recent] = await load(
    await small('flt/a:1', { created: '2020-01-01T00:00:00Z', config: { Labels: { tier: 'web', keep: 'yes' } } }),
    await small('flt/b:1', { created: '2021-01-01T00:00:00Z', config: { Labels: { tier: 'db' } } }),
    await small('flt/b:2', { created: '2022-01-01T00:00:00Z' }),
  );
  // Move flt/b:2 to another image: the one it named becomes dangling.
  const [newer] = await load(await small('flt/b:2', { created: '2023-01-01T00:00:00Z', config: { Labels: { v: '2' } } }));
  const ls = (...filters: string[]) => lines(['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}', ...filters.flatMap((f) => ['--filter', f])]);
  assert.deepEqual(ls('dangling=true'), [`${recent} <none>:<none>`]);
  assert.ok(!ls('dangling=false').some((l) => l.startsWith(recent as string)));
  assert.deepEqual(ls('reference=flt/*'), [`${newer} flt/b:2`, `${mid} flt/b:1`, `${old} flt/a:1`]);
  assert.deepEqual(ls('reference=flt/b:*'), [`${newer} flt/b:2`, `${mid} flt/b:1`]);
  assert.deepEqual(ls('reference=flt/[a]'), [`${old} flt/a:1`]);
  assert.deepEqual(ls('reference=flt/?:1', 'label=tier'), [`${mid} flt/b:1`, `${old} flt/a:1`]);
  assert.deepEqual(ls('label=tier=web'), [`${old} flt/a:1`]);
  assert.deepEqual(ls('label=tier=web', 'label=keep=yes'), [`${old} flt/a:1`]);
  assert.deepEqual(ls('label=tier=web', 'label=keep=no'), []);
  assert.deepEqual(ls('reference=flt/*', 'before=flt/b:1'), [`${old} flt/a:1`]);
  assert.deepEqual(ls('reference=flt/*', 'since=flt/b:1'), [`${newer} flt/b:2`]);
  assert.deepEqual(ls('reference=flt/*', `since=${(old as string).slice(7, 19)}`, `before=${newer}`), [`${mid} flt/b:1`]);
  // An image with two names shows only the names matching the reference filter.
  assert.equal(d.docker(['tag', 'flt/a:1', 'other/a:1']).code, 0);
  assert.deepEqual(ls('reference=other/*'), [`${old} other/a:1`]);

  for (const [filter, message] of [
    ['dangling=maybe', /invalid filter 'dangling=maybe'/],
    ['color=red', /invalid filter 'color'/],
    ['since=no-such-image', /No such image: no-such-image:latest/],
    ['reference=[', /syntax error in pattern/],
  ] as const) {
    const r = d.docker(['images', '--filter', filter]);
    assert.equal(r.code, 1, filter);
    assert.match(r.stderr, message, filter);
  }
  for (const ref of ['flt/a:1', 'other/a:1', 'flt/b:1', 'flt/b:2', recent as string]) assert.equal(d.docker(['rmi', ref]).code, 0, ref);
});

test('image prune removes dangling images only; -a every unused one; filters narrow it', async () => {
  // Images used by containers stay, whatever the filter.
  const [usedId] = await load(await small('prune/used:1'));
  assert.equal(d.docker(['create', '--name', 'pruneuser', 'prune/used:1']).code, 0);
  assert.equal(d.docker(['rmi', '-f', 'prune/used:1']).code, 0, 'only untagged: a container uses it');
  const [danglingId] = await load(await small('prune/d:1', { created: '2020-01-01T00:00:00Z' }));
  await load(await small('prune/d:1', { created: '2021-01-01T00:00:00Z' }));
  const [labelled] = await load(await small('prune/l:1', { config: { Labels: { keep: 'yes' } } }));

  let r = d.docker(['image', 'prune', '-f']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`deleted: ${danglingId}`));
  assert.ok(!r.stdout.includes(usedId as string));
  assert.match(r.stdout, /Total reclaimed space: \d+(\.\d+)?[kM]?B/);
  assert.equal(d.docker(['image', 'inspect', danglingId as string]).code, 1);
  assert.equal(d.docker(['image', 'inspect', usedId as string]).code, 0);

  // Nothing left to prune: an empty report.
  const api = await d.api('POST', '/images/prune');
  assert.deepEqual(api.json(), { ImagesDeleted: null, SpaceReclaimed: 0 });

  r = d.docker(['image', 'prune', '-a', '-f', '--filter', 'label!=keep']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /untagged: prune\/d:1/);
  assert.ok(!r.stdout.includes('prune/l:1'));
  assert.equal(d.docker(['image', 'inspect', 'prune/l:1']).code, 0);
  assert.equal(d.docker(['image', 'inspect', 'busybox']).code, 1, 'busybox is unused here, so -a removes it');

  r = d.docker(['image', 'prune', '-a', '-f', '--filter', 'until=2000-01-01T00:00:00Z']);
  assert.equal(r.code, 0);
  assert.equal(d.docker(['image', 'inspect', labelled as string]).code, 0, 'created after until: kept');
  r = d.docker(['image', 'prune', '-a', '-f', '--filter', 'label=keep=yes']);
  assert.match(r.stdout, new RegExp(`deleted: ${labelled}`));
  assert.equal(d.docker(['image', 'inspect', usedId as string]).code, 0);

  r = d.docker(['image', 'prune', '-f', '--filter', 'until=yesterday']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /failed to parse value as time or duration: "yesterday"/);
  assert.equal(d.docker(['rm', 'pruneuser']).code, 0);
  assert.equal(d.docker(['rmi', usedId as string]).code, 0);
  // Restore the image the other tests of this file may use.
  assert.equal(d.docker(['import', '-c', 'CMD ["sh"]', busyboxTarball(), 'busybox:latest']).code, 0);
});

test('tag and rmi follow dockerd: names, id prefixes, conflicts and forced removal', async () => {
  const [id] = await load(await small('rules/a:1'));
  const short = (id as string).slice(7, 19);
  assert.equal(d.docker(['tag', short, 'rules/b']).code, 0, 'tag by id prefix, default tag latest');
  assert.equal(d.docker(['tag', 'rules/a:1', 'localhost:5000/rules/c:v2']).code, 0);
  let r = d.docker(['tag', 'rules/a:1', 'Rules/Upper']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid reference format: repository name \(library\/Rules\/Upper\) must be lowercase|invalid reference format/);
  r = d.docker(['tag', 'no/such:image', 'x:1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /No such image: no\/such:image/);

  // By ID with several names: must be forced.
  r = d.docker(['rmi', short]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`conflict: unable to delete ${short} \\(must be forced\\) - image is referenced in multiple repositories`));
  // By name with several names: only that name goes.
  r = d.docker(['rmi', 'rules/b']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Untagged: rules/b:latest\n');

  // A running container: not even -f removes it by ID.
  assert.equal(d.docker(['run', '-d', '--name', 'rulesrun', 'rules/a:1', 'sleep', '300']).code, 0);
  r = d.docker(['rmi', '-f', short]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`conflict: unable to delete ${short} \\(cannot be forced\\) - image is being used by running container [0-9a-f]{12}`));
  assert.equal(d.docker(['rm', '-f', 'rulesrun']).code, 0);
  // A stopped container: must be forced.
  assert.equal(d.docker(['create', '--name', 'rulesstopped', 'rules/a:1']).code, 0);
  assert.equal(d.docker(['rmi', 'localhost:5000/rules/c:v2']).code, 0);
  r = d.docker(['rmi', short]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`conflict: unable to delete ${short} \\(must be forced\\) - image is being used by stopped container [0-9a-f]{12}`));
  assert.equal(d.docker(['rm', 'rulesstopped']).code, 0);
  r = d.docker(['rmi', short]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Untagged: rules\/a:1\nDeleted: sha256:[0-9a-f]{64}\n/);
  assert.ok(r.stdout.includes(`Deleted: ${id}`));
});
