/**
 * The one table of daemon options: daemon.json key, flag names, Go type (for dockerd-style
 * type errors), default, and whether SIGHUP applies it. Flags, file decoding, merging,
 * usage and reload all read this table, so adding an option is one row here (plus a check
 * in validate.ts when its values need one).
 */
import { ConfigError, configMessages as m } from './messages.js';
import type { AddressPool, DaemonConfig, RuntimeConfig, Ulimit } from './types.js';
import {
  BUILTIN_RUNTIME,
  parseAddressPool,
  parseGoBool,
  parseGoInt,
  parseHost,
  parseRuntimeArg,
  parseUlimit,
  validateDomain,
  validateIp,
  validateLabel,
} from './values.js';

export type OptionKind = 'string' | 'bool' | 'int' | 'strings' | 'stringMap' | 'runtimes' | 'ulimits' | 'pools';

export type OptionSpec = {
  readonly key: string;
  readonly field: keyof DaemonConfig;
  /** Long flag name; differs from the key for repeatable flags (`--label` → `labels`). */
  readonly flag: string;
  readonly short?: string;
  readonly kind: OptionKind;
  /** Applied in place by SIGHUP; otherwise a change is reported as needing a restart. */
  readonly reload: boolean;
  readonly help: string;
  /** What `--help` shows as the default when defaultConfig() cannot say it (derived values). */
  readonly shownDefault?: string;
  /** Checks (and may reject) each value given on the command line, as dockerd's flag types do. */
  readonly checkFlagValue?: (v: string) => unknown;
};

