/** The cluster's `Spec` (`docker swarm init/update`) as swarmkit fills it in. */
export const DEFAULT_CLUSTER_SPEC = {
  Name: 'default',
  Labels: {},
  Orchestration: { TaskHistoryRetentionLimit: 5 },
  Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
  Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
  CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
  TaskDefaults: {},
  EncryptionConfig: { AutoLockManagers: false },
};

/** A spec as received, with the defaults filled in; the cluster is always named `default`. */
export function clusterSpec(given: Record<string, unknown>): Record<string, unknown> {
  return { ...withDefaults(DEFAULT_CLUSTER_SPEC, given), Name: 'default' };
}

/** The CLI sends every field, unset ones as zero: those take swarmkit's defaults. */
function withDefaults(defaults: Record<string, unknown>, given: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...given };
  for (const [k, d] of Object.entries(defaults)) {
    const g = given[k];
    if (d && typeof d === 'object' && !Array.isArray(d)) out[k] = withDefaults(d as Record<string, unknown>, g && typeof g === 'object' ? (g as Record<string, unknown>) : {});
    else if (g === undefined || g === null || g === 0) out[k] = d;
  }
  return out;
}
