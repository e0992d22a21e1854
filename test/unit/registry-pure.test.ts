import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { humanSize, progressBar, progressJson } from '../../src/api/wire/progress-json.js';
import { credentialsFor, decodeRegistryAuth, decodeRegistryConfig, parseChallenges } from '../../src/images/registry/auth.js';
import { inCidr } from '../../src/images/registry/hosts.js';
import { loginDomain } from '../../src/images/registry/index.js';
import { registryError } from '../../src/images/registry/errors.js';
import { applyChanges } from '../../src/images/changes.js';
import { parsePlatform, platformMatches } from '../../src/images/media-types.js';

describe('progress messages as dockerd writes them', () => {
  it('sizes in go-units HumanSize (decimal, four significant digits)', () => {
    assert.equal(humanSize(0), '0B');
    assert.equal(humanSize(999), '999B');
    assert.equal(humanSize(1000), '1kB');
    assert.equal(humanSize(1234567), '1.235MB');
    assert.equal(humanSize(32_000_000), '32MB');
    assert.equal(humanSize(2.5e9), '2.5GB');
  });

  it('bars at dockerd\'s 200 columns, numbers padded to 8', () => {
    assert.equal(progressBar(0, 0), '');
    assert.equal(progressBar(500_000, 1_000_000), `[${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB`);
    assert.equal(progressBar(1_000_000, 1_000_000), `[${'='.repeat(50)}>] ` + '     1MB/1MB');
    assert.equal(progressBar(2_000_000, 1_000_000), `[${'='.repeat(50)}>]      2MB`);
    assert.equal(progressBar(12, 0), '     12B');
    assert.equal(progressBar(500_000, 1_000_000, 80), '   500kB/1MB');
  });

  it('JSON lines in Go\'s field order, CRLF-terminated', () => {
    assert.equal(progressJson({ kind: 'message', id: 'latest', status: 'Pulling from library/busybox' }), '{"status":"Pulling from library/busybox","id":"latest"}\r\n');
    assert.equal(progressJson({ kind: 'update', id: 'abc', status: 'Pull complete' }), '{"status":"Pull complete","progressDetail":{},"id":"abc"}\r\n');
    assert.equal(
      progressJson({ kind: 'bytes', id: 'abc', status: 'Downloading', current: 10, total: 20 }),
      `{"status":"Downloading","progressDetail":{"current":10,"total":20},"progress":"[${'='.repeat(25)}>${' '.repeat(25)}]      10B/20B","id":"abc"}\r\n`,
    );
    assert.equal(progressJson({ kind: 'aux', aux: { Tag: '1', Digest: 'sha256:x', Size: 3 } }), '{"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:x","Size":3}}\r\n');
  });
});

