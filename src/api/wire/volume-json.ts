import type { VolumeCreateRequest, VolumeInfo, VolumeListFilter, VolumePruneFilter } from '../backend.js';
import { invalidParameter, unavailable } from '../../lib/errors.js';
import { parseFilters } from './filters.js';

/** A volume as `GET /volumes/{name}` and `GET /volumes` show it (moby's volume.Volume). */
export function volumeJson(v: VolumeInfo): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: v.options,
    Scope: v.scope,
  };
}

const isStrMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

/** The body of `POST /volumes/create` (`{"Name","Driver","DriverOpts","Labels"}`). */
export function parseVolumeCreate(body: unknown): VolumeCreateRequest {
  if (body === undefined) throw invalidParameter('invalid JSON: got EOF while reading request body');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidParameter('json: cannot unmarshal into Go value of type volume.CreateOptions');
  }
  const b = body as Record<string, unknown>;
  const bad = (k: string, type: string) => invalidParameter(`json: cannot unmarshal ${typeof b[k]} into Go struct field CreateOptions.${k} of type ${type}`);
  for (const k of ['Name', 'Driver']) if (b[k] !== undefined && b[k] !== null && typeof b[k] !== 'string') throw bad(k, 'string');
  for (const k of ['DriverOpts', 'Labels']) if (b[k] !== undefined && b[k] !== null && !isStrMap(b[k])) throw bad(k, 'map[string]string');
  if (b['ClusterVolumeSpec'] !== undefined && b['ClusterVolumeSpec'] !== null) {
    throw unavailable(
      'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
    );
  }
  return {
    ...(b['Name'] ? { name: b['Name'] as string } : {}),
    ...(b['Driver'] ? { driver: b['Driver'] as string } : {}),
    labels: (b['Labels'] as Record<string, string> | null | undefined) ?? null,
    options: (b['DriverOpts'] as Record<string, string> | null | undefined) ?? null,
  };
}

/** Go's strconv.ParseBool. */
function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** `GET /volumes?filters=`: dangling, name, label, driver. */
export function parseVolumeListFilters(raw: string | null): VolumeListFilter {
  const f = parseFilters(raw, ['dangling', 'name', 'label', 'driver']);
  const out: VolumeListFilter = {};
  const dangling = f.get('dangling');
  if (dangling) {
    const isTrue = dangling.includes('1') || dangling.includes('true');
    const isFalse = dangling.includes('0') || dangling.includes('false');
    if (isTrue === isFalse) throw invalidParameter(`invalid filter 'dangling${dangling.length ? `=[${dangling.join(' ')}]` : ''}'`);
    out.dangling = isTrue;
  }
  if (f.get('name')) out.names = f.get('name') as string[];
  if (f.get('label')) out.labels = f.get('label') as string[];
  if (f.get('driver')) out.drivers = f.get('driver') as string[];
  return out;
}

/**
 * `POST /volumes/prune?filters=`: label, label!, all. Before API 1.42 every unused volume
 * was pruned; from 1.42 only anonymous ones unless `all=true` (the CLI's `-a`).
 */
export function parseVolumePruneFilters(raw: string | null, version: number): VolumePruneFilter {
  const f = parseFilters(raw, ['label', 'label!', 'all']);
  const all = f.get('all') ?? [];
  if (all.length > 1) throw invalidParameter(`invalid filter 'all=[${all.join(' ')}]': only one value is expected`);
  let wantAll = version < 1042;
  if (all.length === 1) {
    const v = parseGoBool(all[0] as string);
    if (v === undefined) throw invalidParameter(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(all[0])}: invalid syntax`);
    wantAll = wantAll || v;
  }
  return { all: wantAll, labels: f.get('label') ?? [], notLabels: f.get('label!') ?? [] };
}
