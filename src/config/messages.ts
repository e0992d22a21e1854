/**
 * dockerd's configuration sentences, with berth's name in place of Docker's. Scripts and
 * users match on them (see shared/anchors/docker.md a, b), so they live in one place.
 */
import { BerthError } from '../lib/errors.js';

export class ConfigError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidParameter', message, options);
    this.name = 'ConfigError';
  }
}

export const configMessages = {
  withFile: (file: string, msg: string) => `unable to configure the berth daemon with file ${file}: ${msg}`,
  mergedValidation: (msg: string) => `merged configuration validation from file and command line flags failed: ${msg}`,
  unknownDirectives: (keys: string[]) =>
    `the following directives don't match any configuration option: ${keys.join(', ')}`,
  conflicts: (entries: string[]) =>
    `the following directives are specified both as a flag and in the configuration file: ${entries.join(', ')}`,
  conflictEntry: (key: string, fromFlag: string, fromFile: string) =>
    `${key}: (from flag: ${fromFlag}, from file: ${fromFile})`,
  // Go's encoding/json UnmarshalTypeError.
  typeError: (jsonType: string, struct: string, field: string, goType: string) =>
    `json: cannot unmarshal ${jsonType} into Go struct field ${struct}.${field} of type ${goType}`,
  notAnObject: (jsonType: string) => `json: cannot unmarshal ${jsonType} into Go value of type map[string]interface {}`,
  noSuchFile: (file: string) => `open ${file}: no such file or directory`,

  // pflag / cobra
  unknownFlag: (name: string) => `unknown flag: --${name}`,
  badFlagSyntax: (arg: string) => `bad flag syntax: ${arg}`,
  unknownShorthand: (c: string, arg: string) => `unknown shorthand flag: '${c}' in ${arg}`,
  needsArgument: (name: string) => `flag needs an argument: --${name}`,
  shorthandNeedsArgument: (c: string, arg: string) => `flag needs an argument: '${c}' in ${arg}`,
  invalidArgument: (value: string, flag: string, msg: string) => `invalid argument "${value}" for "${flag}" flag: ${msg}`,
  noArguments: () => `"berthd" accepts no arguments.`,
  parseBool: (v: string) => `strconv.ParseBool: parsing "${v}": invalid syntax`,
  parseInt: (v: string) => `strconv.ParseInt: parsing "${v}": invalid syntax`,
  atoi: (v: string) => `strconv.Atoi: parsing "${v}": invalid syntax`,

  // config.Validate and the option parsers it calls
  invalidLogLevel: (v: string) => `invalid logging level: ${v}`,
  invalidIp: (v: string) => `IP address is not correctly formatted: ${v}`,
  invalidDomain: (v: string) => `${v} is not a valid domain`,
  badLabel: (v: string) => `bad attribute format: ${v}`,
  conflictingLabels: (k: string, v1: string, v2: string) => `conflict labels for ${k}=${v1} and ${k}=${v2}`,
  invalidMtu: (v: number) => `invalid default MTU: ${v}`,
  reservedRuntime: (name: string) => `runtime name '${name}' is reserved`,
  invalidRuntimeArgument: (v: string) => `invalid runtime argument: ${v}`,
  runtimeDefinedTwice: (name: string) => `runtime '${name}' was already defined`,
  noDefaultRuntime: (name: string) => `specified default runtime '${name}' does not exist`,
  invalidHost: (v: string) => `Invalid bind address format: ${v}`,
  invalidFixedCidr: (v: string) => `invalid fixed-cidr: ${v}: expected an IPv4 subnet such as 10.87.1.0/24`,
  invalidUlimitArgument: (v: string) => `invalid ulimit argument: ${v}`,
  invalidUlimitType: (v: string) => `invalid ulimit type: ${v}`,
  invalidUlimitValue: (v: string) => `invalid ulimit value: ${v}`,
  ulimitSoftAboveHard: (soft: number, hard: number) =>
    `ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`,
  unknownLogOpt: (key: string, driver: string) => `unknown log opt '${key}' for ${driver} log driver`,
  invalidSize: (v: string) => `invalid size: '${v}'`,
  maxFileBelowOne: () => 'max-file cannot be less than 1',
  logModeNotSupported: (v: string) => `logger: logging mode not supported: ${v}`,
  maxBufferNeedsNonBlocking: () => `logger: max-buffer-size option is only supported with 'mode=non-blocking'`,
  unknownLocalLogOpt: (key: string) => `unknown log opt '${key}' for log driver local`,
  localInvalidValue: (key: string, v: string, why: string) => `invalid value for ${key}: ${v}: ${why}`,
  localMaxFileNegative: () => 'max file count cannot be less than 0',
  localCompressOneFile: () => 'compression cannot be enabled when max file count is 1',
  unregisteredLogDriver: (v: string) => `logger: no log driver named '${v}' is registered`,

  invalidMaxConcurrent: (what: string, v: number) => `invalid max concurrent ${what}: ${v}`,
  insecureRegistryScheme: (v: string) => `insecure registry ${v} should not contain '://'`,
  invalidMirrorScheme: (v: string) => `invalid mirror: unsupported scheme in ${JSON.stringify(v)}`,
  invalidMirrorPath: (v: string) => `invalid mirror: path, query, or fragment at end of the URI ${JSON.stringify(v)}`,
  invalidMirror: (v: string) => `invalid mirror: ${JSON.stringify(v)} is not a valid URI`,

  // berth's own: dockerd has no exact sentence for these
  fdSockets: (h: string) => `socket activation (${h}) is not supported by berth: use unix:// or tcp:// hosts`,
  tcpWithoutTls: (h: string) =>
    `refusing to listen on ${h} without TLS: anyone who can reach it gets root on this machine. ` +
    'Use --tlsverify with --tlscacert, --tlscert and --tlskey, or give --tls=false to accept the risk',
  invalidStorageDriver: (v: string, valid: readonly string[]) =>
    `invalid storage driver: ${v} (supported: ${valid.join(', ')})`,
  refusedLogDriver: (v: string) => `the ${v} log driver is not supported by berth: use json-file, local or none`,
  invalidLogDriver: (v: string, valid: readonly string[]) => `invalid log driver: ${v} (supported: ${valid.join(', ')})`,
  runtimeWithoutPath: (name: string) => `runtime '${name}' has no path`,
  invalidShutdownTimeout: (v: number) => `invalid shutdown-timeout: ${v} (must be 0 or more seconds)`,
  invalidBip: (v: string) => `invalid bip: ${v} (expected an IPv4 address with a prefix length, like 172.18.0.1/16)`,
  ulimitNameMismatch: (key: string, name: string) => `default-ulimits: entry '${key}' has Name '${name}'`,
  invalidAddressPool: (base: string, size: number, why: string) =>
    `invalid default-address-pools entry {base: ${base}, size: ${size}}: ${why}`,
  invalidAddressPoolFlag: (v: string) => `invalid default-address-pool: ${v} (expected base=<cidr>,size=<prefix length>)`,
  notAbsolute: (key: string, v: string) => `${key} must be an absolute path: ${v}`,
} as const;
