import type { RestartPolicy } from './container.js';

// Docker's restart manager: 100 ms, doubling per consecutive restart, at most a minute; a
// run of 10 s or more starts the backoff over.
const INITIAL_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_MS = 10_000;

export type RestartDecision = { restart: boolean; delayMs: number };

/**
 * Whether a container that just exited is restarted, and after how long. `previousDelayMs`
 * is the delay used for the previous restart (0 when none), kept by the caller.
 */
export function decideRestart(
  policy: RestartPolicy,
  o: {
    exitCode: number;
    /** Stopped or killed with its stop signal / SIGKILL by a user, or the daemon is stopping. */
    exitRequested: boolean;
    manuallyStopped: boolean;
    restartCount: number;
    ranForMs: number;
    previousDelayMs: number;
  },
): RestartDecision {
  let delay = o.ranForMs >= RESET_AFTER_MS || o.previousDelayMs === 0 ? INITIAL_DELAY_MS : o.previousDelayMs * 2;
  if (delay > MAX_DELAY_MS) delay = MAX_DELAY_MS;
  if (o.exitRequested) return { restart: false, delayMs: delay };
  switch (policy.name) {
    case 'always':
      return { restart: true, delayMs: delay };
    case 'unless-stopped':
      return { restart: !o.manuallyStopped, delayMs: delay };
    case 'on-failure': {
      const underMax = policy.maximumRetryCount === 0 || o.restartCount < policy.maximumRetryCount;
      return { restart: underMax && o.exitCode !== 0, delayMs: delay };
    }
    case 'no':
      return { restart: false, delayMs: delay };
  }
}

/** At daemon start: which stopped containers come back (dockerd's restore rule). */
export function restartsAtDaemonStart(
  policy: RestartPolicy,
  o: { exitCode: number; manuallyStopped: boolean; restartCount: number; hasBeenStarted: boolean },
): boolean {
  if (!o.hasBeenStarted) return false;
  switch (policy.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !o.manuallyStopped;
    case 'on-failure':
      return !o.manuallyStopped && o.exitCode !== 0 && (policy.maximumRetryCount === 0 || o.restartCount < policy.maximumRetryCount);
    case 'no':
      return false;
  }
}
