import type { ContainerService } from '../engine/container-service.js';
import { isRunningLike, type ContainerRecord } from '../engine/container.js';
import type { OciRuntime, StorageDriver } from '../engine/ports.js';
import type { RecordStore } from '../state/index.js';
import type { Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { readdir } from 'node:fs/promises';
import { nsToIso } from '../lib/docker-time.js';
import { classify, type DaemonView } from './classify.js';

export type RestoreDeps = {
  store: RecordStore<ContainerRecord>;
  containers: ContainerService;
  runtime: OciRuntime;
  storage: StorageDriver;
  /** Folders of the runtime's per-container state under exec-root (bundles). */
  runtimeBundlesDir: string;
  view: DaemonView;
  dataRoot: string;
  log: Logger;
  deadlineMs: number;
  concurrency: number;
};

export type Verdict =
  | { id: string; action: 'adopted' }
  | { id: string; action: 'exited'; exitCode: number }
  | { id: string; action: 'stopped' }
  | { id: string; action: 'monitor-lost'; containerAlive: boolean }
  | { id: string; action: 'removal-finished' }
  | { id: string; action: 'unchanged' }
  | { id: string; action: 'not-adopted'; reason: string }
  | { id: string; action: 'failed'; error: string };

export type RestoreReport = {
  verdicts: Verdict[];
  unreadable: { id: string; error: string }[];
  leftovers: string[];
  durationMs: number;
};

/**
 * The restore pass, run before the API answers: scan the records, learn from the machine
 * what each container is doing, then adopt, record the exit, stop, or repair — each
 * container on its own, so one bad record never stops start-up.
 */
export async function restore(d: RestoreDeps): Promise<RestoreReport> {
  const t0 = Date.now();
  const { records, failures, leftovers } = await d.store.loadAll();
  for (const f of failures) d.log.error({ containerId: f.id, err: f.error }, 'cannot load container record');
  for (const r of records) d.containers.register(r);

  const deadline = AbortSignal.timeout(d.deadlineMs);
  const verdicts = await mapLimit(records, d.concurrency, async (r): Promise<Verdict> => {
    if (deadline.aborted) return { id: r.id, action: 'failed', error: 'restore deadline passed' };
    try {
      return await settle(d, r);
    } catch (err) {
      d.log.error({ containerId: r.id, err: messageOf(err) }, 'cannot restore container');
      return { id: r.id, action: 'failed', error: messageOf(err) };
    }
  });

  await removeLeftovers(d, records, leftovers);

  // Restart policies, once every container's state is known (dockerd does the same after
  // its restore loop): containers that exited while we were away, and those the policy
  // brings back whenever the daemon starts.
  for (const r of records) {
    try {
      await d.containers.restartAtDaemonStart(r.id);
    } catch (err) {
      d.log.error({ containerId: r.id, err: messageOf(err) }, 'restart policy: cannot start container');
    }
  }
  const report = { verdicts, unreadable: failures, leftovers, durationMs: Date.now() - t0 };
  d.log.info(
    { containers: records.length, adopted: verdicts.filter((v) => v.action === 'adopted').length, ms: report.durationMs },
    'Loading containers: done.',
  );
  return report;
}

async function settle(d: RestoreDeps, r: ContainerRecord): Promise<Verdict> {
  const probe = isRunningLike(r.state) ? await d.runtime.probe(r.state.handle) : undefined;
  const c = classify(r, probe, d.view);
  if (d.log.isLevelEnabled('debug')) d.log.debug({ containerId: r.id, state: r.state.status, probe: probe?.state, verdict: c.kind }, 'restore: classified');
  const handle = isRunningLike(r.state) ? r.state.handle : undefined;
  switch (c.kind) {
    case 'finish-removal':
      await d.containers.finishRemoval(r.id);
      return { id: r.id, action: 'removal-finished' };
    case 'not-running':
      // A start that crashed before it was recorded leaves runtime state and a mount behind.
      await d.runtime.cleanupOrphan(r.id);
      await d.storage.unmount(r.id);
      return { id: r.id, action: 'unchanged' };
    case 'exited':
      await d.containers.recordExit(r.id, c.exit, handle);
      d.log.info({ containerId: r.id, exitCode: c.exit.exitCode }, 'container exited while the daemon was down');
      return { id: r.id, action: 'exited', exitCode: c.exit.exitCode };
    case 'adopt':
      await d.containers.resumeAfterCommit(r.id);
      await d.containers.alignPauseState(r.id);
      d.containers.watch(r.id);
      return { id: r.id, action: 'adopted' };
    case 'stop':
      d.log.info({ containerId: r.id }, 'live restore is off: stopping container found running');
      // A frozen container would not see its stop signal.
      await d.containers.resumeAfterCommit(r.id);
      await d.containers.stopFound(r.id);
      return { id: r.id, action: 'stopped' };
    case 'refuse':
      d.log.warn({ containerId: r.id, name: r.name, reason: c.reason }, `container not adopted: ${c.reason}`);
      d.containers.markNotAdopted(r.id, c.reason);
      return { id: r.id, action: 'not-adopted', reason: c.reason };
    case 'monitor-lost': {
      // Without its monitor the container has no log reader and no exit record: take it
      // down and record that its exit code could not be known (podman does the same).
      d.log.warn({ containerId: r.id, containerAlive: c.containerAlive }, 'container monitor died without writing an exit file');
      if (c.containerAlive && handle) await d.runtime.kill(handle, 9);
      await d.containers.recordExit(
        r.id,
        { exitCode: 255, finishedAt: nsToIso(BigInt(Date.now()) * 1_000_000n), oomKilled: false },
        handle,
        'conmon died without writing exit file, container exit code could not be retrieved',
      );
      return { id: r.id, action: 'monitor-lost', containerAlive: c.containerAlive };
    }
  }
}

/** Storage and runtime state of creates that never finished (no record: never acknowledged). */
async function removeLeftovers(d: RestoreDeps, records: ContainerRecord[], leftovers: string[]): Promise<void> {
  const known = new Set<string>(records.map((r) => r.id));
  for (const id of leftovers) {
    d.log.info({ containerId: id }, 'removing unfinished container');
    await d.store.remove(id);
  }
  for (const id of await d.storage.listContainerLayers()) {
    if (known.has(id)) continue;
    d.log.info({ containerId: id }, 'removing container layer without a record');
    await d.storage.unmount(id).catch(() => undefined);
    await d.storage.removeContainerLayer(id);
  }
  let bundles: string[] = [];
  try {
    bundles = await readdir(d.runtimeBundlesDir);
  } catch {
    bundles = [];
  }
  const foreign: string[] = [];
  for (const id of bundles) {
    if (known.has(id)) continue;
    const owner = await d.runtime.ownerOf(id);
    if (owner && owner.dataRoot !== d.dataRoot) {
      // Another data root's container (same exec-root): never ours to clean.
      if (owner.monitorAlive) foreign.push(`${id.slice(0, 12)} (data root ${owner.dataRoot})`);
      continue;
    }
    d.log.info({ containerId: id }, 'removing runtime state without a record');
    await d.runtime.cleanupOrphan(id).catch((err: unknown) => d.log.warn({ containerId: id, err: messageOf(err) }, 'cannot clean runtime state'));
  }
  if (foreign.length > 0) {
    d.log.warn(
      { containers: foreign },
      `containers started from another data root are still running and are not managed by this daemon: ${foreign.join(', ')}`,
    );
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}
