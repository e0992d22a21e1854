import type { webcrypto } from 'node:crypto';
import { forbidden, invalidParameter, messageOf, notFound, unavailable } from '../lib/errors.js';

type CryptoKey = webcrypto.CryptoKey;
import type { Logger } from '../lib/logger.js';
import { certPublicKey, csrPublicKey, parseJoinToken, signPublicKey, joinToken, type ClusterCa } from './ca.js';
import type { NodeRoute } from './node-api.js';
import { keys, newObjectId, now, type ClusterObject, type NodeAvailability, type NodeObject, type NodeRole } from './objects.js';
import type { ClusterStore, Member } from './store.js';

/** The CN of the etcd peer certificate: only managers get one, and etcd admits no other. */
export const PEER_CN = 'berth-etcd-peer';
/** etcd's peer port: the swarm port + 3 (2377 → 2380, etcd's usual peer port). */
export const peerPort = (swarmPort: number) => swarmPort + 3;

/** A manager's etcd peer URL, from its node API address. */
export function peerUrlOf(apiAddr: string): string {
  const ip = apiAddr.replace(/:\d+$/, '');
  const port = Number(/:(\d+)$/.exec(apiAddr)?.[1] ?? 2377);
  return `https://${ip}:${peerPort(port)}`;
}

/**
 * A node's etcd member: by name once it has started (it publishes its name), by peer URL
 * before (a learner just added has no name yet).
 */
export function memberOf(members: Member[], n: Pick<NodeObject, 'id' | 'apiAddr'>): Member | undefined {
  return members.find((m) => m.name === n.id) ?? (n.apiAddr ? members.find((m) => m.peerUrls.includes(peerUrlOf(n.apiAddr as string))) : undefined);
}

export const INVALID_TOKEN = 'rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster';

export type JoinRequest = {
  token: string;
  csrPem: string;
  hostname: string;
  /** `ip:port` where the joining node's own node API answers. */
  advertiseAddr: string;
  availability: NodeAvailability;
  engineVersion: string;
  nanoCpus: number;
  memoryBytes: number;
  /** The joining daemon's `--label`s (engine labels, for constraints and placement preferences). */
  labels?: Record<string, string>;
};

export type JoinAnswer = {
  nodeId: string;
  clusterId: string;
  role: NodeRole;
  caPem: string;
  certPem: string;
  managers: string[];
  /** Managers only: what a manager needs that the store does not hold. */
  manager?: { caKeyPem: string; secretsKey: string; peerCertPem: string; initialCluster: string };
};

export type JoinServiceOptions = {
  store: () => ClusterStore;
  ca: () => Promise<ClusterCa>;
  secretsKey: () => Promise<string>;
  /** Whether this manager's etcd member has TLS peers (not a loopback one-node swarm). */
  peersOverTls: () => boolean;
  log: Logger;
};

/**
 * A manager's side of `docker swarm join`: the token says which role (and proves the joiner
 * was given it); the joiner's CSR is signed here (its private key never leaves it); a manager
 * joins etcd as a learner — it does not count towards quorum until it has caught up and is
 * promoted (`/v1/join/ready`), so a join that fails half-way cannot cost the cluster its quorum.
 */
export class JoinService {
  readonly #o: JoinServiceOptions;

  constructor(o: JoinServiceOptions) {
    this.#o = o;
  }

