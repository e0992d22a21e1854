import { conflict, invalidParameter } from '../lib/errors.js';
import { secretExists, updateOutOfSequence } from './messages.js';
import { keys, newObjectId, now, type SecretObject, type TaskObject } from './objects.js';
import { resolve } from './refs.js';
import type { SecretBox } from './secret-box.js';
import type { ServiceSpec } from './spec.js';
import type { ClusterStore, Entry } from './store.js';

type Kind = 'secrets' | 'configs';
const ONE: Record<Kind, string> = { secrets: 'secret', configs: 'config' };
/** swarmkit's limits: 500 KiB of data, names of at most 64 characters. */
const MAX_DATA = 500 * 1024;

/**
 * Secrets and configs: named blobs services reference. A secret's data is sealed with the
 * cluster key before it reaches the store and is never returned by the API; a config's is
 * stored and returned as given.
 */
export class SecretApi {
  readonly #store: () => ClusterStore;
  readonly #box: () => Promise<SecretBox>;

  constructor(store: () => ClusterStore, box: () => Promise<SecretBox>) {
    this.#store = store;
    this.#box = box;
  }

  async create(kind: Kind, body: unknown): Promise<string> {
    // First, as dockerd: a node that is not a manager says so (not that it has no key) before looking at the body.
    const store = this.#store();
    if (typeof body !== 'object' || body === null) throw invalidParameter('invalid JSON: expected an object');
    const b = body as { Name?: unknown; Labels?: unknown; Data?: unknown } & Record<string, unknown>;
    if (typeof b.Name !== 'string' || !/^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,62}[a-zA-Z0-9])?$/.test(b.Name)) {
      throw invalidParameter(`rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]`);
    }
    const data = Buffer.from(typeof b.Data === 'string' ? b.Data : '', 'base64');
    if (kind === 'secrets' && b['Driver'] === undefined && data.length === 0) throw invalidParameter('rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes');
    if (data.length > MAX_DATA) throw invalidParameter(`rpc error: code = InvalidArgument desc = ${ONE[kind]} data must be larger than 0 and less than 512000 bytes`);
    const id = newObjectId();
    const { Data: _data, ...spec } = b;
    const obj: SecretObject = {
      id,
      createdAt: now(),
      updatedAt: now(),
      spec: { ...spec, Name: b.Name, Labels: (b.Labels as Record<string, string> | undefined) ?? {} },
      data: kind === 'secrets' ? (await this.#box()).seal(data, id) : data.toString('base64'),
    };
    const nameKey = keys.name(kind, b.Name);
    const r = await store.txn([{ key: nameKey, absent: true }], [{ put: nameKey, value: id }, { put: keys.object(kind, id), value: obj }]);
    if (!r.ok) throw conflict(secretExists(ONE[kind], b.Name));
    return id;
  }

  list(kind: Kind): Promise<Entry<SecretObject>[]> {
    return this.#store().list<SecretObject>(keys.prefix(kind));
  }

  get(kind: Kind, ref: string): Promise<Entry<SecretObject>> {
    return resolve<SecretObject>(this.#store(), kind, ref, (s) => s.spec.Name);
  }

  /** Only labels may change (Docker's rule): the data a running task has must stay the same. */
  async update(kind: Kind, ref: string, version: number, body: { Labels?: Record<string, string>; Data?: string }): Promise<void> {
    const e = await this.get(kind, ref);
    if (e.modRevision !== version) throw invalidParameter(updateOutOfSequence);
    if (body.Data !== undefined && kind === 'configs' && body.Data !== e.value.data) throw invalidParameter('rpc error: code = InvalidArgument desc = only updates to Labels are allowed');
    const r = await this.#store().txn([{ key: e.key, modRevision: e.modRevision }], [{ put: e.key, value: { ...e.value, spec: { ...e.value.spec, Labels: body.Labels ?? {} }, updatedAt: now() } }]);
    if (!r.ok) throw invalidParameter(updateOutOfSequence);
  }

  async remove(kind: Kind, ref: string): Promise<void> {
    const store = this.#store();
    const e = await this.get(kind, ref);
    const users = new Set<string>();
    for (const t of await store.list<TaskObject>(keys.prefix('tasks'))) {
      if (t.value.desiredState !== 'running') continue;
      const refs = kind === 'secrets' ? t.value.spec.ContainerSpec?.Secrets : t.value.spec.ContainerSpec?.Configs;
      if (refs?.some((r) => (kind === 'secrets' ? r.SecretID : r.ConfigID) === e.value.id)) users.add(t.value.serviceName);
    }
    if (users.size > 0) {
      throw invalidParameter(`rpc error: code = InvalidArgument desc = ${ONE[kind]} '${e.value.spec.Name}' is in use by the following service: ${[...users].join(', ')}`);
    }
    await store.txn([{ key: e.key, modRevision: e.modRevision }], [{ del: e.key }, { del: keys.name(kind, e.value.spec.Name) }]);
  }

  /** A service's references must name existing objects (by id, as the CLI sends them). */
  async checkRefs(kind: Kind, spec: ServiceSpec): Promise<void> {
    const refs = kind === 'secrets' ? spec.TaskTemplate.ContainerSpec?.Secrets : spec.TaskTemplate.ContainerSpec?.Configs;
    for (const r of refs ?? []) {
      const id = kind === 'secrets' ? r.SecretID : r.ConfigID;
      const name = kind === 'secrets' ? r.SecretName : r.ConfigName;
      const e = id ? await this.#store().get<SecretObject>(keys.object(kind, id)) : undefined;
      if (!e) throw invalidParameter(`rpc error: code = InvalidArgument desc = ${ONE[kind]} reference ${id ?? name} not found`);
    }
  }
}
