import type { HostTuning } from '../engine/ports.js';
import type { OciSeccomp } from './seccomp/oci.js';

/**
 * Builds the OCI runtime config (config.json) for a container. Pure: every input is given,
 * nothing is read from the machine here.
 */

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const;

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export type OciMount = { destination: string; type: string; source: string; options: string[] };

export type SpecInput = {
  rootfs: string;
  readonlyRootfs: boolean;
  hostname: string;
  domainname: string;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  umask?: number;
  tty: boolean;
  consoleSize?: [number, number] | undefined;
  capabilities: string[];
  rlimits: { type: string; soft: number; hard: number }[];
  noNewPrivileges: boolean;
  privileged: boolean;
  /** A new, empty network namespace (absent), the host's, or one to join by path. */
  network?: { kind: 'host' } | { kind: 'join'; path: string } | undefined;
  mounts: OciMount[];
  cgroupsPath: string;
  resources: { memory: number; memorySwap: number; nanoCpus: number; cpuShares: number; pidsLimit: number };
  oomScoreAdj?: number;
  tuning?: SpecTuning;
  /** linux.seccomp; absent: no filter. */
  seccomp?: OciSeccomp | undefined;
};

export type OciDevice = { path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; uid: number; gid: number; access: string };

/** The less common settings (HostTuning), host devices already looked up. */
export type SpecTuning = Omit<HostTuning, 'groupAdd' | 'oomScoreAdj' | 'cgroupParent' | 'noNewPrivileges' | 'devices' | 'seccomp'> & {
  devices?: OciDevice[];
};

/** The mounts every container gets, before the user's (which may shadow them). */
export function defaultMounts(privileged: boolean, shmSize = 64 * 1024 * 1024): OciMount[] {
  const sysOpts = privileged ? ['nosuid', 'noexec', 'nodev'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOpts },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...sysOpts, 'relatime'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${Math.floor(shmSize / 1024)}k`] },
  ];
}

/** Later mounts replace earlier ones at the same destination, as Docker's user mounts do. */
function mergeMounts(base: OciMount[], user: OciMount[]): OciMount[] {
  const dests = new Set(user.map((m) => m.destination));
  return [...base.filter((m) => !dests.has(m.destination)), ...user];
}

const CPU_PERIOD = 100_000;

export function buildSpec(i: SpecInput): Record<string, unknown> {
  const t = i.tuning ?? {};
  const shared = new Set<string>(t.hostNamespaces ?? []);
  const namespaces = ['pid', 'ipc', 'uts', 'mount'].filter((n) => !shared.has(n)).map((type) => ({ type }));
  if (i.network?.kind === 'join') namespaces.push({ type: 'network', path: i.network.path } as { type: string });
  else if (i.network?.kind !== 'host') namespaces.push({ type: 'network' });

  const resources: Record<string, unknown> = {
    devices: i.privileged
      ? [{ allow: true, access: 'rwm' }]
      : [
          { allow: false, access: 'rwm' },
          ...[
            [1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [136, -1], [10, 200],
          ].map(([major, minor]) => ({
            allow: true,
            type: 'c',
            major,
            ...(minor === -1 ? {} : { minor }),
            access: 'rwm',
          })),
        ],
  };
  const memory: Record<string, unknown> = {};
  if (i.resources.memory > 0) {
    memory['limit'] = i.resources.memory;
    if (i.resources.memorySwap !== 0) memory['swap'] = i.resources.memorySwap;
  }
  if (t.memoryReservation) memory['reservation'] = t.memoryReservation;
  if (t.memorySwappiness !== undefined) memory['swappiness'] = t.memorySwappiness;
  if (t.oomKillDisable) memory['disableOOMKiller'] = true;
  if (Object.keys(memory).length > 0) resources['memory'] = memory;
  const cpu: Record<string, unknown> = {};
  if (i.resources.nanoCpus > 0) {
    cpu['period'] = CPU_PERIOD;
    cpu['quota'] = Math.round((i.resources.nanoCpus * CPU_PERIOD) / 1e9);
  }
  if (i.resources.cpuShares > 0) cpu['shares'] = i.resources.cpuShares;
  if (t.cpuQuota) cpu['quota'] = t.cpuQuota;
  if (t.cpuPeriod) cpu['period'] = t.cpuPeriod;
  if (t.cpusetCpus) cpu['cpus'] = t.cpusetCpus;
  if (t.cpusetMems) cpu['mems'] = t.cpusetMems;
  if (Object.keys(cpu).length > 0) resources['cpu'] = cpu;
  if (i.resources.pidsLimit > 0) resources['pids'] = { limit: i.resources.pidsLimit };
  if (t.blkioWeight) resources['blockIO'] = { weight: t.blkioWeight };

  const caps = i.capabilities;
  for (const d of t.devices ?? []) {
    (resources['devices'] as unknown[]).push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access });
  }
  const linux: Record<string, unknown> = {
    namespaces,
    resources,
    cgroupsPath: i.cgroupsPath,
    ...(t.devices && t.devices.length > 0 ? { devices: t.devices.map(({ access: _a, ...dev }) => dev) } : {}),
    ...(t.sysctls ? { sysctl: t.sysctls } : {}),
    ...(i.seccomp ? { seccomp: i.seccomp } : {}),
  };
  if (!i.privileged) {
    linux['maskedPaths'] = MASKED_PATHS;
    linux['readonlyPaths'] = READONLY_PATHS;
  }

  return {
    ociVersion: '1.0.2',
    process: {
      terminal: i.tty,
      ...(i.tty && i.consoleSize ? { consoleSize: { height: i.consoleSize[0], width: i.consoleSize[1] } } : {}),
      user: { uid: i.uid, gid: i.gid, additionalGids: i.additionalGids, ...(i.umask !== undefined ? { umask: i.umask } : {}) },
      args: i.args,
      env: i.env,
      cwd: i.cwd,
      capabilities: {
        bounding: caps,
        effective: caps,
        permitted: caps,
        inheritable: [],
      },
      rlimits: i.rlimits,
      noNewPrivileges: i.noNewPrivileges,
      ...(i.oomScoreAdj !== undefined ? { oomScoreAdj: i.oomScoreAdj } : {}),
    },
    root: { path: i.rootfs, readonly: i.readonlyRootfs },
    hostname: i.hostname,
    ...(i.domainname ? { domainname: i.domainname } : {}),
    mounts: mergeMounts(defaultMounts(i.privileged, t.shmSize), i.mounts),
    linux,
  };
}
