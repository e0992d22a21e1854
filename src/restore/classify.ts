import type { ContainerRecord, CriticalOptions } from '../engine/container.js';
import { isRunningLike } from '../engine/container.js';
import type { ExitInfo, ProbeResult } from '../engine/ports.js';

/** What the daemon about to take over looks like. */
export type DaemonView = {
  engineVersion: string;
  critical: CriticalOptions;
  liveRestore: boolean;
};

/**
 * The restore pass's decision for one container, shared by the restore itself and the
 * `berthd --check-restore` preflight so that the preflight cannot disagree with it.
 */
export type Classification =
  | { kind: 'not-running' }
  | { kind: 'finish-removal' }
  | { kind: 'adopt' }
  | { kind: 'exited'; exit: ExitInfo }
  | { kind: 'monitor-lost'; containerAlive: boolean }
  | { kind: 'stop'; reason: string }
  | { kind: 'refuse'; reason: string };

/** major.minor: patch releases keep the monitor protocol and the record format. */
export function sameMinor(a: string, b: string): boolean {
  const mm = (v: string) => v.split('.').slice(0, 2).join('.');
  return mm(a) === mm(b);
}

/**
 * The critical options that changed since the container was started, as "name: old → new".
 * `bip` and `bridge` matter only to containers on the default bridge network.
 */
export function criticalChanges(then: CriticalOptions, now: CriticalOptions, onBridge = true): string[] {
  const out: string[] = [];
  const show = (v: string | undefined) => (v === undefined || v === '' ? '(default)' : v);
  // The runtime is recorded in each container's handle, so a new default does not matter here.
  const keys = onBridge ? (['storage-driver', 'bip', 'bridge', 'data-root'] as const) : (['storage-driver', 'data-root'] as const);
  for (const key of keys) {
    if ((then[key] ?? '') !== (now[key] ?? '')) out.push(`${key} changed from ${show(then[key])} to ${show(now[key])}`);
  }
  return out;
}

export function classify(r: ContainerRecord, probe: ProbeResult | undefined, view: DaemonView): Classification {
  if (r.state.status === 'removing') return { kind: 'finish-removal' };
  if (!isRunningLike(r.state) || !probe) return { kind: 'not-running' };
  switch (probe.state) {
    case 'exited':
      // Recording a finished container's exit is safe whatever started it.
      return { kind: 'exited', exit: probe.exit };
    case 'monitor-lost':
      return { kind: 'monitor-lost', containerAlive: probe.containerAlive };
    case 'running': {
      const startedBy = r.startedBy ?? { engineVersion: r.engineVersion, critical: { 'storage-driver': r.storage.driver } };
      if (!sameMinor(startedBy.engineVersion, view.engineVersion)) {
        return { kind: 'refuse', reason: `started by berth ${startedBy.engineVersion}, this is ${view.engineVersion}` };
      }
      const onBridge = r.spec.networkMode === 'bridge' || r.networks.some((a) => a.network === 'bridge');
      const changes = criticalChanges(startedBy.critical, view.critical, onBridge);
      if (changes.length > 0) return { kind: 'refuse', reason: changes.join(', ') };
      if (!view.liveRestore) return { kind: 'stop', reason: 'live restore is off' };
      return { kind: 'adopt' };
    }
  }
}

/** One line for logs and the preflight. */
export function describe(c: Classification): string {
  switch (c.kind) {
    case 'not-running':
      return 'not running: nothing to adopt';
    case 'finish-removal':
      return 'removal interrupted: will be finished';
    case 'adopt':
      return 'running: will be adopted';
    case 'exited':
      return `exited while the daemon was down (exit code ${c.exit.exitCode}): exit will be recorded`;
    case 'monitor-lost':
      return `monitor died${c.containerAlive ? ', container alive' : ''}: will be stopped and marked exited (255)`;
    case 'stop':
      return `running: will be stopped (${c.reason})`;
    case 'refuse':
      return `running: will NOT be adopted (${c.reason})`;
  }
}
