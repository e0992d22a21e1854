import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { Mutex } from '../lib/mutex.js';
import { conflict, errnoCode, invalidParameter, messageOf, notImplemented, unavailable, forbidden } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { Agent, removeTaskFiles } from './agent.js';
import { StoreSource } from './agent-source.js';
import { certPublicKey, createCa, issueNodeCert, joinToken, newJoinSecret, signPublicKey } from './ca.js';
import { Dispatcher } from './dispatcher.js';
import { DispatcherClient } from './dispatcher-client.js';
import { JoinService, PEER_CN, memberOf, peerPort, retryUnhealthy, type JoinAnswer } from './join-service.js';
import { requestJoin } from './joiner.js';
import { NodeApiServer, callNode, splitHostPort, streamNode, type NodeRoute, type Tls } from './node-api.js';
import { NodeFiles } from './node-files.js';
import type { LocalEngine } from './engine-port.js';
import { EtcdMember, type PeerConfig } from './etcd-member.js';
import { EtcdStore } from './etcd-store.js';
import { ALREADY_IN_SWARM, AUTOLOCK_REFUSED, CA_ROTATE_REFUSED, LEAVE_LAST_MANAGER, NOT_IN_SWARM, NOT_MANAGER, managerWarnings, updateOutOfSequence } from './messages.js';
import { keys, newObjectId, nodeState, now, type ClusterObject, type NodeAvailability, type NodeObject, type NodeRole, type TaskObject } from './objects.js';
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
  /**
   * Serve a manager's request for the log of a task running here (the node API's `/v1/logs`):
   * the daemon writes the task's frames, as `docker service logs` would, to the response.
   */
  taskLogs?: (taskId: string, query: URLSearchParams, res: ServerResponse, signal: AbortSignal) => Promise<void>;
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

export type JoinSwarmRequest = {
  listenAddr: string;
  advertiseAddr: string;
  dataPathAddr: string;
  remoteAddrs: string[];
  joinToken: string;
  availability: NodeAvailability;
};

/**
 * What this node knows of its swarm, on its own disk. `role` absent: a manager (the state of a
 * one-manager swarm written before joins existed). `managers`: the node APIs of the managers
 * as last heard, which a worker (no store of its own) talks to.
 */
type LocalState = {
  schemaVersion: 1;
  nodeId: string;
  clusterId: string;
  advertiseAddr: string;
  listenAddr: string;
  dataPathAddr: string;
  role?: NodeRole;
  managers?: string[];
};

