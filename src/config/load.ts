/**
 * Merging defaults, daemon.json and flags into the effective configuration, and the SIGHUP
 * reload diff. Checks run in dockerd's order (moby daemon/config getConflictFreeConfiguration,
 * MergeDaemonConfigurations): syntax, unknown keys, flag/file conflicts, JSON types, then
 * values. Pure: the file's text is read elsewhere (read-file.ts).
 */
import { posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseConfigFileText } from './json-text.js';
import { ConfigError, configMessages as m } from './messages.js';
import { decodeFileValue, defaultConfig, OPTION_BY_KEY, OPTIONS, unknownNestedKeys } from './options.js';
import type { DaemonConfig, LoadedConfig, LoadInput, LogLevel, OptionSources } from './types.js';
import { labelsWithoutDuplicates, validateConfig } from './validate.js';
import { BUILTIN_RUNTIME, goFormat, normalizeHost } from './values.js';

export function loadConfig(input: LoadInput): LoadedConfig {
  const { flags, file } = input;
  const explicit = input.fileExplicit ?? flags.configFile !== undefined;
  const withFile = (msg: string) => new ConfigError(m.withFile(file, msg));

  let fromFile: Record<string, unknown> = {};
  if (input.fileText !== undefined) fromFile = parseConfigFileText(input.fileText, file);
  else if (explicit) throw withFile(m.noSuchFile(file));

  const unknown = Object.keys(fromFile).filter((k) => !OPTION_BY_KEY.has(k));
  for (const [k, v] of Object.entries(fromFile)) {
    const spec = OPTION_BY_KEY.get(k);
    if (spec) unknown.push(...unknownNestedKeys(spec, v));
  }
  if (unknown.length > 0) throw withFile(m.unknownDirectives(unknown.sort()));

  // Present in both places is an error whatever the values, as in dockerd; pflag visits
  // flags in name order, hence the sort by flag name.
  const conflicts = OPTIONS.filter((o) => o.key in flags.options && o.key in fromFile)
    .sort((a, b) => (a.flag < b.flag ? -1 : 1))
    .map((o) => m.conflictEntry(o.key, goFormat(flags.options[o.key], 'int'), goFormat(fromFile[o.key])));
  if (conflicts.length > 0) throw withFile(m.conflicts(conflicts));

  const fields: Record<string, unknown> = defaultConfig();
  const sources: OptionSources = {};
  for (const spec of OPTIONS) {
    sources[spec.key] = 'default';
    if (spec.key in flags.options) {
      fields[spec.field] = decodeFileValue(spec, flags.options[spec.key]);
      sources[spec.key] = 'flag';
    } else if (fromFile[spec.key] !== undefined && fromFile[spec.key] !== null) {
      try {
        fields[spec.field] = decodeFileValue(spec, fromFile[spec.key]);
      } catch (err) {
        throw err instanceof ConfigError ? withFile(err.message) : err;
      }
      sources[spec.key] = 'file';
    }
  }
  const config = fields as DaemonConfig;
  if (config.pidfile === '') config.pidfile = posix.join(config.execRoot, 'berthd.pid');

  const failure = validateConfig(config);
  if (failure) {
    const blameFile = input.fileText !== undefined && failure.keys.some((k) => sources[k] === 'file');
    throw blameFile ? withFile(m.mergedValidation(failure.message)) : new ConfigError(failure.message);
  }

  // Verifying clients is TLS. (dockerd also turns TLS on for an explicit tlsverify=false, a
  // surprise it keeps for compatibility — moby#27105; berth does not.)
  if (config.tlsVerify) config.tls = true;
  config.hosts = config.hosts.map((h) => normalizeHost(h, config.tls));
  // Plain TCP only when the user said so (`--tls=false`), as Docker 27+ requires.
  const plainTcp = config.hosts.find((h) => h.startsWith('tcp://'));
  if (plainTcp && !config.tls && sources['tls'] === 'default') throw new ConfigError(m.tcpWithoutTls(plainTcp));
  config.labels = labelsWithoutDuplicates(config.labels);
  config.logLevel = config.logLevel.toLowerCase() as LogLevel;
  config.runtimes = { [BUILTIN_RUNTIME]: { path: BUILTIN_RUNTIME, runtimeArgs: [] }, ...config.runtimes };
  return { config, sources };
}

export type ReloadResult = LoadedConfig & {
  /** daemon.json keys whose effective value changed and was applied. */
  changed: string[];
  /** Keys whose value changed but only takes effect when berthd restarts; not applied. */
  needsRestart: string[];
};

/**
 * SIGHUP: re-read with the same checks against the start-up flags; any error is thrown and
 * the caller keeps `current`. Unlike dockerd, a reloadable key removed from the file goes back
 * to its flag value or default: the running daemon then matches what a restart would give,
 * instead of keeping a value no file or flag states any more.
 */
export function reloadConfig(current: LoadedConfig, input: LoadInput): ReloadResult {
  const next = loadConfig(input);
  const fields: Record<string, unknown> = { ...current.config };
  const sources: OptionSources = { ...current.sources };
  const changed: string[] = [];
  const needsRestart: string[] = [];
  for (const spec of OPTIONS) {
    const after = next.config[spec.field];
    if (isDeepStrictEqual(current.config[spec.field], after)) {
      sources[spec.key] = next.sources[spec.key] ?? 'default';
    } else if (spec.reload) {
      fields[spec.field] = after;
      sources[spec.key] = next.sources[spec.key] ?? 'default';
      changed.push(spec.key);
    } else {
      needsRestart.push(spec.key);
    }
  }
  return { config: fields as DaemonConfig, sources, changed, needsRestart };
}

/**
 * The effective configuration in daemon.json shape, for the "Reloaded configuration" log
 * and state dumps. The built-in runtime is left out so the result is itself a valid file.
 */
export function configToJson(config: DaemonConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const value: unknown = config[spec.field];
    if (value === undefined) continue;
    if (spec.key === 'runtimes') {
      const { [BUILTIN_RUNTIME]: _builtin, ...user } = config.runtimes;
      out[spec.key] = user;
    } else {
      out[spec.key] = value;
    }
  }
  return out;
}

/** `debug: true` means debug logging whatever `log-level` says, as in dockerd. */
export function effectiveLogLevel(config: DaemonConfig): LogLevel {
  return config.debug ? 'debug' : config.logLevel;
}
