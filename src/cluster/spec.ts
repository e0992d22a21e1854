import { invalidParameter, notImplemented } from '../lib/errors.js';
import { INGRESS_REFUSED, OVERLAY_REFUSED } from './messages.js';

/*
 * Service and task specs are the user's documents: Docker's JSON, kept as received so that
 * `docker service inspect` returns them unchanged. These types name the fields berth reads;
 * anything else rides along untouched.
 */
export type Mount = {
  Type?: 'bind' | 'volume' | 'tmpfs' | string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
};

export type FileReference = {
  File?: { Name: string; UID?: string; GID?: string; Mode?: number };
  Runtime?: Record<string, never>;
  SecretID?: string;
  SecretName?: string;
  ConfigID?: string;
  ConfigName?: string;
};

export type HealthConfig = { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number };

export type ContainerSpec = {
  Image: string;
  Labels?: Record<string, string>;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  Groups?: string[];
  TTY?: boolean;
  OpenStdin?: boolean;
  ReadOnly?: boolean;
  Mounts?: Mount[];
  StopSignal?: string;
  StopGracePeriod?: number;
  Healthcheck?: HealthConfig;
  Hosts?: string[];
  DNSConfig?: { Nameservers?: string[]; Search?: string[]; Options?: string[] };
  Secrets?: FileReference[];
  Configs?: FileReference[];
  Init?: boolean | null;
  CapabilityAdd?: string[];
  CapabilityDrop?: string[];
  Ulimits?: { Name: string; Soft: number; Hard: number }[];
  Isolation?: string;
};

export type RestartPolicy = { Condition?: 'none' | 'on-failure' | 'any'; Delay?: number; MaxAttempts?: number; Window?: number };
export type Resources = { NanoCPUs?: number; MemoryBytes?: number; Pids?: number };

export type TaskSpec = {
  ContainerSpec?: ContainerSpec;
  Resources?: { Limits?: Resources; Reservations?: Resources };
  RestartPolicy?: RestartPolicy;
  Placement?: { Constraints?: string[]; Preferences?: unknown[]; MaxReplicas?: number };
  Networks?: { Target: string; Aliases?: string[] }[];
  LogDriver?: { Name: string; Options?: Record<string, string> };
  ForceUpdate?: number;
  Runtime?: string;
} & Record<string, unknown>;

export type UpdateConfig = {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: 'pause' | 'continue' | 'rollback';
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
};

export type PortConfig = { Name?: string; Protocol?: 'tcp' | 'udp' | 'sctp'; TargetPort?: number; PublishedPort?: number; PublishMode?: 'ingress' | 'host' };

export type ServiceSpec = {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: TaskSpec;
  Mode?: { Replicated?: { Replicas?: number }; Global?: Record<string, never>; ReplicatedJob?: unknown; GlobalJob?: unknown };
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  Networks?: { Target: string; Aliases?: string[] }[];
  EndpointSpec?: { Mode?: 'vip' | 'dnsrr'; Ports?: PortConfig[] };
} & Record<string, unknown>;

const SECOND = 1_000_000_000;

/** An update config with swarmkit's defaults filled in (parallelism 1, monitor 5 s, pause). */
export function updateConfig(c: UpdateConfig | undefined): Required<UpdateConfig> {
  return {
    Parallelism: c?.Parallelism ?? 1,
    Delay: c?.Delay ?? 0,
    FailureAction: c?.FailureAction ?? 'pause',
    Monitor: c?.Monitor ?? 5 * SECOND,
    MaxFailureRatio: c?.MaxFailureRatio ?? 0,
    Order: c?.Order ?? 'stop-first',
  };
}

/** The restart policy with Docker's defaults: any condition, 5 s delay, no attempt limit. */
export function restartPolicy(p: RestartPolicy | undefined): Required<Omit<RestartPolicy, 'Window'>> & { Window: number } {
  return { Condition: p?.Condition ?? 'any', Delay: p?.Delay ?? 5 * SECOND, MaxAttempts: p?.MaxAttempts ?? 0, Window: p?.Window ?? 0 };
}

export function isGlobal(spec: ServiceSpec): boolean {
  return spec.Mode?.Global !== undefined;
}

export function replicas(spec: ServiceSpec): number {
  return spec.Mode?.Replicated?.Replicas ?? 1;
}

/**
 * What berth cannot run yet is refused by name rather than half done: the ingress routing
 * mesh, overlay networks, jobs. `networkExists` says whether a network is a local one.
 */
export function checkServiceSpec(spec: unknown): ServiceSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw invalidParameter('invalid JSON: expected an object');
  const s = spec as ServiceSpec;
  if (typeof s.Name !== 'string' || s.Name === '') throw invalidParameter('rpc error: code = InvalidArgument desc = name must be valid as a DNS name component');
  if (!/^[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/.test(s.Name)) {
    throw invalidParameter(`rpc error: code = InvalidArgument desc = name must be valid as a DNS name component`);
  }
  const image = s.TaskTemplate?.ContainerSpec?.Image;
  if (!image) throw invalidParameter('rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided');
  if (s.Mode?.ReplicatedJob !== undefined || s.Mode?.GlobalJob !== undefined) throw notImplemented('berth does not support swarm jobs yet (--mode replicated-job or global-job)');
  const r = s.Mode?.Replicated?.Replicas;
  if (r !== undefined && (!Number.isInteger(r) || r < 0)) throw invalidParameter('rpc error: code = InvalidArgument desc = replicas must be a non-negative number');
  for (const p of s.EndpointSpec?.Ports ?? []) {
    if ((p.PublishMode ?? 'ingress') === 'ingress') throw notImplemented(INGRESS_REFUSED);
  }
  for (const n of [...(s.TaskTemplate.Networks ?? []), ...(s.Networks ?? [])]) throw notImplemented(OVERLAY_REFUSED(n.Target));
  // swarmkit stores the defaults it applies: the CLI reads the mode back (its progress display).
  if (!s.Mode || (s.Mode.Global === undefined && s.Mode.Replicated === undefined)) s.Mode = { Replicated: { Replicas: 1 } };
  else if (s.Mode.Replicated && s.Mode.Replicated.Replicas === undefined) s.Mode = { ...s.Mode, Replicated: { Replicas: 1 } };
  for (const m of s.TaskTemplate.ContainerSpec?.Mounts ?? []) {
    if (!m.Target) throw invalidParameter('rpc error: code = InvalidArgument desc = ContainerSpec: invalid mount target, must not be empty');
  }
  return s;
}

/** Whether two task templates differ in what their containers run (a rolling update replaces tasks). */
export function sameTaskTemplate(a: TaskSpec, b: TaskSpec): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
