import { invalidParameter } from '../lib/errors.js';

/**
 * Health checks as Docker defines them (durations in nanoseconds, as in its API; 0 means the
 * default). `test` is `["CMD", arg...]`, `["CMD-SHELL", command]` or `["NONE"]`.
 */
export type HealthConfig = {
  test: string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
};

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One probe: when it ran, its exit code (-1: it could not run or timed out) and its output. */
export type HealthResult = { start: string; end: string; exitCode: number; output: string };

/** What inspect shows as State.Health; kept in the record so it survives a daemon restart. */
export type HealthState = { status: HealthStatus; failingStreak: number; log: HealthResult[] };

export const HEALTH_DEFAULTS = { interval: 30e9, timeout: 30e9, startPeriod: 0, startInterval: 5e9, retries: 3 };
/** Longest probe output kept (Docker's limit); more is cut and marked with `...`. */
export const MAX_OUTPUT = 4096;
const MAX_LOG = 5;
const MIN_DURATION = 1e6;

/** The checks dockerd makes on a create request's Healthcheck. */
export function validateHealthConfig(h: HealthConfig): void {
  const min = (v: number, what: string) => {
    if (v !== 0 && v < MIN_DURATION) throw invalidParameter(`${what} in Healthcheck cannot be less than 1ms`);
  };
  min(h.interval, 'Interval');
  min(h.timeout, 'Timeout');
  if (h.retries < 0) throw invalidParameter('Retries in Healthcheck cannot be negative');
  min(h.startPeriod, 'StartPeriod');
  min(h.startInterval, 'StartInterval');
}

/**
 * The container's check: the request's settings over the image's (each one unset in the
 * request comes from the image, the test included), or none when the test is NONE or not a
 * kind Docker runs.
 */
export function effectiveHealthConfig(request: HealthConfig | undefined, image: HealthConfig | undefined): HealthConfig | undefined {
  let h = request ?? image;
  if (request && image) {
    h = {
      test: request.test.length > 0 ? request.test : image.test,
      interval: request.interval || image.interval,
      timeout: request.timeout || image.timeout,
      startPeriod: request.startPeriod || image.startPeriod,
      startInterval: request.startInterval || image.startInterval,
      retries: request.retries || image.retries,
    };
  }
  if (!h || (h.test[0] !== 'CMD' && h.test[0] !== 'CMD-SHELL')) return undefined;
  return h;
}

/** The command a probe runs: CMD as given, CMD-SHELL through the container's shell. */
export function probeCommand(h: HealthConfig, shell: string[] = ['/bin/sh', '-c']): string[] {
  return h.test[0] === 'CMD-SHELL' ? [...shell, ...h.test.slice(1)] : h.test.slice(1);
}

const or = (v: number, d: number) => (v === 0 ? d : v);

/** Milliseconds to wait before the next probe: the start interval while starting within the start period. */
export function probeDelayMs(h: HealthConfig, startedAtMs: number, nowMs: number, status: HealthStatus): number {
  const startPeriod = or(h.startPeriod, HEALTH_DEFAULTS.startPeriod) / 1e6;
  const interval = or(h.interval, HEALTH_DEFAULTS.interval) / 1e6;
  if (nowMs - startedAtMs >= startPeriod) return interval;
  return status === 'starting' ? or(h.startInterval, HEALTH_DEFAULTS.startInterval) / 1e6 : interval;
}

export function probeTimeoutMs(h: HealthConfig): number {
  return or(h.timeout, HEALTH_DEFAULTS.timeout) / 1e6;
}

/**
 * A probe's result applied as dockerd applies it: success makes the container healthy and
 * resets the streak; a failure counts unless the container is still starting within its start
 * period, and `retries` failures in a row make it unhealthy. The last five results are kept.
 */
export function applyProbeResult(h: HealthState, r: HealthResult, cfg: HealthConfig, startedAtMs: number): HealthState {
  const log = [...h.log, r].slice(-MAX_LOG);
  if (r.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  const inStartPeriod = h.status === 'starting' && Date.parse(r.start) - startedAtMs < or(cfg.startPeriod, HEALTH_DEFAULTS.startPeriod) / 1e6;
  if (inStartPeriod) return { ...h, log };
  const failingStreak = h.failingStreak + 1;
  const status = failingStreak >= or(cfg.retries, HEALTH_DEFAULTS.retries) ? 'unhealthy' : h.status;
  return { status, failingStreak, log };
}

/** Probe output as Docker keeps it: the first 4096 bytes, `...` if there was more. */
export function limitOutput(chunks: Buffer[], truncated: boolean): string {
  const text = Buffer.concat(chunks).subarray(0, MAX_OUTPUT).toString('utf8');
  return truncated ? `${text}...` : text;
}

/** What `ps` shows after "Up …": `health: starting`, `healthy`, `unhealthy`. */
export function healthText(status: HealthStatus): string {
  return status === 'starting' ? 'health: starting' : status;
}
