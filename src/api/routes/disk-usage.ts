import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { sendJson } from '../body.js';
import { imageSummaryJson } from '../wire/image-json.js';
import { summaryJson } from '../wire/container-json.js';
import { volumeJson } from '../wire/volume-json.js';
import { invalidParameter } from '../../lib/errors.js';
import { displayImage } from './containers.js';

const TYPES = ['container', 'image', 'volume', 'build-cache'] as const;

/**
 * `GET /system/df` (`docker system df`): what images, containers and volumes take on disk.
 * Shaped as Docker 28 answers: every field present, those not asked for (`type`, API 1.42 and
 * up) zero or null, and BuildCache an empty list when asked for.
 */
export function diskUsageRoutes(b: Backend): Route[] {
  return [
    {
      method: 'GET',
      path: '/system/df',
      handler: async ({ res, query, version }) => {
        const asked = version >= 1042 ? query.getAll('type') : [];
        for (const t of asked) if (!(TYPES as readonly string[]).includes(t)) throw invalidParameter(`unknown object type: ${t}`);
        const want = (t: (typeof TYPES)[number]) => asked.length === 0 || asked.includes(t);
        const out: Record<string, unknown> = { LayersSize: 0, Images: null, Containers: null, Volumes: null, BuildCache: null };
        const records = b.containers.list();
        const du = want('image') || want('container') ? b.images.diskUsage() : undefined;
        if (want('image') && du) {
          const usage = new Map<string, number>();
          for (const r of records) usage.set(r.imageId, (usage.get(r.imageId) ?? 0) + 1);
          out['LayersSize'] = du.layersSize;
          out['Images'] = du.images.map(({ info, sharedSize }) => ({ ...imageSummaryJson(info, usage.get(info.image.id) ?? 0), SharedSize: sharedSize }));
        }
        if (want('container') && du) {
          const sizes = new Map(du.images.map(({ info }) => [info.image.id, info.size]));
          const now = Date.now();
          out['Containers'] = await Promise.all(
            records.map(async (r) => {
              const rw = await b.containers.layerSize(r.id).catch(() => 0);
              return { ...summaryJson(r, displayImage(r.spec.image), now, b.containers.notAdoptedReason(r.id)), SizeRw: rw, SizeRootFs: rw + (sizes.get(r.imageId) ?? 0) };
            }),
          );
        }
        if (want('volume')) {
          // A volume removed meanwhile, or unreadable, shows as unknown (-1), as in dockerd.
          const usage = (name: string) =>
            b.volumes.usage(name).then(
              (u) => ({ Size: u.size, RefCount: u.refCount }),
              () => ({ Size: -1, RefCount: 0 }),
            );
          out['Volumes'] = await Promise.all(b.volumes.list().map(async (v) => ({ ...volumeJson(v), UsageData: await usage(v.name) })));
        }
        // The classic builder keeps its cache as images (counted above): no BuildKit cache records,
        // which Docker 28 reports as `[]` (20.10 said null).
        if (want('build-cache')) out['BuildCache'] = [];
        sendJson(res, 200, out);
      },
    },
  ];
}
