import { fromDockerHealth, type CreateOptions } from '../engine/create-options.js';
import type { MountSpec } from '../engine/container.js';
import type { HealthConfig } from '../engine/health.js';
import type { TaskObject } from './objects.js';
import type { Mount } from './spec.js';

export const LABELS = {
  nodeId: 'com.docker.swarm.node.id',
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  task: 'com.docker.swarm.task',
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
} as const;

/** `<service>.<slot>.<task id>`, or `<service>.<node id>.<task id>` for a global service's task. */
export function taskName(t: TaskObject): string {
  return `${t.serviceName}.${t.slot === 0 ? t.nodeId : t.slot}.${t.id}`;
}

/** A file mounted into a task from the host (secrets and configs, from a tmpfs of the task's). */
export type TaskFile = { hostPath: string; target: string };

/** The engine create request for a task's container: Docker's labels, name and settings. */
export function taskCreateOptions(t: TaskObject, files: TaskFile[]): CreateOptions {
  const c = t.spec.ContainerSpec ?? { Image: '' };
  const limits = t.spec.Resources?.Limits ?? {};
  const labels: Record<string, string> = {
    ...(c.Labels ?? {}),
    [LABELS.nodeId]: t.nodeId,
    [LABELS.serviceId]: t.serviceId,
    [LABELS.serviceName]: t.serviceName,
    [LABELS.task]: '',
    [LABELS.taskId]: t.id,
    [LABELS.taskName]: taskName(t),
  };
  const ports = t.ports ?? [];
  const grace = c.StopGracePeriod;
  return {
    name: taskName(t),
    image: c.Image,
    ...(c.Command ? { entrypoint: c.Command } : {}),
    ...(c.Args ? { cmd: c.Args } : {}),
    inheritCmd: !c.Command,
    env: c.Env ?? [],
    ...(c.Dir ? { workingDir: c.Dir } : {}),
    ...(c.User ? { user: c.User } : {}),
    ...(c.Hostname ? { hostname: c.Hostname } : {}),
    tty: c.TTY ?? false,
    openStdin: c.OpenStdin ?? false,
    stdinOnce: false,
    labels,
    ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
    ...(grace !== undefined ? { stopTimeout: Math.ceil(grace / 1e9) } : {}),
    autoRemove: false,
    networkMode: 'bridge',
    endpoint: {
      ports: ports.map((p) => ({
        proto: p.Protocol === 'udp' ? ('udp' as const) : ('tcp' as const),
        containerPort: p.TargetPort ?? 0,
        hostIp: '',
        hostPortStart: p.PublishedPort ?? 0,
        hostPortEnd: p.PublishedPort ?? 0,
      })),
      exposed: ports.map((p) => `${p.TargetPort}/${p.Protocol ?? 'tcp'}`),
    },
    // The orchestrator restarts tasks, never the engine.
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    memory: limits.MemoryBytes ?? 0,
    memorySwap: 0,
    nanoCpus: limits.NanoCPUs ?? 0,
    cpuShares: 0,
    pidsLimit: limits.Pids ?? 0,
    readonlyRootfs: c.ReadOnly ?? false,
    privileged: false,
    capAdd: c.CapabilityAdd ?? [],
    capDrop: c.CapabilityDrop ?? [],
    ulimits: (c.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    mounts: [...(c.Mounts ?? []).map(toMountSpec), ...files.map((f) => ({ type: 'bind' as const, source: f.hostPath, destination: f.target, readOnly: true }))],
    init: c.Init ?? false,
    ...(c.DNSConfig?.Nameservers?.length ? { dns: { servers: c.DNSConfig.Nameservers, search: c.DNSConfig.Search ?? [], options: c.DNSConfig.Options ?? [] } } : {}),
    ...(c.Hosts?.length ? { extraHosts: c.Hosts.map(swarmHostToDocker) } : {}),
    ...(t.spec.LogDriver ? { logConfig: { driver: t.spec.LogDriver.Name, opts: t.spec.LogDriver.Options ?? {} } } : {}),
    ...healthcheck(t),
    request: { config: { Image: c.Image, Labels: labels }, hostConfig: {} },
  };
}

/** Swarm writes extra hosts as `IP HOSTNAME...`; the engine takes `HOSTNAME:IP`. */
function swarmHostToDocker(h: string): string {
  const [ip, ...names] = h.trim().split(/\s+/);
  return names.map((n) => `${n}:${ip}`).join(',') || h;
}

function toMountSpec(m: Mount): MountSpec {
  const type = (m.Type ?? 'volume') as MountSpec['type'];
  if (type === 'tmpfs') {
    const options: string[] = [];
    if (m.TmpfsOptions?.SizeBytes) options.push(`size=${m.TmpfsOptions.SizeBytes}`);
    if (m.TmpfsOptions?.Mode) options.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
    return { type, source: '', destination: m.Target, readOnly: m.ReadOnly ?? false, options };
  }
  if (type === 'bind') {
    return { type, source: m.Source ?? '', destination: m.Target, readOnly: m.ReadOnly ?? false, ...(m.BindOptions?.CreateMountpoint ? { createSource: true } : {}) };
  }
  return {
    type: 'volume',
    source: '',
    destination: m.Target,
    readOnly: m.ReadOnly ?? false,
    ...(m.Source ? { name: m.Source } : { anonymous: true }),
    ...(m.VolumeOptions?.NoCopy ? { nocopy: true } : {}),
    ...(m.VolumeOptions?.Labels || m.VolumeOptions?.DriverConfig?.Options
      ? { volumeCreate: { labels: m.VolumeOptions?.Labels ?? {}, options: m.VolumeOptions?.DriverConfig?.Options ?? {} } }
      : {}),
  };
}

/** The task's health check in the engine's terms (durations in ns, 0: the default). */
function healthcheck(t: TaskObject): { healthcheck?: HealthConfig } {
  const h = fromDockerHealth(t.spec.ContainerSpec?.Healthcheck);
  return h ? { healthcheck: h } : {};
}
