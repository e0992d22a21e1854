import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { conflict, invalidParameter, messageOf, notImplemented, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { Agent } from './agent.js';
import { StoreSource } from './agent-source.js';
import { certPublicKey, joinToken, newJoinSecret, signPublicKey } from './ca.js';
import { clusterSpec } from './cluster-spec.js';
import { Dispatcher } from './dispatcher.js';
import { DispatcherClient } from './dispatcher-client.js';
import type { LocalEngine } from './engine-port.js';
import { EtcdMember } from './etcd-member.js';
import { EtcdStore } from './etcd-store.js';
import { HeartbeatWriter, heartbeatPeriodMs } from './heartbeat.js';
import { JoinService } from './join-service.js';
import { NodeLiveness } from './liveness.js';
import { networked, readState, roleOf, writeState, type LocalState } from './local-state.js';
import { Membership, waitReady, type InitRequest, type JoinSwarmRequest } from './membership.js';
import { AUTOLOCK_REFUSED, ALREADY_IN_SWARM, CA_ROTATE_REFUSED, NOT_MANAGER, updateOutOfSequence } from './messages.js';
import { NodeAdmin, type NodeSpecUpdate } from './node-admin.js';
import { NodeApiServer, splitHostPort, streamNode, type NodeRoute, type Tls } from './node-api.js';
import { NodeFiles } from './node-files.js';
import { keys, now, type ClusterObject, type NodeObject, type NodeRole, type TaskObject } from './objects.js';
import { Orchestrator } from './orchestrator.js';
import { askRole, RoleWatch } from './role-watch.js';
import { SecretBox } from './secret-box.js';
import type { ClusterStore, Entry, Guard } from './store.js';

export type { InitRequest, JoinSwarmRequest } from './membership.js';

export type SwarmOptions = {
  dataRoot: string;
  execRoot: string;
  /** Where the etcd member keeps its data (default `<data-root>/swarm`); tmpfs in tests. */
  etcdDir?: string;
  engine: LocalEngine;
  log: Logger;
  etcdBinary?: string;
  /**
   * Serve a manager's request for the log of a task running here (the node API's `/v1/logs`):
   * the daemon writes the task's frames, as `docker service logs` would, to the response.
   */
  taskLogs?: (taskId: string, query: URLSearchParams, res: ServerResponse, signal: AbortSignal) => Promise<void>;
};

export type SwarmInfo = {
  state: LocalState;
  isManager: boolean;
  remoteManagers: { nodeId: string; addr: string }[];
  cluster?: Entry<ClusterObject>;
  nodes: number;
  managers: number;
  error: string;
};

/** The swarm a node has joined, as `GET /swarm` and `docker info` show it. */
export type ClusterView = { entry: Entry<ClusterObject>; joinTokens: { worker: string; manager: string } };

/**
 * Swarm mode on this node: the etcd member, the store client, leadership, the orchestrator
 * (while leader) and the agent. `start()` at daemon start re-adopts what a previous berthd
 * left running; `shutdown()` leaves the member and the task containers running. It holds the
 * node's state; membership changes (membership.ts) and node administration (node-admin.ts)
 * work on it through what it hands them.
 */
export class Swarm {
  readonly #o: SwarmOptions;
  readonly #member: EtcdMember;
  readonly #membership: Membership;
  readonly #nodes: NodeAdmin;
  #state: LocalState | undefined;
  #store: ClusterStore | undefined;
  #agent: Agent | undefined;
  #orchestrator: Orchestrator | undefined;
  #leader: { createRevision: number; revoke(): Promise<void> } | undefined;
  /** A campaign loop runs (#campaignUntilWon). */
  #campaigning = false;
  #box: SecretBox | undefined;
  #historyLimit = 5;
  #heartbeatMs = heartbeatPeriodMs(undefined);
  #heartbeat: HeartbeatWriter | undefined;
  #liveness: NodeLiveness | undefined;
  #unwatchCluster: (() => Promise<void>) | undefined;
  #server: NodeApiServer | undefined;
  #dispatcher: Dispatcher | undefined;
  #session: DispatcherClient | undefined;
  #tls: Tls | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopping = false;
  #roleWatch: RoleWatch | undefined;

  constructor(o: SwarmOptions) {
    this.#o = o;
    this.#member = new EtcdMember({
      stateDir: this.#dir,
      dataDir: o.etcdDir ?? this.#dir,
      socketDir: join(o.execRoot, 'swarm'),
      ...(o.etcdBinary ? { binary: o.etcdBinary } : {}),
      log: o.log,
    });
    this.#nodes = new NodeAdmin({ store: () => this.store(), selfId: () => this.#state?.nodeId });
    this.#membership = new Membership({
      dir: this.#dir,
      etcdDir: o.etcdDir,
      filesDir: this.#filesDir,
      member: this.#member,
      engine: o.engine,
      log: o.log,
      store: () => this.store(),
      managerCount: () => this.#nodes.managerCount(),
      host: {
        state: () => this.#state,
        setState: (st) => {
          this.#state = st;
          // Read again when next needed: a change of role adds or removes the key, a leave the files.
          this.#box = undefined;
          if (!st) this.#tls = undefined;
        },
        activate: () => this.#activate(),
        activateOrRetry: () => this.#activateOrRetry(),
        stop: async ({ resign = false, forGood = false } = {}) => {
          if (forGood) this.#stopping = true;
          if (resign) await this.#leader?.revoke().catch(() => undefined);
          await this.shutdown();
        },
        workerSession: () => this.#session,
      },
    });
  }

  get #dir(): string {
    return join(this.#o.dataRoot, 'swarm');
  }

  get #files(): NodeFiles {
    return new NodeFiles(this.#dir);
  }

  get #role(): NodeRole {
    return roleOf(this.#state);
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

  /** At daemon start: rejoin the swarm this node was part of (again and again until it answers). */
  async start(): Promise<void> {
    this.#stopping = false;
    this.#state = await readState(this.#dir);
    if (!this.#state) return;
    await this.#activateOrRetry();
  }

  async #activateOrRetry(): Promise<void> {
    try {
      await this.#activate();
    } catch (err) {
      this.#o.log.error({ err: messageOf(err) }, 'swarm: cannot rejoin the swarm yet; trying again');
      await this.shutdown().catch(() => undefined);
      if (this.#stopping || !this.#state) return;
      const timer = setTimeout(
        () =>
          void this.#membership.exclusive(async () => {
            // Fired, then queued behind a membership change (a leave, an init --force-new-cluster)
            // whose shutdown cleared it: that change did its own activation, or none is wanted.
            if (this.#retry !== timer) return;
            this.#retry = undefined;
            await this.#activateOrRetry();
          }),
        2000,
      );
      this.#retry = timer;
    }
  }

  async #activate(): Promise<void> {
    const st = this.#state as LocalState;
    if (networked(st)) this.#tls = await this.#files.tls();
    if (this.#role === 'worker') return this.#activateWorker(st);
    await this.#member.ensure(st.nodeId, st.clusterId);
    const store = new EtcdStore(this.#member.endpoint, this.#o.log);
    // Set before it answers: during a quorum loss calls fail with Docker's "no leader", not "not a manager".
    this.#store = store;
    // A manager demoted while it was down finds its member gone from etcd: it would never answer.
    // The demotion queued, the rest of a manager's start is not wanted.
    if ((await waitReady(store, () => this.#demotedMeanwhile())) === 'demoted') return;
    this.#applySpec((await store.get<ClusterObject>(keys.cluster))?.value.spec);
    // A `swarm update` made through another manager reaches this one's settings too.
    this.#unwatchCluster = await store.watch(keys.cluster, () => {
      store.get<ClusterObject>(keys.cluster).then((c) => this.#applySpec(c?.value.spec), () => undefined);
    });
    this.#heartbeat = new HeartbeatWriter({ store, nodeId: st.nodeId, periodMs: () => this.#heartbeatMs, log: this.#o.log });
    this.#heartbeat.start();
    this.#orchestrator = new Orchestrator({ store, log: this.#o.log, fence: () => this.#fence(), historyLimit: () => this.#historyLimit });
    this.#liveness = new NodeLiveness({ store, log: this.#o.log, fence: () => this.#fence(), periodMs: () => this.#heartbeatMs });
    const source = new StoreSource(store, st.nodeId, () => this.secretBox());
    this.#agent = new Agent({ source, engine: this.#o.engine, nodeId: st.nodeId, filesDir: this.#filesDir, log: this.#o.log });
    await this.#orchestrator.start();
    await this.#liveness.start();
    await this.#agent.start();
    void this.#campaignUntilWon(st.nodeId);
    this.#roleWatch = new RoleWatch({
      store,
      nodeId: st.nodeId,
      tls: () => (networked(st) ? this.#tls : undefined),
      managers: () => this.#state?.managers ?? [],
      setManagers: async (managers) => {
        if (!this.#state || this.#role !== 'manager') return;
        this.#state = { ...this.#state, managers };
        await writeState(this.#dir, this.#state);
      },
      storeFailingForMs: () => this.#heartbeat?.failingForMs() ?? 0,
      periodMs: () => this.#heartbeatMs,
      onDemoted: (managers) => this.#demote(managers),
      log: this.#o.log,
    });
    await this.#roleWatch.start();
    if (networked(st)) {
      this.#dispatcher = new Dispatcher({ store: () => this.store(), files: () => source, reissue: (n) => this.#reissue(n) });
      await this.#dispatcher.start();
      const join = new JoinService({
        store: () => this.store(),
        ca: () => this.#files.ca(),
        secretsKey: () => this.#files.secretsKey(),
        peersOverTls: () => true,
        log: this.#o.log,
      });
      await this.#listen(st, [...join.routes(), ...this.#dispatcher.routes()]);
    }
  }

  /**
   * Becomes a worker of `managers`, again after 2 s while that fails: its steps can be taken
   * again (it stops what runs, then removes), and a rejection left unheard would end berthd.
   * Once the node is a worker, or out of the swarm, a later attempt does nothing.
   */
  #demote(managers: string[]): void {
    this.#membership.becomeWorker(managers).catch((err: unknown) => {
      this.#o.log.error({ err: messageOf(err) }, 'swarm: cannot become a worker yet; trying again');
      setTimeout(() => this.#demote(managers), 2000).unref();
    });
  }

  /**
   * Asked of the other managers while this manager's member does not answer at start: true
   * when they say it was demoted, and its demotion is then under way (queued: this may run
   * inside a membership change).
   */
  async #demotedMeanwhile(): Promise<boolean> {
    const st = this.#state;
    if (!st || this.#role !== 'manager' || !networked(st) || !this.#tls) return false;
    const a = await askRole(st.managers ?? [], this.#tls, this.#o.log);
    if (a?.role !== 'worker') return false;
    this.#o.log.warn('swarm: this node cannot start its manager and the other managers say it was demoted');
    this.#demote(a.managers);
    return true;
  }

  /** A worker: no store; its agent works through a manager's dispatcher. */
  async #activateWorker(st: LocalState): Promise<void> {
    const session = new DispatcherClient({
      tls: () => this.#tls as Tls,
      managers: st.managers ?? [],
      log: this.#o.log,
      onUpdate: async (a) => {
        if (a.certPem) {
          await this.#files.write({ certPem: a.certPem });
          this.#tls = await this.#files.tls();
        }
        if (this.#state) {
          this.#state = { ...this.#state, managers: a.managers };
          await writeState(this.#dir, this.#state);
        }
        if (a.role === 'manager' && this.#role === 'worker') {
          // A rejection left unheard would end berthd; the next heartbeat asks again.
          this.#membership.becomeManager().catch((err: unknown) => this.#o.log.error({ err: messageOf(err) }, 'swarm: promotion failed'));
        }
      },
    });
    this.#session = session;
    session.start();
    this.#agent = new Agent({ source: session, engine: this.#o.engine, nodeId: st.nodeId, filesDir: this.#filesDir, log: this.#o.log });
    await this.#agent.start();
    await this.#listen(st, []);
  }

  /** The node API on the listen address; its certificate is the node's own. */
  async #listen(st: LocalState, routes: NodeRoute[]): Promise<void> {
    const logs: NodeRoute = {
      method: 'GET',
      path: '/v1/logs',
      auth: 'manager',
      handler: async ({ query, req, res }) => {
        if (!this.#o.taskLogs) throw notImplemented('this node serves no task logs');
        const ac = new AbortController();
        req.socket.on('close', () => ac.abort());
        await this.#o.taskLogs(query.get('task') ?? '', query, res, ac.signal);
      },
    };
    const server = new NodeApiServer({ routes: [...routes, logs], clusterId: st.clusterId, log: this.#o.log });
    const { host } = splitHostPort(st.listenAddr, 2377);
    const port = splitHostPort(st.advertiseAddr, 2377).port;
    await server.listen(`${host}:${port}`, this.#tls as Tls);
    this.#server = server;
  }

  /** A node's certificate for its current role, on the key it already has (promote/demote). */
  async #reissue(n: NodeObject): Promise<string> {
    const ca = await this.#files.ca();
    return signPublicKey(ca, await certPublicKey(n.certPem), { cn: n.id, role: n.spec.Role, clusterId: (this.#state as LocalState).clusterId, ip: n.addr });
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
    let won = false;
    const lease = await store.lease(10, () => {
      // Only the lease that made this node the leader is worth campaigning again for: one of
      // a campaign that failed midway was revoked, and its loss is nobody's.
      if (!won) return;
      won = false;
      this.#o.log.warn('swarm: lost the leadership lease; campaigning again');
      this.#leader = undefined;
      void this.#campaignUntilWon(nodeId);
    });
    try {
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
        won = true;
        if (mine) this.#leader = { createRevision: mine.createRevision, revoke: () => lease.revoke() };
        this.#orchestrator?.kick();
        return;
      }
    } catch (err) {
      if (!won) await lease.revoke();
      throw err;
    }
  }

  /**
   * Until this node leads or its store is gone (etcd unreachable past a lease's TTL, or no
   * leader yet). One loop at a time: a lost lease calling while one runs is that loop's work
   * (with one loop per loss, a cluster without quorum once had thousands spinning).
   */
  async #campaignUntilWon(nodeId: string): Promise<void> {
    if (this.#campaigning) return;
    this.#campaigning = true;
    try {
      while (this.#store && !this.#leader) {
        try {
          await this.#campaign(nodeId);
        } catch (err) {
          this.#o.log.warn({ err: messageOf(err) }, 'swarm: campaign failed; trying again');
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    } finally {
      this.#campaigning = false;
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
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (o.stopMember !== undefined) this.#stopping = true;
    await this.#server?.close();
    await this.#roleWatch?.stop();
    this.#roleWatch = undefined;
    this.#session?.stop();
    await this.#agent?.stop();
    await this.#dispatcher?.stop();
    await this.#orchestrator?.stop();
    await this.#liveness?.stop();
    await this.#heartbeat?.stop();
    await this.#unwatchCluster?.();
    await this.#store?.close();
    this.#server = undefined;
    this.#session = undefined;
    this.#dispatcher = undefined;
    this.#agent = undefined;
    this.#orchestrator = undefined;
    this.#liveness = undefined;
    this.#heartbeat = undefined;
    this.#unwatchCluster = undefined;
    this.#store = undefined;
    this.#leader = undefined;
    if (o.stopMember) await this.#member.stop();
  }

  /**
   * One membership change at a time (membership.ts): init, join, leave, and the switches of a
   * promotion or a demotion.
   */
  init(req: InitRequest): Promise<string> {
    return this.#membership.init(req);
  }

  join(req: JoinSwarmRequest): Promise<void> {
    return this.#membership.join(req);
  }

  leave(force: boolean): Promise<void> {
    return this.#membership.leave(force);
  }

  kickAgent(): void {
    this.#agent?.kick();
    this.#orchestrator?.kick();
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
      spec: clusterSpec(spec),
      updatedAt: now(),
      joinSecrets: { worker: rotate.worker ? newJoinSecret() : e.value.joinSecrets.worker, manager: rotate.manager ? newJoinSecret() : e.value.joinSecrets.manager },
    };
    const r = await store.txn([{ key: keys.cluster, modRevision: e.modRevision }], [{ put: keys.cluster, value: next }]);
    if (!r.ok) throw invalidParameter(updateOutOfSequence);
    this.#applySpec(next.spec);
  }

  /** The log of a task on another node, as that node's frames (`docker service logs`). */
  async remoteTaskLogs(task: TaskObject, query: URLSearchParams, signal: AbortSignal): Promise<IncomingMessage> {
    const node = await this.store().get<NodeObject>(keys.object('nodes', task.nodeId));
    const addr = node?.value.apiAddr;
    if (!addr || !this.#tls) throw unavailable(`the node of task ${task.id} cannot be reached for its logs`);
    const q = new URLSearchParams(query);
    q.set('task', task.id);
    return streamNode(addr, `/v1/logs?${q.toString()}`, this.#tls, signal);
  }

  /** The node whose orchestrator holds the leadership key (etcd decides who that is). */
  async leaderId(): Promise<string | undefined> {
    return (await this.store().get<{ nodeId: string }>(keys.leader))?.value.nodeId;
  }

  nodes(): Promise<Entry<NodeObject>[]> {
    return this.#nodes.nodes();
  }

  node(ref: string): Promise<Entry<NodeObject>> {
    return this.#nodes.node(ref);
  }

  /** Resolves to the manager-count warnings when the role changed (node-admin.ts). */
  updateNode(ref: string, version: number, spec: NodeSpecUpdate): Promise<string[]> {
    return this.#nodes.updateNode(ref, version, spec);
  }

  removeNode(ref: string, force = false): Promise<void> {
    return this.#nodes.removeNode(ref, force);
  }

  warnings(): Promise<string[]> {
    return this.#nodes.warnings();
  }

  /** What `docker info`'s Swarm section and the `Swarm` ping header need. */
  async info(): Promise<SwarmInfo | undefined> {
    const st = this.#state;
    if (!st) return undefined;
    if (this.#role === 'worker') {
      const managers = this.#session?.managers ?? st.managers ?? [];
      return { state: st, isManager: false, remoteManagers: managers.map((addr) => ({ nodeId: '', addr })), nodes: 0, managers: 0, error: '' };
    }
    try {
      const store = this.store();
      const [cluster, nodes] = await Promise.all([store.get<ClusterObject>(keys.cluster), store.list<NodeObject>(keys.prefix('nodes'))]);
      const managers = nodes.filter((n) => n.value.spec.Role === 'manager');
      return {
        state: st,
        isManager: true,
        remoteManagers: managers.map((n) => ({ nodeId: n.value.id, addr: n.value.managerAddr })),
        ...(cluster ? { cluster } : {}),
        nodes: nodes.length,
        managers: managers.length,
        error: '',
      };
    } catch (err) {
      return { state: st, isManager: true, remoteManagers: [{ nodeId: st.nodeId, addr: st.advertiseAddr }], nodes: 0, managers: 0, error: messageOf(err) };
    }
  }

  get localState(): LocalState | undefined {
    return this.#state;
  }

  ensureNotInSwarm(): void {
    if (this.#state) throw conflict(ALREADY_IN_SWARM);
  }
}

