import type { ContainerSpec, HostTuning, RestartPolicy } from './container.js';
import { conflict, invalidParameter } from '../lib/errors.js';

/**
 * The resources `docker update` changes and a running container's cgroup is given: the one
 * list of them. `key` is the name in ResourceLimits/ResourceUpdate, `wire` Docker's (in
 * HostConfig and UpdateConfig), `in` where the container's spec keeps it (most in `tuning`).
 */
export const RESOURCE_FIELDS = [
  { key: 'memory', wire: 'Memory', kind: 'int', in: 'spec' },
  { key: 'memorySwap', wire: 'MemorySwap', kind: 'int', in: 'spec' },
  { key: 'memoryReservation', wire: 'MemoryReservation', kind: 'int', in: 'tuning' },
  { key: 'nanoCpus', wire: 'NanoCpus', kind: 'int', in: 'spec' },
  { key: 'cpuShares', wire: 'CpuShares', kind: 'int', in: 'spec' },
  { key: 'cpuQuota', wire: 'CpuQuota', kind: 'int', in: 'tuning' },
  { key: 'cpuPeriod', wire: 'CpuPeriod', kind: 'int', in: 'tuning' },
  { key: 'cpusetCpus', wire: 'CpusetCpus', kind: 'string', in: 'tuning' },
  { key: 'cpusetMems', wire: 'CpusetMems', kind: 'string', in: 'tuning' },
  // 0: unlimited.
  { key: 'pidsLimit', wire: 'PidsLimit', kind: 'int', in: 'spec' },
  // 0: not set (this kernel has no blkio weight).
  { key: 'blkioWeight', wire: 'BlkioWeight', kind: 'int', in: 'tuning' },
] as const satisfies readonly ResourceField[];

type ResourceField =
  | { key: keyof ContainerSpec; wire: string; kind: 'int'; in: 'spec' }
  | { key: keyof HostTuning; wire: string; kind: 'int' | 'string'; in: 'tuning' };

type Field = (typeof RESOURCE_FIELDS)[number];

/** The limits of a running container's cgroup, as the runtime applies them. */
export type ResourceLimits = { [F in Field as F['key']]: F['kind'] extends 'string' ? string : number };

/**
 * `docker update`: what the request changes. As in Docker's HostConfig, 0 and '' mean "leave
 * as it is", except `pidsLimit` (0 or -1: unlimited; undefined: leave).
 */
export type ResourceUpdate = Omit<ResourceLimits, 'pidsLimit'> & { pidsLimit?: number; restartPolicy?: RestartPolicy };

/** What the machine offers, for the checks dockerd makes against its sysinfo. */
export type HostResources = {
  numCpu: number;
  /** The cpus and memory nodes a container may use (`0-1`). */
  cpus: string;
  mems: string;
  blkioWeight: boolean;
  swapLimit: boolean;
};

const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * The checks dockerd runs on an update before looking at the container (its
 * verifyContainerResources): Docker's 400s, and its warnings for what this kernel cannot do
 * (the setting is then dropped).
 */