  routes(): NodeRoute[] {
    return [
      {
        method: 'GET',
        path: '/v1/ca',
        auth: 'none',
        handler: async () => ({ caPem: (await this.#o.ca()).certPem }),
      },
      { method: 'POST', path: '/v1/join', auth: 'none', handler: ({ body }) => this.#join(checkRequest(body)) },
      {
        method: 'POST',
        path: '/v1/promote',
        auth: 'manager',
        handler: ({ caller }) => this.#promoted(caller?.nodeId ?? ''),
      },
      {
        method: 'POST',
        path: '/v1/join/abort',
        auth: 'manager',
        handler: ({ caller }) => this.#abort(caller?.nodeId ?? ''),
      },
      {
        method: 'POST',
        path: '/v1/join/ready',
        auth: 'manager',
        handler: ({ caller }) => this.#promote(caller?.nodeId ?? ''),
      },
    ];
  }

  async #join(req: JoinRequest): Promise<JoinAnswer> {
    const store = this.#o.store();
    const cluster = await store.get<ClusterObject>(keys.cluster);
    if (!cluster) throw unavailable('this manager has no swarm');
    const ca = await this.#o.ca();
    const t = parseJoinToken(req.token);
    const role: NodeRole | undefined = !t
      ? undefined
      : req.token === joinToken(ca.certPem, cluster.value.joinSecrets.manager)
        ? 'manager'
        : req.token === joinToken(ca.certPem, cluster.value.joinSecrets.worker)
          ? 'worker'
          : undefined;
    if (!role) throw invalidParameter(INVALID_TOKEN);
    if (role === 'manager' && !this.#o.peersOverTls()) {
      throw invalidParameter('this swarm was initialized on a loopback address: it cannot take more managers (swarm init --advertise-addr <an address other nodes reach>)');
    }
    let publicKey;
    try {
      publicKey = await csrPublicKey(req.csrPem);
    } catch (err) {
      throw invalidParameter(messageOf(err));
    }
    const nodeId = newObjectId();
    const ip = req.advertiseAddr.replace(/:\d+$/, '');
    const certPem = await signPublicKey(ca, publicKey, { cn: nodeId, role, clusterId: cluster.value.id, ip });
    const node: NodeObject = {
      id: nodeId,
      createdAt: now(),
      updatedAt: now(),
      spec: { Labels: {}, Role: role, Availability: req.availability },
      hostname: req.hostname,
      engineVersion: req.engineVersion,
      nanoCpus: req.nanoCpus,
      memoryBytes: req.memoryBytes,
      ...(req.labels ? { engineLabels: req.labels } : {}),
      addr: ip,
      managerAddr: role === 'manager' ? req.advertiseAddr : '',
      apiAddr: req.advertiseAddr,
      certPem,
      status: { state: 'ready', message: '' },
    };
    const manager = role === 'manager' ? await this.#managerBundle(nodeId, req.advertiseAddr, publicKey, cluster.value.id) : undefined;
    await store.txn([{ key: keys.object('nodes', nodeId), absent: true }], [{ put: keys.object('nodes', nodeId), value: node }]);
    const nodes = await store.list<NodeObject>(keys.prefix('nodes'));
    this.#o.log.info({ node: nodeId, role, addr: req.advertiseAddr }, 'swarm: a node joined');
    return {
      nodeId,
      clusterId: cluster.value.id,
      role,
      caPem: ca.certPem,
      certPem,
      managers: nodes.filter((n) => n.value.spec.Role === 'manager').map((n) => n.value.apiAddr ?? n.value.managerAddr),
      ...(manager ? { manager } : {}),
    };
  }

  /**
   * What a node needs to become a manager: the CA key and the secrets key (kept off the store),
   * a peer certificate, and a place in etcd as a learner.
   */
  async #managerBundle(nodeId: string, advertiseAddr: string, publicKey: CryptoKey, clusterId: string): Promise<NonNullable<JoinAnswer['manager']>> {
    const store = this.#o.store();
    const ca = await this.#o.ca();
    const ip = advertiseAddr.replace(/:\d+$/, '');
    const port = Number(/:(\d+)$/.exec(advertiseAddr)?.[1] ?? 2377);
    const peerUrl = `https://${ip}:${peerPort(port)}`;
    const existing = (await store.members()).find((m) => m.peerUrls.includes(peerUrl));
    const members = existing ? await store.members() : await retryUnhealthy(() => store.addLearner(peerUrl));
    const initialCluster = members
      .map((m) => (m.peerUrls.includes(peerUrl) ? `${nodeId}=${peerUrl}` : m.name ? `${m.name}=${m.peerUrls[0] ?? ''}` : ''))
      .filter(Boolean)
      .join(',');
    return {
      caKeyPem: ca.keyPem,
      secretsKey: await this.#o.secretsKey(),
      peerCertPem: await signPublicKey(ca, publicKey, { cn: PEER_CN, role: 'manager', clusterId, ip }),
      initialCluster,
    };
  }

  /** A worker promoted (`node promote`) asks for its manager's bundle with its new certificate. */
  async #promoted(nodeId: string): Promise<NonNullable<JoinAnswer['manager']>> {
    const store = this.#o.store();
    const n = await store.get<NodeObject>(keys.object('nodes', nodeId));
    if (!n || n.value.spec.Role !== 'manager') throw forbidden('this node is not a manager of the swarm');
    const cluster = await store.get<ClusterObject>(keys.cluster);
    if (!cluster) throw unavailable('this manager has no swarm');
    return this.#managerBundle(nodeId, n.value.apiAddr ?? `${n.value.addr}:2377`, await certPublicKey(n.value.certPem), cluster.value.id);
  }

  /**
   * A manager's join that failed half-way: its learner out of etcd (etcd 3.4 takes one learner
   * at a time, so a stale one would block every later manager join) and its node out of the list.
   */
  async #abort(nodeId: string): Promise<Record<string, never>> {
    const store = this.#o.store();
    const node = await store.get<NodeObject>(keys.object('nodes', nodeId));
    if (!node) return {};
    const m = memberOf(await store.members(), node.value);
    if (m?.isLearner) await retryUnhealthy(() => store.removeMember(m.id));
    await store.txn([{ key: node.key, modRevision: node.modRevision }], [{ del: node.key }]);
    this.#o.log.info({ node: nodeId }, 'swarm: a manager join was abandoned; its learner is removed');
    return {};
  }

