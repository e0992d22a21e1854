import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCreateBody } from '../../src/api/wire/create-request.js';
import { parseDetachKeys, DetachMatcher } from '../../src/api/streams/detach-keys.js';
import { checkVersion } from '../../src/api/api-version.js';
import { Router } from '../../src/api/router.js';
import { statusOf } from '../../src/api/http-errors.js';
import { parseFilters } from '../../src/api/wire/filters.js';

test('create body: defaults, entrypoint forms, validation', () => {
  const o = parseCreateBody({ Image: 'busybox', Cmd: ['echo', 'hi'] }, 'web', undefined);
  assert.equal(o.name, 'web');
  assert.deepEqual(o.cmd, ['echo', 'hi']);
  assert.equal(o.entrypoint, undefined);
  assert.equal(o.inheritCmd, true);
  // As given: the engine resolves '' (the default network) at create.
  assert.equal(o.networkMode, '');
  assert.equal(o.endpoint, undefined);
  const published = parseCreateBody(
    { Image: 'busybox', ExposedPorts: { '80/tcp': {} }, HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] }, PublishAllPorts: true } },
    undefined,
    undefined,
  );
  assert.deepEqual(published.endpoint, {
    ports: [{ proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortStart: 8080, hostPortEnd: 8080 }],
    exposed: ['80/tcp'],
  });
  const withIp = parseCreateBody({ Image: 'busybox', HostConfig: { NetworkMode: 'mynet' }, NetworkingConfig: { EndpointsConfig: { mynet: { IPAMConfig: { IPv4Address: '10.1.2.3' }, MacAddress: '02:42:00:00:00:01' } } } }, undefined, undefined);
  assert.deepEqual(withIp.endpoint, { ports: [], exposed: [], ipv4Address: '10.1.2.3', macAddress: '02:42:00:00:00:01' });
  const reset = parseCreateBody({ Image: 'busybox', Entrypoint: [''], Cmd: 'ls' }, undefined, undefined);
  assert.deepEqual(reset.entrypoint, []);
  assert.deepEqual(reset.cmd, ['ls']);
  assert.equal(reset.inheritCmd, false);
  assert.throws(() => parseCreateBody({ Image: 'busybox', Env: 'x' }, undefined, undefined), /cannot unmarshal string into Go struct field Config.Env of type \[\]string/);
  assert.throws(() => parseCreateBody({ Image: 'busybox', HostConfig: { Memory: 1024 } }, undefined, undefined), /Minimum memory limit allowed is 6MB/);
  assert.throws(
    () => parseCreateBody({ Image: 'busybox', HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } }, undefined, undefined),
    /can't create 'AutoRemove' container with restart policy/,
  );
  assert.throws(() => parseCreateBody({ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, undefined, undefined), /invalid restart policy/);
  assert.throws(() => parseCreateBody({ Image: 'busybox', HostConfig: { Binds: ['/a:/b:bogus'] } }, undefined, undefined), /invalid mode: bogus/);
  assert.throws(() => parseCreateBody({ Image: 'busybox', HostConfig: { Binds: ['/a:rel'] } }, undefined, undefined), /mount path must be absolute/);
  assert.throws(() => parseCreateBody([1, 2], undefined, undefined), /invalid JSON/);
  const b = parseCreateBody({ Image: 'busybox', HostConfig: { Binds: ['/tmp:/mnt:ro'] } }, undefined, undefined);
  assert.deepEqual(b.mounts, [
    { type: 'bind', source: '/tmp', destination: '/mnt', readOnly: true, propagation: 'rprivate', createSource: true, mode: 'ro' },
  ]);
});

test('detach keys: parse and match across chunks', () => {
  assert.deepEqual([...parseDetachKeys(undefined)], [16, 17]);
  assert.deepEqual([...parseDetachKeys('ctrl-a,x')], [1, 120]);
  assert.throws(() => parseDetachKeys('ctrl-1'), /Invalid detach keys \(ctrl-1\) provided/);
  const m = new DetachMatcher(parseDetachKeys(undefined));
  assert.deepEqual(m.feed(Buffer.from('ab\x10')), { forward: Buffer.from('ab'), detach: false });
  assert.deepEqual(m.feed(Buffer.from('c')), { forward: Buffer.from('\x10c'), detach: false });
  assert.deepEqual(m.feed(Buffer.from('\x10')), { forward: Buffer.alloc(0), detach: false });
  assert.equal(m.feed(Buffer.from('\x11')).detach, true);
});

test('API versions outside the range get Docker messages', () => {
  assert.equal(checkVersion('1.41'), 1041);
  assert.throws(() => checkVersion('1.99'), /client version 1.99 is too new. Maximum supported API version is 1.47/);
  assert.throws(() => checkVersion('1.12'), /client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version/);
});

test('router: params, greedy names, method mismatch', () => {
  const r = new Router();
  const h = () => undefined;
  r.add([
    { method: 'GET', path: '/containers/{id}/json', handler: h },
    { method: 'GET', path: '/images/{name:*}/json', handler: h },
  ]);
  const m = r.match('GET', '/containers/abc/json');
  assert.ok(m && m !== 'method');
  assert.deepEqual(m.params, { id: 'abc' });
  const i = r.match('GET', '/images/localhost:5000/a/b:1/json');
  assert.ok(i && i !== 'method');
  assert.equal(i.params['name'], 'localhost:5000/a/b:1');
  assert.equal(r.match('POST', '/containers/abc/json'), 'method');
  assert.equal(r.match('GET', '/nope'), undefined);
});

test('error kinds map to Docker status codes', () => {
  assert.equal(statusOf('NotFound'), 404);
  assert.equal(statusOf('Conflict'), 409);
  assert.equal(statusOf('InvalidParameter'), 400);
  assert.equal(statusOf('NotModified'), 304);
  assert.equal(statusOf('System'), 500);
});

test('filters accept list and set forms', () => {
  assert.deepEqual(parseFilters('{"status":["running"]}', ['status']).get('status'), ['running']);
  assert.deepEqual(parseFilters('{"status":{"exited":true,"x":false}}', ['status']).get('status'), ['exited']);
  assert.throws(() => parseFilters('{"bogus":["1"]}', ['status']), /invalid filter 'bogus'/);
  assert.throws(() => parseFilters('not json', ['status']), /invalid filter/);
});
