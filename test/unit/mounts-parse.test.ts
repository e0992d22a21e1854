import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBind, parseMount, parseRequestMounts, validMountMode } from '../../src/api/wire/mounts.js';
import { parseCreateBody } from '../../src/api/wire/create-request.js';
import { withImageVolumes } from '../../src/engine/mounts.js';
import { mergeTmpfsOptions, ociUserMounts, withNetworkFiles } from '../../src/runtime/oci-mounts.js';
import { mountPointJson } from '../../src/api/wire/mount-json.js';

// The valid and invalid `-v` forms from moby's linux_parser_test.go.
const VALID_BINDS = [
  '/home', '/home:/home', '/home:/something/else', '/with space', '/home:/with space', 'relative:/absolute-path',
  'hostPath:/containerPath:ro', '/hostPath:/containerPath:rw', '/rw:/ro', '/hostPath:/containerPath:shared',
  '/hostPath:/containerPath:rslave', '/hostPath:/containerPath:ro,z,shared', '/hostPath:/containerPath:Z,slave,ro',
  '/hostPath:/containerPath:ro,Z,rprivate', 'vol:/data:nocopy', 'vol:/data:ro,nocopy',
];

const INVALID_BINDS: [string, string][] = [
  ['', "invalid volume specification: ''"],
  ['./', "invalid volume specification: './': invalid mount config for type \"volume\": invalid mount path: './' mount path must be absolute"],
  ['/:path', "invalid volume specification: '/:path': invalid mount config for type \"bind\": invalid mount path: 'path' mount path must be absolute"],
  [':', "invalid volume specification: ':'"],
  ['/tmp:', "invalid volume specification: '/tmp:'"],
  [':/test', "invalid volume specification: ':/test'"],
  ['/tmp:::', "invalid volume specification: '/tmp:::'"],
  ['/path:rw', "invalid volume specification: '/path:rw'"],
  ['path:ro', "invalid volume specification: 'path:ro'"],
  ['/path:shared', "invalid volume specification: '/path:shared'"],
  ['/path:/path:sw', 'invalid mode: sw'],
  ['/path:/path:rwz', 'invalid mode: rwz'],
  ['/path:/path:ro,rshared,rslave', 'invalid mode: ro,rshared,rslave'],
  ['/path:/path:ro,ro', 'invalid mode: ro,ro'],
  ['name:/absolute-path:shared', `invalid volume specification: 'name:/absolute-path:shared': invalid mount config for type "volume": field BindOptions must not be specified`],
  ['/host:/ctr:nocopy', `invalid volume specification: '/host:/ctr:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`],
  ['/host:/', `invalid volume specification: '/host:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
];

test('-v: every form moby accepts parses, every form it refuses fails with its message', () => {
  for (const b of VALID_BINDS) assert.doesNotThrow(() => parseBind(b), b);
  for (const [b, msg] of INVALID_BINDS) {
    assert.throws(() => parseBind(b), (err: Error) => err.message === msg, `${b} → ${msg}`);
  }
});

test('-v: binds, named volumes and anonymous volumes become typed mounts', () => {
  assert.deepEqual(parseBind('/tmp/../srv/:/data/:ro,rshared'), {
    type: 'bind', source: '/srv', destination: '/data', readOnly: true, propagation: 'rshared', createSource: true, mode: 'ro,rshared',
  });
  assert.deepEqual(parseBind('cache:/var/cache'), {
    type: 'volume', source: '', destination: '/var/cache', readOnly: false, name: 'cache', anonymous: false, mode: 'z',
  });
  assert.deepEqual(parseBind('cache:/c:ro,nocopy'), {
    type: 'volume', source: '', destination: '/c', readOnly: true, name: 'cache', anonymous: false, nocopy: true, mode: 'ro,nocopy',
  });
  assert.deepEqual(parseBind('/scratch'), { type: 'volume', source: '', destination: '/scratch', readOnly: false, anonymous: true, mode: 'z' });
  assert.ok(validMountMode('ro,Z,rprivate,nocopy,cached'));
  assert.ok(!validMountMode('ro,'));
});

test('--mount: volume, bind and tmpfs with their options', () => {
  assert.deepEqual(
    parseMount({ Type: 'volume', Source: 'v1', Target: '/d', ReadOnly: true, VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs' } } } }),
    {
      type: 'volume', source: '', destination: '/d', readOnly: true, name: 'v1', anonymous: false, nocopy: true,
      volumeCreate: { labels: { a: 'b' }, options: { type: 'tmpfs', device: 'tmpfs' } }, mode: 'z',
    },
  );
  assert.deepEqual(parseMount({ Type: 'volume', Target: '/anon' }), {
    type: 'volume', source: '', destination: '/anon', readOnly: false, anonymous: true, mode: 'z',
  });
  assert.deepEqual(parseMount({ Type: 'bind', Source: '/etc', Target: '/host-etc', BindOptions: { Propagation: 'rslave' } }), {
    type: 'bind', source: '/etc', destination: '/host-etc', readOnly: false, propagation: 'rslave', createSource: false, mode: '',
  });
  assert.equal(parseMount({ Type: 'bind', Source: '/x', Target: '/y', BindOptions: { CreateMountpoint: true } }).createSource, true);
  assert.deepEqual(parseMount({ Type: 'tmpfs', Target: '/t', ReadOnly: true, TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777, Options: [['exec']] } }), {
    type: 'tmpfs', source: '', destination: '/t', readOnly: true, options: ['ro', 'mode=1777', 'size=64m', 'exec'], mode: '',
  });
  assert.deepEqual(parseMount({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1000 } }).options, ['size=1000']);
});

test('--mount: errors carry moby\'s "invalid mount config" messages', () => {
  const cases: [unknown, string | RegExp][] = [
    [{ Type: 'bind', Target: '/x' }, 'invalid mount config for type "bind": field Source must not be empty'],
    [{ Type: 'bind', Source: 'rel', Target: '/x' }, "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"],
    [{ Type: 'volume', Source: 'v', Target: '' }, 'invalid mount config for type "volume": field Target must not be empty'],
    [{ Type: 'volume', Source: 'v', Target: 'rel' }, "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"],
    [{ Type: 'volume', Source: 'v', Target: '/' }, `invalid mount config for type "volume": invalid specification: destination can't be '/'`],
    [{ Type: 'volume', Source: 'v', Target: '/x', BindOptions: {} }, 'invalid mount config for type "volume": field BindOptions must not be specified'],
    [{ Type: 'bind', Source: '/a', Target: '/x', VolumeOptions: {} }, 'invalid mount config for type "bind": field VolumeOptions must not be specified'],
    [{ Type: 'bind', Source: '/a', Target: '/x', BindOptions: { Propagation: 'sideways' } }, 'invalid mount config for type "bind": invalid propagation mode: sideways'],
    [{ Type: 'tmpfs', Source: 'x', Target: '/t' }, 'invalid mount config for type "tmpfs": field Source must not be specified'],
    [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { Options: [['suid']] } }, 'invalid mount config for type "tmpfs": invalid option: suid'],
    [{ Type: 'npipe', Source: 'x', Target: '/t' }, 'invalid mount config for type "npipe": mount type unknown'],
    [{ Type: 'volume', Source: 'v', Target: '/x', VolumeOptions: { DriverConfig: { Name: 'flocker' } } }, 'error looking up volume plugin flocker: plugin "flocker" not found'],
    ['nope', /cannot unmarshal/],
  ];
  for (const [raw, msg] of cases) {
    assert.throws(() => parseMount(raw), (err: Error) => (typeof msg === 'string' ? err.message === msg : msg.test(err.message)), JSON.stringify(raw));
  }
});

