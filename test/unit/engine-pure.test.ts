import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateName, generateName } from '../../src/engine/names.js';
import { parseSignal } from '../../src/engine/signals.js';
import { deriveSpec, type CreateOptions } from '../../src/engine/create-options.js';
import { resolveNetworkMode } from '../../src/engine/networks/network-mode.js';
import { mergeEnv } from '../../src/lib/env.js';
import { capabilities } from '../../src/runtime/container-spec.js';
import { normalizeCapability, unknownCapability } from '../../src/lib/capabilities.js';
import { parseStat } from '../../src/lib/proc.js';
import { applyChanges } from '../../src/images/changes.js';
import { withoutInitPaths } from '../../src/engine/changes.js';
import { withVolumesFrom } from '../../src/engine/mounts.js';

test('container names follow Docker rules and message', () => {
  assert.equal(validateName('/web-1'), 'web-1');
  assert.equal(validateName('a.b_c'), 'a.b_c');
  for (const bad of ['a', '-x', 'has space', 'x/y', '', '_x']) {
    assert.throws(() => validateName(bad), (e: Error) => e.message === `Invalid container name (${bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const taken = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const n = generateName((x) => taken.has(x));
    assert.match(n, /^[a-z]+_[a-z]+\d*$/);
    assert.ok(!taken.has(n));
    taken.add(n);
  }
});

test('signals parse in every form docker accepts', () => {
  assert.equal(parseSignal('9'), 9);
  assert.equal(parseSignal('KILL'), 9);
  assert.equal(parseSignal('SIGTERM'), 15);
  assert.equal(parseSignal('sighup'), 1);
  assert.equal(parseSignal('SIGRTMIN+3'), 37);
  assert.throws(() => parseSignal('NOPE'), /Invalid signal: NOPE/);
  assert.throws(() => parseSignal('0'), /Invalid signal/);
  assert.throws(() => parseSignal('65'), /Invalid signal/);
});

function opts(o: Partial<CreateOptions>): CreateOptions {
  return {
    image: 'busybox',
    inheritCmd: true,
    env: [],
    tty: false,
    openStdin: false,
    stdinOnce: false,
    labels: {},
    autoRemove: false,
    networkMode: 'none',
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    memory: 0,
    memorySwap: 0,
    nanoCpus: 0,
    cpuShares: 0,
    pidsLimit: 0,
    readonlyRootfs: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    ulimits: [],
    mounts: [],
    init: false,
    request: { config: {}, hostConfig: {} },
    ...o,
  };
}

test('entrypoint and cmd merge with the image as dockerd does', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default'], Env: ['PATH=/bin', 'A=1'], WorkingDir: '/w', Labels: { l: 'img' } };
  let s = deriveSpec(opts({}), image, 'abc', 'none');
  assert.deepEqual([s.entrypoint, s.cmd], [['/entry'], ['default']]);
  s = deriveSpec(opts({ cmd: ['x'] }), image, 'abc', 'none');
  assert.deepEqual([s.entrypoint, s.cmd], [['/entry'], ['x']]);
  // --entrypoint given: the image's CMD is dropped.
  s = deriveSpec(opts({ entrypoint: ['/other'], inheritCmd: false }), image, 'abc', 'none');
  assert.deepEqual([s.entrypoint, s.cmd], [['/other'], []]);
  // --entrypoint "" with a command.
  s = deriveSpec(opts({ entrypoint: [], inheritCmd: false, cmd: ['echo', 'hi'] }), image, 'abc', 'none');
  assert.deepEqual([s.entrypoint, s.cmd], [[], ['echo', 'hi']]);
  s = deriveSpec(opts({ env: ['A=2', 'B=3'], labels: { m: 'x' } }), image, 'abc', 'none');
  assert.deepEqual(s.env, ['PATH=/bin', 'A=2', 'B=3']);
  assert.deepEqual(s.labels, { l: 'img', m: 'x' });
  assert.equal(s.workingDir, '/w');
  assert.equal(s.hostname, 'abc');
  assert.throws(() => deriveSpec(opts({ entrypoint: [], inheritCmd: false }), image, 'abc', 'none'), /No command specified/);
  assert.throws(() => deriveSpec(opts({ workingDir: 'rel' }), image, 'abc', 'none'), /the working directory 'rel' is invalid, it needs to be an absolute path/);
  assert.throws(() => deriveSpec(opts({ stopSignal: 'BOGUS' }), image, 'abc', 'none'), /Invalid signal/);
});

test('network modes: default, bridge, host, none and container: as dockerd checks them at create', () => {
  const ctx = (bridgeEnabled: boolean) => ({ bridgeEnabled, containerId: (ref: string) => {
    if (ref !== 'web') throw new Error(`No such container: ${ref}`);
    return 'f'.repeat(64);
  } });
  const req = { hostnameGiven: false, dnsGiven: false, extraHostsGiven: false };
  const ports = [{ proto: 'tcp' as const, containerPort: 80, hostIp: '', hostPortStart: 8080, hostPortEnd: 8080 }];
  assert.equal(resolveNetworkMode('', req, ctx(true)).mode, 'bridge');
  assert.equal(resolveNetworkMode('default', req, ctx(false)).mode, 'none');
  // Without a default bridge, `bridge` fails at start (a 404 from create would make the CLI pull).
  assert.equal(resolveNetworkMode('bridge', req, ctx(false)).mode, 'bridge');
  assert.deepEqual(resolveNetworkMode('host', { ...req, endpoint: { ports, exposed: [] } }, ctx(true)).warnings, ['Published ports are discarded when using host network mode']);
  assert.equal(resolveNetworkMode('container:web', req, ctx(true)).mode, `container:${'f'.repeat(64)}`);
  assert.throws(() => resolveNetworkMode('container:web', { ...req, hostnameGiven: true }, ctx(true)), /conflicting options: hostname and the network mode/);
  assert.throws(() => resolveNetworkMode('container:web', { ...req, endpoint: { ports, exposed: [] } }, ctx(true)), /conflicting options: port publishing and the container type network mode/);
  assert.throws(() => resolveNetworkMode('container:nope', req, ctx(true)), /No such container: nope/);
  assert.throws(() => resolveNetworkMode('bridge', { ...req, endpoint: { ports: [], exposed: [], ipv4Address: '10.1.0.9' } }, ctx(true)), /user specified IP address is supported on user defined networks only/);
  // Looked up at start (a 404 from create would make the CLI try to pull the image).
  assert.equal(resolveNetworkMode('mynet', req, ctx(true)).mode, 'mynet');
});

test('mergeEnv replaces by key and keeps order', () => {
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'C']), ['A=1', 'B=3', 'C']);
});

test('capabilities: defaults, add, drop, ALL', () => {
  const d = capabilities([], []);
  assert.ok(d.includes('CAP_CHOWN') && d.includes('CAP_NET_RAW') && !d.includes('CAP_SYS_ADMIN'));
  assert.ok(capabilities(['SYS_ADMIN'], []).includes('CAP_SYS_ADMIN'));
  assert.ok(!capabilities([], ['net_raw']).includes('CAP_NET_RAW'));
  assert.deepEqual(capabilities(['CHOWN'], ['ALL']), ['CAP_CHOWN']);
  assert.ok(capabilities(['ALL'], []).includes('CAP_BPF'));
  assert.throws(() => capabilities(['NOPE'], []), /unknown capability: "CAP_NOPE"/);
});

test('capability names: any case, with or without CAP_, ALL; the first unknown one named as Docker does', () => {
  assert.equal(normalizeCapability('net_admin'), 'CAP_NET_ADMIN');
  assert.equal(normalizeCapability('Cap_Bpf'), 'CAP_BPF');
  assert.equal(normalizeCapability('all'), 'ALL');
  assert.equal(unknownCapability(['chown', 'CAP_SYS_ADMIN', 'ALL', 'checkpoint_restore']), undefined);
  assert.equal(unknownCapability(['chown', 'foo', 'bar']), 'CAP_FOO');
  assert.equal(unknownCapability(['CAP_']), 'CAP_');
});

test('/proc/<pid>/stat parsing survives spaces and parens in comm', () => {
  const line = '1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100';
  const st = parseStat(line);
  assert.deepEqual(st, { pid: 1234, state: 'S', ppid: 1, startTime: '987654' });
  assert.equal(parseStat('garbage'), undefined);
});

test('import --change instructions', () => {
  const c = applyChanges({}, ['CMD ["sh"]', 'ENV A=1 B="two words"', 'ENV C 3', 'WORKDIR /srv', 'LABEL x=y', 'EXPOSE 80 53/udp', 'USER nobody', 'ENTRYPOINT echo hi']);
  assert.deepEqual(c['Cmd'], ['sh']);
  assert.deepEqual(c['Env'], ['A=1', 'B=two words', 'C=3']);
  assert.equal(c['WorkingDir'], '/srv');
  assert.deepEqual(c['Labels'], { x: 'y' });
  assert.deepEqual(c['ExposedPorts'], { '80/tcp': {}, '53/udp': {} });
  assert.equal(c['User'], 'nobody');
  assert.deepEqual(c['Entrypoint'], ['/bin/sh', '-c', 'echo hi']);
  assert.throws(() => applyChanges({}, ['RUN echo']), /RUN is not a valid change command/);
  // Checked as Dockerfile lines, with the builder's messages and line numbers (these went through before).
  assert.throws(() => applyChanges({}, ['USER nobody', 'ENV']), /: dockerfile parse error line 2: ENV requires at least one argument$/);
  assert.throws(() => applyChanges({}, ['LABEL a']), /dockerfile parse error line 1: LABEL must have two arguments/);
  assert.throws(() => applyChanges({}, ['ONBUILD ONBUILD x']), /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/);
  // A JSON form that does not parse is words, as in a Dockerfile (it was a 500).
  assert.deepEqual(applyChanges({}, ['VOLUME ["/a"'])['Volumes'], { '[/a': {} }, 'its quotes removed as a word\'s');
  assert.deepEqual(applyChanges({}, ['VOLUME ["/a", "/b"]'])['Volumes'], { '/a': {}, '/b': {} });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK --interval=5s --retries=2 CMD ["true"]'])['Healthcheck'], { Test: ['CMD', 'true'], Interval: 5e9, Retries: 2 });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK CMD test -f /x'])['Healthcheck'], { Test: ['CMD-SHELL', 'test -f /x'] });
  assert.deepEqual(applyChanges({}, ['ONBUILD RUN echo hi'])['OnBuild'], ['RUN echo hi']);
  // Words are substituted from the config's Env, earlier changes included (dockerd's dispatcher).
  const base = { Env: ['PATH=/bin', 'HOME=/root'], WorkingDir: '/srv', Cmd: ['sleep', '1'] };
  const x = applyChanges(base, ['ENV PATH=$PATH:/opt/bin D=${HOME}/d', 'LABEL home=$HOME', 'WORKDIR $D', 'WORKDIR sub', 'USER ${U:-nobody}', 'VOLUME $HOME/v']);
  assert.deepEqual(x['Env'], ['PATH=/bin:/opt/bin', 'HOME=/root', 'D=/root/d']);
  assert.deepEqual(x['Labels'], { home: '/root' });
  assert.equal(x['WorkingDir'], '/root/d/sub', 'a relative WORKDIR is joined to the one before');
  assert.equal(x['User'], 'nobody');
  assert.deepEqual(x['Volumes'], { '/root/v': {} });
  assert.deepEqual(x['Cmd'], ['sleep', '1'], 'untouched without CMD or ENTRYPOINT changes');
  assert.deepEqual(base.Env, ['PATH=/bin', 'HOME=/root'], 'the config given is not changed');
  // An ENTRYPOINT drops the inherited CMD, not a CMD change before it; the shell form uses the config's Shell.
  assert.equal(applyChanges(base, ['ENTRYPOINT ["top"]'])['Cmd'], null);
  assert.deepEqual(applyChanges(base, ['CMD ["-b"]', 'ENTRYPOINT ["top"]'])['Cmd'], ['-b']);
  assert.deepEqual(applyChanges({ Shell: ['/bin/ash', '-ec'] }, ['CMD echo hi'])['Cmd'], ['/bin/ash', '-ec', 'echo hi']);
  assert.throws(() => applyChanges({}, ['EXPOSE 80/tcpx']), /invalid containerPort: 80/);
  assert.throws(() => applyChanges({}, ['ENV A=${B']), /in substitution/);
});

test('docker diff leaves out the mount points berth makes, and a directory changed only by them', () => {
  const c = (path: string, kind: 0 | 1 | 2) => ({ path, kind });
  assert.deepEqual(
    withoutInitPaths([c('/dev', 0), c('/dev/shm', 1), c('/etc', 0), c('/etc/hostname', 1), c('/etc/hosts', 1), c('/hello', 1), c('/proc', 1), c('/tmp', 0), c('/tmp/x', 1)]),
    [c('/hello', 1), c('/tmp', 0), c('/tmp/x', 1)],
  );
  // /etc stays when the container changed something else in it.
  assert.deepEqual(withoutInitPaths([c('/etc', 0), c('/etc/hosts', 1), c('/etc/passwd', 0)]), [c('/etc', 0), c('/etc/passwd', 0)]);
  // A deleted /etc/hosts.allow is not /etc/hosts.
  assert.deepEqual(withoutInitPaths([c('/etc', 0), c('/etc/hosts.allow', 2)]), [c('/etc', 0), c('/etc/hosts.allow', 2)]);
});

test('--volumes-from: volumes and binds at their destinations, own mounts win, :ro forces read-only, never anonymous here', () => {
  const lender = [
    { type: 'volume' as const, source: '/v/a', destination: '/a', readOnly: false, name: 'anon1', anonymous: true, mode: '' },
    { type: 'bind' as const, source: '/h', destination: '/h', readOnly: true, mode: 'ro' },
    { type: 'tmpfs' as const, source: '', destination: '/t', readOnly: false, mode: '' },
    { type: 'volume' as const, source: '/v/n', destination: '/n', readOnly: false, name: 'named', mode: '' },
  ];
  const own = [{ type: 'volume' as const, source: '', destination: '/n', readOnly: false, name: 'mine', mode: '' }];
  const got = withVolumesFrom(own, [{ mounts: lender, readOnly: undefined }]);
  assert.deepEqual(got.map((m) => [m.destination, m.name ?? m.source, m.readOnly, m.anonymous ?? false]), [
    ['/n', 'mine', false, false],
    ['/a', 'anon1', false, false],
    ['/h', '/h', true, false],
  ]);
  assert.ok(got.slice(1).every((m) => m.nocopy === true));
  assert.deepEqual(withVolumesFrom([], [{ mounts: lender, readOnly: true }]).map((m) => m.readOnly), [true, true, true]);
});