export const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json';

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'hosts', field: 'hosts', flag: 'host', short: 'H', kind: 'strings', reload: false,
    help: 'Daemon socket(s) to connect to', checkFlagValue: parseHost },
  // The API socket's group and remote access (TCP only with TLS), with dockerd's names.
  { key: 'group', field: 'group', flag: 'group', short: 'G', kind: 'string', reload: false,
    help: 'Group for the unix socket', shownDefault: '"berth" if that group exists, else root' },
  { key: 'tls', field: 'tls', flag: 'tls', kind: 'bool', reload: false,
    help: 'Use TLS; implied by --tlsverify' },
  { key: 'tlsverify', field: 'tlsVerify', flag: 'tlsverify', kind: 'bool', reload: false,
    help: 'Use TLS and verify the remote (mutual TLS: clients need a certificate signed by --tlscacert)' },
  { key: 'tlscacert', field: 'tlsCaCert', flag: 'tlscacert', kind: 'string', reload: false,
    help: 'Trust certs signed only by this CA' },
  { key: 'tlscert', field: 'tlsCert', flag: 'tlscert', kind: 'string', reload: false,
    help: 'Path to TLS certificate file' },
  { key: 'tlskey', field: 'tlsKey', flag: 'tlskey', kind: 'string', reload: false,
    help: 'Path to TLS key file' },
  { key: 'data-root', field: 'dataRoot', flag: 'data-root', kind: 'string', reload: false,
    help: 'Root directory of persistent berth state' },
  { key: 'exec-root', field: 'execRoot', flag: 'exec-root', kind: 'string', reload: false,
    help: 'Root directory for execution state files' },
  { key: 'storage-driver', field: 'storageDriver', flag: 'storage-driver', short: 's', kind: 'string', reload: false,
    help: 'Storage driver to use ("overlay2"|"vfs")' },
  { key: 'storage-opts', field: 'storageOpts', flag: 'storage-opt', kind: 'strings', reload: false,
    help: 'Storage driver options' },
  { key: 'log-level', field: 'logLevel', flag: 'log-level', short: 'l', kind: 'string', reload: true,
    help: 'Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")' },
  { key: 'debug', field: 'debug', flag: 'debug', short: 'D', kind: 'bool', reload: true,
    help: 'Enable debug mode' },
  { key: 'default-runtime', field: 'defaultRuntime', flag: 'default-runtime', kind: 'string', reload: true,
    help: 'Default OCI runtime for containers' },
  { key: 'runtimes', field: 'runtimes', flag: 'add-runtime', kind: 'runtimes', reload: true,
    help: 'Register an additional OCI compatible runtime (name=path)', checkFlagValue: parseRuntimeArg },
  { key: 'shutdown-timeout', field: 'shutdownTimeout', flag: 'shutdown-timeout', kind: 'int', reload: true,
    help: 'Default shutdown timeout in seconds' },
  // Every driver name is stored by conmon in its k8s-file format; the name is what the API reports.
  { key: 'log-driver', field: 'logDriver', flag: 'log-driver', kind: 'string', reload: true,
    help: 'Default driver for container logs' },
  { key: 'log-opts', field: 'logOpts', flag: 'log-opt', kind: 'stringMap', reload: true,
    help: 'Default log driver options for containers (key=value)' },
  { key: 'labels', field: 'labels', flag: 'label', kind: 'strings', reload: true,
    help: 'Set key=value labels to the daemon', checkFlagValue: validateLabel },
  { key: 'live-restore', field: 'liveRestore', flag: 'live-restore', kind: 'bool', reload: true,
    help: 'Enable live restore of containers when the daemon stops' },
  { key: 'swarm-etcd-dir', field: 'swarmEtcdDir', flag: 'swarm-etcd-dir', kind: 'string', reload: false,
    help: "Where a swarm manager's etcd member keeps its data (tmpfs suits tests)", shownDefault: '<data-root>/swarm' },
  { key: 'bip', field: 'bip', flag: 'bip', kind: 'string', reload: false,
    help: 'Specify network bridge IP (CIDR)', shownDefault: 'the one recorded, else the first free of 10.87.0.1/16, 10.86.0.1/16, ...' },
  { key: 'bridge', field: 'bridge', flag: 'bridge', short: 'b', kind: 'string', reload: false,
    help: 'Attach containers to a network bridge ("none": no default bridge network)', shownDefault: 'a bridge berth makes: berth0 (or berth-<tag> for another data root)' },
  { key: 'cgroup-parent', field: 'cgroupParent', flag: 'cgroup-parent', kind: 'string', reload: false,
    help: 'Set parent cgroup for all containers' },
  { key: 'pidfile', field: 'pidfile', flag: 'pidfile', short: 'p', kind: 'string', reload: false,
    help: 'Path to use for daemon PID file', shownDefault: '"<exec-root>/berthd.pid"' },
  { key: 'default-ulimits', field: 'defaultUlimits', flag: 'default-ulimit', kind: 'ulimits', reload: true,
    help: 'Default ulimits for containers (name=soft[:hard])', checkFlagValue: parseUlimit },
  { key: 'init-path', field: 'initPath', flag: 'init-path', kind: 'string', reload: false,
    help: 'Path to the init binary run by --init', shownDefault: '"/usr/bin/tini-static"' },
  { key: 'experimental', field: 'experimental', flag: 'experimental', kind: 'bool', reload: true,
    help: 'Enable experimental features' },
  { key: 'mtu', field: 'mtu', flag: 'mtu', kind: 'int', reload: false,
    help: 'Set the containers network MTU' },
  { key: 'dns', field: 'dns', flag: 'dns', kind: 'strings', reload: false,
    help: 'DNS server to use', checkFlagValue: validateIp },
  { key: 'dns-search', field: 'dnsSearch', flag: 'dns-search', kind: 'strings', reload: false,
    help: 'DNS search domains to use', checkFlagValue: validateDomain },
  { key: 'dns-opts', field: 'dnsOpts', flag: 'dns-opt', kind: 'strings', reload: false,
    help: 'DNS options to use' },
  { key: 'iptables', field: 'iptables', flag: 'iptables', kind: 'bool', reload: false,
    help: 'Enable addition of iptables rules' },
  { key: 'ip-forward', field: 'ipForward', flag: 'ip-forward', kind: 'bool', reload: false,
    help: 'Enable net.ipv4.ip_forward' },
  { key: 'userland-proxy', field: 'userlandProxy', flag: 'userland-proxy', kind: 'bool', reload: false,
    help: 'Accepted for dockerd compatibility; berth publishes ports with kernel rules only, never a proxy' },
  { key: 'fixed-cidr', field: 'fixedCidr', flag: 'fixed-cidr', kind: 'string', reload: false,
    help: 'IPv4 subnet for fixed IPs (a range of the default bridge subnet for container addresses)' },
  { key: 'ip-masq', field: 'ipMasq', flag: 'ip-masq', kind: 'bool', reload: false,
    help: 'Enable IP masquerading' },
  { key: 'icc', field: 'icc', flag: 'icc', kind: 'bool', reload: false,
    help: 'Enable inter-container communication' },
  { key: 'ip', field: 'ip', flag: 'ip', kind: 'string', reload: false,
    help: 'Default IP when binding container ports', checkFlagValue: validateIp },
  { key: 'default-address-pools', field: 'defaultAddressPools', flag: 'default-address-pool', kind: 'pools',
    reload: false, help: 'Default address pools for node specific local networks (base=<cidr>,size=<n>)',
    checkFlagValue: parseAddressPool },
  { key: 'seccomp-profile', field: 'seccompProfile', flag: 'seccomp-profile', kind: 'string', reload: false,
    help: 'Path to seccomp profile. Set to "unconfined" to disable the default seccomp profile' },
  { key: 'no-new-privileges', field: 'noNewPrivileges', flag: 'no-new-privileges', kind: 'bool', reload: false,
    help: 'Set no-new-privileges by default for new containers' },
  // ---- registries (pull, push, login) ----
  { key: 'max-concurrent-downloads', field: 'maxConcurrentDownloads', flag: 'max-concurrent-downloads', kind: 'int', reload: true,
    help: 'Set the max concurrent downloads' },
  { key: 'max-concurrent-uploads', field: 'maxConcurrentUploads', flag: 'max-concurrent-uploads', kind: 'int', reload: true,
    help: 'Set the max concurrent uploads' },
  { key: 'insecure-registries', field: 'insecureRegistries', flag: 'insecure-registry', kind: 'strings', reload: true,
    help: 'Enable insecure registry communication (host[:port] or CIDR)' },
  { key: 'registry-mirrors', field: 'registryMirrors', flag: 'registry-mirror', kind: 'strings', reload: true,
    help: 'Preferred Docker registry mirror' },
  { key: 'registry-certs-dir', field: 'registryCertsDir', flag: 'registry-certs-dir', kind: 'string', reload: true,
    help: 'Directory of per-registry certificates (<dir>/<host:port>/ca.crt, client.cert, client.key)' },
  { key: 'no-default-registry', field: 'noDefaultRegistry', flag: 'no-default-registry', kind: 'bool', reload: true,
    help: 'Never contact Docker Hub: references without a registry host fail at once unless a registry mirror serves them' },
];

