import type { ContainerRecord } from '../backend.js';
import { invalidParameter, notFound } from '../../lib/errors.js';
import { parseFilters, matchLabel } from './filters.js';
import { parseDockerTime } from '../../lib/docker-time.js';

const ALLOWED = ['status', 'name', 'id', 'label', 'ancestor', 'exited', 'before', 'since', 'volume', 'health'] as const;
const HEALTH = ['starting', 'healthy', 'unhealthy', 'none'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** `GET /containers/json` filtering, with Docker's semantics (values of one filter are OR-ed). */
export function filterContainers(all: ContainerRecord[], raw: string | null, includeStopped: boolean): ContainerRecord[] {
  const f = parseFilters(raw, ALLOWED);
  for (const s of f.get('status') ?? []) {
    if (!STATUSES.includes(s)) throw invalidParameter(`invalid filter 'status=${s}'`);
  }
  for (const h of f.get('health') ?? []) {
    if (!HEALTH.includes(h)) throw invalidParameter(`Unrecognised filter value for health: ${h}`);
  }
  for (const e of f.get('exited') ?? []) {
    if (!/^-?\d+$/.test(e)) throw invalidParameter(`invalid filter 'exited=${e}'`);
  }
  const explicitStatus = f.has('status') || f.has('exited');
  // before/since name a container: keep those created before (after) it.
  const created = (key: 'before' | 'since') => {
    const ref = f.get(key)?.[0];
    if (ref === undefined) return undefined;
    const c = all.find((x) => x.id === ref || x.name === ref.replace(/^\//, '')) ?? all.find((x) => x.id.startsWith(ref));
    if (!c) throw notFound(`No such container: ${ref}`);
    return c.created;
  };
  const before = created('before');
  const since = created('since');
  return all.filter((r) => {
    const status = r.state.status;
    if (!includeStopped && !explicitStatus && status !== 'running' && status !== 'paused' && status !== 'restarting') return false;
    const st = f.get('status');
    if (st && !st.includes(status)) return false;
    const ex = f.get('exited');
    if (ex && (status !== 'exited' || !ex.map(Number).includes(r.exitCode))) return false;
    const names = f.get('name');
    if (names && !names.some((n) => safeRegex(n).test(r.name) || safeRegex(n).test(`/${r.name}`))) return false;
    const ids = f.get('id');
    if (ids && !ids.some((i) => r.id.startsWith(i))) return false;
    const labels = f.get('label');
    if (labels && !labels.every((l) => matchLabel(r.spec.labels, l))) return false;
    const anc = f.get('ancestor');
    if (anc && !anc.some((a) => a === r.spec.image || r.imageId === a || r.imageId.slice(7).startsWith(a.replace(/^sha256:/, '')) || `${r.spec.image}:latest` === a)) return false;
    if (before !== undefined && r.created >= before) return false;
    if (since !== undefined && r.created <= since) return false;
    const health = f.get('health');
    if (health && !health.includes(r.health?.status ?? 'none')) return false;
    const vols = f.get('volume');
    if (vols && !vols.some((v) => r.spec.mounts.some((m) => m.name === v || m.source === v || m.destination === v))) return false;
    return true;
  });
}

function safeRegex(s: string): RegExp {
  try {
    return new RegExp(s);
  } catch {
    throw invalidParameter(`invalid filter 'name=${s}'`);
  }
}

const PRUNE_FILTERS = ['until', 'label', 'label!'] as const;

/** `POST /containers/prune` filters: created before `until`, with (or without) labels. */
export function containerPruneSelection(raw: string | null, nowMs = Date.now()): (r: ContainerRecord) => boolean {
  const f = parseFilters(raw, PRUNE_FILTERS);
  const untilValues = f.get('until') ?? [];
  if (untilValues.length > 1) throw invalidParameter('more than one until filter specified');
  const until = untilValues[0];
  const untilMs = until === undefined ? undefined : Number(parseDockerTime(until, BigInt(nowMs) * 1_000_000n) / 1_000_000n);
  const labels = f.get('label') ?? [];
  const notLabels = f.get('label!') ?? [];
  return (r) =>
    (untilMs === undefined || Date.parse(r.created) < untilMs) &&
    labels.every((l) => matchLabel(r.spec.labels, l)) &&
    !notLabels.some((l) => matchLabel(r.spec.labels, l));
}
