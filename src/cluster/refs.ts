import { notFound, invalidParameter } from '../lib/errors.js';
import { keys, type ObjectKind } from './objects.js';
import type { ClusterStore, Entry } from './store.js';
import { notFoundMsg } from './messages.js';

const KIND_NAME: Record<ObjectKind, string> = { nodes: 'node', services: 'service', tasks: 'task', secrets: 'secret', configs: 'config' };

/** An object by full id, then by name, then by unique id prefix (Docker's lookup order). */
export async function resolve<T extends { id: string }>(store: ClusterStore, kind: ObjectKind, ref: string, nameOf?: (v: T) => string): Promise<Entry<T>> {
  const direct = await store.get<T>(keys.object(kind, ref));
  if (direct) return direct;
  const all = await store.list<T>(keys.prefix(kind));
  if (nameOf) {
    const byName = all.filter((e) => nameOf(e.value) === ref);
    if (byName.length === 1) return byName[0] as Entry<T>;
  }
  const byPrefix = all.filter((e) => e.value.id.startsWith(ref));
  if (byPrefix.length === 1 && ref.length > 0) return byPrefix[0] as Entry<T>;
  if (byPrefix.length > 1) throw invalidParameter(`${KIND_NAME[kind]} ${ref} is ambiguous (${byPrefix.length} matches found)`);
  throw notFound(notFoundMsg(KIND_NAME[kind], ref));
}
