import { isNetworkName, type ContainerSpec, type EndpointRequest, type NetworkMode } from './container.js';
import { invalidParameter } from '../lib/errors.js';
import { parseSignal } from './signals.js';
import { withImageVolumes } from './mounts.js';
import { mergeEnv } from '../lib/env.js';
import { effectiveHealthConfig, validateHealthConfig, type HealthConfig } from './health.js';

/**
 * A create request in the engine's terms. `undefined` means "not given" so the image's value
 * applies; the API layer translates Docker's JSON into this.
 */
export type CreateOptions = Pick<
  ContainerSpec,
  | 'env' | 'tty' | 'openStdin' | 'stdinOnce' | 'labels' | 'stopTimeout' | 'autoRemove' | 'restartPolicy'
  | 'memory' | 'memorySwap' | 'nanoCpus' | 'cpuShares' | 'pidsLimit' | 'readonlyRootfs' | 'privileged'
  | 'capAdd' | 'capDrop' | 'ulimits' | 'mounts' | 'init' | 'consoleSize' | 'dns' | 'extraHosts' | 'tuning'
> & {
  name?: string;
  image: string;
  /** undefined: the image's entrypoint. */
  entrypoint?: string[];
  cmd?: string[];
  /** Whether an empty `cmd` falls back to the image's (Docker: unless the entrypoint was reset to ""). */
  inheritCmd: boolean;
  workingDir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  /** undefined: the image's, else SIGTERM. */
  stopSignal?: string;
  /** As given; resolved against what this daemon has at create (networks/network-mode.ts). */
  networkMode: string;
  /** Published and exposed ports, --ip, --mac-address. */
  endpoint?: EndpointRequest;
  /**
   * NetworkingConfig.EndpointsConfig by network name: aliases (`--network-alias`), --ip and
   * --mac-address per network; more than one network at create since API 1.44.
   */
  endpointsConfig?: Record<string, EndpointSettings>;
  logConfig?: { driver: string; opts: Record<string, string> };
  /** Config.Healthcheck (`--health-*`, `--no-healthcheck`), merged with the image's at create. */
  healthcheck?: HealthConfig;
  /** `--volumes-from`: containers by name or id, and `:ro`/`:rw` (undefined: as they are). */
  volumesFrom?: { container: string; readOnly: boolean | undefined }[];
  /** HostConfig.Runtime: a runtime the daemon knows, or the daemon's default. */
  runtime?: string;
  platform?: string;
  request: { config: Record<string, unknown>; hostConfig: Record<string, unknown> };
};

export type EndpointSettings = { aliases: string[]; ipv4Address?: string; macAddress?: string };

export type ImageRuntimeConfig = {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Volumes?: Record<string, unknown> | null;
  Healthcheck?: DockerHealthConfig | null;
};

/** Docker's spelling of a health check (image config, create request, inspect). */
export type DockerHealthConfig = {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
};

export function fromDockerHealth(h: DockerHealthConfig | null | undefined): HealthConfig | undefined {
  if (!h) return undefined;
  return {
    test: h.Test ?? [],
    interval: h.Interval ?? 0,
    timeout: h.Timeout ?? 0,
    startPeriod: h.StartPeriod ?? 0,
    startInterval: h.StartInterval ?? 0,
    retries: h.Retries ?? 0,
  };
}

export function toDockerHealth(h: HealthConfig): DockerHealthConfig {
  return {
    Test: h.test,
    ...(h.interval ? { Interval: h.interval } : {}),
    ...(h.timeout ? { Timeout: h.timeout } : {}),
    ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
    ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
    ...(h.retries ? { Retries: h.retries } : {}),
  };
}

/** Combine a create request with its image's defaults into the container's spec. */
export function deriveSpec(o: CreateOptions, image: ImageRuntimeConfig, defaultHostname: string, networkMode: NetworkMode): ContainerSpec {
  const entrypoint = o.entrypoint ?? image.Entrypoint ?? [];
  // Docker drops the image's CMD when the request sets its own entrypoint.
  const cmd = o.cmd && o.cmd.length > 0 ? o.cmd : o.inheritCmd ? (image.Cmd ?? []) : [];
  if (entrypoint.length === 0 && cmd.length === 0) throw invalidParameter('No command specified');
  const workingDir = o.workingDir || image.WorkingDir || '/';
  if (!workingDir.startsWith('/')) {
    throw invalidParameter(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`);
  }
  const stopSignal = o.stopSignal || image.StopSignal || 'SIGTERM';
  parseSignal(stopSignal);
  if (o.healthcheck) validateHealthConfig(o.healthcheck);
  const healthcheck = effectiveHealthConfig(o.healthcheck, fromDockerHealth(image.Healthcheck));
  return {
    image: o.image,
    entrypoint,
    cmd,
    env: mergeEnv(image.Env ?? [], o.env),
    workingDir,
    // As dockerd: an empty --user (the CLI always sends one) means the image's USER.
    user: o.user || image.User || '',
    hostname: o.hostname || defaultHostname,
    domainname: o.domainname ?? '',
    tty: o.tty,
    openStdin: o.openStdin,
    stdinOnce: o.stdinOnce,
    labels: { ...(image.Labels ?? {}), ...o.labels },
    stopSignal,
    ...(o.stopTimeout !== undefined ? { stopTimeout: o.stopTimeout } : {}),
    autoRemove: o.autoRemove,
    networkMode,
    ...(isNetworkName(networkMode) && o.endpoint ? { endpoint: o.endpoint } : {}),
    restartPolicy: o.restartPolicy,
    memory: o.memory,
    memorySwap: o.memorySwap,
    nanoCpus: o.nanoCpus,
    cpuShares: o.cpuShares,
    pidsLimit: o.pidsLimit,
    readonlyRootfs: o.readonlyRootfs,
    privileged: o.privileged,
    capAdd: o.capAdd,
    capDrop: o.capDrop,
    ulimits: o.ulimits,
    mounts: withImageVolumes(o.mounts, image.Volumes),
    init: o.init,
    ...(o.consoleSize ? { consoleSize: o.consoleSize } : {}),
    ...(o.dns ? { dns: o.dns } : {}),
    ...(o.tuning ? { tuning: o.tuning } : {}),
    ...(o.extraHosts && o.extraHosts.length > 0 ? { extraHosts: o.extraHosts } : {}),
    ...(healthcheck ? { healthcheck } : {}),
  };
}
