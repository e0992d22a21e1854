import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { filterImageList, globMatch, pruneSelection } from '../../src/api/wire/image-filters.js';
import type { ImageInfo } from '../../src/images/image-service.js';
import { notFound } from '../../src/lib/errors.js';

function image(id: string, created: string, repoTags: string[], labels?: Record<string, string>): ImageInfo {
  const config = { created, config: labels ? { Labels: labels } : {} };
  return { image: { id, raw: JSON.stringify(config), config }, parent: undefined, repoTags, repoDigests: [], size: 0, topLayer: undefined, chainIds: [] };
}

const A = image('sha256:a', '2020-01-01T00:00:00Z', ['web:1', 'me/web:2'], { tier: 'web' });
const B = image('sha256:b', '2021-01-01T00:00:00Z', ['db:1'], { tier: 'db', keep: '' });
const C = image('sha256:c', '2022-01-01T00:00:00Z', []);
const ALL = [A, B, C];
const lookup = (r: string) => {
  const found = ALL.find((i) => i.image.id === r || i.repoTags.includes(r));
  if (!found) throw notFound(`No such image: ${r}`);
  return found;
};
const ids = (list: ImageInfo[]) => list.map((i) => i.image.id);
const list = (filters: Record<string, string[]>) => filterImageList(ALL, JSON.stringify(filters), lookup);

describe('image list and prune filters', () => {
  it('matches references like Go path.Match', () => {
    assert.ok(globMatch('web*', 'web:1'));
    assert.ok(!globMatch('*', 'me/web'), '* stops at /');
    assert.ok(globMatch('*/*', 'me/web'));
    assert.ok(globMatch('w?b', 'web'));
    assert.ok(globMatch('[a-w]eb', 'web') && !globMatch('[^w]eb', 'web'));
    assert.ok(globMatch('a\\*', 'a*') && !globMatch('a\\*', 'ab'));
    assert.ok(globMatch('a.b', 'a.b') && !globMatch('a.b', 'axb'), 'regex characters are literal');
    for (const bad of ['[', '[]', 'a\\', '[z-a]']) assert.throws(() => globMatch(bad, 'x'), /syntax error in pattern/, bad);
  });

  it('narrows the list by dangling, label, before and since', () => {
    assert.deepEqual(ids(list({ dangling: ['true'] })), ['sha256:c']);
    assert.deepEqual(ids(list({ dangling: ['false'] })), ['sha256:a', 'sha256:b']);
    assert.deepEqual(ids(list({ label: ['tier'] })), ['sha256:a', 'sha256:b']);
    assert.deepEqual(ids(list({ label: ['tier=db', 'keep'] })), ['sha256:b']);
    assert.deepEqual(ids(list({ before: ['db:1'] })), ['sha256:a']);
    assert.deepEqual(ids(list({ since: ['web:1'] })), ['sha256:b', 'sha256:c']);
    assert.deepEqual(ids(list({ since: ['web:1'], before: ['sha256:c'] })), ['sha256:b']);
    assert.throws(() => list({ dangling: ['maybe'] }), /invalid filter 'dangling=maybe'/);
    assert.throws(() => list({ since: ['nope'] }), /No such image: nope/);
    assert.throws(() => list({ color: ['red'] }), /invalid filter 'color'/);
  });

  it('keeps only the names a reference filter matches, on name:tag or on the name alone', () => {
    const r = list({ reference: ['web'] });
    assert.deepEqual(ids(r), ['sha256:a']);
    assert.deepEqual(r[0]?.repoTags, ['web:1']);
    assert.deepEqual(list({ reference: ['me/*:2'] })[0]?.repoTags, ['me/web:2']);
    assert.deepEqual(ids(list({ reference: ['*:1'] })), ['sha256:a', 'sha256:b']);
    assert.deepEqual(list({ reference: ['nothing'] }), []);
  });

  it('selects prune candidates by until, label and label!', () => {
    const now = Date.parse('2023-01-01T00:00:00Z');
    const pick = (filters: Record<string, string[]>) => {
      const s = pruneSelection(JSON.stringify(filters), now);
      return { all: s.all, ids: ids(ALL.filter(s.select)) };
    };
    assert.deepEqual(pick({}), { all: false, ids: ['sha256:a', 'sha256:b', 'sha256:c'] });
    assert.equal(pick({ dangling: ['false'] }).all, true);
    assert.deepEqual(pick({ until: ['2021-06-01T00:00:00Z'] }).ids, ['sha256:a', 'sha256:b']);
    assert.deepEqual(pick({ until: ['20000h'] }).ids, ['sha256:a'], 'a duration counts back from now');
    assert.deepEqual(pick({ label: ['tier'] }).ids, ['sha256:a', 'sha256:b']);
    assert.deepEqual(pick({ 'label!': ['keep'] }).ids, ['sha256:a', 'sha256:c']);
    assert.throws(() => pick({ until: ['soon'] }), /failed to parse value as time or duration: "soon"/);
    assert.throws(() => pick({ reference: ['x'] }), /invalid filter 'reference'/);
  });
});
