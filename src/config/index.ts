export type {
  AddressPool,
  DaemonConfig,
  LoadedConfig,
  LoadInput,
  OptionSource,
  OptionSources,
  ParsedFlags,
  RuntimeConfig,
  Ulimit,
} from './types.js';
export { ConfigError } from './messages.js';
export { DEFAULT_CONFIG_FILE, OPTIONS } from './options.js';
export { parseFlags, usage, FLAG_NAMES } from './flags.js';
export { parseConfigFileText } from './json-text.js';
export { loadConfig, reloadConfig, configToJson, effectiveLogLevel, type ReloadResult } from './load.js';
export { readConfigFile } from './read-file.js';
