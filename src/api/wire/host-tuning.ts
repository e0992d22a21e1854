import type { HostTuning } from '../backend.js';
import { invalidParameter } from '../../lib/errors.js';
import { decodeSeccompProfile } from './seccomp-profile.js';

type Json = Record<string, unknown>;

const isEmpty = (v: unknown): boolean =>
  v === undefined || v === null || v === '' || v === 0 || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/**
 * HostConfig (and Config) fields berth does not implement: refused when set, never silently
 * ignored. The docker flag is named so the user knows what to drop.
 */
const UNSUPPORTED: [key: string, flag: string, where: 'host' | 'config'][] = [
  ['Links', '--link', 'host'],
  ['DeviceRequests', '--gpus', 'host'],
  ['DeviceCgroupRules', '--device-cgroup-rule', 'host'],
  ['BlkioWeightDevice', '--blkio-weight-device', 'host'],
  ['BlkioDeviceReadBps', '--device-read-bps', 'host'],
  ['BlkioDeviceWriteBps', '--device-write-bps', 'host'],
  ['BlkioDeviceReadIOps', '--device-read-iops', 'host'],
  ['BlkioDeviceWriteIOps', '--device-write-iops', 'host'],
  ['CpuRealtimePeriod', '--cpu-rt-period', 'host'],
  ['CpuRealtimeRuntime', '--cpu-rt-runtime', 'host'],
  ['CpuCount', '--cpu-count', 'host'],
  ['CpuPercent', '--cpu-percent', 'host'],
  ['IOMaximumBandwidth', '--io-maxbandwidth', 'host'],
  ['IOMaximumIOps', '--io-maxiops', 'host'],
  ['UsernsMode', '--userns', 'host'],
  ['Cgroup', '--cgroup', 'host'],
  ['StorageOpt', '--storage-opt', 'host'],
];

const NAMESPACE_MODES: [key: string, flag: string, ns: 'ipc' | 'pid' | 'uts'][] = [
  ['IpcMode', '--ipc', 'ipc'],
  ['PidMode', '--pid', 'pid'],
  ['UTSMode', '--uts', 'uts'],
];

