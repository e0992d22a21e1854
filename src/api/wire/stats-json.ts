import type { InterfaceStats, RawStats } from '../backend.js';

type CpuStats = Record<string, unknown>;

const ZERO_TIME = '0001-01-01T00:00:00Z';

function cpuStats(s: RawStats | undefined): CpuStats {
  if (!s) return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  return {
    cpu_usage: {
      total_usage: s.cpuTotalNs,
      percpu_usage: s.cpuPerCpuNs,
      usage_in_kernelmode: s.cpuKernelNs,
      usage_in_usermode: s.cpuUserNs,
    },
    system_cpu_usage: s.systemCpuNs,
    online_cpus: s.onlineCpus,
    throttling_data: { periods: s.throttling.periods, throttled_periods: s.throttling.throttledPeriods, throttled_time: s.throttling.throttledTime },
  };
}

/**
 * One `GET /containers/{id}/stats` sample in Docker's (cgroup v1) shape; the CLI computes
 * CPU % from the difference between cpu_stats and precpu_stats.
 */
export function statsJson(
  id: string,
  name: string,
  now: RawStats | undefined,
  prev: RawStats | undefined,
  readAt: string,
  preReadAt: string | undefined,
  networks?: Record<string, InterfaceStats>,
): Record<string, unknown> {
  const hugeLimit = now && now.memoryLimit > 2 ** 62 ? now.memoryLimit : now?.memoryLimit;
  return {
    id,
    name: `/${name}`,
    read: now ? readAt : ZERO_TIME,
    preread: preReadAt ?? ZERO_TIME,
    pids_stats: now ? { current: now.pids, ...(now.pidsLimit > 0 ? { limit: now.pidsLimit } : {}) } : {},
    blkio_stats: blkioStats(now),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(now),
    precpu_stats: cpuStats(prev),
    memory_stats: now
      ? { usage: now.memoryUsage, max_usage: now.memoryMaxUsage, stats: now.memoryStat, limit: hugeLimit }
      : {},
    ...(networks && Object.keys(networks).length > 0 ? { networks: networksJson(networks) } : {}),
  };
}

/** The container's interfaces, in Docker's names (eth0 → rx_bytes, ...). */
function networksJson(n: Record<string, InterfaceStats>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [ifname, s] of Object.entries(n)) {
    out[ifname] = {
      rx_bytes: s.rxBytes,
      rx_packets: s.rxPackets,
      rx_errors: s.rxErrors,
      rx_dropped: s.rxDropped,
      tx_bytes: s.txBytes,
      tx_packets: s.txPackets,
      tx_errors: s.txErrors,
      tx_dropped: s.txDropped,
    };
  }
  return out;
}

/** Docker's cgroup v1 blkio_stats: only the counters this kernel keeps are filled. */
function blkioStats(s: RawStats | undefined): Record<string, unknown> {
  const entries = (list: RawStats['blkio']['serviceBytes'] | undefined) =>
    list && list.length > 0 ? list.map((e) => ({ major: e.major, minor: e.minor, op: e.op, value: e.value })) : null;
  return {
    io_service_bytes_recursive: entries(s?.blkio.serviceBytes),
    io_serviced_recursive: entries(s?.blkio.serviced),
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}
