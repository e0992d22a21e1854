import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  DEFAULT_CONFIG_FILE,
  configToJson,
  effectiveLogLevel,
  loadConfig,
  parseFlags,
  readConfigFile,
  reloadConfig,
  usage,
  type LoadedConfig,
  type ParsedFlags,
  type ReloadResult,
} from '../config/index.js';
import { createLogger, silentLogger, type Logger } from '../lib/logger.js';
import { Daemon, criticalOptions } from '../daemon/daemon.js';
import type { DaemonConfig } from '../config/index.js';
import { ConmonRuntime } from '../runtime/conmon-runtime.js';
import { preflight, formatPreflight } from '../restore/preflight.js';
import { keepPreviousStorageDriver } from '../restore/fingerprint.js';
import { engineVersion, gitCommit } from '../lib/version.js';
import { messageOf } from '../lib/errors.js';

// Node's default action for SIGHUP is to exit: ignore it until the reload handler is ready.
let onHup: () => void = () => undefined;
process.on('SIGHUP', () => onHup());

async function load(flags: ParsedFlags): Promise<{ loaded: LoadedConfig; file: string }> {
  const file = flags.configFile ?? DEFAULT_CONFIG_FILE;
  const fileText = await readConfigFile(file);
  return { loaded: loadConfig({ flags, file, fileText, fileExplicit: flags.configFile !== undefined }), file };
}

async function main(argv: string[]): Promise<number> {
  let flags: ParsedFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    process.stderr.write(`${messageOf(err)}\nSee 'berthd --help'.\n`);
    return 125;
  }
  if (flags.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`berthd version ${engineVersion()}${gitCommit() ? `, build ${gitCommit()}` : ''}\n`);
    return 0;
  }
  let loaded: LoadedConfig;
  let file: string;
  try {
    ({ loaded, file } = await load(flags));
  } catch (err) {
    process.stderr.write(`${messageOf(err)}\n`);
    return 1;
  }
  if (flags.validate) {
    process.stderr.write('configuration OK\n');
    return 0;
  }
  const explicitDriver = loaded.sources['storage-driver'] === 'flag' || loaded.sources['storage-driver'] === 'file';
  const keptDriver = await keepPreviousStorageDriver(loaded.config, explicitDriver);
  if (flags.checkRestore) return checkRestore(loaded.config);

  const log = createLogger(effectiveLogLevel(loaded.config));
  const version = engineVersion();
  if (process.env['BERTH_TEST_ENGINE_VERSION']) {
    log.warn({ version }, 'BERTH_TEST_ENGINE_VERSION is set: running as another berth version (tests only)');
  }
  log.info({ version, pid: process.pid }, 'Starting up');
  if (keptDriver) log.info({ storageDriver: keptDriver }, `using the storage driver this data root was last run with: ${keptDriver}`);
  // Where each effective option came from: a flag silently overriding daemon.json surprises.
  for (const [key, source] of Object.entries(loaded.sources)) {
    if (source !== 'default') log.info({ option: key, source, value: configToJson(loaded.config)[key] }, 'configuration option');
  }

  const daemon = new Daemon({
    config: loaded.config,
    log,
    engineVersion: version,
    gitCommit: gitCommit(),
    // Built beside this file by `npm run build` (scripts/build-native.sh), bundled or not.
    cpHelperPath: fileURLToPath(new URL('./berth-cp', import.meta.url)),
  });
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err }, `failed to start daemon: ${messageOf(err)}`);
    await daemon.shutdown().catch(() => undefined);
    return 1;
  }
  log.info({ liveRestore: loaded.config.liveRestore, startupMs: daemon.startupMs }, 'Daemon has completed initialization');

  let current = loaded;
  onHup = () => {
    void reload(log, flags, file, current).then((next) => {
      if (next) {
        current = next;
        daemon.applyReload(next.config, next.changed);
        log.level = effectiveLogLevel(next.config);
      }
    });
  };

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals >= 3) {
        log.warn(`Forcing berthd shutdown without cleanup; ${signals} interrupts received`);
        process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
      }
      if (signals > 1) return;
      log.info({ signal: sig }, `Processing signal '${sig === 'SIGINT' ? 'interrupt' : 'terminated'}'`);
      daemon.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * The preflight: with this binary and configuration, which running containers would be
 * adopted, and why not. Exits 0 when all would be, 3 when some would not.
 */
async function checkRestore(config: DaemonConfig): Promise<number> {
  const runtime = new ConmonRuntime({ execRoot: config.execRoot, dataRoot: config.dataRoot, conmonPath: 'conmon', log: silentLogger() });
  const view = { engineVersion: engineVersion(), critical: criticalOptions(config), liveRestore: config.liveRestore };
  const result = await preflight(config.dataRoot, runtime, view);
  process.stdout.write(formatPreflight(result, view));
  return result.lines.some((l) => l.classification.kind === 'refuse') ? 3 : 0;
}

/** SIGHUP: re-read daemon.json; an invalid file keeps the running configuration. */
async function reload(log: Logger, flags: ParsedFlags, file: string, current: LoadedConfig): Promise<ReloadResult | undefined> {
  log.info({ configFile: file }, 'Got signal to reload configuration');
  try {
    const text = await readConfigFile(file);
    const r = reloadConfig(current, { flags, file, fileText: text, fileExplicit: flags.configFile !== undefined });
    if (r.needsRestart.length > 0) {
      log.warn({ options: r.needsRestart }, `configuration changes that need a restart were not applied: ${r.needsRestart.join(', ')}`);
    }
    log.info({ changed: r.changed, config: configToJson(r.config) }, 'Reloaded configuration');
    return r;
  } catch (err) {
    const msg = err instanceof ConfigError ? err.message : messageOf(err);
    log.error({ err: msg }, `Error reloading configuration: ${msg}`);
    return undefined;
  }
}

/** berthd's whole life: parse, load, serve until a signal, then exit with main's code. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`berthd: ${messageOf(err)}\n`);
      process.exit(1);
    },
  );
}
