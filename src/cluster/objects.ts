import { randomBytes } from 'node:crypto';
import type { PortConfig, ServiceSpec, TaskSpec } from './spec.js';

/**
 * The objects of a swarm as the store keeps them. Specs are the user's documents, kept as
 * received (Docker's spelling: they are what `inspect` returns); the rest is ours. Each
 * object's version is the store revision of its last write, never a field of its own.
 */
export type ClusterObject = {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** The `Spec` of `docker swarm update`, as received. */
  spec: Record<string, unknown>;
  caCert: string;
  /** The secret halves of the join tokens (the other half is the CA's digest). */
  joinSecrets: { worker: string; manager: string };
  defaultAddrPool: string[];
  subnetSize: number;
  dataPathPort: number;
};

export type NodeRole = 'manager' | 'worker';
export type NodeAvailability = 'active' | 'pause' | 'drain';

export type NodeObject = {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: { Name?: string; Labels: Record<string, string>; Role: NodeRole; Availability: NodeAvailability };
  hostname: string;
  engineVersion: string;
  /** The daemon's `--label`s (`engine.labels.*` constraints and placement preferences). */
  engineLabels?: Record<string, string>;
  nanoCpus: number;
  memoryBytes: number;
  addr: string;
  /** The manager's listen address (`host:2377`). */
  managerAddr: string;
  /** Where the node's own node API answers (`host:2377`; workers too: task logs). */
  apiAddr?: string;
  certPem: string;
  /**
   * Docker's Node.Status, written by the leader on a transition only (liveness.ts). Absent on
   * nodes written before berth tracked liveness: those count as ready.
   */
  status?: NodeStatus;
};

export type NodeState = 'ready' | 'down' | 'unknown';
export type NodeStatus = { state: NodeState; message: string };

export const nodeState = (n: NodeObject): NodeState => n.status?.state ?? 'ready';

/** What a manager writes for each node once per heartbeat period (heartbeat.ts). */
export type Heartbeat = { at: string; seq: number };

export type ServiceObject = {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: ServiceSpec;
  previousSpec?: ServiceSpec;
  /**
   * Bumped when the task template (or its force counter) changes: tasks made from an older one
   * are out of date and a rolling update replaces them (the `_up-to-date` task filter).
   */
  specVersion: number;
  updateStatus?: UpdateStatus;
};

export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';
export type UpdateStatus = { state: UpdateState; startedAt: string; completedAt?: string; message: string };

/** Docker's task states, in order: a task only moves forward. */
export const TASK_STATES = [
  'new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running',
  'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const stateRank = (s: TaskState): number => TASK_STATES.indexOf(s);
/** Past running: the task's container is gone or never came. */
export const isTerminal = (s: TaskState): boolean => stateRank(s) > stateRank('running');

export type TaskObject = {
  id: string;
  createdAt: string;
  updatedAt: string;
  serviceId: string;
  serviceName: string;
  /** Replicated services: 1..replicas; global services: 0 (one task per node). */
  slot: number;
  nodeId: string;
  spec: TaskSpec;
  specVersion: number;
  /** The service's host-mode published ports, for its node to publish. */
  ports?: PortConfig[];
  desiredState: TaskState;
  status: TaskStatus;
};

export type TaskStatus = {
  state: TaskState;
  timestamp: string;
  message: string;
  err?: string;
  containerId?: string;
  pid?: number;
  exitCode?: number;
};

export type SecretObject = {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** Name, Labels, Driver, Templating: the spec without its data. */
  spec: { Name: string; Labels: Record<string, string> } & Record<string, unknown>;
  /** Secrets: sealed with the cluster key (secret-box.ts); configs: base64 as given. */
  data: string;
};

export type ObjectKind = 'nodes' | 'services' | 'tasks' | 'secrets' | 'configs';

/** The store's key layout: one prefix per kind, and name → id entries for unique names. */
export const keys = {
  root: '/berth/swarm/',
  cluster: '/berth/swarm/cluster',
  leader: '/berth/swarm/leader',
  prefix: (kind: ObjectKind) => `/berth/swarm/${kind}/`,
  object: (kind: ObjectKind, id: string) => `/berth/swarm/${kind}/${id}`,
  name: (kind: ObjectKind, name: string) => `/berth/swarm/names/${kind}/${name}`,
  heartbeats: '/berth/swarm/heartbeats/',
  heartbeat: (nodeId: string) => `/berth/swarm/heartbeats/${nodeId}`,
};

/** Swarm object ids: 25 characters of base 36 from 128 random bits, as Docker's. */
export function newObjectId(): string {
  const n = BigInt(`0x${randomBytes(16).toString('hex')}`);
  return n.toString(36).padStart(25, '0');
}

export const now = (): string => new Date().toISOString();