export const OPTION_BY_KEY: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.key, o]));

/** pidfile is left empty here; it is derived from exec-root after merging. */
export function defaultConfig(): DaemonConfig {
  return {
    hosts: [`unix:///run/berth/berth.sock`],
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
    logLevel: 'info',
    debug: false,
    defaultRuntime: BUILTIN_RUNTIME,
    runtimes: {},
    shutdownTimeout: 15,
    logDriver: 'json-file',
    logOpts: {},
    labels: [],
    liveRestore: false,
    swarmEtcdDir: undefined,
    bip: undefined,
    bridge: undefined,
    cgroupParent: '/berth',
    pidfile: '',
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
  };
}

/**
 * Folds one command-line value into the option's daemon.json-shaped value, so that flag and
 * file values go through the same decoding afterwards.
 */
export function addFlagValue(spec: OptionSpec, previous: unknown, raw: string): unknown {
  const checked = spec.checkFlagValue?.(raw);
  switch (spec.kind) {
    case 'string':
      return raw;
    case 'bool':
      return parseGoBool(raw);
    case 'int':
      return parseGoInt(raw);
    case 'strings':
      return [...((previous as string[] | undefined) ?? []), raw];
    case 'stringMap': {
      // moby's MapOpts: a value without `=` sets the key to "".
      const eq = raw.indexOf('=');
      const [k, v] = eq < 0 ? [raw, ''] : [raw.slice(0, eq), raw.slice(eq + 1)];
      return { ...((previous as Record<string, string> | undefined) ?? {}), [k]: v };
    }
    case 'runtimes': {
      const { name, path } = checked as { name: string; path: string };
      const map = (previous as Record<string, unknown> | undefined) ?? {};
      if (name in map) throw new ConfigError(m.runtimeDefinedTwice(name));
      return { ...map, [name]: { path } };
    }
    case 'ulimits': {
      const u = checked as Ulimit;
      return { ...((previous as Record<string, Ulimit> | undefined) ?? {}), [u.Name]: u };
    }
    case 'pools':
      return [...((previous as AddressPool[] | undefined) ?? []), checked as AddressPool];
  }
}

// ---- decoding daemon.json values, with Go's encoding/json type errors ----

type Field = { struct: string; path: string };

const GO_TYPES: Record<OptionKind, string> = {
  string: 'string',
  bool: 'bool',
  int: 'int',
  strings: '[]string',
  stringMap: 'map[string]string',
  runtimes: 'map[string]system.Runtime',
  ulimits: 'map[string]*units.Ulimit',
  pools: '[]*ipamutils.NetworkToSplit',
};

const RUNTIME_FIELDS = ['path', 'runtimeArgs'] as const;
const ULIMIT_FIELDS = ['Name', 'Soft', 'Hard'] as const;
const POOL_FIELDS = ['base', 'size'] as const;

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function typeError(v: unknown, at: Field, goType: string): ConfigError {
  return new ConfigError(m.typeError(jsonType(v), at.struct, at.path, goType));
}

// Go decodes JSON null as "leave the zero value"; these helpers follow it.
function asString(v: unknown, at: Field): string {
  if (v === null) return '';
  if (typeof v !== 'string') throw typeError(v, at, 'string');
  return v;
}

