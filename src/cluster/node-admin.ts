import { forbidden, invalidParameter } from '../lib/errors.js';
import { memberOf, retryUnhealthy } from './join-service.js';
import { managerWarnings, updateOutOfSequence } from './messages.js';
import { keys, nodeState, now, type NodeAvailability, type NodeObject, type NodeRole } from './objects.js';
import { resolve } from './refs.js';
import type { ClusterStore, Entry } from './store.js';

export type NodeSpecUpdate = { Name?: string; Labels?: Record<string, string>; Role?: NodeRole; Availability?: NodeAvailability };

/**
 * A manager's `docker node ls/inspect/update/promote/demote/rm`, on the store. The refusals
 * are swarmkit's: the last manager is never demoted, a demotion that would cost the quorum is
 * refused, a manager or a node that is up is not removed.
 */
export class NodeAdmin {
  readonly #store: () => ClusterStore;
  readonly #selfId: () => string | undefined;

  /** `store` throws Docker's sentence when this node is not a manager; `selfId` is `self`. */
  constructor(o: { store: () => ClusterStore; selfId: () => string | undefined }) {
    this.#store = o.store;
    this.#selfId = o.selfId;
  }

  async nodes(): Promise<Entry<NodeObject>[]> {
    return this.#store().list<NodeObject>(keys.prefix('nodes'));
  }

  async node(ref: string): Promise<Entry<NodeObject>> {
    const self = this.#selfId();
    return resolve<NodeObject>(this.#store(), 'nodes', ref === 'self' && self ? self : ref, (n) => n.hostname);
  }

  /** The manager-count warnings when the role changed. */
  async updateNode(ref: string, version: number, spec: NodeSpecUpdate): Promise<string[]> {
    const store = this.#store();
    const e = await this.node(ref);
    if (e.modRevision !== version) throw invalidParameter(updateOutOfSequence);
    const role = spec.Role ?? e.value.spec.Role;
    if (role !== 'manager' && e.value.spec.Role === 'manager' && (await this.managerCount()) <= 1) {
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
    return role !== e.value.spec.Role ? managerWarnings(await this.managerCount()) : [];
  }

  async removeNode(ref: string, force = false): Promise<void> {
    const e = await this.node(ref);
    if (e.value.spec.Role === 'manager') {
      throw forbidden(`rpc error: code = FailedPrecondition desc = node ${e.value.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`);
    }
    if (!force && nodeState(e.value) !== 'down') {
      throw forbidden(`rpc error: code = FailedPrecondition desc = node ${e.value.id} is not down and can't be removed`);
    }
    await this.#store().txn([{ key: e.key, modRevision: e.modRevision }], [{ del: e.key }, { del: keys.heartbeat(e.value.id) }]);
  }

  /** Rejects when this node is not a manager or the store does not answer. */
  async managerCount(): Promise<number> {
    return (await this.nodes()).filter((n) => n.value.spec.Role === 'manager').length;
  }

  /** `docker info`'s warnings for the number of managers; none when it cannot be read. */
  async warnings(): Promise<string[]> {
    try {
      return managerWarnings(await this.managerCount());
    } catch {
      return [];
    }
  }

  /**
   * A demotion takes a member out of etcd: refused when the members left that are up would
   * not be a majority of the members left (Docker refuses it the same way).
   */
  async #checkQuorumWithout(nodeId: string): Promise<void> {
    const managers = (await this.nodes()).filter((n) => n.value.spec.Role === 'manager' && n.value.id !== nodeId);
    const up = managers.filter((n) => nodeState(n.value) !== 'down').length;
    if (up < Math.floor(managers.length / 2) + 1) {
      throw invalidParameter('rpc error: code = FailedPrecondition desc = can\'t remove member from the raft: this would result in a loss of quorum');
    }
  }
}
