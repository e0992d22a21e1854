import { conflict, invalidParameter, notFound } from '../lib/errors.js';
import { checkConstraints } from './constraints.js';
import { nameConflict, notFoundMsg, updateOutOfSequence } from './messages.js';
import { isTerminal, keys, newObjectId, now, type NodeObject, type ServiceObject, type TaskObject } from './objects.js';
import { resolve } from './refs.js';
import { globalNodes } from './scheduler.js';
import { checkServiceSpec, isGlobal, replicas, sameTaskTemplate, type ServiceSpec } from './spec.js';
import type { ClusterStore, Entry } from './store.js';

export type ServiceStatus = { RunningTasks: number; DesiredTasks: number; CompletedTasks: number };
export type TaskFilter = { service?: string[]; node?: string[]; id?: string[]; name?: string[]; desiredState?: string[]; upToDate?: boolean; label?: string[] };

/**
 * Services and tasks as the API manages them: create, update (with rollback to the previous
 * spec), remove, and the task list. Writes are compare-and-swap; the orchestrator turns what
 * is written here into tasks.
 */
export class ServiceApi {
  readonly #store: () => ClusterStore;
  readonly #secretIds: (kind: 'secrets' | 'configs', spec: ServiceSpec) => Promise<void>;

  constructor(store: () => ClusterStore, secretIds: (kind: 'secrets' | 'configs', spec: ServiceSpec) => Promise<void>) {
    this.#store = store;
    this.#secretIds = secretIds;
  }

  async create(raw: unknown): Promise<{ id: string; warnings: string[] }> {
    const spec = checkServiceSpec(raw);
    checkConstraints(spec.TaskTemplate.Placement?.Constraints ?? []);
    await this.#secretIds('secrets', spec);
    await this.#secretIds('configs', spec);
    const store = this.#store();
    const id = newObjectId();
    const svc: ServiceObject = { id, createdAt: now(), updatedAt: now(), spec, specVersion: 1 };
    const nameKey = keys.name('services', spec.Name);
    const r = await store.txn([{ key: nameKey, absent: true }], [{ put: nameKey, value: id }, { put: keys.object('services', id), value: svc }]);
    if (!r.ok) throw conflict(nameConflict('service', spec.Name));
    return { id, warnings: [] };
  }

  list(): Promise<Entry<ServiceObject>[]> {
    return this.#store().list<ServiceObject>(keys.prefix('services'));
  }

