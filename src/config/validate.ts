/**
 * Value checks on the merged configuration, in the order dockerd's config.Validate runs them
 * (log level, DNS, labels, MTU, runtimes, hosts), then berth's own. The first failure wins,
 * as in dockerd; it names the keys involved so the caller can say whether the file is to blame.
 */
import { configMessages as m, ConfigError } from './messages.js';
import type { DaemonConfig } from './types.js';
import {
  BUILTIN_RUNTIME,
  cidrPrefix,
  ipv4PrefixLength,
  parseGoBool,
  parseHost,
  parseSize,
  ULIMIT_NAMES,
  validateDomain,
  validateIp,
  validateLabel,
  validateInsecureRegistry,
  validateMirror,
} from './values.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const;
export const STORAGE_DRIVERS = ['overlay2', 'vfs'] as const;
export const LOG_DRIVERS = ['json-file', 'k8s-file', 'local', 'none'] as const;

export type ValidationFailure = { keys: string[]; message: string };

type Check = { keys: string[]; run: (c: DaemonConfig) => void };

const fail = (message: string): never => {
  throw new ConfigError(message);
};

const CHECKS: Check[] = [
  { keys: ['log-level'], run: (c) => {
    // logrus parses levels case-insensitively.
    if (!(LOG_LEVELS as readonly string[]).includes(c.logLevel.toLowerCase())) fail(m.invalidLogLevel(c.logLevel));
  } },
  { keys: ['dns'], run: (c) => c.dns.forEach(validateIp) },
  { keys: ['dns-search'], run: (c) => c.dnsSearch.forEach(validateDomain) },
  { keys: ['labels'], run: (c) => {
    c.labels.forEach(validateLabel);
    labelsWithoutDuplicates(c.labels);
  } },
  { keys: ['mtu'], run: (c) => {
    if (c.mtu < 0) fail(m.invalidMtu(c.mtu));
  } },
  { keys: ['runtimes'], run: (c) => {
    // The built-in entry is added after validation, so any `runc` here is the user's.
    if (BUILTIN_RUNTIME in c.runtimes) fail(m.reservedRuntime(BUILTIN_RUNTIME));
    for (const [name, r] of Object.entries(c.runtimes)) if (r.path === '') fail(m.runtimeWithoutPath(name));
  } },
  { keys: ['default-runtime', 'runtimes'], run: (c) => {
    if (c.defaultRuntime !== BUILTIN_RUNTIME && !(c.defaultRuntime in c.runtimes)) {
      fail(m.noDefaultRuntime(c.defaultRuntime));
    }
  } },
  { keys: ['hosts'], run: (c) => {
    for (const h of c.hosts) if (parseHost(h).proto === 'fd') fail(m.fdSockets(h));
  } },
  { keys: ['data-root'], run: (c) => absolute('data-root', c.dataRoot) },
  { keys: ['exec-root'], run: (c) => absolute('exec-root', c.execRoot) },
  { keys: ['pidfile'], run: (c) => {
    if (c.pidfile !== '') absolute('pidfile', c.pidfile);
  } },
  { keys: ['storage-driver'], run: (c) => {
    if (!(STORAGE_DRIVERS as readonly string[]).includes(c.storageDriver)) {
      fail(m.invalidStorageDriver(c.storageDriver, STORAGE_DRIVERS));
    }
  } },
  { keys: ['log-driver'], run: (c) => {
    if (!(LOG_DRIVERS as readonly string[]).includes(c.logDriver)) fail(m.invalidLogDriver(c.logDriver, LOG_DRIVERS));
  } },
  { keys: ['log-opts', 'log-driver'], run: (c) => validateLogOpts(c.logDriver, c.logOpts) },
  { keys: ['shutdown-timeout'], run: (c) => {
    if (c.shutdownTimeout < 0) fail(m.invalidShutdownTimeout(c.shutdownTimeout));
  } },
  { keys: ['fixed-cidr'], run: (c) => {
    if (c.fixedCidr !== undefined && ipv4PrefixLength(c.fixedCidr) === undefined) fail(m.invalidFixedCidr(c.fixedCidr));
  } },
  { keys: ['ip'], run: (c) => validateIp(c.ip) },
  { keys: ['bip'], run: (c) => {
    if (c.bip !== undefined && ipv4PrefixLength(c.bip) === undefined) fail(m.invalidBip(c.bip));
  } },
  { keys: ['default-ulimits'], run: (c) => {
    for (const [key, u] of Object.entries(c.defaultUlimits)) {
      if (u.Name !== key) fail(m.ulimitNameMismatch(key, u.Name));
      if (!(ULIMIT_NAMES as readonly string[]).includes(key)) fail(m.invalidUlimitType(key));
      if (u.Soft > u.Hard) fail(m.ulimitSoftAboveHard(u.Soft, u.Hard));
    }
  } },
  { keys: ['default-address-pools'], run: (c) => {
    for (const { base, size } of c.defaultAddressPools) {
      const cidr = cidrPrefix(base);
      if (!cidr) fail(m.invalidAddressPool(base, size, 'base is not a CIDR'));
      else if (size < cidr.prefix || size > cidr.bits) {
        fail(m.invalidAddressPool(base, size, `size must be between ${cidr.prefix} and ${cidr.bits}`));
      }
    }
  } },
  // ---- registries ----
  { keys: ['max-concurrent-downloads'], run: (c) => {
    if (c.maxConcurrentDownloads < 0) fail(m.invalidMaxConcurrent('downloads', c.maxConcurrentDownloads));
  } },
  { keys: ['max-concurrent-uploads'], run: (c) => {
    if (c.maxConcurrentUploads < 0) fail(m.invalidMaxConcurrent('uploads', c.maxConcurrentUploads));
  } },
  { keys: ['insecure-registries'], run: (c) => c.insecureRegistries.forEach(validateInsecureRegistry) },
  { keys: ['registry-mirrors'], run: (c) => c.registryMirrors.forEach(validateMirror) },
  { keys: ['registry-certs-dir'], run: (c) => absolute('registry-certs-dir', c.registryCertsDir) },
];

