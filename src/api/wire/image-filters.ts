import type { ImageInfo } from '../backend.js';
import { invalidParameter } from '../../lib/errors.js';
import { parseDockerTime } from '../../lib/docker-time.js';
import { matchLabel, parseFilters } from './filters.js';

/** Filters of `GET /images/json` (moby `daemon/images/images.go`). */
const LIST_FILTERS = ['dangling', 'label', 'reference', 'before', 'since'] as const;
/** Filters of `POST /images/prune` (moby `image_prune.go`). */
const PRUNE_FILTERS = ['dangling', 'label', 'label!', 'until'] as const;

type Lookup = (refOrId: string) => ImageInfo;

/**
 * `docker image ls --filter`: each filter narrows the list; `reference` also narrows the
 * names shown to those that match, as dockerd does. Returns the images to show.
 */
export function filterImageList(list: ImageInfo[], raw: string | null, resolve: Lookup): ImageInfo[] {
  const f = parseFilters(raw, LIST_FILTERS);
  const dangling = danglingFilter(f.get('dangling'));
  const labels = f.get('label') ?? [];
  const before = (f.get('before') ?? []).map((r) => createdMs(resolve(r)));
  const since = (f.get('since') ?? []).map((r) => createdMs(resolve(r)));
  const patterns = f.get('reference');
  for (const p of patterns ?? []) globMatch(p, ''); // reject a malformed pattern even on an empty list
  const out: ImageInfo[] = [];
  for (const i of list) {
    if (dangling !== undefined && (i.repoTags.length === 0 && i.repoDigests.length === 0) !== dangling) continue;
    if (!labels.every((l) => matchLabel(labelsOf(i), l))) continue;
    const t = createdMs(i);
    if (!before.every((b) => t < b) || !since.every((s) => t > s)) continue;
    if (patterns) {
      const tags = i.repoTags.filter((tag) => patterns.some((p) => referenceMatch(p, tag)));
      // A digest reference matches by its name (dockerd lists it under RepoDigests).
      const digests = i.repoDigests.filter((r) => patterns.some((p) => referenceMatch(p, r.slice(0, r.indexOf('@')))));
      if (tags.length === 0 && digests.length === 0) continue;
      out.push({ ...i, repoTags: tags, repoDigests: digests });
    } else out.push(i);
  }
  return out;
}

/** `docker image prune --filter`: whether `all` (dangling=false) and which images qualify. */
export function pruneSelection(raw: string | null, nowMs = Date.now()): { all: boolean; select: (i: ImageInfo) => boolean } {
  const f = parseFilters(raw, PRUNE_FILTERS);
  const dangling = danglingFilter(f.get('dangling'));
  const labels = f.get('label') ?? [];
  const notLabels = f.get('label!') ?? [];
  const untilValues = f.get('until') ?? [];
  if (untilValues.length > 1) throw invalidParameter('more than one until filter specified');
  const until = untilValues[0];
  const untilMs = until === undefined ? undefined : Number(parseDockerTime(until, BigInt(nowMs) * 1_000_000n) / 1_000_000n);
  return {
    all: dangling === false,
    select: (i) =>
      (untilMs === undefined || createdMs(i) < untilMs) &&
      labels.every((l) => matchLabel(labelsOf(i), l)) &&
      !notLabels.some((l) => matchLabel(labelsOf(i), l)),
  };
}

/** `dangling` takes true or false only (dockerd: `invalid filter 'dangling=maybe'`). */
function danglingFilter(values: string[] | undefined): boolean | undefined {
  if (values === undefined) return undefined;
  if (values.length === 1 && (values[0] === 'true' || values[0] === '1')) return true;
  if (values.length === 1 && (values[0] === 'false' || values[0] === '0')) return false;
  throw invalidParameter(`invalid filter 'dangling=${values.join(',')}'`);
}

function labelsOf(i: ImageInfo): Record<string, string> {
  return (i.image.config.config?.['Labels'] as Record<string, string> | null | undefined) ?? {};
}

function createdMs(i: ImageInfo): number {
  const t = Date.parse(i.image.config.created ?? '');
  return Number.isFinite(t) ? t : 0;
}

/** distribution/reference `FamiliarMatch`: the pattern against `name:tag`, then against `name`. */
function referenceMatch(pattern: string, tag: string): boolean {
  const colon = tag.lastIndexOf(':');
  const name = colon > tag.lastIndexOf('/') ? tag.slice(0, colon) : tag;
  return globMatch(pattern, tag) || globMatch(pattern, name);
}

/**
 * Go's `path.Match`: `*` is any run of non-`/` characters, `?` one non-`/` character,
 * `[…]` a class (`^` negates, `a-z` ranges), `\` escapes. A malformed pattern is an error.
 */
export function globMatch(pattern: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) throw badPattern(pattern);
      re += escapeRe(next);
    } else if (c === '[') {
      const { cls, end } = charClass(pattern, i);
      re += cls;
      i = end;
    } else re += escapeRe(c);
  }
  try {
    return new RegExp(`${re}$`).test(s);
  } catch {
    throw badPattern(pattern);
  }
}

/** `[…]` from `start`: the regex class and the index of its closing `]`. */
function charClass(pattern: string, start: number): { cls: string; end: number } {
  let j = start + 1;
  let cls = '[';
  if (pattern[j] === '^') {
    cls += '^';
    j++;
  }
  for (let first = true; ; j++, first = false) {
    const ch = pattern[j];
    if (ch === undefined) throw badPattern(pattern);
    if (ch === ']' && !first) return { cls: `${cls}]`, end: j };
    if (ch === ']') throw badPattern(pattern);
    if (ch === '\\') {
      const esc = pattern[++j];
      if (esc === undefined) throw badPattern(pattern);
      cls += escapeRe(esc);
    } else cls += ch === '-' ? '-' : escapeRe(ch);
  }
}

function badPattern(pattern: string): Error {
  return invalidParameter(`syntax error in pattern: ${pattern}`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