test('a create request: binds, then --mounts, then Config.Volumes not already covered; duplicates refused', () => {
  const mounts = parseRequestMounts(['/h:/a', 'v:/b'], [{ Type: 'tmpfs', Target: '/c' }], { '/a': {}, '/d/': {} }, '');
  assert.deepEqual(mounts.map((m) => [m.type, m.destination, m.anonymous ?? false]), [
    ['bind', '/a', false], ['volume', '/b', false], ['tmpfs', '/c', false], ['volume', '/d', true],
  ]);
  assert.deepEqual(mounts[3], { type: 'volume', source: '', destination: '/d', readOnly: false, anonymous: true, mode: '' });
  assert.throws(() => parseRequestMounts(['/h:/a', 'v:/a/'], [], {}, ''), (e: Error) => e.message === 'Duplicate mount point: /a');
  assert.throws(() => parseRequestMounts(['/h:/a'], [{ Type: 'volume', Target: '/a/' }], {}, ''), (e: Error) => e.message === 'Duplicate mount point: /a/');
  assert.throws(
    () => parseRequestMounts([], [], { 'a:/x': {} }, ''),
    (e: Error) => e.message === `invalid volume specification: 'a:/x': invalid mount config for type "volume": invalid mount path: 'a:/x' mount path must be absolute`,
  );
  assert.throws(() => parseRequestMounts([], [], {}, 'convoy'), (e: Error) => e.message === 'error looking up volume plugin convoy: plugin "convoy" not found');
  const body = parseCreateBody({ Image: 'busybox', Volumes: { '/v': {} }, HostConfig: { Binds: ['n1:/n'], Mounts: [{ Type: 'volume', Source: 'n2', Target: '/m' }] } }, undefined, undefined);
  assert.deepEqual(body.mounts.map((m) => m.destination), ['/n', '/m', '/v']);
  assert.throws(() => parseCreateBody({ Image: 'busybox', HostConfig: { Mounts: {} } }, undefined, undefined), /cannot unmarshal object into Go struct field HostConfig.Mounts/);
});

