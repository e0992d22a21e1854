import { readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { Mutex } from '../lib/mutex.js';
import { conflict, errnoCode, invalidParameter, messageOf, notImplemented, unavailable, forbidden } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { Agent, removeTaskFiles } from './agent.js';
import { createCa, issueNodeCert, joinToken, newJoinSecret } from './ca.js';
import type { LocalEngine } from './engine-port.js';
import { EtcdMember } from './etcd-member.js';
import { EtcdStore } from './etcd-store.js';
import { ALREADY_IN_SWARM, AUTOLOCK_REFUSED, CA_ROTATE_REFUSED, LEAVE_LAST_MANAGER, NOT_IN_SWARM, NOT_MANAGER, managerWarnings, updateOutOfSequence } from './messages.js';
import { keys, newObjectId, now, type ClusterObject, type NodeAvailability, type NodeObject, type NodeRole } from './objects.js';
import { HeartbeatWriter, heartbeatPeriodMs } from './heartbeat.js';
import { NodeLiveness } from './liveness.js';
import { Orchestrator } from './orchestrator.js';
import { resolve } from './refs.js';
import { SecretBox } from './secret-box.js';
import type { ClusterStore, Entry, Guard } from './store.js';

export type SwarmOptions = {
  dataRoot: string;
  execRoot: string;
  /** Where the etcd member keeps its data (default `<data-root>/swarm`); tmpfs in tests. */
  etcdDir?: string;
  engine: LocalEngine;
  log: Logger;
  etcdBinary?: string;
};

export type InitRequest = {
  listenAddr: string;
  advertiseAddr: string;
  dataPathAddr: string;
  autoLock: boolean;
  forceNewCluster: boolean;
  spec: Record<string, unknown>;
  defaultAddrPool: string[];
  subnetSize: number;
  dataPathPort: number;
};

type LocalState = { schemaVersion: 1; nodeId: string; clusterId: string; advertiseAddr: string; listenAddr: string; dataPathAddr: string };

/** The swarm a node has joined, as `GET /swarm` and `docker info` show it. */
export type ClusterView = { entry: Entry<ClusterObject>; joinTokens: { worker: string; manager: string } };

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

/**
 * Swarm mode on this node: the etcd member, the store client, leadership, the orchestrator
 * (while leader) and the agent. `start()` at daemon start re-adopts what a previous berthd
 * left running; `shutdown()` leaves the member and the task containers running.
 */
export class Swarm {
  readonly #o: SwarmOptions;
  readonly #member: EtcdMember;
  readonly #membership = new Mutex();
  #state: LocalState | undefined;
  #store: ClusterStore | undefined;
  #agent: Agent | undefined;
  #orchestrator: Orchestrator | undefined;
  #leader: { createRevision: number; revoke(): Promise<void> } | undefined;
  #box: SecretBox | undefined;
  #historyLimit = 5;
  #heartbeatMs = heartbeatPeriodMs(undefined);
  #heartbeat: HeartbeatWriter | undefined;
  #liveness: NodeLiveness | undefined;
  #unwatchCluster: (() => Promise<void>) | undefined;

  constructor(o: SwarmOptions) {
    this.#o = o;
    this.#member = new EtcdMember({
      stateDir: this.#dir,
      dataDir: o.etcdDir ?? this.#dir,
      socketDir: join(o.execRoot, 'swarm'),
      ...(o.etcdBinary ? { binary: o.etcdBinary } : {}),
      log: o.log,
    });
  }

  get #dir(): string {
    return join(this.#o.dataRoot, 'swarm');
  }

  get #filesDir(): string {
    return join(this.#o.execRoot, 'swarm-tasks');
  }

  get nodeId(): string | undefined {
    return this.#state?.nodeId;
  }

  get active(): boolean {
    return this.#state !== undefined;
  }

  get etcdProcess() {
    return this.#member.process;
  }

  /** The store, for a manager's API calls; refused with Docker's sentence when not in a swarm. */
  store(): ClusterStore {
    if (!this.#store) throw unavailable(NOT_MANAGER);
    return this.#store;
  }

  async secretBox(): Promise<SecretBox> {
    this.#box ??= await SecretBox.open(join(this.#dir, 'secrets.key'));
    return this.#box;
  }

  /** At daemon start: rejoin the swarm this node was part of. */
  async start(): Promise<void> {
    this.#state = await readState(join(this.#dir, 'state.json'));
    if (!this.#state) return;
    try {
      await this.#activate();
    } catch (err) {
      this.#o.log.error({ err: messageOf(err) }, 'swarm: cannot rejoin the swarm; swarm commands will fail until it is fixed');
    }
  }

  async #activate(): Promise<void> {
    const st = this.#state as LocalState;
    await this.#member.ensure(st.nodeId, st.clusterId);
    const store = new EtcdStore(this.#member.endpoint, this.#o.log);
    await waitReady(store);
    this.#store = store;
    this.#applySpec((await store.get<ClusterObject>(keys.cluster))?.value.spec);
    // A `swarm update` made through another manager reaches this one's settings too.
    this.#unwatchCluster = await store.watch(keys.cluster, () => {
      store.get<ClusterObject>(keys.cluster).then((c) => this.#applySpec(c?.value.spec), () => undefined);
    });
    this.#heartbeat = new HeartbeatWriter({ store, nodeId: st.nodeId, periodMs: () => this.#heartbeatMs, log: this.#o.log });
    this.#heartbeat.start();
    await this.#campaign(st.nodeId);
    this.#orchestrator = new Orchestrator({ store, log: this.#o.log, fence: () => this.#fence(), historyLimit: () => this.#historyLimit });
    this.#liveness = new NodeLiveness({ store, log: this.#o.log, fence: () => this.#fence(), periodMs: () => this.#heartbeatMs });
    this.#agent = new Agent({ store, engine: this.#o.engine, nodeId: st.nodeId, filesDir: this.#filesDir, secrets: () => this.secretBox(), log: this.#o.log });
    await this.#orchestrator.start();
    await this.#liveness.start();
    await this.#agent.start();
  }

  /** The cluster settings this node acts on: task history, heartbeat period (read at each beat). */
  #applySpec(spec: Record<string, unknown> | undefined): void {
    this.#historyLimit = Number((spec?.['Orchestration'] as { TaskHistoryRetentionLimit?: number } | undefined)?.TaskHistoryRetentionLimit ?? 5);
    const period = heartbeatPeriodMs(spec);
    if (period === this.#heartbeatMs) return;
    this.#heartbeatMs = period;
    this.#heartbeat?.kick();
  }

  /**
   * Leadership: a key under a lease, created only if absent. The lease of a previous berthd
   * of this same node (killed, so it never resigned) is this node's own: it is taken over at
   * once rather than waited out. With one manager the campaign is won at once.
   */
  async #campaign(nodeId: string): Promise<void> {
    const store = this.#store as ClusterStore;
    const lease = await store.lease(10, () => {
      this.#o.log.warn('swarm: lost the leadership lease; campaigning again');
      this.#leader = undefined;
      void this.#campaignUntilWon(nodeId);
    });
    for (;;) {
      const cur = await store.get<{ nodeId: string }>(keys.leader);
      const guard: Guard = cur ? { key: keys.leader, modRevision: cur.modRevision } : { key: keys.leader, absent: true };
      if (cur && cur.value.nodeId !== nodeId) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const r = await store.txn([guard], [{ put: keys.leader, value: { nodeId }, lease: lease.id }]);
      if (!r.ok) continue;
      const mine = await store.get<{ nodeId: string }>(keys.leader);
      if (mine) this.#leader = { createRevision: mine.createRevision, revoke: () => lease.revoke() };
      this.#orchestrator?.kick();
      return;
    }
  }

  /** After a lost lease (etcd unreachable past its TTL): campaign again until the store answers. */
  async #campaignUntilWon(nodeId: string): Promise<void> {
    while (this.#store && !this.#leader) {
      try {
        await this.#campaign(nodeId);
      } catch (err) {
        this.#o.log.warn({ err: messageOf(err) }, 'swarm: campaign failed; trying again');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  #fence(): Guard | undefined {
    return this.#leader ? { key: keys.leader, createRevision: this.#leader.createRevision } : undefined;
  }

  /**
   * Daemon shutdown: with live restore the etcd member keeps running like the task containers
   * (`stopMember` false); without, it stops with them and starts again on its data next time.
   */
  async shutdown(o: { stopMember?: boolean } = {}): Promise<void> {
    await this.#agent?.stop();
    await this.#orchestrator?.stop();
    await this.#liveness?.stop();
    await this.#heartbeat?.stop();
    await this.#unwatchCluster?.();
    await this.#store?.close();
    this.#agent = undefined;
    this.#orchestrator = undefined;
    this.#liveness = undefined;
    this.#heartbeat = undefined;
    this.#unwatchCluster = undefined;
    this.#store = undefined;
    if (o.stopMember) await this.#member.stop();
  }

  kickAgent(): void {
    this.#agent?.kick();
    this.#orchestrator?.kick();
  }

  /**
   * One membership change at a time: two inits racing would each start an etcd member, and
   * the loser's would be left running with no state to stop it (found by the API fuzzer).
   */
  init(req: InitRequest): Promise<string> {
    return this.#membership.run(() => this.#init(req));
  }

  async #init(req: InitRequest): Promise<string> {
    if (this.#state) throw unavailable(ALREADY_IN_SWARM);
    if (req.autoLock) throw notImplemented(AUTOLOCK_REFUSED);
    if (req.forceNewCluster) throw notImplemented('berth does not support --force-new-cluster yet');
    const nodeId = newObjectId();
    const clusterId = newObjectId();
    const addr = req.advertiseAddr ? req.advertiseAddr.replace(/:\d+$/, '') : '127.0.0.1';
    const port = /:(\d+)$/.exec(req.advertiseAddr)?.[1] ?? /:(\d+)$/.exec(req.listenAddr)?.[1] ?? '2377';
    const state: LocalState = { schemaVersion: 1, nodeId, clusterId, advertiseAddr: `${addr}:${port}`, listenAddr: req.listenAddr || '0.0.0.0:2377', dataPathAddr: req.dataPathAddr };
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const ca = await createCa();
    const cert = await issueNodeCert(ca, nodeId, 'manager', clusterId);
    await writeFileAtomic(join(this.#dir, 'ca.key'), ca.keyPem, 0o600);
    await writeFileAtomic(join(this.#dir, 'node.key'), cert.keyPem, 0o600);
    await writeFileAtomic(join(this.#dir, 'node.crt'), cert.certPem, 0o644);
    this.#box = await SecretBox.create(join(this.#dir, 'secrets.key'));
    this.#state = state;
    try {
      await this.#member.ensure(nodeId, clusterId);
      const store = new EtcdStore(this.#member.endpoint, this.#o.log);
      await waitReady(store);
      const spec = { ...withDefaults(DEFAULT_CLUSTER_SPEC, req.spec), Name: 'default' };
      const cluster: ClusterObject = {
        id: clusterId,
        createdAt: now(),
        updatedAt: now(),
        spec,
        caCert: ca.certPem,
        joinSecrets: { worker: newJoinSecret(), manager: newJoinSecret() },
        defaultAddrPool: req.defaultAddrPool,
        subnetSize: req.subnetSize || 24,
        dataPathPort: req.dataPathPort || 4789,
      };
      const e = this.#o.engine.node();
      const node: NodeObject = {
        id: nodeId,
        createdAt: now(),
        updatedAt: now(),
        spec: { Labels: {}, Role: 'manager', Availability: 'active' },
        hostname: e.hostname,
        engineVersion: e.engineVersion,
        ...(e.labels ? { engineLabels: e.labels } : {}),
        nanoCpus: e.nanoCpus,
        memoryBytes: e.memoryBytes,
        addr,
        managerAddr: state.advertiseAddr,
        certPem: cert.certPem,
        status: { state: 'ready', message: '' },
      };
      await store.txn([{ key: keys.cluster, absent: true }], [{ put: keys.cluster, value: cluster }, { put: keys.object('nodes', nodeId), value: node }]);
      await store.close();
      await writeFileAtomic(join(this.#dir, 'state.json'), JSON.stringify(state), 0o600);
      await this.#activate();
    } catch (err) {
      this.#state = undefined;
      await this.shutdown().catch(() => undefined);
      await this.#member.destroy().catch(() => undefined);
      await rm(this.#dir, { recursive: true, force: true });
      throw err;
    }
    this.#o.log.info({ nodeId, clusterId }, 'swarm: initialized');
    return nodeId;
  }

  /**
   * Leave: the last manager may leave only with force, and takes the swarm with it: every
   * task container, the etcd member and its data, the keys.
   */
  leave(force: boolean): Promise<void> {
    return this.#membership.run(() => this.#leave(force));
  }

  async #leave(force: boolean): Promise<void> {
    if (!this.#state) throw unavailable(NOT_IN_SWARM);
    if (!force) throw unavailable(LEAVE_LAST_MANAGER);
    const nodeId = this.#state.nodeId;
    await this.shutdown();
    this.#leader = undefined;
    await this.#member.destroy();
    this.#state = undefined;
    this.#box = undefined;
    await this.#o.engine.removeTaskContainers(nodeId);
    await removeTaskFiles(this.#filesDir);
    await rm(this.#dir, { recursive: true, force: true });
    await rm(this.#o.etcdDir ?? this.#dir, { recursive: true, force: true }).catch((err) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    this.#o.log.info('swarm: left the swarm');
  }

  async cluster(): Promise<ClusterView> {
    const e = await this.store().get<ClusterObject>(keys.cluster);
    if (!e) throw unavailable(NOT_MANAGER);
    return { entry: e, joinTokens: { worker: joinToken(e.value.caCert, e.value.joinSecrets.worker), manager: joinToken(e.value.caCert, e.value.joinSecrets.manager) } };
  }

  async updateCluster(version: number, spec: Record<string, unknown>, rotate: { worker: boolean; manager: boolean }): Promise<void> {
    const store = this.store();
    const e = await store.get<ClusterObject>(keys.cluster);
    if (!e) throw unavailable(NOT_MANAGER);
    if (e.modRevision !== version) throw invalidParameter(updateOutOfSequence);
    if ((spec['EncryptionConfig'] as { AutoLockManagers?: boolean } | undefined)?.AutoLockManagers) throw notImplemented(AUTOLOCK_REFUSED);
    const ca = spec['CAConfig'] as { ForceRotate?: number; SigningCACert?: string } | undefined;
    const old = e.value.spec['CAConfig'] as { ForceRotate?: number } | undefined;
    if ((ca?.ForceRotate ?? 0) !== (old?.ForceRotate ?? 0) || ca?.SigningCACert) throw notImplemented(CA_ROTATE_REFUSED);
    const next: ClusterObject = {
      ...e.value,
      spec: { ...withDefaults(DEFAULT_CLUSTER_SPEC, spec), Name: 'default' },
      updatedAt: now(),
      joinSecrets: { worker: rotate.worker ? newJoinSecret() : e.value.joinSecrets.worker, manager: rotate.manager ? newJoinSecret() : e.value.joinSecrets.manager },
    };
    const r = await store.txn([{ key: keys.cluster, modRevision: e.modRevision }], [{ put: keys.cluster, value: next }]);
    if (!r.ok) throw invalidParameter(updateOutOfSequence);
    this.#applySpec(next.spec);
  }

  async nodes(): Promise<Entry<NodeObject>[]> {
    return this.store().list<NodeObject>(keys.prefix('nodes'));
  }

  async node(ref: string): Promise<Entry<NodeObject>> {
    const ref2 = ref === 'self' && this.#state ? this.#state.nodeId : ref;
    return resolve<NodeObject>(this.store(), 'nodes', ref2, (n) => n.hostname);
  }

  async updateNode(ref: string, version: number, spec: { Name?: string; Labels?: Record<string, string>; Role?: NodeRole; Availability?: NodeAvailability }): Promise<string[]> {
    const store = this.store();
    const e = await this.node(ref);
    if (e.modRevision !== version) throw invalidParameter(updateOutOfSequence);
    const role = spec.Role ?? e.value.spec.Role;
    if (role !== 'manager' && e.value.spec.Role === 'manager' && (await this.#managerCount()) <= 1) {
      throw invalidParameter('rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm');
    }
    const availability = spec.Availability ?? e.value.spec.Availability;
    if (!['active', 'pause', 'drain'].includes(availability)) throw invalidParameter(`invalid availability: ${availability}`);
    const next: NodeObject = { ...e.value, spec: { ...(spec.Name ? { Name: spec.Name } : {}), Labels: spec.Labels ?? {}, Role: role, Availability: availability }, updatedAt: now() };
    // Drain and pause are the orchestrator's to carry out (it watches the nodes).
    const r = await store.txn([{ key: e.key, modRevision: e.modRevision }], [{ put: e.key, value: next }]);
    if (!r.ok) throw invalidParameter(updateOutOfSequence);
    return role !== e.value.spec.Role ? managerWarnings(await this.#managerCount()) : [];
  }

  async removeNode(ref: string): Promise<void> {
    const e = await this.node(ref);
    if (e.value.id === this.#state?.nodeId) {
      throw forbidden(`rpc error: code = FailedPrecondition desc = node ${e.value.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`);
    }
    await this.store().txn([{ key: e.key, modRevision: e.modRevision }], [{ del: e.key }, { del: keys.heartbeat(e.value.id) }]);
  }

  async #managerCount(): Promise<number> {
    return (await this.nodes()).filter((n) => n.value.spec.Role === 'manager').length;
  }

  async warnings(): Promise<string[]> {
    if (!this.#store) return [];
    try {
      return managerWarnings(await this.#managerCount());
    } catch {
      return [];
    }
  }

  /** What `docker info`'s Swarm section and the `Swarm` ping header need. */
  async info(): Promise<{ state: LocalState; cluster?: Entry<ClusterObject>; nodes: number; managers: number; error: string } | undefined> {
    if (!this.#state) return undefined;
    try {
      const store = this.store();
      const [cluster, nodes] = await Promise.all([store.get<ClusterObject>(keys.cluster), store.list<NodeObject>(keys.prefix('nodes'))]);
      return { state: this.#state, ...(cluster ? { cluster } : {}), nodes: nodes.length, managers: nodes.filter((n) => n.value.spec.Role === 'manager').length, error: '' };
    } catch (err) {
      return { state: this.#state, nodes: 0, managers: 0, error: messageOf(err) };
    }
  }

  get localState(): LocalState | undefined {
    return this.#state;
  }

  ensureNotInSwarm(): void {
    if (this.#state) throw conflict(ALREADY_IN_SWARM);
  }
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

async function readState(file: string): Promise<LocalState | undefined> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as LocalState;
    return s.schemaVersion === 1 ? s : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Until the member answers (a fresh one takes about a second; bounded at 30 s). */
async function waitReady(store: ClusterStore): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await store.get(keys.cluster);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw unavailable(`the swarm's etcd member does not answer: ${messageOf(err)}`, err);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