function absolute(key: string, path: string): void {
  if (!path.startsWith('/')) fail(m.notAbsolute(key, path));
}

/** Runs every check; the first failure is returned rather than thrown. */
export function validateConfig(c: DaemonConfig): ValidationFailure | undefined {
  for (const check of CHECKS) {
    try {
      check.run(c);
    } catch (err) {
      if (err instanceof ConfigError) return { keys: check.keys, message: err.message };
      throw err;
    }
  }
  return undefined;
}

/**
 * moby GetConflictFreeLabels: the same key twice with different values is an error; exact
 * duplicates collapse. Order of first appearance is kept.
 */
export function labelsWithoutDuplicates(labels: string[]): string[] {
  const seen = new Map<string, string>();
  for (const label of labels) {
    const eq = label.indexOf('=');
    const [k, v] = [label.slice(0, eq), label.slice(eq + 1)];
    const prev = seen.get(k);
    if (prev !== undefined && prev !== v) fail(m.conflictingLabels(k, v, prev));
    seen.set(k, v);
  }
  return [...seen].map(([k, v]) => `${k}=${v}`);
}

const BLOCKING_MODES = ['blocking', 'non-blocking'];

/** Docker's other built-in drivers: named when refused, rather than called unknown. */
export const REFUSED_LOG_DRIVERS = ['syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'etwlogs', 'gcplogs', 'logentries'] as const;

/**
 * Whether a container may use `driver`: json-file and local (both written in conmon's
 * k8s-file format underneath), none; Docker's other drivers are refused by name.
 */
export function checkLogDriver(driver: string): void {
  if ((LOG_DRIVERS as readonly string[]).includes(driver)) return;
  if ((REFUSED_LOG_DRIVERS as readonly string[]).includes(driver)) fail(m.refusedLogDriver(driver));
  fail(m.unregisteredLogDriver(driver));
}

type OptCheck = (v: string, all: Record<string, string>) => void;

/** `mode` and `max-buffer-size`: every driver but none takes them (dockerd checks them first). */
const GENERIC_LOG_OPTS: Record<string, OptCheck> = {
  mode: (v) => {
    if (!BLOCKING_MODES.includes(v)) fail(m.logModeNotSupported(v));
  },
  'max-buffer-size': (v, all) => {
    if (all['mode'] !== 'non-blocking') fail(m.maxBufferNeedsNonBlocking());
    parseSize(v);
  },
};

const ATTRIBUTE_OPTS: Record<string, OptCheck> = { labels: () => {}, 'labels-regex': () => {}, env: () => {}, 'env-regex': () => {}, tag: () => {} };

/** json-file's keys (k8s-file, berth's name for what conmon writes, takes the same). */
const JSON_FILE_OPTS: Record<string, OptCheck> = {
  'max-size': (v) => parseSize(v),
  'max-file': (v) => {
    if (!/^[+-]?\d+$/.test(v)) fail(m.atoi(v));
    if (Number(v) < 1) fail(m.maxFileBelowOne());
  },
  compress: (v) => parseGoBool(v),
  ...ATTRIBUTE_OPTS,
};

/** local's keys, with its own wording; compression is on by default, so one file cannot be kept. */
const LOCAL_OPTS: Record<string, OptCheck> = {
  'max-size': (v) => {
    try {
      parseSize(v);
    } catch (err) {
      fail(m.localInvalidValue('max-size', v, (err as Error).message));
    }
  },
  'max-file': (v, all) => {
    if (!/^[+-]?\d+$/.test(v)) fail(m.localInvalidValue('max-file', v, m.atoi(v)));
    if (Number(v) < 0) fail(m.localMaxFileNegative());
    if (Number(v) <= 1 && !isFalse(all['compress'])) fail(m.localCompressOneFile());
  },
  compress: (v) => {
    try {
      parseGoBool(v);
    } catch (err) {
      fail(m.localInvalidValue('compress', v, (err as Error).message));
    }
  },
  ...ATTRIBUTE_OPTS,
};

function isFalse(v: string | undefined): boolean {
  if (v === undefined) return false;
  try {
    return !parseGoBool(v);
  } catch {
    return false;
  }
}

/** The options of `driver`, checked as dockerd checks them, with its messages. */
export function validateLogOpts(driver: string, opts: Record<string, string>): void {
  // dockerd validates nothing for the none driver.
  if (driver === 'none') return;
  const own = driver === 'local' ? LOCAL_OPTS : JSON_FILE_OPTS;
  const keys = Object.keys(opts).sort();
  for (const key of keys) GENERIC_LOG_OPTS[key]?.(opts[key] ?? '', opts);
  for (const key of keys) {
    if (key in GENERIC_LOG_OPTS) continue;
    const check = own[key];
    if (!check) fail(driver === 'local' ? m.unknownLocalLogOpt(key) : m.unknownLogOpt(key, driver));
    else check(opts[key] ?? '', opts);
  }
}