function int(h: Json, key: string, min: number, max: number, msg?: string): number | undefined {
  const v = h[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalidParameter(`json: cannot unmarshal into Go struct field HostConfig.${key} of type int64`);
  if (v < min || v > max) throw invalidParameter(msg ?? `invalid value for ${key}: ${v}`);
  return v;
}

export function parseHostTuning(config: Json, h: Json): { tuning?: HostTuning } {
  for (const [key, flag, where] of UNSUPPORTED) {
    const v = where === 'host' ? h[key] : config[key];
    if (!isEmpty(v)) throw invalidParameter(`${flag} is not supported by this version of berth`);
  }
  const t: HostTuning = {};
  for (const [key, flag, ns] of NAMESPACE_MODES) {
    const v = h[key];
    if (v === undefined || v === null || v === '' || v === 'private' || v === 'shareable') continue;
    if (v !== 'host') throw invalidParameter(`${flag}=${String(v)} is not supported by this version of berth (only host or private)`);
    (t.hostNamespaces ??= []).push(ns);
  }
  const cg = h['CgroupnsMode'];
  if (cg !== undefined && cg !== null && cg !== '' && cg !== 'private' && cg !== 'host') throw invalidParameter(`invalid cgroup namespace mode: ${String(cg)}`);
  const groups = h['GroupAdd'];
  if (Array.isArray(groups) && groups.length > 0) {
    if (!groups.every((g) => typeof g === 'string')) throw invalidParameter('invalid GroupAdd');
    t.groupAdd = groups as string[];
  }
  // Checked against the kernel at create (this one has no blkio weight: dropped with a warning).
  const blkio = int(h, 'BlkioWeight', 0, 0xffff);
  if (blkio) t.blkioWeight = blkio;
  const shm = int(h, 'ShmSize', 0, Number.MAX_SAFE_INTEGER, 'SHM size can not be less than 0');
  if (shm) t.shmSize = shm;
  for (const key of ['CpusetCpus', 'CpusetMems'] as const) {
    const v = h[key];
    if (typeof v === 'string' && v !== '') {
      if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) throw invalidParameter(`Invalid value ${v} for cpuset ${key === 'CpusetCpus' ? 'cpus' : 'mems'}`);
      t[key === 'CpusetCpus' ? 'cpusetCpus' : 'cpusetMems'] = v;
    }
  }
  const quota = int(h, 'CpuQuota', -1, Number.MAX_SAFE_INTEGER);
  const period = int(h, 'CpuPeriod', 0, 1_000_000, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (period !== undefined && period !== 0 && period < 1000) throw invalidParameter('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (quota !== undefined && quota > 0 && quota < 1000) throw invalidParameter('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if ((quota || period) && h['NanoCpus']) throw invalidParameter('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (quota) t.cpuQuota = quota;
  if (period) t.cpuPeriod = period;
  const reservation = int(h, 'MemoryReservation', 0, Number.MAX_SAFE_INTEGER);
  if (reservation) t.memoryReservation = reservation;
  const swappiness = int(h, 'MemorySwappiness', -1, 100, 'Invalid value: swappiness must be between 0 and 100, or -1');
  if (swappiness !== undefined && swappiness >= 0) t.memorySwappiness = swappiness;
  if (h['OomKillDisable'] === true) t.oomKillDisable = true;
  const oom = int(h, 'OomScoreAdj', -1000, 1000, 'Invalid value, range for oom score adj is [-1000, 1000]');
  if (oom) t.oomScoreAdj = oom;
  const sysctls = h['Sysctls'];
  if (sysctls !== undefined && sysctls !== null) {
    if (typeof sysctls !== 'object' || Array.isArray(sysctls) || !Object.values(sysctls).every((v) => typeof v === 'string')) {
      throw invalidParameter('invalid Sysctls');
    }
    if (Object.keys(sysctls).length > 0) t.sysctls = sysctls as Record<string, string>;
  }
  const parent = h['CgroupParent'];
  if (typeof parent === 'string' && parent !== '') t.cgroupParent = parent;
  const devices = h['Devices'];
  if (Array.isArray(devices) && devices.length > 0) {
    t.devices = devices.map((dv: unknown) => {
      const d = dv as Json;
      const path = d['PathOnHost'];
      if (typeof path !== 'string' || !path.startsWith('/')) throw invalidParameter(`invalid device: ${JSON.stringify(dv)}`);
      const inCtr = typeof d['PathInContainer'] === 'string' && d['PathInContainer'] !== '' ? (d['PathInContainer'] as string) : path;
      const perms = typeof d['CgroupPermissions'] === 'string' && d['CgroupPermissions'] !== '' ? (d['CgroupPermissions'] as string) : 'rwm';
      if (!/^[rwm]{1,3}$/.test(perms)) throw invalidParameter(`invalid device mode: ${perms}`);
      return { pathOnHost: path, pathInContainer: inCtr, permissions: perms };
    });
  }
  const secopts = h['SecurityOpt'];
  if (Array.isArray(secopts)) for (const o of secopts as unknown[]) securityOpt(String(o), t);
  return Object.keys(t).length > 0 ? { tuning: t } : {};
}

const GO_BOOLS: Record<string, boolean> = { '1': true, t: true, T: true, TRUE: true, true: true, True: true, '0': false, f: false, F: false, FALSE: false, false: false, False: false };

/**
 * One `--security-opt`, parsed as dockerd does: `key=value` (or the deprecated `key:value`).
 * A seccomp profile arrives as its JSON text (the CLI reads the file) and is decoded here,
 * so a bad one is refused at create.
 */
function securityOpt(s: string, t: HostTuning): void {
  if (s === 'no-new-privileges') {
    t.noNewPrivileges = true;
    return;
  }
  const sep = s.includes('=') ? '=' : s.includes(':') ? ':' : undefined;
  if (!sep) throw invalidParameter(`invalid --security-opt 1: ${JSON.stringify(s)}`);
  const key = s.slice(0, s.indexOf(sep));
  const value = s.slice(s.indexOf(sep) + 1);
  switch (key) {
    case 'no-new-privileges': {
      const b = GO_BOOLS[value];
      if (b === undefined) throw invalidParameter(`invalid --security-opt 2: ${JSON.stringify(s)}`);
      t.noNewPrivileges = b;
      return;
    }
    case 'seccomp':
      if (value === 'unconfined' || value === 'builtin') t.seccomp = { mode: value };
      else {
        const profile = decodeSeccompProfile(value);
        // `{}` asks for no filter, as in Docker.
        t.seccomp = profile.defaultAction === undefined && profile.syscalls.length === 0 ? { mode: 'unconfined' } : { mode: 'custom', profile };
      }
      return;
    // The kernel here has no AppArmor: asking for none is already true.
    case 'apparmor':
      if (value === 'unconfined') return;
      break;
    case 'label':
    case 'writable-cgroups':
      break;
    default:
      throw invalidParameter(`invalid --security-opt 2: ${JSON.stringify(s)}`);
  }
  throw invalidParameter(`security option ${s} is not supported by this version of berth`);
}