function asBool(v: unknown, at: Field): boolean {
  if (v === null) return false;
  if (typeof v !== 'boolean') throw typeError(v, at, 'bool');
  return v;
}

function asInt(v: unknown, at: Field, goType = 'int'): number {
  if (v === null) return 0;
  if (typeof v !== 'number') throw typeError(v, at, goType);
  // Go names the literal only when a number does not fit the integer type.
  if (!Number.isSafeInteger(v)) throw new ConfigError(m.typeError(`number ${v}`, at.struct, at.path, goType));
  return v;
}

function asStrings(v: unknown, at: Field): string[] {
  if (v === null) return [];
  if (!Array.isArray(v)) throw typeError(v, at, '[]string');
  return v.map((x) => asString(x, at));
}

function asObject(v: unknown, at: Field, goType: string): Record<string, unknown> {
  if (v === null) return {};
  if (!isObject(v)) throw typeError(v, at, goType);
  return v;
}

/** Go matches JSON keys to struct fields case-insensitively. */
function structField(o: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : o[key];
}

/** Decodes one daemon.json value (not null) into its DaemonConfig field value. */
export function decodeFileValue(spec: OptionSpec, v: unknown): unknown {
  const top: Field = { struct: 'Config', path: spec.key };
  switch (spec.kind) {
    case 'string':
      return asString(v, top);
    case 'bool':
      return asBool(v, top);
    case 'int':
      return asInt(v, top);
    case 'strings':
      return asStrings(v, top);
    case 'stringMap': {
      const o = asObject(v, top, GO_TYPES.stringMap);
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, asString(x, top)]));
    }
    case 'runtimes': {
      const o = asObject(v, top, GO_TYPES.runtimes);
      const at = (f: string): Field => ({ struct: 'Runtime', path: `${spec.key}.${f}` });
      return Object.fromEntries(
        Object.entries(o).map(([name, x]): [string, RuntimeConfig] => {
          const r = asObject(x, top, 'system.Runtime');
          const args = structField(r, 'runtimeArgs');
          return [name, {
            path: asString(structField(r, 'path') ?? '', at('path')),
            runtimeArgs: args === undefined ? [] : asStrings(args, at('runtimeArgs')),
          }];
        }),
      );
    }
    case 'ulimits': {
      const o = asObject(v, top, GO_TYPES.ulimits);
      const at = (f: string): Field => ({ struct: 'Ulimit', path: `${spec.key}.${f}` });
      return Object.fromEntries(
        Object.entries(o).map(([name, x]): [string, Ulimit] => {
          const u = asObject(x, top, 'units.Ulimit');
          return [name, {
            // An entry keyed by its name may leave `Name` out.
            Name: asString(structField(u, 'Name') ?? '', at('Name')) || name,
            Soft: asInt(structField(u, 'Soft') ?? 0, at('Soft'), 'int64'),
            Hard: asInt(structField(u, 'Hard') ?? 0, at('Hard'), 'int64'),
          }];
        }),
      );
    }
    case 'pools': {
      if (!Array.isArray(v)) throw typeError(v, top, GO_TYPES.pools);
      const at = (f: string): Field => ({ struct: 'NetworkToSplit', path: `${spec.key}.${f}` });
      return v.map((x): AddressPool => {
        const p = asObject(x, top, 'ipamutils.NetworkToSplit');
        return { base: asString(structField(p, 'base') ?? '', at('base')), size: asInt(structField(p, 'size') ?? 0, at('size')) };
      });
    }
  }
}

/**
 * Keys inside structured values that match no field (`runtimes.kata.pth`). Go would drop
 * them silently; berth reports them with the unknown top-level keys, since a typo there
 * silently changes what runs.
 */
export function unknownNestedKeys(spec: OptionSpec, v: unknown): string[] {
  const known: Partial<Record<OptionKind, readonly string[]>> = {
    runtimes: RUNTIME_FIELDS,
    ulimits: ULIMIT_FIELDS,
    pools: POOL_FIELDS,
  };
  const fields = known[spec.kind]?.map((f) => f.toLowerCase());
  if (!fields) return [];
  const entries: [string, unknown][] =
    spec.kind === 'pools'
      ? (Array.isArray(v) ? v.map((x, i): [string, unknown] => [String(i), x]) : [])
      : isObject(v) ? Object.entries(v) : [];
  return entries.flatMap(([name, entry]) =>
    isObject(entry)
      ? Object.keys(entry).filter((k) => !fields.includes(k.toLowerCase())).map((k) => `${spec.key}.${name}.${k}`)
      : [],
  );
}
