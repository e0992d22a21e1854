import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadConfig, parseFlags, reloadConfig, type LoadedConfig, type ParsedFlags } from '../../src/config/index.js';

const FILE = '/etc/berth/daemon.json';
const PREFIX = `unable to configure the berth daemon with file ${FILE}: `;

function start(argv: string[], fileText: string | undefined): { flags: ParsedFlags; current: LoadedConfig } {
  const flags = parseFlags(argv);
  return { flags, current: loadConfig({ flags, file: FILE, fileText }) };
}

describe('SIGHUP reload', () => {
  it('applies reloadable options and names those that need a restart', () => {
    const { flags, current } = start([], '{"data-root": "/srv/a", "storage-driver": "vfs"}');
    const r = reloadConfig(current, {
      flags,
      file: FILE,
      fileText: JSON.stringify({
        'data-root': '/srv/b', 'live-restore': true, debug: true, 'shutdown-timeout': 30, bip: '172.31.7.1/24',
        'storage-driver': 'overlay2', labels: ['zone=a'],
      }),
    });
    assert.deepEqual(r.changed, ['debug', 'shutdown-timeout', 'labels', 'live-restore']);
    assert.deepEqual(r.needsRestart, ['data-root', 'storage-driver', 'bip']);
    assert.equal(r.config.liveRestore, true);
    assert.equal(r.config.shutdownTimeout, 30);
    assert.deepEqual(r.config.labels, ['zone=a']);
    assert.equal(r.config.dataRoot, '/srv/a', 'restart-only options keep their running value');
    assert.equal(r.config.bip, undefined);
    assert.equal(r.sources['live-restore'], 'file');
    assert.equal(r.sources['data-root'], 'file');
  });

  it('reports nothing when the file did not change', () => {
    const text = '{"live-restore": true, "log-opts": {"max-size": "10m"}}';
    const { flags, current } = start(['--debug'], text);
    const r = reloadConfig(current, { flags, file: FILE, fileText: text });
    assert.deepEqual([r.changed, r.needsRestart], [[], []]);
    assert.deepEqual(r.config, current.config);
  });

  it('resets a reloadable key removed from the file to its default or flag value', () => {
    const { flags, current } = start(['--shutdown-timeout', '40'], '{"live-restore": true, "runtimes": {"kata": {"path": "/k"}}}');
    const r = reloadConfig(current, { flags, file: FILE, fileText: '{}' });
    assert.deepEqual(r.changed, ['runtimes', 'live-restore']);
    assert.equal(r.config.liveRestore, false);
    assert.deepEqual(Object.keys(r.config.runtimes), ['runc']);
    assert.equal(r.config.shutdownTimeout, 40);
    assert.equal(r.sources['live-restore'], 'default');
  });

  it('treats a deleted default file as empty', () => {
    const { flags, current } = start([], '{"debug": true}');
    const r = reloadConfig(current, { flags, file: FILE, fileText: undefined });
    assert.deepEqual(r.changed, ['debug']);
    assert.equal(r.config.debug, false);
  });

  it('refuses a key that conflicts with a start-up flag', () => {
    const { flags, current } = start(['--live-restore'], undefined);
    assert.throws(
      () => reloadConfig(current, { flags, file: FILE, fileText: '{"live-restore": false}' }),
      {
        message: `${PREFIX}the following directives are specified both as a flag and in the configuration file: live-restore: (from flag: true, from file: false)`,
      },
    );
  });

  it('throws on an invalid file so the caller keeps the old configuration', () => {
    const { flags, current } = start([], '{"live-restore": true}');
    const before = structuredClone(current);
    for (const [text, message] of [
      ['{"live-restore": false,}', `${PREFIX}invalid character '}' looking for beginning of object key string (line 1, column 24)`],
      ['{"no-such-option": 1}', `${PREFIX}the following directives don't match any configuration option: no-such-option`],
      ['{"debug": "yes"}', `${PREFIX}json: cannot unmarshal string into Go struct field Config.debug of type bool`],
      ['{"log-level": "chatty"}', `${PREFIX}merged configuration validation from file and command line flags failed: invalid logging level: chatty`],
      ['{"default-runtime": "kata"}', `${PREFIX}merged configuration validation from file and command line flags failed: specified default runtime 'kata' does not exist`],
    ] as const) {
      assert.throws(() => reloadConfig(current, { flags, file: FILE, fileText: text }), { message });
    }
    assert.deepEqual(current, before);
  });

  it('fails when an explicit --config-file disappeared', () => {
    const { flags, current } = start(['--config-file', FILE], '{}');
    assert.throws(() => reloadConfig(current, { flags, file: FILE, fileText: undefined }), {
      message: `${PREFIX}open ${FILE}: no such file or directory`,
    });
  });

  it('switches the default runtime together with the runtimes that define it', () => {
    const { flags, current } = start([], '{}');
    const r = reloadConfig(current, {
      flags,
      file: FILE,
      fileText: '{"default-runtime": "kata", "runtimes": {"kata": {"path": "/usr/bin/kata-runtime"}}}',
    });
    assert.deepEqual(r.changed, ['default-runtime', 'runtimes']);
    assert.equal(r.config.defaultRuntime, 'kata');
    assert.equal(r.config.runtimes['kata']?.path, '/usr/bin/kata-runtime');
  });
});
