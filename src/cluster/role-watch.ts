import { messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { callNode, type Tls } from './node-api.js';
import { keys, type NodeObject, type NodeRole } from './objects.js';
import type { ClusterStore, Entry } from './store.js';

/** What a manager answers a node asking its own role (the node API's `GET /v1/role`). */
export type RoleAnswer = { role: NodeRole; managers: string[] };

/** The node APIs of the managers among `nodes`, but `self`'s. */
export function otherManagers(nodes: Entry<NodeObject>[], self: string): string[] {
  return nodes.filter((n) => n.value.spec.Role === 'manager' && n.value.id !== self).map((n) => n.value.apiAddr ?? n.value.managerAddr);
}

/**
 * This node's role as the first of `managers` to answer reads it in its store (a
 * linearizable read: the quorum's word); undefined when none answers. All are asked at once:
 * a cut-off node would otherwise wait out one timeout per manager.
 */
export async function askRole(managers: string[], tls: Tls, log: Logger): Promise<RoleAnswer | undefined> {
  const asks = managers.map((remote) =>
    callNode<RoleAnswer>(remote, 'GET', '/v1/role', undefined, { tls, timeoutMs: 5000 }).catch((err: unknown) => {
      log.debug({ err: messageOf(err), remote }, 'swarm: a manager did not tell this node its role');
      throw err;
    }),
  );
  return asks.length === 0 ? undefined : Promise.any(asks).catch(() => undefined);
}

export type RoleWatchOptions = {
  store: ClusterStore;
  nodeId: string;
  /** The node's certificate; undefined on a one-node swarm (no node API to ask). */
  tls: () => Tls | undefined;
  /** The other managers as last heard, and where that is kept (the node's state file). */
  managers: () => string[];
  setManagers: (managers: string[]) => Promise<void>;
  /** How long the store has refused this node's heartbeats (0: it takes them). */
  storeFailingForMs: () => number;
  periodMs: () => number;
  /** This node was demoted; `managers` are the ones it works for now. Called once. */
  onDemoted: (managers: string[]) => void;
  log: Logger;
};

/**
 * A manager learns of its demotion in two ways. Its store shows its node object turned
 * worker: the usual way. Or its store stops answering: the manager that demoted it also took
 * its member out of etcd, and when that member was behind (a busy machine) it never received
 * the change, only its removal; the node then asks the other managers what it is. A store
 * that fails because the quorum is lost or this node is cut off gets no answer from them
 * either, and the node stays a manager.
 */
export class RoleWatch {
  readonly #o: RoleWatchOptions;
  #unwatch: (() => Promise<void>) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #asking = false;
  #demoted = false;

  constructor(o: RoleWatchOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    this.#unwatch = await this.#o.store.watch(keys.prefix('nodes'), () => void this.#read());
    await this.#read();
    this.#schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#unwatch?.();
    this.#unwatch = undefined;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      void this.#check().finally(() => {
        if (this.#unwatch) this.#schedule();
      });
    }, this.#o.periodMs());
    this.#timer.unref();
  }

  /** The nodes as the store has them: the managers kept, a demotion acted on. */
  async #read(): Promise<void> {
    let nodes: Entry<NodeObject>[];
    try {
      nodes = await this.#o.store.list<NodeObject>(keys.prefix('nodes'));
    } catch {
      return;
    }
    const me = nodes.find((n) => n.value.id === this.#o.nodeId);
    const managers = otherManagers(nodes, this.#o.nodeId);
    if (managers.join(',') !== this.#o.managers().join(',')) {
      await this.#o.setManagers(managers).catch((err: unknown) => this.#o.log.warn({ err: messageOf(err) }, 'swarm: cannot record the managers'));
    }
    if (me?.value.spec.Role === 'worker') this.#demotedTo(managers);
  }

  /** A period of refused heartbeats, and the other managers are asked (a cheap question). */
  async #check(): Promise<void> {
    const tls = this.#o.tls();
    if (this.#asking || this.#demoted || !tls || this.#o.storeFailingForMs() < this.#o.periodMs()) return;
    this.#asking = true;
    try {
      const a = await askRole(this.#o.managers(), tls, this.#o.log);
      if (a?.role === 'worker') {
        this.#o.log.warn('swarm: this node\'s store stopped answering and the other managers say it was demoted');
        this.#demotedTo(a.managers);
      }
    } finally {
      this.#asking = false;
    }
  }

  #demotedTo(managers: string[]): void {
    if (this.#demoted || !this.#unwatch) return;
    this.#demoted = true;
    this.#o.onDemoted(managers);
  }
}
