import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { intParam, readJson, sendJson } from '../body.js';
import { matchLabel, parseFilters } from '../wire/filters.js';
import { secretJson } from '../wire/swarm-json.js';
import { invalidParameter } from '../../lib/errors.js';

/** `docker secret` and `docker config`: the same routes, a secret's data never shown. */
export function secretRoutes(b: Backend): Route[] {
  const api = b.swarm.secrets;
  return (['secrets', 'configs'] as const).flatMap((kind): Route[] => [
    {
      method: 'GET',
      path: `/${kind}`,
      handler: async ({ res, query }) => {
        const f = parseFilters(query.get('filters'), ['id', 'label', 'name', 'names']);
        const any = (k: string, ok: (v: string) => boolean) => !f.has(k) || (f.get(k) ?? []).some(ok);
        const list = (await api.list(kind)).filter(
          (e) =>
            any('id', (v) => e.value.id.startsWith(v)) &&
            any('name', (v) => e.value.spec.Name.startsWith(v)) &&
            any('names', (v) => e.value.spec.Name === v) &&
            any('label', (v) => matchLabel(e.value.spec.Labels, v)),
        );
        sendJson(res, 200, list.map((e) => secretJson(e, kind === 'configs')));
      },
    },
    {
      method: 'POST',
      path: `/${kind}/create`,
      handler: async ({ req, res }) => sendJson(res, 201, { ID: await api.create(kind, await readJson(req)) }),
    },
    {
      method: 'GET',
      path: `/${kind}/{id}`,
      handler: async ({ res, params }) => sendJson(res, 200, secretJson(await api.get(kind, params['id'] as string), kind === 'configs')),
    },
    {
      method: 'POST',
      path: `/${kind}/{id}/update`,
      handler: async ({ req, res, params, query }) => {
        const version = intParam(query, 'version');
        if (version === undefined) throw invalidParameter(`invalid ${kind === 'secrets' ? 'secret' : 'config'} version`);
        await api.update(kind, params['id'] as string, version, ((await readJson(req)) ?? {}) as { Labels?: Record<string, string> });
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      },
    },
    {
      method: 'DELETE',
      path: `/${kind}/{id}`,
      handler: async ({ res, params }) => {
        await api.remove(kind, params['id'] as string);
        res.writeHead(204);
        res.end();
      },
    },
  ]);
}
