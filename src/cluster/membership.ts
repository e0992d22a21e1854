import { mkdir, rm } from 'node:fs/promises';
import { Mutex } from '../lib/mutex.js';
import { errnoCode, invalidParameter, messageOf, notImplemented, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { removeTaskFiles } from './agent.js';
import { certPublicKey, createCa, issueNodeCert, newJoinSecret, signPublicKey } from './ca.js';
import { clusterSpec } from './cluster-spec.js';
import type { LocalEngine } from './engine-port.js';
import type { EtcdMember, PeerConfig } from './etcd-member.js';
import { EtcdStore } from './etcd-store.js';
import { PEER_CN, memberOf, peerPort, retryUnhealthy, type JoinAnswer } from './join-service.js';
import { requestJoin } from './joiner.js';
import { networked, roleOf, writeState, type LocalState } from './local-state.js';
import { ALREADY_IN_SWARM, AUTOLOCK_REFUSED, LEAVE_LAST_MANAGER, NOT_IN_SWARM } from './messages.js';
import { callNode, splitHostPort } from './node-api.js';
import { NodeFiles } from './node-files.js';
import { keys, newObjectId, now, type ClusterObject, type NodeAvailability, type NodeObject } from './objects.js';
import { SecretBox } from './secret-box.js';
import type { ClusterStore } from './store.js';

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
 * The node whose membership changes (the coordinator, swarm.ts): it holds the state in memory
 * and runs the manager's or worker's parts on it; a membership change decides when.
 */
export type MembershipHost = {
  state(): LocalState | undefined;
  /** In memory only (writeState puts it on disk); undefined: this node is in no swarm. */
  setState(st: LocalState | undefined): void;
  activate(): Promise<void>;
  /** Activate, and on failure try again in the background until the swarm answers. */
  activateOrRetry(): Promise<void>;
  /**
   * Stop the manager's or worker's parts (the etcd member and the task containers keep
   * running). `resign`: give up the leadership at once rather than when the lease runs out;
   * `forGood`: no retry of a failed activation starts afterwards (a leave).
   */
  stop(o?: { resign?: boolean; forGood?: boolean }): Promise<void>;
  /** A worker's session with its managers, while it runs: their latest list. */
  workerSession(): { managers: string[] } | undefined;
};

export type MembershipOptions = {
  /** `<data-root>/swarm`: the state, the node's keys and certificates. */
  dir: string;
  /** Where the etcd member keeps its data, when not in `dir`. */
  etcdDir: string | undefined;
  /** The task files (secrets, configs) of this node's tasks. */
  filesDir: string;
  member: EtcdMember;
  engine: LocalEngine;
  log: Logger;
  host: MembershipHost;
  /** The store, while this node is a manager (throws Docker's sentence otherwise). */
  store: () => ClusterStore;
  managerCount: () => Promise<number>;
};

/**
 * This node's membership changes: init, join, leave, and the switches a promotion or a
 * demotion makes. One at a time: two inits racing would each start an etcd member, and the
 * loser's would be left running with no state to stop it (found by the API fuzzer).
 */
export class Membership {
  readonly #o: MembershipOptions;
  readonly #host: MembershipHost;
  readonly #files: NodeFiles;
  readonly #lock = new Mutex();

  constructor(o: MembershipOptions) {
    this.#o = o;
    this.#host = o.host;
    this.#files = new NodeFiles(o.dir);
  }

  /** Runs `fn` when no membership change is under way (a retried activation waits its turn). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(fn);
  }

  init(req: InitRequest): Promise<string> {
    return this.#lock.run(() => this.#init(req));
  }

  /** `docker swarm join`: as a worker or a manager, as the token says. */
  join(req: JoinSwarmRequest): Promise<void> {
    return this.#lock.run(() => this.#join(req));
  }

  /**
   * Leave. A worker simply goes (its managers see it down). A manager that is not the last
   * takes its etcd member out of the group first; the last one may leave only with force, and
   * takes the swarm with it: every task container, the etcd member and its data, the keys.
   */
  leave(force: boolean): Promise<void> {
    return this.#lock.run(() => this.#leave(force));
  }

  /** Promoted (a worker sees it in its session): becomes a manager. */
  becomeManager(): Promise<void> {
    return this.#lock.run(() => this.#becomeManager());
  }

  /** Demoted (a manager sees it in the store): becomes a worker of `managers`. */
  becomeWorker(managers: string[]): Promise<void> {
    return this.#lock.run(() => this.#becomeWorker(managers));
  }

  async #init(req: InitRequest): Promise<string> {
    if (this.#host.state()) throw unavailable(ALREADY_IN_SWARM);
    if (req.autoLock) throw notImplemented(AUTOLOCK_REFUSED);
    if (req.forceNewCluster) throw notImplemented('berth does not support --force-new-cluster yet');
    const nodeId = newObjectId();
    const clusterId = newObjectId();
    const addr = req.advertiseAddr ? req.advertiseAddr.replace(/:\d+$/, '') : '127.0.0.1';
    const port = /:(\d+)$/.exec(req.advertiseAddr)?.[1] ?? /:(\d+)$/.exec(req.listenAddr)?.[1] ?? '2377';
    const state: LocalState = { schemaVersion: 1, nodeId, clusterId, advertiseAddr: `${addr}:${port}`, listenAddr: req.listenAddr || '0.0.0.0:2377', dataPathAddr: req.dataPathAddr, role: 'manager' };
    await mkdir(this.#o.dir, { recursive: true, mode: 0o700 });
    const ca = await createCa();
    const cert = await issueNodeCert(ca, nodeId, 'manager', clusterId, addr);
    const files = this.#files;
    await files.write({ caPem: ca.certPem, caKeyPem: ca.keyPem, keyPem: cert.keyPem, certPem: cert.certPem });
    if (networked(state)) {
      await files.write({ peerCertPem: await signPublicKey(ca, await certPublicKey(cert.certPem), { cn: PEER_CN, role: 'manager', clusterId, ip: addr }) });
    }
    await SecretBox.create(files.path('secrets.key'));
    this.#host.setState(state);
    try {
      const peer = networked(state) ? this.#peerConfig(state, { cluster: `${nodeId}=https://${addr}:${peerPort(Number(port))}`, state: 'new' }) : undefined;
      await this.#o.member.ensure(nodeId, clusterId, peer);
      const store = new EtcdStore(this.#o.member.endpoint, this.#o.log);
      await waitReady(store);
      const cluster: ClusterObject = {
        id: clusterId,
        createdAt: now(),
        updatedAt: now(),
        spec: clusterSpec(req.spec),
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
      await writeState(this.#o.dir, state);
      await this.#host.activate();
    } catch (err) {
      await this.#undo();
      await rm(this.#o.dir, { recursive: true, force: true });
      throw err;
    }
    this.#o.log.info({ nodeId, clusterId }, 'swarm: initialized');
    return nodeId;
  }

  async #join(req: JoinSwarmRequest): Promise<void> {
    if (this.#host.state()) throw unavailable(ALREADY_IN_SWARM);
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
    await mkdir(this.#o.dir, { recursive: true, mode: 0o700 });
    const files = this.#files;
    await files.write({ caPem: a.caPem, keyPem: r.keyPem, certPem: a.certPem, ...(a.manager ? { caKeyPem: a.manager.caKeyPem, peerCertPem: a.manager.peerCertPem, secretsKey: a.manager.secretsKey } : {}) });
    this.#host.setState(state);
    try {
      if (a.manager) {
        // A learner first: it syncs, then the manager that let it in promotes it.
        await this.#o.member.ensure(a.nodeId, a.clusterId, this.#peerConfig(state, { cluster: a.manager.initialCluster, state: 'existing' }));
        await callNode(r.remote, 'POST', '/v1/join/ready', {}, { tls: await files.tls(), timeoutMs: 90_000 });
      }
      await writeState(this.#o.dir, state);
      await this.#host.activate();
    } catch (err) {
      await this.#undo();
      if (a.manager) await callNode(r.remote, 'POST', '/v1/join/abort', {}, { tls: await files.tls(), timeoutMs: 30_000 }).catch(() => undefined);
      await rm(this.#o.dir, { recursive: true, force: true });
      throw err;
    }
    this.#o.log.info({ nodeId: a.nodeId, role: a.role }, 'swarm: joined');
  }

  /** An init or a join that failed half-way: no state, no member, nothing running. */
  async #undo(): Promise<void> {
    this.#host.setState(undefined);
    await this.#host.stop().catch(() => undefined);
    await this.#o.member.destroy().catch(() => undefined);
  }

  async #leave(force: boolean): Promise<void> {
    const st = this.#host.state();
    if (!st) throw unavailable(NOT_IN_SWARM);
    const nodeId = st.nodeId;
    if (roleOf(st) === 'manager') {
      const managers = await this.#o.managerCount().catch(() => 1);
      if (managers <= 1 && !force) throw unavailable(LEAVE_LAST_MANAGER);
      if (managers > 1) {
        if (!force) throw unavailable(leaveManagerMessage(managers));
        await this.#removeOwnMember(nodeId).catch((err) => this.#o.log.warn({ err: messageOf(err) }, 'swarm: could not take this manager out of the etcd group'));
      }
    }
    await this.#host.stop({ resign: true, forGood: true });
    await this.#o.member.destroy();
    this.#host.setState(undefined);
    await this.#o.engine.removeTaskContainers(nodeId);
    await removeTaskFiles(this.#o.filesDir);
    await rm(this.#o.dir, { recursive: true, force: true });
    await rm(this.#o.etcdDir ?? this.#o.dir, { recursive: true, force: true }).catch((err) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    this.#o.log.info('swarm: left the swarm');
  }

  async #removeOwnMember(nodeId: string): Promise<void> {
    const store = this.#o.store();
    const node = await store.get<NodeObject>(keys.object('nodes', nodeId));
    const me = (await store.members()).find((m) => m.name === nodeId) ?? (node ? memberOf(await store.members(), node.value) : undefined);
    if (me) await retryUnhealthy(() => store.removeMember(me.id));
    if (node) await store.txn([], [{ del: node.key }, { del: keys.heartbeat(nodeId) }]);
  }

  /** Ask a manager for the manager's bundle, start an etcd member (a learner), switch. */
  async #becomeManager(): Promise<void> {
    const st = this.#host.state();
    if (!st || roleOf(st) !== 'worker') return;
    const tls = await this.#files.tls();
    const managers = this.#host.workerSession()?.managers ?? st.managers ?? [];
    let last: unknown;
    for (const remote of managers) {
      try {
        const b = await callNode<NonNullable<JoinAnswer['manager']>>(remote, 'POST', '/v1/promote', {}, { tls, timeoutMs: 60_000 });
        await this.#files.write({ caKeyPem: b.caKeyPem, peerCertPem: b.peerCertPem, secretsKey: b.secretsKey });
        await this.#host.stop();
        await this.#o.member.ensure(st.nodeId, st.clusterId, this.#peerConfig(st, { cluster: b.initialCluster, state: 'existing' }));
        await callNode(remote, 'POST', '/v1/join/ready', {}, { tls, timeoutMs: 90_000 });
        const next: LocalState = { ...st, role: 'manager' };
        this.#host.setState(next);
        await writeState(this.#o.dir, next);
        this.#o.log.info('swarm: promoted: this node is a manager now');
        return this.#host.activateOrRetry();
      } catch (err) {
        last = err;
      }
    }
    this.#o.log.warn({ err: messageOf(last) }, 'swarm: promotion failed; the next heartbeat tries again');
    if (!this.#host.workerSession()) await this.#host.activateOrRetry();
  }

  /**
   * The manager that demoted this node takes its member out of etcd; this node stops its
   * manager's parts, drops the member's data and the manager-only keys, and goes on as a
   * worker of the other managers. Its task containers keep running throughout.
   */
  async #becomeWorker(managers: string[]): Promise<void> {
    const st = this.#host.state();
    if (!st || roleOf(st) !== 'manager') return;
    await this.#host.stop({ resign: true });
    await this.#o.member.destroy();
    for (const f of ['ca.key', 'peer.crt', 'secrets.key'] as const) await rm(this.#files.path(f), { force: true });
    const next: LocalState = { ...st, role: 'worker', managers };
    this.#host.setState(next);
    await writeState(this.#o.dir, next);
    this.#o.log.info('swarm: demoted: this node is a worker now');
    await this.#host.activateOrRetry();
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
}

/**
 * Until the member answers (a fresh one takes about a second; bounded at 30 s). `demoted`,
 * asked after 3 s and every 5 s after, ends the wait early: a member removed from etcd while
 * its node was down never answers.
 */
export async function waitReady(store: ClusterStore, demoted?: () => Promise<boolean>): Promise<'ready' | 'demoted'> {
  const start = Date.now();
  let ask = start + 3000;
  for (;;) {
    try {
      await store.get(keys.cluster);
      return 'ready';
    } catch (err) {
      if (Date.now() > start + 30_000) throw unavailable(`the swarm's etcd member does not answer: ${messageOf(err)}`, err);
      if (demoted && Date.now() > ask) {
        if (await demoted()) return 'demoted';
        ask = Date.now() + 5000;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function leaveManagerMessage(managers: number): string {
  const left = managers - 1;
  const lost = left < Math.floor(managers / 2) + 1;
  return (
    `You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves ${left} managers out of ${managers}. ` +
    (lost ? 'Without a Raft quorum your swarm will be inaccessible. ' : '') +
    'The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.'
  );
}
