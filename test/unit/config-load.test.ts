import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  configToJson,
  effectiveLogLevel,
  loadConfig,
  parseConfigFileText,
  parseFlags,
  type LoadedConfig,
} from '../../src/config/index.js';

const FILE = '/etc/berth/daemon.json';
const PREFIX = `unable to configure the berth daemon with file ${FILE}: `;

function load(argv: string[], fileText: string | undefined, fileExplicit?: boolean): LoadedConfig {
  return loadConfig({ flags: parseFlags(argv), file: FILE, fileText, fileExplicit });
}

const throwsMessage = (fn: () => unknown, message: string) =>
  assert.throws(fn, (err: unknown) => {
    assert.equal((err as Error).message, message);
    assert.equal((err as { kind?: string }).kind, 'InvalidParameter');
    return true;
  });

describe('daemon configuration: defaults and merge', () => {
  it('starts from dockerd-like defaults when there is no file and no flag', () => {
    const { config, sources } = load([], undefined);
    assert.deepEqual(config, {
      hosts: ['unix:///run/berth/berth.sock'],
      group: '',
      tls: false,
      tlsVerify: false,
      tlsCaCert: '/etc/berth/ca.pem',
      tlsCert: '/etc/berth/cert.pem',
      tlsKey: '/etc/berth/key.pem',
      dataRoot: '/var/lib/berth',
      execRoot: '/run/berth',
      storageDriver: 'overlay2',
      storageOpts: [],
      swarmEtcdDir: undefined,
      logLevel: 'info',
      debug: false,
      defaultRuntime: 'runc',
      runtimes: { runc: { path: 'runc', runtimeArgs: [] } },
      shutdownTimeout: 15,
      logDriver: 'json-file',
      logOpts: {},
      labels: [],
      liveRestore: false,
      bip: undefined,
      bridge: undefined,
      cgroupParent: '/berth',
      pidfile: '/run/berth/berthd.pid',
      defaultUlimits: {},
      experimental: false,
      initPath: '/usr/bin/tini-static',
      mtu: 1500,
      dns: [],
      dnsSearch: [],
      dnsOpts: [],
      iptables: true,
      ipForward: true,
      userlandProxy: false,
      fixedCidr: undefined,
      ipMasq: true,
      icc: true,
      ip: '0.0.0.0',
      defaultAddressPools: [],
      seccompProfile: 'builtin',
      noNewPrivileges: false,
      maxConcurrentDownloads: 3,
      maxConcurrentUploads: 5,
      insecureRegistries: [],
      registryMirrors: [],
      registryCertsDir: '/etc/berth/certs.d',
      noDefaultRegistry: false,
    });
    assert.ok(Object.values(sources).every((s) => s === 'default'));
    assert.equal(sources['live-restore'], 'default');
  });

  it('merges file and flags and records where each option came from', () => {
    const { config, sources } = load(
      ['--debug', '--data-root', '/srv/berth'],
      '{"live-restore": true, "exec-root": "/run/b2", "log-opts": {"max-size": "10m", "max-file": "3"}}',
    );
    assert.equal(config.liveRestore, true);
    assert.equal(config.debug, true);
    assert.equal(config.dataRoot, '/srv/berth');
    assert.equal(config.execRoot, '/run/b2');
    assert.equal(config.pidfile, '/run/b2/berthd.pid', 'pidfile follows exec-root');
    assert.deepEqual(config.logOpts, { 'max-size': '10m', 'max-file': '3' });
    assert.equal(sources['live-restore'], 'file');
    assert.equal(sources['debug'], 'flag');
    assert.equal(sources['data-root'], 'flag');
    assert.equal(sources['log-opts'], 'file');
    assert.equal(sources['pidfile'], 'default');
    assert.equal(sources['storage-driver'], 'default');
  });

  it('decodes every daemon.json key', () => {
    const { config } = load([], JSON.stringify({
      hosts: ['unix://'], 'storage-driver': 'vfs', 'storage-opts': ['size=1G'], 'log-level': 'WARN',
      'default-runtime': 'kata', runtimes: { kata: { path: '/usr/bin/kata', runtimeArgs: ['--debug'] } },
      'shutdown-timeout': 0, 'log-driver': 'k8s-file', labels: ['a=1', 'a=1', 'b=2'], bip: '172.18.0.1/16',
      bridge: 'br0', 'cgroup-parent': 'system.slice', pidfile: '/p.pid',
      'default-ulimits': { nofile: { Name: 'nofile', Soft: 1024, Hard: 2048 } }, experimental: true, mtu: 1400,
      dns: ['8.8.8.8', '::1'], 'dns-search': ['example.com'], 'dns-opts': ['ndots:2'], iptables: false,
      'ip-forward': false, 'userland-proxy': true, 'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }],
      'seccomp-profile': '/etc/berth/seccomp.json', 'no-new-privileges': true,
    }));
    assert.equal(config.seccompProfile, '/etc/berth/seccomp.json');
    assert.equal(config.noNewPrivileges, true);
    assert.deepEqual(config.hosts, ['unix:///run/berth/berth.sock']);
    assert.equal(config.logLevel, 'warn');
    assert.deepEqual(config.runtimes, {
      runc: { path: 'runc', runtimeArgs: [] },
      kata: { path: '/usr/bin/kata', runtimeArgs: ['--debug'] },
    });
    assert.deepEqual(config.labels, ['a=1', 'b=2']);
    assert.equal(config.shutdownTimeout, 0);
    assert.equal(config.pidfile, '/p.pid');
    assert.deepEqual(config.defaultAddressPools, [{ base: '10.10.0.0/16', size: 24 }]);
    assert.equal(config.userlandProxy, true);
  });

  it('makes debug win over log-level for the effective level', () => {
    assert.equal(effectiveLogLevel(load(['--debug', '-l', 'error'], undefined).config), 'debug');
    assert.equal(effectiveLogLevel(load(['-l', 'error'], undefined).config), 'error');
  });

  it('gives back a valid daemon.json from configToJson', () => {
    const first = load(['--add-runtime', 'kata=/k'], '{"live-restore": true}');
    const json = configToJson(first.config);
    assert.equal(json['live-restore'], true);
    assert.deepEqual(json['runtimes'], { kata: { path: '/k', runtimeArgs: [] } });
    assert.ok(!('bip' in json));
    const again = load([], JSON.stringify(json));
    assert.deepEqual(again.config, first.config);
  });
});

