import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BerthError } from '../../src/lib/errors.js';
import {
  familiarName,
  familiarString,
  fullString,
  isFullImageId,
  looksLikeIdPrefix,
  parseReference,
  withDefaultTag,
  type ImageRef,
} from '../../src/images/reference.js';

const HEX = '0123456789abcdef'.repeat(4);
const DIGEST = `sha256:${HEX}`;

function rejectsWith(input: string, message: string) {
  assert.throws(
    () => parseReference(input),
    (err: unknown) => {
      assert.ok(err instanceof BerthError, `${JSON.stringify(input)}: not a BerthError`);
      assert.equal(err.kind, 'InvalidParameter', JSON.stringify(input));
      assert.equal(err.message, message, JSON.stringify(input));
      return true;
    },
  );
}

test('names typed the familiar way normalise to their Docker Hub form', () => {
  const cases: [string, ImageRef][] = [
    ['busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36' }],
    ['library/busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['docker.io/busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['docker.io/library/busybox:latest', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['index.docker.io/busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['index.docker.io/me/app:v2', { domain: 'docker.io', path: 'me/app', tag: 'v2' }],
    ['me/app', { domain: 'docker.io', path: 'me/app' }],
    ['me/team/app', { domain: 'docker.io', path: 'me/team/app' }],
    [`foo@${DIGEST}`, { domain: 'docker.io', path: 'library/foo', digest: DIGEST }],
    [`foo:tag@${DIGEST}`, { domain: 'docker.io', path: 'library/foo', tag: 'tag', digest: DIGEST }],
    ['a__b/c.d-e---f_g', { domain: 'docker.io', path: 'a__b/c.d-e---f_g' }],
    ['busybox:Tag_With.Caps-1', { domain: 'docker.io', path: 'library/busybox', tag: 'Tag_With.Caps-1' }],
    // A lone component is a Hub name even when it reads like a host; with a colon that is a tag.
    ['localhost', { domain: 'docker.io', path: 'library/localhost' }],
    ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000' }],
    ['example.com', { domain: 'docker.io', path: 'library/example.com' }],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseReference(input), expected, input);
});

test('a first component that looks like a host names the registry', () => {
  const cases: [string, ImageRef][] = [
    ['localhost/foo', { domain: 'localhost', path: 'foo' }],
    ['localhost:5000/foo/bar:tag', { domain: 'localhost:5000', path: 'foo/bar', tag: 'tag' }],
    ['registry.example.com/a/b/c', { domain: 'registry.example.com', path: 'a/b/c' }],
    ['127.0.0.1:5000/x', { domain: '127.0.0.1:5000', path: 'x' }],
    ['[::1]:5000/foo', { domain: '[::1]:5000', path: 'foo' }],
    ['myhost:5000/busybox', { domain: 'myhost:5000', path: 'busybox' }],
    // Uppercase cannot be a path, so it must be a host.
    ['Foo/bar', { domain: 'Foo', path: 'bar' }],
    ['quay.io/busybox', { domain: 'quay.io', path: 'busybox' }],
    // Not a valid host but a valid path: distribution accepts it without a domain.
    ['foo_bar.com/x', { domain: '', path: 'foo_bar.com/x' }],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseReference(input), expected, input);
});

test('references print the way the docker CLI shows them', () => {
  const cases: [string, string, string, string][] = [
    // input, fullString, familiarString, familiarName
    ['busybox', 'docker.io/library/busybox', 'busybox', 'busybox'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36', 'busybox'],
    ['docker.io/library/busybox', 'docker.io/library/busybox', 'busybox', 'busybox'],
    ['me/app:v1', 'docker.io/me/app:v1', 'me/app:v1', 'me/app'],
    ['library/a/b', 'docker.io/library/a/b', 'library/a/b', 'library/a/b'],
    ['localhost:5000/x/y:1', 'localhost:5000/x/y:1', 'localhost:5000/x/y:1', 'localhost:5000/x/y'],
    [`repo@${DIGEST}`, `docker.io/library/repo@${DIGEST}`, `repo@${DIGEST}`, 'repo'],
    [`repo:t@${DIGEST}`, `docker.io/library/repo:t@${DIGEST}`, `repo:t@${DIGEST}`, 'repo'],
    ['foo_bar.com/x:1', 'foo_bar.com/x:1', 'foo_bar.com/x:1', 'foo_bar.com/x'],
  ];
  for (const [input, full, familiar, name] of cases) {
    const ref = parseReference(input);
    assert.equal(fullString(ref), full, input);
    assert.equal(familiarString(ref), familiar, input);
    assert.equal(familiarName(ref), name, input);
    // Stored refs are full strings and are parsed again on every start.
    assert.deepEqual(parseReference(fullString(ref)), ref, input);
  }
});

test('the default tag is added only when there is neither tag nor digest', () => {
  assert.equal(fullString(withDefaultTag(parseReference('busybox'))), 'docker.io/library/busybox:latest');
  assert.equal(familiarString(withDefaultTag(parseReference('busybox'))), 'busybox:latest');
  assert.equal(familiarString(withDefaultTag(parseReference('busybox:1'))), 'busybox:1');
  assert.equal(familiarString(withDefaultTag(parseReference(`busybox@${DIGEST}`))), `busybox@${DIGEST}`);
});

test('malformed references are refused with "invalid reference format"', () => {
  const bad = [
    '',
    ':tag',
    'foo:',
    'foo bar',
    '-foo',
    'foo-',
    'foo..bar',
    'foo.-bar',
    'foo___bar',
    'a/b/c:',
    'foo//bar',
    'foo/',
    '/foo',
    'foo@',
    '@sha256:' + HEX,
    'foo@sha256:abc',
    'foo:-tag',
    'foo:.tag',
    'foo:ta/g',
    `foo:${'t'.repeat(129)}`,
    'foo:tag:tag',
    'foo@sha256:' + HEX + '@sha256:' + HEX,
    'host:port:5000/foo',
    'fóo',
  ];
  for (const s of bad) rejectsWith(s, 'invalid reference format');
  assert.deepEqual(parseReference(`foo:${'t'.repeat(128)}`).tag, 't'.repeat(128));
});

test('uppercase in the repository name gets the lowercase message naming the normalised path', () => {
  rejectsWith('Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase');
  rejectsWith('docker.io/Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase');
  rejectsWith('foo/Bar', 'invalid reference format: repository name (foo/Bar) must be lowercase');
  rejectsWith('foo/Bar:tag', 'invalid reference format: repository name (foo/Bar) must be lowercase');
  rejectsWith('localhost:5000/Foo', 'invalid reference format: repository name (Foo) must be lowercase');
  // As in dockerd, the case check comes first even when something else is also wrong.
  rejectsWith('Foo:', 'invalid reference format: repository name (library/Foo) must be lowercase');
});

test('repository paths longer than 255 characters are refused', () => {
  const ok = `x/${'a'.repeat(253)}`;
  assert.equal(parseReference(ok).path.length, 255);
  rejectsWith(`x/${'a'.repeat(254)}`, 'invalid reference format: repository name must not be more than 255 characters');
  // The registry does not count.
  assert.equal(parseReference(`registry.example.com/${'a'.repeat(255)}`).path.length, 255);
});

test('digests must use a known algorithm at its exact length', () => {
  assert.equal(parseReference(`foo@sha512:${'ab'.repeat(64)}`).digest, `sha512:${'ab'.repeat(64)}`);
  rejectsWith(`foo@sha256:${'a'.repeat(32)}`, 'invalid checksum digest length');
  rejectsWith(`foo@sha256:${HEX.toUpperCase()}`, 'invalid checksum digest format');
  rejectsWith(`foo@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm');
});

test('a bare 64-digit hex string is an ID, never a repository name', () => {
  rejectsWith(HEX, `invalid repository name (${HEX}), cannot specify 64-byte hexadecimal strings`);
});

test('image IDs and their prefixes are recognised', () => {
  assert.ok(isFullImageId(HEX));
  assert.ok(isFullImageId(`sha256:${HEX}`));
  assert.ok(!isFullImageId(HEX.slice(1)));
  assert.ok(!isFullImageId(`${HEX}0`));
  assert.ok(!isFullImageId(HEX.toUpperCase()));
  assert.ok(!isFullImageId(`sha512:${HEX}`));

  assert.ok(looksLikeIdPrefix('a'));
  assert.ok(looksLikeIdPrefix('abc123'));
  assert.ok(looksLikeIdPrefix('sha256:abc'));
  assert.ok(looksLikeIdPrefix(HEX));
  assert.ok(!looksLikeIdPrefix(''));
  assert.ok(!looksLikeIdPrefix('sha256:'));
  assert.ok(!looksLikeIdPrefix(`${HEX}0`));
  assert.ok(!looksLikeIdPrefix('busybox'));
  assert.ok(!looksLikeIdPrefix('ABC'));
});
