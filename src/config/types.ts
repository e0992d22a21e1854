import type { LogLevel } from '../lib/logger.js';

export type { LogLevel };

export type RuntimeConfig = { path: string; runtimeArgs: string[] };

/** Field names follow docker's daemon.json (`Name`/`Soft`/`Hard`), as go-units spells them. */
export type Ulimit = { Name: string; Soft: number; Hard: number };

export type AddressPool = { base: string; size: number };

/**
 * The effective daemon configuration: defaults, then daemon.json, then flags. Each field is
 * one daemon.json key in camelCase (`data-root` → `dataRoot`).
 */
export type DaemonConfig = {
  hosts: string[];
  /** The unix socket's group ('': `berth` if that group exists, else root). */
  group: string;
  /** TLS on TCP hosts; `tlsverify` implies it. */
  tls: boolean;
  tlsVerify: boolean;
  tlsCaCert: string;
  tlsCert: string;
  tlsKey: string;
  dataRoot: string;
  execRoot: string;
  storageDriver: string;
  storageOpts: string[];
  logLevel: LogLevel;
  debug: boolean;
  defaultRuntime: string;
  /** Always holds the built-in `runc` besides the user's runtimes. */
  runtimes: Record<string, RuntimeConfig>;
  shutdownTimeout: number;
  logDriver: string;
  logOpts: Record<string, string>;
  labels: string[];
  liveRestore: boolean;
  /** A swarm manager's etcd data directory; `<data-root>/swarm` unless set. */
  swarmEtcdDir?: string | undefined;
  bip?: string | undefined;
  bridge?: string | undefined;
  cgroupParent: string;
  /** `<exec-root>/berthd.pid` unless set. */
  pidfile: string;
  defaultUlimits: Record<string, Ulimit>;
  experimental: boolean;
  /** The init binary `--init` runs as PID 1 (Debian's tini-static by default). */
  initPath: string;
  mtu: number;
  dns: string[];
  dnsSearch: string[];
  dnsOpts: string[];
  iptables: boolean;
  ipForward: boolean;
  userlandProxy: boolean;
  /** A range of the bridge subnet that dynamic addresses come from. */
  fixedCidr?: string | undefined;
  ipMasq: boolean;
  icc: boolean;
  /** The host address `-p` binds when a binding names none (0.0.0.0: all). */
  ip: string;
  defaultAddressPools: AddressPool[];
  /** `builtin` (berth's default profile), `unconfined`, or the path of a profile in Docker's format. */
  seccompProfile: string;
  /** no-new-privileges for every container that does not set it. */
  noNewPrivileges: boolean;
  // ---- registries ----
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  /** host[:port] names and CIDRs whose registries may answer over plain HTTP or with any certificate. */
  insecureRegistries: string[];
  /** Mirrors tried before Docker Hub for docker.io references. */
  registryMirrors: string[];
  /** `<dir>/<host:port>/` holds a registry's extra CAs (*.crt) and client certificates (*.cert + *.key). */
  registryCertsDir: string;
  /** Docker Hub is never contacted: docker.io references go to the mirrors only, or fail at once. */
  noDefaultRegistry: boolean;
};

export type OptionSource = 'default' | 'file' | 'flag';

/** Where each effective option came from, keyed by daemon.json key. */
export type OptionSources = Record<string, OptionSource>;

export type LoadedConfig = { config: DaemonConfig; sources: OptionSources };

export type ParsedFlags = {
  /** Options given as flags, in daemon.json shape and keyed by daemon.json key. */
  options: Record<string, unknown>;
  configFile?: string | undefined;
  validate: boolean;
  checkRestore: boolean;
  version: boolean;
  help: boolean;
};

export type LoadInput = {
  flags: ParsedFlags;
  file: string;
  /** The file's text; undefined when the file does not exist. */
  fileText: string | undefined;
  /** A missing file is an error only when named by --config-file; defaults to that. */
  fileExplicit?: boolean | undefined;
};
