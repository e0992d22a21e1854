import type { Route } from '../router.js';
import type { Backend, TaskFilter } from '../backend.js';
import { boolParam, intParam, readJson, sendJson } from '../body.js';
import { matchLabel, parseFilters } from '../wire/filters.js';
import { serviceJson, taskJson } from '../wire/swarm-json.js';
import { invalidParameter } from '../../lib/errors.js';
import { serviceLogs } from './service-logs.js';

/** `docker service` and the tasks behind `docker service ps`. */
export function serviceRoutes(b: Backend): Route[] {
  const services = b.swarm.services;
  return [
    {
      method: 'GET',
      path: '/services',
      handler: async ({ res, query }) => {
        const f = parseFilters(query.get('filters'), ['id', 'label', 'mode', 'name']);
        const any = (k: string, ok: (v: string) => boolean) => !f.has(k) || (f.get(k) ?? []).some(ok);
        const list = (await services.list()).filter(
          (s) =>
            any('id', (v) => s.value.id.startsWith(v)) &&
            any('name', (v) => s.value.spec.Name.startsWith(v)) &&
            any('label', (v) => matchLabel(s.value.spec.Labels ?? {}, v)) &&
            any('mode', (v) => (v === 'global') === (s.value.spec.Mode?.Global !== undefined)),
        );
        const status = boolParam(query, 'status') ? await services.status(list) : undefined;
        sendJson(res, 200, list.map((s) => serviceJson(s, status?.get(s.value.id))));
      },
    },
    {
      method: 'POST',
      path: '/services/create',
      handler: async ({ req, res }) => {
        const r = await services.create(await readJson(req));
        sendJson(res, 201, { ID: r.id, ...(r.warnings.length ? { Warnings: r.warnings } : {}) });
      },
    },
    {
      method: 'GET',
      path: '/services/{id}',
      handler: async ({ res, params }) => sendJson(res, 200, serviceJson(await services.get(params['id'] as string), undefined)),
    },
    {
      method: 'POST',
      path: '/services/{id}/update',
      handler: async ({ req, res, params, query }) => {
        const version = intParam(query, 'version');
        if (version === undefined) throw invalidParameter('invalid service version');
        const rollback = query.get('rollback') === 'previous';
        const body = await readJson(req);
        const warnings = await services.update(params['id'] as string, version, body, rollback);
        sendJson(res, 200, { Warnings: warnings.length ? warnings : null });
      },
    },
    {
      method: 'DELETE',
      path: '/services/{id}',
      handler: async ({ res, params }) => {
        await services.remove(params['id'] as string);
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      },
    },
    {
      method: 'GET',
      path: '/services/{id}/logs',
      handler: async (ctx) => {
        const s = await services.get(ctx.params['id'] as string);
        await serviceLogs(b, ctx, await services.tasks({ service: [s.value.id] }));
      },
    },
    {
      method: 'GET',
      path: '/tasks',
      handler: async ({ res, query }) => {
        const f = parseFilters(query.get('filters'), ['id', 'label', 'name', 'node', 'service', 'desired-state', '_up-to-date', 'runtime']);
        const filter: TaskFilter = {
          ...(f.has('service') ? { service: f.get('service') as string[] } : {}),
          ...(f.has('node') ? { node: (f.get('node') as string[]).map((n) => (n === 'self' ? (b.swarm.swarm.nodeId ?? n) : n)) } : {}),
          ...(f.has('id') ? { id: f.get('id') as string[] } : {}),
          ...(f.has('name') ? { name: f.get('name') as string[] } : {}),
          ...(f.has('desired-state') ? { desiredState: f.get('desired-state') as string[] } : {}),
          ...(f.has('_up-to-date') ? { upToDate: true } : {}),
        };
        sendJson(res, 200, (await services.tasks(filter)).map(taskJson));
      },
    },
    {
      method: 'GET',
      path: '/tasks/{id}',
      handler: async ({ res, params }) => sendJson(res, 200, taskJson(await services.task(params['id'] as string))),
    },
    {
      method: 'GET',
      path: '/tasks/{id}/logs',
      handler: async (ctx) => {
        const t = await services.task(ctx.params['id'] as string);
        await serviceLogs(b, ctx, [t]);
      },
    },
  ];
}
