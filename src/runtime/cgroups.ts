import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import type { BlkioEntry, HostResources, RawStats, ResourceLimits } from '../engine/ports.js';

/** controller → cgroup path of a process (cgroup v1 hierarchy, as on these machines). */
export async function cgroupPaths(pid: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  for (const line of text.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers === undefined || path === undefined) continue;
    for (const c of controllers.split(',')) out.set(c === '' ? 'unified' : c, path);
  }
  return out;
}

async function read(controller: string, path: string | undefined, file: string): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return (await readFile(join('/sys/fs/cgroup', controller, path, file), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

const num = (s: string | undefined) => (s === undefined || s === '' ? 0 : Number(s));

/** Every process of the container: the members of its init's cgroup. */
export async function containerPids(pid: number): Promise<number[]> {
  const paths = await cgroupPaths(pid);
  const procs = (await read('pids', paths.get('pids'), 'cgroup.procs')) ?? (await read('memory', paths.get('memory'), 'cgroup.procs')) ?? String(pid);
  return procs.split('\n').filter(Boolean).map(Number);
}


const USER_HZ_NS = 10_000_000;

/** What `docker stats` needs, read from the container's cgroups and /proc/stat. */
export async function readStats(pid: number): Promise<RawStats> {
  const p = await cgroupPaths(pid);
  const cpuacct = p.get('cpuacct');
  const stat = (await read('cpuacct', cpuacct, 'cpuacct.stat')) ?? '';
  const userTicks = num(/user (\d+)/.exec(stat)?.[1]);
  const sysTicks = num(/system (\d+)/.exec(stat)?.[1]);
  const throttled = (await read('cpu', p.get('cpu'), 'cpu.stat')) ?? '';
  const memStat: Record<string, number> = {};
  for (const line of ((await read('memory', p.get('memory'), 'memory.stat')) ?? '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) memStat[k] = Number(v);
  }
  const procStat = await readFile('/proc/stat', 'utf8');
  const cpuLine = procStat.split('\n')[0]?.split(/\s+/).slice(1, 8).map(Number) ?? [];
  const pidsMax = await read('pids', p.get('pids'), 'pids.max');
  return {
    cpuTotalNs: num(await read('cpuacct', cpuacct, 'cpuacct.usage')),
    cpuPerCpuNs: ((await read('cpuacct', cpuacct, 'cpuacct.usage_percpu')) ?? '').split(/\s+/).filter(Boolean).map(Number),
    cpuUserNs: userTicks * USER_HZ_NS,
    cpuKernelNs: sysTicks * USER_HZ_NS,
    systemCpuNs: cpuLine.reduce((a, b) => a + b, 0) * USER_HZ_NS,
    onlineCpus: cpus().length,
    throttling: {
      periods: num(/nr_periods (\d+)/.exec(throttled)?.[1]),
      throttledPeriods: num(/nr_throttled (\d+)/.exec(throttled)?.[1]),
      throttledTime: num(/throttled_time (\d+)/.exec(throttled)?.[1]),
    },
    memoryUsage: num(await read('memory', p.get('memory'), 'memory.usage_in_bytes')),
    memoryMaxUsage: num(await read('memory', p.get('memory'), 'memory.max_usage_in_bytes')),
    memoryLimit: num(await read('memory', p.get('memory'), 'memory.limit_in_bytes')),
    memoryStat: memStat,
    pids: num(await read('pids', p.get('pids'), 'pids.current')),
    pidsLimit: pidsMax === undefined || pidsMax === 'max' ? 0 : Number(pidsMax),
    blkio: await blockIo(pid, p.get('blkio')),
  };
}

/**
 * The blkio counters of the container's cgroup. On this kernel (6.x, cgroup v1) they move only
 * on a disk that has a throttle rule: blk-throttle, which keeps them, is off until one is set.
 * Then the container's processes are asked instead (/proc/<pid>/io, which also holds what the
 * children they reaped did), as bytes read and written on the device of the container's root.
 */
async function blockIo(pid: number, path: string | undefined): Promise<RawStats['blkio']> {
  const serviceBytes = await blkioFile(path, 'io_service_bytes_recursive');
  const serviced = await blkioFile(path, 'io_serviced_recursive');
  if (serviceBytes.some((e) => e.value > 0)) return { serviceBytes, serviced };
  let read = 0;
  let write = 0;
  for (const p of await containerPids(pid)) {
    const io = await readFile(`/proc/${p}/io`, 'utf8').catch(() => '');
    read += num(/^read_bytes: (\d+)/m.exec(io)?.[1]);
    write += Math.max(0, num(/^write_bytes: (\d+)/m.exec(io)?.[1]) - num(/^cancelled_write_bytes: (\d+)/m.exec(io)?.[1]));
  }
  if (read === 0 && write === 0) return { serviceBytes, serviced };
  const { major, minor } = await deviceOf(`/proc/${pid}/root`);
  const serviceBytesFromProcs: BlkioEntry[] = [
    { major, minor, op: 'Read', value: read },
    { major, minor, op: 'Write', value: write },
    { major, minor, op: 'Total', value: read + write },
  ];
  // The number of requests is not known this way.
  return { serviceBytes: serviceBytesFromProcs, serviced };
}

async function deviceOf(path: string): Promise<{ major: number; minor: number }> {
  try {
    const dev = BigInt((await stat(path, { bigint: true })).dev);
    return { major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)), minor: Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn)) };
  } catch {
    return { major: 0, minor: 0 };
  }
}