export function checkUpdate(u: ResourceUpdate, host: HostResources): { update: ResourceUpdate; warnings: string[] } {
  const out = { ...u };
  const warnings: string[] = [];
  // runc refuses it with a JSON error (a 500 found by the fuzzer, seed 1468115298); dockerd says this.
  if (out.cpuShares < 0) throw invalidParameter('shares: invalid argument');
  if (out.memory !== 0 && out.memory < MIN_MEMORY) throw invalidParameter('Minimum memory limit allowed is 6MB');
  if (out.memory > 0 && out.memorySwap !== -1 && !host.swapLimit) {
    warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
    out.memorySwap = -1;
  }
  if (out.memory > 0 && out.memorySwap > 0 && out.memorySwap < out.memory) {
    throw invalidParameter('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (out.memoryReservation > 0 && out.memoryReservation < MIN_MEMORY) throw invalidParameter('Minimum memory reservation allowed is 6MB');
  if (out.memory > 0 && out.memoryReservation > 0 && out.memory < out.memoryReservation) {
    throw invalidParameter('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (out.nanoCpus > 0 && out.cpuPeriod > 0) throw invalidParameter('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (out.nanoCpus > 0 && out.cpuQuota > 0) throw invalidParameter('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (out.nanoCpus < 0 || out.nanoCpus > host.numCpu * 1e9) {
    throw invalidParameter(`Range of CPUs is from 0.01 to ${host.numCpu}.00, as there are only ${host.numCpu} CPUs available`);
  }
  if (out.cpuPeriod !== 0 && (out.cpuPeriod < 1000 || out.cpuPeriod > 1_000_000)) {
    throw invalidParameter('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  }
  if (out.cpuQuota > 0 && out.cpuQuota < 1000) throw invalidParameter('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  checkCpuset(out.cpusetCpus, host.cpus, 'cpus', 'CPUs');
  checkCpuset(out.cpusetMems, host.mems, 'mems', 'memory nodes');
  if (out.blkioWeight > 0 && !host.blkioWeight) {
    warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    out.blkioWeight = 0;
  }
  if (out.blkioWeight > 0 && (out.blkioWeight < 10 || out.blkioWeight > 1000)) throw invalidParameter('Range of blkio weight is from 10 to 1000');
  if (out.restartPolicy && out.restartPolicy.maximumRetryCount > 0 && out.restartPolicy.name !== 'on-failure') {
    throw invalidParameter(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  return { update: out, warnings };
}

function checkCpuset(value: string, available: string, kind: 'cpus' | 'mems', what: string): void {
  if (value === '') return;
  const wanted = parseUintList(value);
  if (!wanted) throw invalidParameter(`Invalid value ${value} for cpuset ${kind}`);
  const have = parseUintList(available) ?? new Set<number>();
  for (const n of wanted) {
    if (!have.has(n)) throw invalidParameter(`Requested ${what} are not available - requested ${value}, available: ${available}`);
  }
}

/** A Linux cpu list (`0-2,4`) as a set; undefined when malformed. */
export function parseUintList(s: string): Set<number> | undefined {
  const out = new Set<number>();
  if (s.trim() === '') return out;
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 4096) return undefined;
    for (let n = lo; n <= hi; n++) out.add(n);
  }
  return out;
}

/**
 * The container's spec after the update, or Docker's refusal, a conflict with what is set (the
 * message follows "Cannot update container <id>: "). NanoCpus and a CFS period/quota exclude each other
 * across updates too, since one rewrites the other.
 */
export function applyUpdate(spec: ContainerSpec, u: ResourceUpdate): ContainerSpec {
  const t = { ...(spec.tuning ?? {}) };
  if (u.nanoCpus > 0 && (t.cpuPeriod ?? 0) > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
  if (u.nanoCpus > 0 && (t.cpuQuota ?? 0) > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
  if (u.cpuPeriod > 0 && spec.nanoCpus > 0) throw conflict('Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
  if (u.cpuQuota > 0 && spec.nanoCpus > 0) throw conflict('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  if (u.memory !== 0 && u.memory > effectiveSwap(spec) && u.memorySwap === 0) {
    throw conflict('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  const next: ContainerSpec = { ...spec };
  const tuning = t as Record<string, unknown>;
  for (const f of RESOURCE_FIELDS) {
    if (f.key === 'pidsLimit') {
      if (u.pidsLimit !== undefined) next.pidsLimit = u.pidsLimit > 0 ? u.pidsLimit : 0;
      continue;
    }
    const v = u[f.key];
    if (v === 0 || v === '') continue;
    if (f.in === 'spec') next[f.key] = v as number;
    else tuning[f.key] = v;
  }
  if (u.restartPolicy) {
    if (spec.autoRemove && u.restartPolicy.name !== 'no') {
      throw conflict('Restart policy cannot be updated because AutoRemove is enabled for the container');
    }
    next.restartPolicy = u.restartPolicy;
  }
  if (Object.keys(t).length > 0) next.tuning = t;
  return next;
}

/** dockerd stores a memory limit given without swap as twice the memory (its create default). */
function effectiveSwap(spec: ContainerSpec): number {
  if (spec.memorySwap !== 0) return spec.memorySwap;
  return spec.memory > 0 ? spec.memory * 2 : 0;
}

/** The cgroup limits a spec asks for. */
export function limitsOf(spec: ContainerSpec): ResourceLimits {
  const t = (spec.tuning ?? {}) as Record<string, unknown>;
  const out: Record<string, number | string> = {};
  for (const f of RESOURCE_FIELDS) {
    out[f.key] = f.in === 'spec' ? spec[f.key] : ((t[f.key] as number | string | undefined) ?? (f.kind === 'string' ? '' : 0));
  }
  return out as ResourceLimits;
}

/** The create request's HostConfig keys an update rewrites (inspect shows them). */
export function hostConfigAfter(spec: ContainerSpec, u: ResourceUpdate): Record<string, unknown> {
  const now = limitsOf(spec);
  const out: Record<string, unknown> = {};
  for (const f of RESOURCE_FIELDS) {
    if (f.key === 'pidsLimit') {
      if (u.pidsLimit !== undefined) out[f.wire] = spec.pidsLimit > 0 ? spec.pidsLimit : null;
      continue;
    }
    const v = u[f.key];
    if (v !== 0 && v !== '') out[f.wire] = now[f.key];
  }
  if (u.restartPolicy) out['RestartPolicy'] = { Name: u.restartPolicy.name, MaximumRetryCount: u.restartPolicy.maximumRetryCount };
  return out;
}
