import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import type { EngineEvent } from '../backend.js';
import { parseFilters, matchLabel } from '../wire/filters.js';
import { parseDockerTime } from '../../lib/docker-time.js';

const FILTERS = ['container', 'event', 'image', 'label', 'type', 'volume', 'network', 'daemon', 'scope'] as const;

/** Docker's event JSON: the legacy status/id/from fields only for containers and images. */
function eventJson(e: EngineEvent): Record<string, unknown> {
  const legacy =
    e.type === 'container'
      ? { status: e.action, id: e.id, from: e.attributes['image'] ?? '' }
      : e.type === 'image'
        ? { status: e.action, id: e.id }
        : {};
  return {
    ...legacy,
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.id, Attributes: e.attributes },
    scope: 'local',
    time: Number(e.timeNano / 1_000_000_000n),
    timeNano: Number(e.timeNano),
  };
}

function matcher(raw: string | null): (e: EngineEvent) => boolean {
  const f = parseFilters(raw, FILTERS);
  const any = (key: string, test: (v: string) => boolean) => {
    const vals = f.get(key);
    return !vals || vals.some(test);
  };
  return (e) =>
    any('type', (t) => t === e.type) &&
    any('event', (a) => a === e.action || e.action.startsWith(`${a}:`)) &&
    any('container', (c) => e.type === 'container' && (e.id.startsWith(c) || e.attributes['name'] === c)) &&
    any('image', (i) => e.attributes['image'] === i || (e.type === 'image' && (e.id === i || e.attributes['name'] === i))) &&
    any('volume', (v) => e.type === 'volume' && e.id === v) &&
    any('network', (n) => e.type === 'network' && (e.id === n || e.attributes['name'] === n)) &&
    any('daemon', (d) => e.type === 'daemon' && (e.id === d || e.attributes['name'] === d)) &&
    any('scope', (s) => s === 'local') &&
    (f.get('label') ?? []).every((l) => matchLabel(e.attributes, l));
}

export function eventRoutes(b: Backend): Route[] {
  return [
    {
      method: 'GET',
      path: '/events',
      handler: ({ req, res, query }) => {
        const now = BigInt(Date.now()) * 1_000_000n;
        const sinceRaw = query.get('since');
        const untilRaw = query.get('until');
        const since = sinceRaw ? parseDockerTime(sinceRaw, now) : undefined;
        const until = untilRaw ? parseDockerTime(untilRaw, now) : undefined;
        const match = matcher(query.get('filters'));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        const send = (e: EngineEvent) => {
          if (until !== undefined && e.timeNano > until) return;
          if (match(e)) res.write(`${JSON.stringify(eventJson(e))}\n`);
        };
        // Subscribe before replaying history so nothing falls between the two.
        const live: EngineEvent[] = [];
        let replaying = true;
        const unsubscribe = b.events.subscribe((e) => (replaying ? live.push(e) : send(e)));
        if (since !== undefined) for (const e of b.events.history()) if (e.timeNano >= since) send(e);
        for (const e of live) send(e);
        replaying = false;
        const finish = () => {
          unsubscribe();
          clearTimeout(timer);
          if (!res.writableEnded) res.end();
        };
        let timer: NodeJS.Timeout | undefined;
        if (until !== undefined) {
          const ms = Number((until - BigInt(Date.now()) * 1_000_000n) / 1_000_000n);
          timer = setTimeout(finish, Math.max(0, ms));
        }
        req.socket.on('close', finish);
      },
    },
  ];
}