/**
 * A blkio counter file (`8:0 Read 4096` lines, then `Total`). The throttle files count every
 * request on this kernel (the CFQ ones are gone with the legacy schedulers).
 */
async function blkioFile(path: string | undefined, name: string): Promise<BlkioEntry[]> {
  const text = (await read('blkio', path, `blkio.throttle.${name}`)) ?? (await read('blkio', path, `blkio.${name}`)) ?? '';
  return parseBlkio(text);
}

export function parseBlkio(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] as string, value: Number(m[4]) });
  }
  return out;
}

const CPU_PERIOD = 100_000;

/**
 * What `runc update -r` takes for the limits of a container. Everything is sent, so the
 * cgroup ends up as a start with these limits would set it; 0 leaves a value alone (runc's
 * rule), so "unlimited" is -1.
 */
export function runcResources(l: ResourceLimits): Record<string, unknown> {
  const cpu: Record<string, unknown> = { shares: l.cpuShares, quota: l.cpuQuota, period: l.cpuPeriod, cpus: l.cpusetCpus, mems: l.cpusetMems };
  if (l.nanoCpus > 0) {
    cpu['period'] = CPU_PERIOD;
    cpu['quota'] = Math.round((l.nanoCpus * CPU_PERIOD) / 1e9);
  }
  return {
    memory: { limit: l.memory, reservation: l.memoryReservation, swap: l.memorySwap },
    cpu,
    pids: { limit: l.pidsLimit > 0 ? l.pidsLimit : -1 },
    ...(l.blkioWeight > 0 ? { blockIO: { weight: l.blkioWeight } } : {}),
  };
}

let host: HostResources | undefined;

/** The machine's cpus, memory nodes and cgroup features, read once (dockerd's sysinfo). */
export function hostResources(): HostResources {
  if (host) return host;
  const text = (p: string, fallback: string) => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return fallback;
    }
  };
  const numCpu = cpus().length;
  host = {
    numCpu,
    cpus: text('/sys/fs/cgroup/cpuset/cpuset.cpus', numCpu > 1 ? `0-${numCpu - 1}` : '0'),
    mems: text('/sys/fs/cgroup/cpuset/cpuset.mems', '0'),
    blkioWeight: existsSync('/sys/fs/cgroup/blkio/blkio.weight') || existsSync('/sys/fs/cgroup/blkio/blkio.bfq.weight'),
    swapLimit: existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
  };
  return host;
}