describe('daemon configuration: the file', () => {
  it('treats a missing default file as {} and a missing --config-file as an error', () => {
    assert.equal(load([], undefined).config.dataRoot, '/var/lib/berth');
    throwsMessage(() => load([], undefined, true), `${PREFIX}open ${FILE}: no such file or directory`);
    const flags = parseFlags(['--config-file', '/x.json']);
    throwsMessage(
      () => loadConfig({ flags, file: '/x.json', fileText: undefined }),
      'unable to configure the berth daemon with file /x.json: open /x.json: no such file or directory',
    );
  });

  it('accepts an empty file, whitespace and a byte order mark', () => {
    assert.deepEqual(parseConfigFileText('', FILE), {});
    assert.deepEqual(parseConfigFileText(' \n\t ', FILE), {});
    assert.deepEqual(parseConfigFileText('\uFEFF{"debug": true}\n', FILE), { debug: true });
    assert.deepEqual(parseConfigFileText('\uFEFF', FILE), {});
    assert.equal(load([], '\uFEFF{"live-restore": true}').config.liveRestore, true);
  });

  it("reports JSON syntax errors in Go's words, with the position", () => {
    throwsMessage(
      () => load([], '{"debug": true,}'),
      `${PREFIX}invalid character '}' looking for beginning of object key string (line 1, column 16)`,
    );
    throwsMessage(
      () => load([], '{\n  "debug": true,\n  ,\n}'),
      `${PREFIX}invalid character ',' looking for beginning of object key string (line 3, column 3)`,
    );
    throwsMessage(
      () => load([], '\n\n{"debug": true,,}'),
      `${PREFIX}invalid character ',' looking for beginning of object key string (line 3, column 16)`,
    );
    throwsMessage(() => load([], '{"debug": tru}'), `${PREFIX}invalid character '}' in literal true (expecting 'e') (line 1, column 14)`);
    throwsMessage(() => load([], '{"debug" true}'), `${PREFIX}invalid character 't' after object key (line 1, column 10)`);
    throwsMessage(() => load([], '{"debug": true'), `${PREFIX}unexpected end of JSON input`);
    throwsMessage(() => load([], '{} {}'), `${PREFIX}invalid character '{' after top-level value (line 1, column 4)`);
    throwsMessage(() => load([], '["debug"]'), `${PREFIX}json: cannot unmarshal array into Go value of type map[string]interface {}`);
  });

  it('names unknown keys, sorted, before anything else', () => {
    throwsMessage(
      () => load(['--live-restore'], '{"no-such-option": 1, "live-restore": true}'),
      `${PREFIX}the following directives don't match any configuration option: no-such-option`,
    );
    throwsMessage(
      () => load([], '{"zeta": 1, "alpha": 2, "debug": true}'),
      `${PREFIX}the following directives don't match any configuration option: alpha, zeta`,
    );
    throwsMessage(
      () => load([], '{"runtimes": {"kata": {"pth": "/k"}}}'),
      `${PREFIX}the following directives don't match any configuration option: runtimes.kata.pth`,
    );
  });

  it('refuses an option given both as a flag and in the file, whatever the values', () => {
    throwsMessage(
      () => load(['--live-restore'], '{"live-restore": true}'),
      `${PREFIX}the following directives are specified both as a flag and in the configuration file: live-restore: (from flag: true, from file: true)`,
    );
    throwsMessage(
      () => load(['--live-restore=false'], '{"live-restore": true}'),
      `${PREFIX}the following directives are specified both as a flag and in the configuration file: live-restore: (from flag: false, from file: true)`,
    );
    throwsMessage(
      () => load(['--live-restore', '-D'], '{"live-restore": true, "debug": true}'),
      `${PREFIX}the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: true), live-restore: (from flag: true, from file: true)`,
    );
  });

  it('prints conflicting values as Go prints them', () => {
    throwsMessage(
      () => load(['-H', 'unix:///a', '-H', 'unix:///b', '--shutdown-timeout', '30', '--log-opt', 'max-size=1m'],
        '{"hosts": ["unix:///c"], "shutdown-timeout": 15, "log-opts": {"max-file": "2"}}'),
      `${PREFIX}the following directives are specified both as a flag and in the configuration file: ` +
        'hosts: (from flag: [unix:///a unix:///b], from file: [unix:///c]), ' +
        'log-opts: (from flag: map[max-size:1m], from file: map[max-file:2]), ' +
        'shutdown-timeout: (from flag: 30, from file: 15)',
    );
  });

  it('reports a wrong JSON type as Go does, after conflicts', () => {
    throwsMessage(
      () => load([], '{"live-restore": "yes"}'),
      `${PREFIX}json: cannot unmarshal string into Go struct field Config.live-restore of type bool`,
    );
    throwsMessage(
      () => load([], '{"hosts": "unix:///a"}'),
      `${PREFIX}json: cannot unmarshal string into Go struct field Config.hosts of type []string`,
    );
    throwsMessage(
      () => load([], '{"labels": [1]}'),
      `${PREFIX}json: cannot unmarshal number into Go struct field Config.labels of type string`,
    );
    throwsMessage(
      () => load([], '{"mtu": 1.5}'),
      `${PREFIX}json: cannot unmarshal number 1.5 into Go struct field Config.mtu of type int`,
    );
    throwsMessage(
      () => load([], '{"log-opts": {"max-file": 3}}'),
      `${PREFIX}json: cannot unmarshal number into Go struct field Config.log-opts of type string`,
    );
    throwsMessage(
      () => load([], '{"runtimes": {"kata": {"path": 1}}}'),
      `${PREFIX}json: cannot unmarshal number into Go struct field Runtime.runtimes.path of type string`,
    );
    // dockerd checks conflicts on the raw map before decoding types
    throwsMessage(
      () => load(['--debug'], '{"debug": "x", "live-restore": "y"}'),
      `${PREFIX}the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: x)`,
    );
  });
});

