import { createRequire } from 'node:module';
import type { Etcd3, IOptions } from 'etcd3';
import type * as Grpc from '@grpc/grpc-js';
import type * as Cockatiel from 'cockatiel';
import { BerthError, messageOf, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Change, ClusterStore, Entry, Guard, Member, Write } from './store.js';
import { NO_LEADER } from './messages.js';

/**
 * The etcd client's settings, in one place. etcd3's defaults retry three times behind a circuit
 * breaker with no deadline: on quorum loss a put took 21 s and a linearizable read 28 s to fail
 * (research/swarm-etcd.md §3). So: no retries, a 3 s deadline on every unary call, and
 * `hasleader` metadata, with which a member that has no leader answers "no leader" within
 * milliseconds instead of waiting for its 7 s request timeout.
 */
export const ETCD_CLIENT = {
  callDeadlineMs: 3000,
  dialTimeoutMs: 3000,
} as const;

const requireCjs = createRequire(import.meta.url);

/**
 * etcd3 (with gRPC and protobuf) is loaded on first use only: berthd without swarm mode never
 * pays for it, and it stays outside the bundle (it reads its .proto files next to its code).
 */
function loadClient(): { Etcd3: typeof Etcd3; grpc: typeof Grpc; noop: typeof Cockatiel.noop } {
  const etcd = requireCjs('etcd3') as typeof import('etcd3');
  const grpc = requireCjs('@grpc/grpc-js') as typeof Grpc;
  const cockatiel = requireCjs('cockatiel') as typeof Cockatiel;
  return { Etcd3: etcd.Etcd3, grpc, noop: cockatiel.noop };
}

export class EtcdStore implements ClusterStore {
  readonly #client: Etcd3;
  readonly #log: Logger;

  constructor(endpoint: string, log: Logger) {
    const { Etcd3: Client, grpc, noop } = loadClient();
    this.#log = log;
    // Passed per call: grpc-js drops `interceptors` from shared channel options after the first client.
    const hasLeader: Grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          metadata.set('hasleader', 'true');
          next(metadata, listener);
        },
      });
    const options: IOptions = {
      hosts: endpoint,
      dialTimeout: ETCD_CLIENT.dialTimeoutMs,
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CLIENT.callDeadlineMs, interceptors: [hasLeader] }),
    };
    this.#client = new Client(options);
  }

  async get<T>(key: string): Promise<Entry<T> | undefined> {
    const res = await this.#call(() => this.#client.get(key).exec());
    const kv = res.kvs[0];
    return kv ? toEntry<T>(kv) : undefined;
  }

  async list<T>(prefix: string): Promise<Entry<T>[]> {
    const res = await this.#call(() => this.#client.getAll().prefix(prefix).exec());
    return res.kvs.map((kv) => toEntry<T>(kv));
  }

  async txn(guards: Guard[], writes: Write[]): Promise<{ ok: boolean; revision: number }> {
    const c = this.#client;
    const compares = guards.map((g) =>
      'absent' in g ? ([g.key, 'Create', '==', 0] as const) : 'modRevision' in g ? ([g.key, 'Mod', '==', g.modRevision] as const) : ([g.key, 'Create', '==', g.createRevision] as const),
    );
    const ops = writes.map((w) => ('put' in w ? putOp(w.put, w.value, w.lease) : { request_delete_range: { key: Buffer.from(w.del) } }));
    const res = await this.#call(() => {
      if (compares.length === 0) return c.if(keys0, 'Create', '>', -1).then(...ops).commit();
      const [first, ...rest] = compares;
      const b = c.if(...(first as [string, 'Create' | 'Mod', '==', number]));
      for (const r of rest) b.and(...(r as [string, 'Create' | 'Mod', '==', number]));
      return b.then(...ops).commit();
    });
    return { ok: res.succeeded, revision: Number(res.header.revision) };
  }

  async watch(prefix: string, onChange: (c: Change) => void): Promise<() => Promise<void>> {
    const w = await this.#call(() => this.#client.watch().prefix(prefix).create());
    w.on('put', (kv) => onChange({ type: 'put', key: kv.key.toString() }));
    w.on('delete', (kv) => onChange({ type: 'delete', key: kv.key.toString() }));
    w.on('error', (err) => this.#log.warn({ err: messageOf(err) }, 'cluster store watch error'));
    return async () => {
      await w.cancel().catch(() => undefined);
    };
  }

  async lease(ttlSeconds: number, onLost: () => void): Promise<{ id: string; revoke(): Promise<void> }> {
    const lease = this.#client.lease(ttlSeconds, { autoKeepAlive: true });
    // Listened to once granted: a failed grant also reports the lease lost, and a caller told
    // of both would start over twice (the leader's campaigns then multiplied without end).
    let id: string;
    try {
      id = await this.#call(() => lease.grant());
    } catch (err) {
      await lease.revoke().catch(() => undefined);
      throw err;
    }
    lease.on('lost', onLost);
    return {
      id,
      revoke: async () => {
        await lease.revoke().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  async members(): Promise<Member[]> {
    const r = await this.#call(() => this.#client.cluster.memberList({ linearizable: true }));
    return r.members.map(toMember);
  }

  async addLearner(peerUrl: string): Promise<Member[]> {
    const r = await this.#call(() => this.#client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true }));
    return r.members.map(toMember);
  }

  async promote(memberId: string): Promise<void> {
    await this.#call(() => this.#client.cluster.memberPromote({ ID: memberId }));
  }

  async removeMember(memberId: string): Promise<void> {
    await this.#call(() => this.#client.cluster.memberRemove({ ID: memberId }));
  }

  /** One error for "the cluster cannot decide now", whichever way etcd3 reports it. */
  async #call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof BerthError) throw err;
      const msg = messageOf(err);
      if (/no leader|request timed out|deadline exceeded|DEADLINE_EXCEEDED|context deadline|No connection established|UNAVAILABLE/i.test(msg)) {
        throw unavailable(NO_LEADER, err);
      }
      throw err;
    }
  }
}

function toMember(m: { ID: string; name: string; peerURLs: string[]; isLearner?: boolean }): Member {
  return { id: String(m.ID), name: m.name, peerUrls: m.peerURLs, isLearner: m.isLearner === true };
}

/** Any key: a transaction without guards still needs one comparison (always true). */
const keys0 = '/berth/swarm/';

type RawKv = { key: Buffer; value: Buffer; mod_revision: string; create_revision: string };

function toEntry<T>(kv: RawKv): Entry<T> {
  return { key: kv.key.toString(), value: JSON.parse(kv.value.toString()) as T, modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) };
}

function putOp(key: string, value: unknown, lease?: string) {
  return { request_put: { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)), ...(lease ? { lease } : {}) } };
}
