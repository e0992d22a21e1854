import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { boolParam, readJson, sendJson, sendNoContent } from '../body.js';
import { parseVolumeCreate, parseVolumeListFilters, parseVolumePruneFilters, volumeJson } from '../wire/volume-json.js';

export function volumeRoutes(b: Backend): Route[] {
  return [
    {
      method: 'GET',
      path: '/volumes',
      handler: ({ res, query }) => {
        const list = b.volumes.list(parseVolumeListFilters(query.get('filters')));
        sendJson(res, 200, { Volumes: list.map(volumeJson), Warnings: [] });
      },
    },
    {
      method: 'POST',
      path: '/volumes/create',
      handler: async ({ req, res }) => {
        const v = await b.volumes.create(parseVolumeCreate(await readJson(req)));
        sendJson(res, 201, volumeJson(v));
      },
    },
    {
      method: 'POST',
      path: '/volumes/prune',
      handler: async ({ res, query, version }) => {
        const r = await b.volumes.prune(parseVolumePruneFilters(query.get('filters'), version));
        sendJson(res, 200, { VolumesDeleted: r.deleted, SpaceReclaimed: r.reclaimed });
      },
    },
    {
      method: 'GET',
      path: '/volumes/{name}',
      handler: ({ res, params }) => {
        sendJson(res, 200, volumeJson(b.volumes.get(params['name'] as string)));
      },
    },
    {
      method: 'DELETE',
      path: '/volumes/{name}',
      handler: async ({ res, params, query }) => {
        await b.volumes.remove(params['name'] as string, { force: boolParam(query, 'force') });
        sendNoContent(res);
      },
    },
  ];
}
