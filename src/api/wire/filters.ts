import { invalidParameter } from '../../lib/errors.js';

/**
 * Docker's `filters` query parameter: JSON mapping a filter name to its values, either as a
 * list (`{"status":["running"]}`) or, from older clients, as a set (`{"status":{"running":true}}`).
 */
export function parseFilters(raw: string | null, allowed: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidParameter(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidParameter(`invalid filter: ${raw}`);
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw invalidParameter(`invalid filter '${k}'`);
    let values: string[];
    if (Array.isArray(v)) values = v.map(String);
    else if (typeof v === 'object' && v !== null) values = Object.entries(v).filter(([, on]) => on).map(([x]) => x);
    else throw invalidParameter(`invalid filter: ${raw}`);
    out.set(k, values);
  }
  return out;
}

/** `label=key` or `label=key=value` against a label map. */
export function matchLabel(labels: Record<string, string>, spec: string): boolean {
  const eq = spec.indexOf('=');
  if (eq < 0) return spec in labels;
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}