const isLoopback = (addr: string) => /^(127\.|localhost$|::1$|\[::1\])/.test(addr.replace(/:\d+$/, ''));
/** A swarm advertised on loopback is a one-node swarm: no node API, etcd peers on unix sockets. */
const networked = (st: LocalState) => !isLoopback(st.advertiseAddr);

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
  #server: NodeApiServer | undefined;
  #dispatcher: Dispatcher | undefined;
  #session: DispatcherClient | undefined;
  #tls: Tls | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopping = false;
  #unwatchSelf: (() => Promise<void>) | undefined;

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

  get #files(): NodeFiles {
    return new NodeFiles(this.#dir);
  }

  get #role(): NodeRole {
    return this.#state?.role ?? 'manager';
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
    this.#state = await readState(join(this.#dir, 'state.json'));
    if (!this.#state) return;
    await this.#activateOrRetry();
  }

  async #activateOrRetry(): Promise<void> {
    try {
      await this.#activate();
    } catch (err) {
      this.#o.log.error({ err: messageOf(err) }, 'swarm: cannot rejoin the swarm yet; trying again');
      await this.shutdown().catch(() => undefined);
      if (!this.#stopping && this.#state) this.#retry = setTimeout(() => void this.#membership.run(() => this.#activateOrRetry()), 2000);
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
    await waitReady(store);
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
    // A demotion is written to the store: this node sees it and becomes a worker.
    // The other managers are read at once: moments later this node's member is out of etcd.
    this.#unwatchSelf = await store.watch(keys.object('nodes', st.nodeId), () => {
      void store.list<NodeObject>(keys.prefix('nodes')).then((nodes) => {
        const me = nodes.find((n) => n.value.id === st.nodeId);
        if (me?.value.spec.Role !== 'worker' || this.#role !== 'manager') return;
        const managers = nodes.filter((n) => n.value.spec.Role === 'manager' && n.value.id !== st.nodeId).map((n) => n.value.apiAddr ?? n.value.managerAddr);
        void this.#membership.run(() => this.#becomeWorker(managers));
      }, () => undefined);
    });
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
          await this.#saveState(this.#state);
        }
        if (a.role === 'manager' && this.#role === 'worker') void this.#membership.run(() => this.#becomeManager());
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

  #saveState(st: LocalState): Promise<void> {
    return writeFileAtomic(join(this.#dir, 'state.json'), JSON.stringify(st), 0o600);
  }

  /** An init or a join that failed half-way: no state, no member, nothing running. */
  async #undoMembership(): Promise<void> {
    this.#state = undefined;
    await this.shutdown().catch(() => undefined);
    await this.#member.destroy().catch(() => undefined);
  }

  /** A node's certificate for its current role, on the key it already has (promote/demote). */
  async #reissue(n: NodeObject): Promise<string> {
    const ca = await this.#files.ca();
    return signPublicKey(ca, await certPublicKey(n.certPem), { cn: n.id, role: n.spec.Role, clusterId: (this.#state as LocalState).clusterId, ip: n.addr });
  }

  /** Promoted: ask a manager for the manager's bundle, start an etcd member (a learner), switch. */
  async #becomeManager(): Promise<void> {
    const st = this.#state;
    if (!st || this.#role !== 'worker') return;
    const tls = await this.#files.tls();
    const managers = this.#session?.managers ?? st.managers ?? [];
    let last: unknown;
    for (const remote of managers) {
      try {
        const b = await callNode<NonNullable<JoinAnswer['manager']>>(remote, 'POST', '/v1/promote', {}, { tls, timeoutMs: 60_000 });
        await this.#files.write({ caKeyPem: b.caKeyPem, peerCertPem: b.peerCertPem, secretsKey: b.secretsKey });
        await this.shutdown();
        await this.#member.ensure(st.nodeId, st.clusterId, this.#peerConfig(st, { cluster: b.initialCluster, state: 'existing' }));
        await callNode(remote, 'POST', '/v1/join/ready', {}, { tls, timeoutMs: 90_000 });
        this.#state = { ...st, role: 'manager' };
        await this.#saveState(this.#state);
        this.#o.log.info('swarm: promoted: this node is a manager now');
        return this.#activateOrRetry();
      } catch (err) {
        last = err;
      }
    }
    this.#o.log.warn({ err: messageOf(last) }, 'swarm: promotion failed; the next heartbeat tries again');
    if (!this.#session) await this.#activateOrRetry();
  }

  /**
   * Demoted: the manager that demoted this node takes its member out of etcd; this node stops
   * its manager's parts, drops the member's data and the manager-only keys, and goes on as a
   * worker of the other managers. Its task containers keep running throughout.
   */
  async #becomeWorker(managers: string[]): Promise<void> {
    const st = this.#state;
    if (!st || this.#role !== 'manager') return;
    await this.#leader?.revoke().catch(() => undefined);
    await this.shutdown();
    await this.#member.destroy();
    for (const f of ['ca.key', 'peer.crt', 'secrets.key'] as const) await rm(this.#files.path(f), { force: true });
    this.#box = undefined;
    this.#state = { ...st, role: 'worker', managers };
    await this.#saveState(this.#state);
    this.#o.log.info('swarm: demoted: this node is a worker now');
    await this.#activateOrRetry();
  }

  #peerConfig(st: LocalState, initial: { cluster: string; state: 'new' | 'existing' }): PeerConfig {
    const ip = st.advertiseAddr.replace(/:\d+$/, '');
    const port = splitHostPort(st.advertiseAddr, 2377).port;
    return {
      url: `https://${ip}:${peerPort(port)}`,
      certFile: this.#files.path('peer.crt'),
      keyFile: this.#files.path('node.key'),
      caFile: this.#files.path('ca.crt'),
      allowedCn: PEER_CN,
      initialCluster: initial.cluster,
      initialState: initial.state,
    };
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
    clearTimeout(this.#retry);
    if (o.stopMember !== undefined) this.#stopping = true;
    await this.#server?.close();
    await this.#unwatchSelf?.();
    this.#unwatchSelf = undefined;
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
    const state: LocalState = { schemaVersion: 1, nodeId, clusterId, advertiseAddr: `${addr}:${port}`, listenAddr: req.listenAddr || '0.0.0.0:2377', dataPathAddr: req.dataPathAddr, role: 'manager' };
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const ca = await createCa();
    const cert = await issueNodeCert(ca, nodeId, 'manager', clusterId, addr);
    const files = this.#files;
    await files.write({ caPem: ca.certPem, caKeyPem: ca.keyPem, keyPem: cert.keyPem, certPem: cert.certPem });
    if (networked(state)) {
      await files.write({ peerCertPem: await signPublicKey(ca, await certPublicKey(cert.certPem), { cn: PEER_CN, role: 'manager', clusterId, ip: addr }) });
    }
    this.#box = await SecretBox.create(join(this.#dir, 'secrets.key'));
    this.#state = state;
    try {
      const peer = networked(state) ? this.#peerConfig(state, { cluster: `${nodeId}=https://${addr}:${peerPort(Number(port))}`, state: 'new' }) : undefined;
      await this.#member.ensure(nodeId, clusterId, peer);
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
        apiAddr: state.advertiseAddr,
        certPem: cert.certPem,
        status: { state: 'ready', message: '' },
      };
      await store.txn([{ key: keys.cluster, absent: true }], [{ put: keys.cluster, value: cluster }, { put: keys.object('nodes', nodeId), value: node }]);
      await store.close();
      await this.#saveState(state);
      await this.#activate();
    } catch (err) {
      await this.#undoMembership();
      await rm(this.#dir, { recursive: true, force: true });
      throw err;
    }
    this.#o.log.info({ nodeId, clusterId }, 'swarm: initialized');
    return nodeId;
  }

  /** `docker swarm join`: as a worker or a manager, as the token says. */
  join(req: JoinSwarmRequest): Promise<void> {
    return this.#membership.run(() => this.#join(req));
  }

  async #join(req: JoinSwarmRequest): Promise<void> {
    if (this.#state) throw unavailable(ALREADY_IN_SWARM);
    if (req.remoteAddrs.length === 0) throw invalidParameter('at least 1 RemoteAddr is required to join');
    const listenAddr = req.listenAddr || '0.0.0.0:2377';
    const listenPort = splitHostPort(listenAddr, 2377).port;
    const r = await requestJoin({
      remotes: req.remoteAddrs.map((a) => (/:\d+$/.test(a) ? a : `${a}:2377`)),
      token: req.joinToken,
      advertiseAddr: req.advertiseAddr,
      listenPort,
      availability: req.availability,
      node: this.#o.engine.node(),
    });
    const a = r.answer;
    const state: LocalState = {
      schemaVersion: 1,
      nodeId: a.nodeId,
      clusterId: a.clusterId,
      advertiseAddr: r.advertiseAddr,
      listenAddr,
      dataPathAddr: req.dataPathAddr,
      role: a.role,
      managers: a.managers,
    };
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const files = this.#files;
    await files.write({ caPem: a.caPem, keyPem: r.keyPem, certPem: a.certPem, ...(a.manager ? { caKeyPem: a.manager.caKeyPem, peerCertPem: a.manager.peerCertPem, secretsKey: a.manager.secretsKey } : {}) });
    this.#state = state;
    try {
      if (a.manager) {
        // A learner first: it syncs, then the manager that let it in promotes it.
        await this.#member.ensure(a.nodeId, a.clusterId, this.#peerConfig(state, { cluster: a.manager.initialCluster, state: 'existing' }));
        await callNode(r.remote, 'POST', '/v1/join/ready', {}, { tls: await files.tls(), timeoutMs: 90_000 });
      }
      await this.#saveState(state);
      await this.#activate();
    } catch (err) {
      await this.#undoMembership();
      if (a.manager) await callNode(r.remote, 'POST', '/v1/join/abort', {}, { tls: await files.tls(), timeoutMs: 30_000 }).catch(() => undefined);
      await rm(this.#dir, { recursive: true, force: true });
      throw err;
    }
    this.#o.log.info({ nodeId: a.nodeId, role: a.role }, 'swarm: joined');
  }

  /**
   * Leave. A worker simply goes (its managers see it down). A manager that is not the last
   * takes its etcd member out of the group first; the last one may leave only with force, and
   * takes the swarm with it: every task container, the etcd member and its data, the keys.
   */
  leave(force: boolean): Promise<void> {
    return this.#membership.run(() => this.#leave(force));
  }

  async #leave(force: boolean): Promise<void> {
    if (!this.#state) throw unavailable(NOT_IN_SWARM);
    const nodeId = this.#state.nodeId;
    if (this.#role === 'manager') {
      const managers = this.#store ? await this.#managerCount().catch(() => 1) : 1;
      if (managers <= 1 && !force) throw unavailable(LEAVE_LAST_MANAGER);
      if (managers > 1) {
        if (!force) throw unavailable(leaveManagerMessage(managers));
        await this.#removeOwnMember(nodeId).catch((err) => this.#o.log.warn({ err: messageOf(err) }, 'swarm: could not take this manager out of the etcd group'));
      }
    }
    this.#stopping = true;
    await this.#leader?.revoke().catch(() => undefined);
    await this.shutdown();
    await this.#member.destroy();
    this.#state = undefined;
    this.#box = undefined;
    this.#tls = undefined;
    await this.#o.engine.removeTaskContainers(nodeId);
    await removeTaskFiles(this.#filesDir);
    await rm(this.#dir, { recursive: true, force: true });
    await rm(this.#o.etcdDir ?? this.#dir, { recursive: true, force: true }).catch((err) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    this.#o.log.info('swarm: left the swarm');
  }

  async #removeOwnMember(nodeId: string): Promise<void> {
    const store = this.store();
    const node = await store.get<NodeObject>(keys.object('nodes', nodeId));
    const me = (await store.members()).find((m) => m.name === nodeId) ?? (node ? memberOf(await store.members(), node.value) : undefined);
    if (me) await retryUnhealthy(() => store.removeMember(me.id));
    if (node) await store.txn([], [{ del: node.key }, { del: keys.heartbeat(nodeId) }]);
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
    const demote = role === 'worker' && e.value.spec.Role === 'manager';
    if (demote) await this.#checkQuorumWithout(e.value.id);
    const availability = spec.Availability ?? e.value.spec.Availability;
    if (!['active', 'pause', 'drain'].includes(availability)) throw invalidParameter(`invalid availability: ${availability}`);
    const next: NodeObject = { ...e.value, spec: { ...(spec.Name ? { Name: spec.Name } : {}), Labels: spec.Labels ?? {}, Role: role, Availability: availability }, updatedAt: now() };
    // Drain and pause are the orchestrator's to carry out (it watches the nodes).
    const r = await store.txn([{ key: e.key, modRevision: e.modRevision }], [{ put: e.key, value: next }]);
    if (!r.ok) throw invalidParameter(updateOutOfSequence);
    if (demote) {
      // The demoted node may be down: its member leaves the group either way.
      const m = memberOf(await store.members(), e.value);
      if (m) await retryUnhealthy(() => store.removeMember(m.id));
    }
    return role !== e.value.spec.Role ? managerWarnings(await this.#managerCount()) : [];
  }

  async removeNode(ref: string, force = false): Promise<void> {
    const e = await this.node(ref);
    if (e.value.spec.Role === 'manager') {
      throw forbidden(`rpc error: code = FailedPrecondition desc = node ${e.value.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`);
    }
    if (!force && nodeState(e.value) !== 'down') {
      throw forbidden(`rpc error: code = FailedPrecondition desc = node ${e.value.id} is not down and can't be removed`);
    }
    await this.store().txn([{ key: e.key, modRevision: e.modRevision }], [{ del: e.key }, { del: keys.heartbeat(e.value.id) }]);
  }

  /**
   * A demotion takes a member out of etcd: refused when the members left that are up would
   * not be a majority of the members left (Docker refuses it the same way).
   */
  async #checkQuorumWithout(nodeId: string): Promise<void> {
    const nodes = await this.nodes();
    const managers = nodes.filter((n) => n.value.spec.Role === 'manager' && n.value.id !== nodeId);
    const up = managers.filter((n) => nodeState(n.value) !== 'down').length;
    if (up < Math.floor(managers.length / 2) + 1) {
      throw invalidParameter('rpc error: code = FailedPrecondition desc = can\'t remove member from the raft: this would result in a loss of quorum');
    }
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

/** Liveness as the leader last wrote it (absent until the first verdict: taken as up). */

function leaveManagerMessage(managers: number): string {
  const left = managers - 1;
  const lost = left < Math.floor(managers / 2) + 1;
  return (
    `You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves ${left} managers out of ${managers}. ` +
    (lost ? 'Without a Raft quorum your swarm will be inaccessible. ' : '') +
    'The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.'
  );
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
