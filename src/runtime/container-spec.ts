import type { ContainerRecord, MountSpec, SpecBuilder, StartContribution, StartRequest } from '../engine/ports.js';
import { buildSpec, DEFAULT_CAPABILITIES, type OciDevice, type OciMount } from './spec.js';
import { ALL_CAPABILITIES, normalizeCapability, unknownCapability } from '../lib/capabilities.js';
import { stat } from 'node:fs/promises';
import { resolveUser } from './user.js';
import { mkdirInRoot } from '../lib/in-root.js';
import { ociUserMounts, withNetworkFiles } from './oci-mounts.js';
import { invalidParameter } from '../lib/errors.js';
import type { SeccompChoice } from '../engine/ports.js';
import { seccompFor, type SeccompHost } from './seccomp/docker-profile.js';

export type RuntimeChoice = { name: string; path: string; args: string[] };

export type SpecContext = {
  /** The runtime a container runs with, by its name in the daemon's `runtimes` (undefined: the default). */
  runtimeFor: (name: string | undefined) => RuntimeChoice;
  cgroupParent: string;
  defaultUlimits: { name: string; soft: number; hard: number }[];
  /** The daemon's own hard limits: a container may not ask for more (no CAP_SYS_RESOURCE here). */
  hardLimits: Map<string, number>;
  /** The daemon's bounding set: `--privileged` and `--cap-add ALL` cannot give more. */
  hostCapabilities: string[];
  initPath: string;
  /** The daemon's `no-new-privileges`, for containers that do not say. */
  noNewPrivileges: boolean;
  /** The daemon's `seccomp-profile` and what the host adds to a profile's conditions. */
  seccomp: { daemon: SeccompChoice; host: SeccompHost };
};

const INIT_IN_CONTAINER = '/sbin/docker-init';
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The OCI bundle's config for a container, from the daemon's settings of the moment. */
export class OciSpecBuilder implements SpecBuilder {
  readonly #ctx: () => SpecContext;

  constructor(ctx: () => SpecContext) {
    this.#ctx = ctx;
  }