  get(ref: string): Promise<Entry<ServiceObject>> {
    return resolve<ServiceObject>(this.#store(), 'services', ref, (s) => s.spec.Name);
  }

  /**
   * Update to `raw`, or (`rollback`) back to the previous spec. A new task template (or a
   * bumped ForceUpdate) starts a rolling update; a replica count alone does not.
   */
  async update(ref: string, version: number, raw: unknown, rollback: boolean): Promise<string[]> {
    const store = this.#store();
    const e = await this.get(ref);
    if (e.modRevision !== version) throw invalidParameter(updateOutOfSequence);
    const s = e.value;
    let spec: ServiceSpec;
    if (rollback) {
      if (!s.previousSpec) throw invalidParameter('rpc error: code = FailedPrecondition desc = service ' + s.id + ' does not have a previous spec');
      spec = s.previousSpec;
    } else {
      spec = checkServiceSpec(raw);
      checkConstraints(spec.TaskTemplate.Placement?.Constraints ?? []);
      await this.#secretIds('secrets', spec);
      await this.#secretIds('configs', spec);
    }
    if (spec.Name !== s.spec.Name) throw invalidParameter('rpc error: code = Unimplemented desc = renaming services is not supported');
    if (isGlobal(spec) !== isGlobal(s.spec)) throw invalidParameter('rpc error: code = Unimplemented desc = service mode change is not allowed');
    const changed = !sameTaskTemplate(spec.TaskTemplate, s.spec.TaskTemplate) || JSON.stringify(spec.EndpointSpec ?? {}) !== JSON.stringify(s.spec.EndpointSpec ?? {});
    const next: ServiceObject = {
      ...s,
      spec,
      previousSpec: s.spec,
      updatedAt: now(),
      specVersion: changed ? s.specVersion + 1 : s.specVersion,
      ...(changed
        ? { updateStatus: { state: rollback ? 'rollback_started' : 'updating', startedAt: now(), message: rollback ? 'manually requested rollback' : 'update in progress' } as const }
        : {}),
    };
    if (!changed && s.updateStatus) next.updateStatus = s.updateStatus;
    const r = await store.txn([{ key: e.key, modRevision: e.modRevision }], [{ put: e.key, value: next }]);
    if (!r.ok) throw invalidParameter(updateOutOfSequence);
    return [];
  }

  /** The service goes at once; its tasks are removed by their nodes (the orchestrator asks). */
  async remove(ref: string): Promise<void> {
    const store = this.#store();
    const e = await this.get(ref);
    // The first tasks are told at once; the orchestrator tells the rest of a large service
    // (a transaction holds at most 128 operations).
    const tasks = (await store.list<TaskObject>(keys.prefix('tasks'))).filter((t) => t.value.serviceId === e.value.id).slice(0, 60);
    await store.txn(
      [{ key: e.key, modRevision: e.modRevision }],
      [{ del: e.key }, { del: keys.name('services', e.value.spec.Name) }, ...tasks.map((t) => ({ put: t.key, value: { ...t.value, desiredState: 'remove', updatedAt: now() } }))],
    );
  }

  async status(services: Entry<ServiceObject>[]): Promise<Map<string, ServiceStatus>> {
    const store = this.#store();
    const [tasks, nodes] = await Promise.all([store.list<TaskObject>(keys.prefix('tasks')), store.list<NodeObject>(keys.prefix('nodes'))]);
    const out = new Map<string, ServiceStatus>();
    for (const s of services) {
      const mine = tasks.filter((t) => t.value.serviceId === s.value.id);
      const desired = isGlobal(s.value.spec)
        ? mine.filter((t) => t.value.desiredState === 'running').length || globalNodes(nodes.map((n) => n.value), s.value.spec.TaskTemplate).filter((n) => n.spec.Availability === 'active').length
        : replicas(s.value.spec);
      out.set(s.value.id, {
        RunningTasks: mine.filter((t) => t.value.status.state === 'running' && t.value.desiredState === 'running').length,
        DesiredTasks: desired,
        CompletedTasks: mine.filter((t) => t.value.status.state === 'complete').length,
      });
    }
    return out;
  }

  async tasks(f: TaskFilter): Promise<Entry<TaskObject>[]> {
    const store = this.#store();
    let tasks = await store.list<TaskObject>(keys.prefix('tasks'));
    if (f.service?.length) {
      const services = await this.list();
      const ids = new Set(services.filter((s) => f.service?.some((r) => s.value.id === r || s.value.spec.Name === r || s.value.id.startsWith(r))).map((s) => s.value.id));
      tasks = tasks.filter((t) => ids.has(t.value.serviceId));
    }
    if (f.upToDate) {
      const versions = new Map((await this.list()).map((s) => [s.value.id, s.value.specVersion]));
      tasks = tasks.filter((t) => versions.get(t.value.serviceId) === t.value.specVersion);
    }
    if (f.node?.length) tasks = tasks.filter((t) => f.node?.some((n) => t.value.nodeId === n || t.value.nodeId.startsWith(n) || n === 'self'));
    if (f.id?.length) tasks = tasks.filter((t) => f.id?.some((i) => t.value.id.startsWith(i)));
    if (f.name?.length) tasks = tasks.filter((t) => f.name?.some((n) => `${t.value.serviceName}.${t.value.slot || t.value.nodeId}`.startsWith(n)));
    if (f.desiredState?.length) {
      tasks = tasks.filter((t) => f.desiredState?.some((d) => (d === 'accepted' ? t.value.desiredState === 'running' && !isTerminal(t.value.status.state) : t.value.desiredState === d)));
    }
    // Tasks being removed are gone as far as users can tell.
    return tasks.filter((t) => t.value.desiredState !== 'remove');
  }

  async task(ref: string): Promise<Entry<TaskObject>> {
    const e = await resolve<TaskObject>(this.#store(), 'tasks', ref);
    if (e.value.desiredState === 'remove') throw notFound(notFoundMsg('task', ref));
    return e;
  }
}