test('image volumes are added only where the request mounts nothing', () => {
  const out = withImageVolumes(parseRequestMounts(['data:/data'], [], {}, ''), { '/data': {}, '/logs/': {} });
  assert.deepEqual(out.map((m) => [m.destination, m.name ?? '', m.anonymous]), [['/data', 'data', false], ['/logs', '', true]]);
  assert.equal(withImageVolumes([], null).length, 0);
});

test('OCI mounts: shallow first, options per kind, network files on top', () => {
  const oci = ociUserMounts([
    { type: 'bind', source: '/h', destination: '/etc/app/conf', readOnly: true, propagation: 'rslave' },
    { type: 'volume', source: '/v/_data', destination: '/etc', readOnly: false, name: 'v' },
    { type: 'tmpfs', source: '', destination: '/tmp', readOnly: false, options: ['exec', 'size=1m'] },
  ]);
  assert.deepEqual(oci, [
    { destination: '/etc', type: 'bind', source: '/v/_data', options: ['rbind', 'rw', 'rprivate'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'exec', 'size=1m'] },
    { destination: '/etc/app/conf', type: 'bind', source: '/h', options: ['rbind', 'ro', 'rslave'] },
  ]);
  const etc = [{ destination: '/etc/hosts', type: 'bind', source: '/c/hosts', options: [] }, { destination: '/etc/hostname', type: 'bind', source: '/c/hn', options: [] }];
  const user = [{ destination: '/etc', type: 'bind', source: '/v', options: [] }, { destination: '/etc/hosts', type: 'bind', source: '/mine', options: [] }];
  assert.deepEqual(withNetworkFiles(user, etc).map((m) => m.source), ['/v', '/mine', '/c/hn']);
  assert.deepEqual(mergeTmpfsOptions(['noexec', 'size=1m', 'exec', 'size=2m', 'ro']), ['exec', 'size=2m', 'ro']);
});

test('inspect Mounts: Docker\'s fields for a bind, a named volume and a tmpfs', () => {
  assert.deepEqual(mountPointJson(parseBind('/srv:/data:ro')), {
    Type: 'bind', Source: '/srv', Destination: '/data', Mode: 'ro', RW: false, Propagation: 'rprivate',
  });
  assert.deepEqual(mountPointJson({ ...parseBind('v1:/data'), source: '/var/lib/berth/volumes/v1/_data' }), {
    Type: 'volume', Name: 'v1', Source: '/var/lib/berth/volumes/v1/_data', Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '',
  });
  assert.deepEqual(mountPointJson(parseMount({ Type: 'tmpfs', Target: '/t' })), {
    Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '',
  });
});