  build(c: ContainerRecord, rootfs: string, mounts: MountSpec[], contributions: StartContribution[]): Promise<StartRequest> {
    return buildContainerSpec({ ...c, spec: { ...c.spec, mounts } }, rootfs, contributions, this.#ctx());
  }
}

/** Everything the runtime needs to start this container, read from its record and its rootfs. */
export async function buildContainerSpec(
  r: ContainerRecord,
  rootfs: string,
  contributions: StartContribution[],
  ctx: SpecContext,
): Promise<StartRequest> {
  const s = r.spec;
  const t = s.tuning ?? {};
  const user = await resolveUser(rootfs, s.user, t.groupAdd ?? []);
  await mkdirInRoot(rootfs, s.workingDir);
  const stepFiles = contributions.flatMap((c) => c.files ?? []);
  const fileMounts = stepFiles.map((f): OciMount => ({ destination: f.destination, type: 'bind', source: f.source, options: ['rbind', 'rprivate'] }));

  const hasKey = (k: string) => s.env.some((e) => e === k || e.startsWith(`${k}=`));
  const env = [
    ...(hasKey('PATH') ? [] : [DEFAULT_PATH]),
    `HOSTNAME=${s.hostname}`,
    ...(s.tty && !hasKey('TERM') ? ['TERM=xterm'] : []),
    ...s.env,
    ...(hasKey('HOME') ? [] : [`HOME=${user.home}`]),
  ];

  const userMounts = ociUserMounts(s.mounts);

  const ulimits = new Map<string, { soft: number; hard: number }>();
  for (const u of [...ctx.defaultUlimits, ...s.ulimits]) ulimits.set(u.name, { soft: u.soft, hard: u.hard });
  const rlimits = [...ulimits].map(([name, u]) => {
    const type = `RLIMIT_${name.toUpperCase()}`;
    const max = ctx.hardLimits.get(type);
    if (max !== undefined && u.hard > max) {
      throw invalidParameter(`ulimit ${name}: hard limit ${u.hard} exceeds the daemon's own hard limit ${max}`);
    }
    return { type, soft: u.soft, hard: u.hard };
  });

  const caps = s.privileged ? ctx.hostCapabilities : capabilities(s.capAdd, s.capDrop, ctx.hostCapabilities);
  const seccomp = seccompFor({ container: t.seccomp, daemon: ctx.seccomp.daemon, privileged: s.privileged, capabilities: caps, host: ctx.seccomp.host });

  const network = contributions.find((c) => c.network)?.network;
  const hostname = contributions.find((c) => c.hostname !== undefined)?.hostname;
  const inheritFds = contributions.flatMap((c) => c.held?.fds ?? []);
  return {
    id: r.id,
    ...(inheritFds.length > 0 ? { inheritFds } : {}),
    tty: s.tty,
    stdin: s.openStdin,
    stdinOnce: s.stdinOnce,
    logPath: r.logPath,
    runtime: ctx.runtimeFor(s.runtime),
    ociSpec: buildSpec({
      rootfs,
      readonlyRootfs: s.readonlyRootfs,
      // The host's network brings the host's name; another container's, that one's.
      hostname: network?.kind === 'host' ? '' : (hostname ?? s.hostname),
      domainname: s.domainname,
      // --init: a small init reaps zombies and forwards signals to the command.
      args: s.init ? [INIT_IN_CONTAINER, '--', ...s.entrypoint, ...s.cmd] : [...s.entrypoint, ...s.cmd],
      env,
      cwd: s.workingDir,
      uid: user.uid,
      gid: user.gid,
      additionalGids: user.additionalGids,
      tty: s.tty,
      consoleSize: s.consoleSize,
      capabilities: caps,
      rlimits,
      noNewPrivileges: t.noNewPrivileges ?? ctx.noNewPrivileges,
      privileged: s.privileged,
      network,
      mounts: [
        // The network files go on top of the user's mounts (a volume on /etc must not hide them).
        ...withNetworkFiles(userMounts, fileMounts),
        ...(s.init ? [{ destination: INIT_IN_CONTAINER, type: 'bind', source: ctx.initPath, options: ['rbind', 'ro', 'rprivate'] }] : []),
      ],
      seccomp,
      cgroupsPath: `${(t.cgroupParent ?? ctx.cgroupParent).replace(/\/$/, '')}/${r.id}`,
      ...(t.oomScoreAdj !== undefined ? { oomScoreAdj: t.oomScoreAdj } : {}),
      tuning: {
        ...(t.shmSize ? { shmSize: t.shmSize } : {}),
        ...(t.cpusetCpus ? { cpusetCpus: t.cpusetCpus } : {}),
        ...(t.cpusetMems ? { cpusetMems: t.cpusetMems } : {}),
        ...(t.cpuQuota ? { cpuQuota: t.cpuQuota } : {}),
        ...(t.cpuPeriod ? { cpuPeriod: t.cpuPeriod } : {}),
        ...(t.memoryReservation ? { memoryReservation: t.memoryReservation } : {}),
        ...(t.memorySwappiness !== undefined ? { memorySwappiness: t.memorySwappiness } : {}),
        ...(t.oomKillDisable ? { oomKillDisable: true } : {}),
        ...(t.blkioWeight ? { blkioWeight: t.blkioWeight } : {}),
        ...(t.sysctls ? { sysctls: t.sysctls } : {}),
        ...(t.hostNamespaces ? { hostNamespaces: t.hostNamespaces } : {}),
        ...(t.devices ? { devices: await Promise.all(t.devices.map((d) => hostDevice(d.pathOnHost, d.pathInContainer, d.permissions))) } : {}),
      },
      resources: {
        memory: s.memory,
        memorySwap: s.memorySwap,
        nanoCpus: s.nanoCpus,
        cpuShares: s.cpuShares,
        pidsLimit: s.pidsLimit,
      },
    }),
  };
}

export function capabilities(add: string[], drop: string[], all: readonly string[] = ALL_CAPABILITIES): string[] {
  // Refused at create already; a record from before that check still fails here, not in runc.
  const unknown = unknownCapability([...add, ...drop]);
  if (unknown) throw invalidParameter(`unknown capability: "${unknown}"`);
  const a = add.map(normalizeCapability);
  const d = drop.map(normalizeCapability);
  let caps: string[] = d.includes('ALL') ? [] : [...DEFAULT_CAPABILITIES];
  if (a.includes('ALL')) caps = [...all];
  for (const c of a) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps.filter((c) => !d.includes(c) || a.includes(c));
}

/** --device: the host node's type and numbers, for the container's /dev and its cgroup rule. */
async function hostDevice(onHost: string, inContainer: string, access: string): Promise<OciDevice> {
  let st;
  try {
    st = await stat(onHost);
  } catch {
    throw invalidParameter(`error gathering device information while adding custom device "${onHost}": no such file or directory`);
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw invalidParameter(`error gathering device information while adding custom device "${onHost}": not a device node`);
  // Linux dev_t: major in bits 8-19 (and 32-43), minor in bits 0-7 and 20-31.
  const rdev = BigInt(st.rdev);
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { path: inContainer, type: st.isCharacterDevice() ? 'c' : 'b', major, minor, fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid, access };
}