describe('daemon configuration: values', () => {
  it('rejects an invalid log level, blaming the file only when it came from there', () => {
    throwsMessage(
      () => load([], '{"log-level": "loud"}'),
      `${PREFIX}merged configuration validation from file and command line flags failed: invalid logging level: loud`,
    );
    throwsMessage(() => load(['-l', 'loud'], undefined), 'invalid logging level: loud');
    throwsMessage(() => load(['-l', 'loud'], '{"debug": true}'), 'invalid logging level: loud');
  });

  it('takes TCP hosts only with TLS, unless --tls=false says so; no socket activation', () => {
    throwsMessage(
      () => load(['-H', 'tcp://0.0.0.0:2375'], undefined),
      'refusing to listen on tcp://0.0.0.0:2375 without TLS: anyone who can reach it gets root on this machine. Use --tlsverify with --tlscacert, --tlscert and --tlskey, or give --tls=false to accept the risk',
    );
    assert.deepEqual(load(['-H', 'tcp://0.0.0.0:2375', '--tls=false'], undefined).config.hosts, ['tcp://0.0.0.0:2375']);
    const verified = load(['-H', 'tcp://', '--tlsverify'], undefined).config;
    assert.deepEqual([verified.tls, verified.tlsVerify, verified.hosts], [true, true, ['tcp://127.0.0.1:2376']]);
    // An explicit tlsverify=false is not TLS (dockerd turns TLS on for it; berth does not).
    throwsMessage(() => load(['-H', 'tcp://:9000', '--tlsverify=false'], undefined), 'refusing to listen on tcp://127.0.0.1:9000 without TLS: anyone who can reach it gets root on this machine. Use --tlsverify with --tlscacert, --tlscert and --tlskey, or give --tls=false to accept the risk');
    assert.deepEqual(load([], '{"hosts": ["tcp://[::1]:"], "tls": true}').config.hosts, ['tcp://[::1]:2376']);
    throwsMessage(
      () => load([], '{"hosts": ["fd://"]}'),
      `${PREFIX}merged configuration validation from file and command line flags failed: socket activation (fd://) is not supported by berth: use unix:// or tcp:// hosts`,
    );
    throwsMessage(() => load([], '{"hosts": ["/x.sock"]}'), `${PREFIX}merged configuration validation from file and command line flags failed: Invalid bind address format: /x.sock`);
  });

  it('checks runtimes and the default runtime', () => {
    const v = (s: string) => `${PREFIX}merged configuration validation from file and command line flags failed: ${s}`;
    throwsMessage(() => load([], '{"runtimes": {"runc": {"path": "/x"}}}'), v(`runtime name 'runc' is reserved`));
    throwsMessage(() => load([], '{"default-runtime": "kata"}'), v(`specified default runtime 'kata' does not exist`));
    throwsMessage(() => load(['--default-runtime', 'kata'], undefined), `specified default runtime 'kata' does not exist`);
    throwsMessage(() => load([], '{"runtimes": {"kata": {}}}'), v(`runtime 'kata' has no path`));
    const ok = load(['--default-runtime', 'kata'], '{"runtimes": {"kata": {"path": "/usr/bin/kata"}}}');
    assert.equal(ok.config.defaultRuntime, 'kata');
    assert.equal(load(['--add-runtime', 'kata=/k', '--default-runtime=kata'], undefined).config.runtimes['kata']?.path, '/k');
  });

  it('checks log driver and log options', () => {
    const v = (s: string) => `${PREFIX}merged configuration validation from file and command line flags failed: ${s}`;
    throwsMessage(() => load([], '{"log-opts": {"max-sise": "1m"}}'), v(`unknown log opt 'max-sise' for json-file log driver`));
    throwsMessage(() => load(['--log-opt', 'colour=red'], undefined), `unknown log opt 'colour' for json-file log driver`);
    throwsMessage(() => load([], '{"log-opts": {"max-size": "ten"}}'), v(`invalid size: 'ten'`));
    throwsMessage(() => load([], '{"log-opts": {"max-file": "0"}}'), v('max-file cannot be less than 1'));
    throwsMessage(() => load([], '{"log-opts": {"max-file": "x"}}'), v('strconv.Atoi: parsing "x": invalid syntax'));
    throwsMessage(() => load([], '{"log-opts": {"mode": "lossy"}}'), v('logger: logging mode not supported: lossy'));
    throwsMessage(
      () => load([], '{"log-opts": {"max-buffer-size": "4m"}}'),
      v(`logger: max-buffer-size option is only supported with 'mode=non-blocking'`),
    );
    throwsMessage(() => load([], '{"log-driver": "syslog"}'), v('invalid log driver: syslog (supported: json-file, k8s-file, local, none)'));
    const ok = load([], JSON.stringify({
      'log-driver': 'local',
      'log-opts': { 'max-size': '10m', 'max-file': '5', mode: 'non-blocking', 'max-buffer-size': '4m', compress: 'false',
        labels: 'a', env: 'B', tag: '{{.Name}}' },
    }));
    assert.equal(ok.config.logOpts['max-size'], '10m');
    for (const size of ['512k', '1g', '100', '10MB', '1.5m', '2KiB']) load([], `{"log-opts": {"max-size": "${size}"}}`);
  });

  it('checks the other values', () => {
    const v = (s: string) => `${PREFIX}merged configuration validation from file and command line flags failed: ${s}`;
    throwsMessage(() => load([], '{"storage-driver": "zfs"}'), v('invalid storage driver: zfs (supported: overlay2, vfs)'));
    throwsMessage(() => load(['-s', 'btrfs'], undefined), 'invalid storage driver: btrfs (supported: overlay2, vfs)');
    throwsMessage(() => load([], '{"labels": ["x"]}'), v('bad attribute format: x'));
    throwsMessage(() => load([], '{"labels": ["a=1", "a=2"]}'), v('conflict labels for a=2 and a=1'));
    throwsMessage(() => load([], '{"shutdown-timeout": -1}'), v('invalid shutdown-timeout: -1 (must be 0 or more seconds)'));
    throwsMessage(() => load([], '{"mtu": -1}'), v('invalid default MTU: -1'));
    throwsMessage(
      () => load([], '{"bip": "172.18.0.1"}'),
      v('invalid bip: 172.18.0.1 (expected an IPv4 address with a prefix length, like 172.18.0.1/16)'),
    );
    throwsMessage(() => load([], '{"bip": "300.1.1.1/16"}'), v('invalid bip: 300.1.1.1/16 (expected an IPv4 address with a prefix length, like 172.18.0.1/16)'));
    throwsMessage(() => load([], '{"data-root": "var/lib/berth"}'), v('data-root must be an absolute path: var/lib/berth'));
    throwsMessage(() => load([], '{"dns": ["8.8.8"]}'), v('IP address is not correctly formatted: 8.8.8'));
    throwsMessage(() => load([], '{"dns-search": ["-bad-"]}'), v('-bad- is not a valid domain'));
    throwsMessage(
      () => load([], '{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 10, "Hard": 5}}}'),
      v('ulimit soft limit must be less than or equal to hard limit: 10 > 5'),
    );
    throwsMessage(
      () => load([], '{"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}'),
      v('invalid default-address-pools entry {base: 10.0.0.0/16, size: 8}: size must be between 16 and 32'),
    );
  });
  it('takes the registry options with dockerd names and checks them', () => {
    const { config } = load(
      ['--insecure-registry', '10.0.0.0/8', '--insecure-registry', 'reg.local:5000', '--max-concurrent-downloads', '6', '--no-default-registry'],
      '{"registry-mirrors": ["https://mirror.example:5000"], "max-concurrent-uploads": 2, "registry-certs-dir": "/srv/certs.d"}',
    );
    assert.deepEqual(config.insecureRegistries, ['10.0.0.0/8', 'reg.local:5000']);
    assert.deepEqual(config.registryMirrors, ['https://mirror.example:5000']);
    assert.equal(config.maxConcurrentDownloads, 6);
    assert.equal(config.maxConcurrentUploads, 2);
    assert.equal(config.registryCertsDir, '/srv/certs.d');
    assert.equal(config.noDefaultRegistry, true);
    const v = (s: string) => `${PREFIX}merged configuration validation from file and command line flags failed: ${s}`;
    throwsMessage(() => load([], '{"max-concurrent-downloads": -1}'), v('invalid max concurrent downloads: -1'));
    throwsMessage(() => load([], '{"insecure-registries": ["http://reg:5000"]}'), v("insecure registry http://reg:5000 should not contain '://'"));
    throwsMessage(() => load([], '{"registry-mirrors": ["ftp://m"]}'), v('invalid mirror: unsupported scheme in "ftp://m"'));
    throwsMessage(() => load([], '{"registry-mirrors": ["https://m/v2/"]}'), v('invalid mirror: path, query, or fragment at end of the URI "https://m/v2/"'));
  });
});