  /** The joiner's member has started as a learner: promote it once it has caught up. */
  async #promote(nodeId: string): Promise<{ promoted: boolean }> {
    const store = this.#o.store();
    const deadline = Date.now() + 60_000;
    const node = (await store.get<NodeObject>(keys.object('nodes', nodeId)))?.value;
    if (!node) throw notFound(`node ${nodeId} is not a member of this swarm`);
    for (;;) {
      const m = memberOf(await store.members(), node);
      if (!m) throw notFound(`no etcd member for node ${nodeId}`);
      if (!m.isLearner) return { promoted: true };
      try {
        await store.promote(m.id);
        this.#o.log.info({ node: nodeId }, 'swarm: the new manager caught up and votes now');
        return { promoted: true };
      } catch (err) {
        if (Date.now() > deadline) {
          await this.#abort(nodeId).catch(() => undefined);
          throw unavailable(`the new manager did not catch up: ${messageOf(err)}`, err);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }
}

/**
 * etcd refuses a membership change until the cluster has been healthy for a while after the
 * previous one (`unhealthy cluster`, about 5 s: research/swarm-etcd.md §5): retry that.
 */
export async function retryUnhealthy<T>(f: () => Promise<T>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      const msg = messageOf(err);
      const cause = (err as { cause?: unknown }).cause;
      const all = `${msg} ${cause ? messageOf(cause) : ''}`;
      if (!/unhealthy cluster|too many learner|not started|not ready/i.test(all) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function checkRequest(body: unknown): JoinRequest {
  const b = (body ?? {}) as Record<string, unknown>;
  const s = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : '');
  const n = (k: string) => (typeof b[k] === 'number' && Number.isFinite(b[k]) ? (b[k] as number) : 0);
  const availability = s('availability') || 'active';
  if (!['active', 'pause', 'drain'].includes(availability)) throw invalidParameter(`invalid availability: ${availability}`);
  if (!s('token')) throw invalidParameter(INVALID_TOKEN);
  if (!s('csrPem')) throw invalidParameter('a certificate signing request is required');
  if (!/^[0-9a-fA-F.:]+:\d+$/.test(s('advertiseAddr'))) throw invalidParameter(`invalid advertise address: ${s('advertiseAddr')}`);
  return {
    token: s('token'),
    csrPem: s('csrPem'),
    hostname: s('hostname').slice(0, 255),
    advertiseAddr: s('advertiseAddr'),
    availability: availability as NodeAvailability,
    engineVersion: s('engineVersion').slice(0, 64),
    nanoCpus: n('nanoCpus'),
    memoryBytes: n('memoryBytes'),
    ...labelsOf(b['labels']),
  };
}

/** Engine labels as sent: string values only, a bounded number of them. */
function labelsOf(v: unknown): { labels?: Record<string, string> } {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  const entries = Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string').slice(0, 256);
  return entries.length > 0 ? { labels: Object.fromEntries(entries) } : {};
}

export type { Member };