describe('registry authentication', () => {
  it('parses WWW-Authenticate challenges with quoted and bare parameters', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="x y"'), [{ scheme: 'basic', params: { realm: 'x y' } }]);
    assert.deepEqual(parseChallenges(['Basic realm=plain', 'Bearer realm="r"']).map((c) => c.scheme), ['basic', 'bearer']);
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it('decodes X-Registry-Auth (base64url or base64 JSON; the auth field; nonsense is no credentials)', () => {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    assert.deepEqual(decodeRegistryAuth(enc({ username: 'u', password: 'p?>', serveraddress: 'r:5000' })), { username: 'u', password: 'p?>' });
    assert.deepEqual(decodeRegistryAuth(enc({ auth: Buffer.from('me:secret:with:colons').toString('base64') })), { username: 'me', password: 'secret:with:colons' });
    assert.deepEqual(decodeRegistryAuth(enc({ identitytoken: 'tok' })), { identityToken: 'tok' });
    assert.equal(decodeRegistryAuth('e30='), undefined);
    assert.equal(decodeRegistryAuth('%%%'), undefined);
    assert.equal(decodeRegistryAuth(undefined), undefined);
  });

  it('decodes X-Registry-Config (a build\'s credentials for every registry) and picks a registry\'s as dockerd does', () => {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const configs = decodeRegistryConfig(
      enc({
        '127.0.0.1:5000': { username: 'a', password: 'pa' },
        'https://old.example:443/v1/': { auth: Buffer.from('b:pb').toString('base64') },
        'https://index.docker.io/v1/': { username: 'hub', password: 'ph' },
        'docker.io': { username: 'wrong-key', password: 'x' },
        'empty:1': {},
        'junk:1': 'not an object',
      }),
    );
    assert.deepEqual([...configs.keys()], ['127.0.0.1:5000', 'https://old.example:443/v1/', 'https://index.docker.io/v1/', 'docker.io']);
    assert.deepEqual(credentialsFor(configs, '127.0.0.1:5000'), { username: 'a', password: 'pa' });
    // A key written as a URL by an old CLI matches its host.
    assert.deepEqual(credentialsFor(configs, 'old.example:443'), { username: 'b', password: 'pb' });
    // Docker Hub: only the index URL key counts.
    assert.deepEqual(credentialsFor(configs, 'docker.io'), { username: 'hub', password: 'ph' });
    assert.equal(credentialsFor(decodeRegistryConfig(enc({ 'docker.io': { username: 'u', password: 'p' } })), 'docker.io'), undefined);
    assert.equal(credentialsFor(configs, '127.0.0.1:5001'), undefined);
    // As dockerd: what does not decode is no credentials.
    for (const bad of [undefined, '', '%%%', enc([1]), enc('x'), 'e30=']) assert.equal(decodeRegistryConfig(bad).size, 0);
  });

  it('words registry errors as dockerd does', () => {
    const body = Buffer.from(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'x' } }] }));
    const e = registryError(404, body, 'manifest x');
    assert.equal(e.message, 'manifest unknown: manifest unknown');
    assert.equal(e.kind, 'NotFound');
    assert.equal(e.code, 'MANIFEST_UNKNOWN');
    assert.equal(registryError(401, Buffer.from(''), 'x').message, 'unauthorized: authentication required');
    assert.equal(registryError(401, Buffer.from('{"details":"incorrect username or password"}'), 'x').message, 'unauthorized: incorrect username or password');
    assert.equal(registryError(502, Buffer.from('<html>'), 'blob b').message, 'blob b: unexpected status from the registry: 502 Bad Gateway');
  });

  it('names the registry of a login address', () => {
    assert.equal(loginDomain(''), 'docker.io');
    assert.equal(loginDomain('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(loginDomain('localhost:5000'), 'localhost:5000');
    assert.equal(loginDomain('http://10.1.2.3:5000/'), '10.1.2.3:5000');
    assert.equal(loginDomain('reg.example/some/path'), 'reg.example');
  });
});

describe('registry hosts and platforms', () => {
  it('matches addresses against CIDRs, IPv4 and IPv6', () => {
    assert.ok(inCidr('127.0.0.1', '127.0.0.0/8'));
    assert.ok(!inCidr('128.0.0.1', '127.0.0.0/8'));
    assert.ok(inCidr('10.250.3.5', '10.250.3.4/30'));
    assert.ok(!inCidr('10.250.3.8', '10.250.3.4/30'));
    assert.ok(inCidr('::1', '::1/128'));
    assert.ok(inCidr('fd00::1234', 'fd00::/8'));
    assert.ok(!inCidr('10.0.0.1', '::1/128'));
  });

  it('reads --platform and picks manifest list entries', () => {
    assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.ok(platformMatches({ os: 'linux', architecture: 'arm64' }, parsePlatform('linux/arm64')));
    assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, parsePlatform('linux/arm/v7')));
    assert.ok(!platformMatches(undefined, parsePlatform('linux/amd64')));
  });
});

describe('commit and import changes', () => {
  it('HEALTHCHECK: options in nanoseconds, shell and exec forms, NONE', () => {
    assert.deepEqual(applyChanges({}, ['HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f http://x/ || exit 1'])['Healthcheck'], {
      Test: ['CMD-SHELL', 'curl -f http://x/ || exit 1'],
      Interval: 90_000_000_000,
      Timeout: 500_000_000,
      Retries: 3,
    });
    assert.deepEqual(applyChanges({}, ['HEALTHCHECK CMD ["/bin/check", "-q"]'])['Healthcheck'], { Test: ['CMD', '/bin/check', '-q'] });
    assert.deepEqual(applyChanges({}, ['HEALTHCHECK NONE'])['Healthcheck'], { Test: ['NONE'] });
    assert.throws(() => applyChanges({}, ['HEALTHCHECK --interval=5x CMD true']), /invalid duration/);
    assert.throws(() => applyChanges({}, ['HEALTHCHECK --bogus=1 CMD true']), /Unknown flag: bogus/);
  });
});
