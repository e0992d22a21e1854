import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { FLAG_NAMES, OPTIONS, parseFlags, usage } from '../../src/config/index.js';

const throwsMessage = (fn: () => unknown, message: string) =>
  assert.throws(fn, (err: unknown) => {
    assert.equal((err as Error).message, message);
    assert.equal((err as { kind?: string }).kind, 'InvalidParameter');
    return true;
  });

describe('berthd flags', () => {
  it('gives nothing but the control defaults for an empty command line', () => {
    assert.deepEqual(parseFlags([]), { options: {}, validate: false, checkRestore: false, version: false, help: false });
  });

  it('reads --name value, --name=value, -X value, -Xvalue and -X=value', () => {
    assert.equal(parseFlags(['--data-root', '/d']).options['data-root'], '/d');
    assert.equal(parseFlags(['--data-root=/d']).options['data-root'], '/d');
    assert.equal(parseFlags(['-s', 'vfs']).options['storage-driver'], 'vfs');
    assert.equal(parseFlags(['-svfs']).options['storage-driver'], 'vfs');
    assert.equal(parseFlags(['-s=vfs']).options['storage-driver'], 'vfs');
    assert.equal(parseFlags(['--data-root=']).options['data-root'], '');
  });

  it('treats booleans as pflag does', () => {
    assert.equal(parseFlags(['--live-restore']).options['live-restore'], true);
    assert.equal(parseFlags(['--live-restore=false']).options['live-restore'], false);
    assert.equal(parseFlags(['--live-restore=true']).options['live-restore'], true);
    assert.equal(parseFlags(['--debug=0']).options['debug'], false);
    assert.equal(parseFlags(['-D']).options['debug'], true);
    assert.equal(parseFlags(['-D=false']).options['debug'], false);
    // a bool flag never takes the next word as its value
    throwsMessage(() => parseFlags(['--debug', 'false']), '"berthd" accepts no arguments.');
    throwsMessage(
      () => parseFlags(['--live-restore=maybe']),
      'invalid argument "maybe" for "--live-restore" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
    );
    throwsMessage(
      () => parseFlags(['-D=yes']),
      'invalid argument "yes" for "-D, --debug" flag: strconv.ParseBool: parsing "yes": invalid syntax',
    );
  });

  it('groups short booleans with a trailing valued flag (-Dl debug)', () => {
    const f = parseFlags(['-Dl', 'warn']);
    assert.equal(f.options['debug'], true);
    assert.equal(f.options['log-level'], 'warn');
  });

  it('collects repeatable flags into daemon.json shapes', () => {
    const f = parseFlags([
      '-H', 'unix:///a.sock', '--host=unix:///b.sock',
      '--label', 'a=1', '--label=b=2',
      '--log-opt', 'max-size=10m', '--log-opt', 'max-file=3',
      '--add-runtime', 'Kata=/usr/bin/kata',
      '--default-ulimit', 'nofile=1024:2048', '--default-ulimit', 'nproc=512',
      '--storage-opt', 'size=1G',
      '--dns', '1.1.1.1', '--dns-search', 'example.com', '--dns-opt', 'ndots:2',
      '--default-address-pool', 'base=10.10.0.0/16,size=24',
    ]);
    assert.deepEqual(f.options, {
      hosts: ['unix:///a.sock', 'unix:///b.sock'],
      labels: ['a=1', 'b=2'],
      'log-opts': { 'max-size': '10m', 'max-file': '3' },
      runtimes: { kata: { path: '/usr/bin/kata' } },
      'default-ulimits': { nofile: { Name: 'nofile', Soft: 1024, Hard: 2048 }, nproc: { Name: 'nproc', Soft: 512, Hard: 512 } },
      'storage-opts': ['size=1G'],
      dns: ['1.1.1.1'],
      'dns-search': ['example.com'],
      'dns-opts': ['ndots:2'],
      'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }],
    });
  });

  it('reads every scalar option flag', () => {
    const f = parseFlags([
      '--exec-root', '/e', '-l', 'debug', '--default-runtime', 'runc', '--shutdown-timeout', '30',
      '--log-driver', 'local', '--bip', '172.18.0.1/16', '-b', 'br0', '--cgroup-parent', '/x',
      '-p', '/p.pid', '--experimental', '--mtu', '1400', '--iptables=false', '--ip-forward=false',
      '--userland-proxy',
    ]);
    assert.deepEqual(f.options, {
      'exec-root': '/e', 'log-level': 'debug', 'default-runtime': 'runc', 'shutdown-timeout': 30,
      'log-driver': 'local', bip: '172.18.0.1/16', bridge: 'br0', 'cgroup-parent': '/x', pidfile: '/p.pid',
      experimental: true, mtu: 1400, iptables: false, 'ip-forward': false, 'userland-proxy': true,
    });
  });

  it('reads the flags that are not options', () => {
    const f = parseFlags(['--config-file', '/c.json', '--validate', '--check-restore', '-v', '-h']);
    assert.equal(f.configFile, '/c.json');
    assert.deepEqual([f.validate, f.checkRestore, f.version, f.help], [true, true, true, true]);
    assert.equal(parseFlags(['--version']).version, true);
    assert.equal(parseFlags(['--help']).help, true);
  });

  it('takes the last value of a repeated single-valued flag', () => {
    assert.equal(parseFlags(['--data-root', '/a', '--data-root', '/b']).options['data-root'], '/b');
  });

  it('rejects unknown flags, missing values and arguments with pflag wording', () => {
    throwsMessage(() => parseFlags(['--x']), 'unknown flag: --x');
    throwsMessage(() => parseFlags(['--x=1']), 'unknown flag: --x');
    throwsMessage(() => parseFlags(['-Z']), "unknown shorthand flag: 'Z' in -Z");
    throwsMessage(() => parseFlags(['--data-root']), 'flag needs an argument: --data-root');
    throwsMessage(() => parseFlags(['-H']), "flag needs an argument: 'H' in -H");
    throwsMessage(() => parseFlags(['serve']), '"berthd" accepts no arguments.');
    throwsMessage(() => parseFlags(['--', '--debug']), '"berthd" accepts no arguments.');
  });

  it('checks values the way dockerd flag types do', () => {
    throwsMessage(
      () => parseFlags(['--mtu', 'big']),
      'invalid argument "big" for "--mtu" flag: strconv.ParseInt: parsing "big": invalid syntax',
    );
    throwsMessage(() => parseFlags(['--label', 'nolabel']), 'invalid argument "nolabel" for "--label" flag: bad attribute format: nolabel');
    throwsMessage(
      () => parseFlags(['--add-runtime', 'runc=/bin/runc']),
      `invalid argument "runc=/bin/runc" for "--add-runtime" flag: runtime name 'runc' is reserved`,
    );
    throwsMessage(
      () => parseFlags(['--add-runtime', 'kata']),
      'invalid argument "kata" for "--add-runtime" flag: invalid runtime argument: kata',
    );
    throwsMessage(
      () => parseFlags(['--add-runtime', 'k=/a', '--add-runtime', 'k=/b']),
      `invalid argument "k=/b" for "--add-runtime" flag: runtime 'k' was already defined`,
    );
    throwsMessage(
      () => parseFlags(['--default-ulimit', 'nofile=10:5']),
      'invalid argument "nofile=10:5" for "--default-ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 10 > 5',
    );
    throwsMessage(
      () => parseFlags(['--default-ulimit', 'bogus=1']),
      'invalid argument "bogus=1" for "--default-ulimit" flag: invalid ulimit type: bogus',
    );
    throwsMessage(
      () => parseFlags(['-H', 'localhost:2375']),
      'invalid argument "localhost:2375" for "-H, --host" flag: Invalid bind address format: localhost:2375',
    );
    throwsMessage(
      () => parseFlags(['--dns', 'x.y']),
      'invalid argument "x.y" for "--dns" flag: IP address is not correctly formatted: x.y',
    );
    // tcp:// parses; the "unix only" rule is the validator's
    assert.deepEqual(parseFlags(['-H', 'tcp://0.0.0.0:2375']).options['hosts'], ['tcp://0.0.0.0:2375']);
  });

  it('lists every flag in --help with its description and default', () => {
    const text = usage();
    assert.match(text, /^Usage:\tberthd \[OPTIONS\]/);
    for (const name of FLAG_NAMES) assert.match(text, new RegExp(`--${name}\\b`), name);
    for (const o of OPTIONS) {
      assert.ok(text.includes(o.help), o.key);
      if (o.short) assert.ok(text.includes(`-${o.short}, --${o.flag}`), o.key);
    }
    for (const name of ['config-file', 'validate', 'check-restore', 'version', 'help']) assert.ok(FLAG_NAMES.includes(name));
    assert.match(text, /--shutdown-timeout int +Default shutdown timeout in seconds \(default 15\)/);
    assert.match(text, /--config-file string +Daemon configuration file \(default "\/etc\/berth\/daemon.json"\)/);
    assert.match(text, /--data-root string +Root directory of persistent berth state \(default "\/var\/lib\/berth"\)/);
    assert.match(text, /-s, --storage-driver string +Storage driver to use \("overlay2"\|"vfs"\) \(default "overlay2"\)/);
    assert.match(text, /--iptables +Enable addition of iptables rules \(default true\)/);
    assert.match(text, /--pidfile string +Path to use for daemon PID file \(default "<exec-root>\/berthd.pid"\)/);
  });
});
