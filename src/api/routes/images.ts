import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { boolParam, sendJson } from '../body.js';
import { imageInspectJson, imageSummaryJson } from '../wire/image-json.js';
import { parseFilters, matchLabel } from '../wire/filters.js';
import { invalidParameter, messageOf, notImplemented } from '../../lib/errors.js';
import { parseReference, fullString, withDefaultTag } from '../../images/reference.js';

export function imageRoutes(b: Backend, storageDriver: () => string): Route[] {
  return [
    {
      method: 'GET',
      path: '/images/json',
      handler: ({ res, query }) => {
        const f = parseFilters(query.get('filters'), ['dangling', 'label', 'reference', 'before', 'since']);
        const usage = new Map<string, number>();
        for (const c of b.containers.list()) usage.set(c.imageId, (usage.get(c.imageId) ?? 0) + 1);
        let list = b.images.list();
        const dangling = f.get('dangling');
        if (dangling) {
          const want = dangling.includes('true') || dangling.includes('1');
          list = list.filter((i) => (i.repoTags.length === 0) === want);
        }
        const labels = f.get('label');
        if (labels) {
          list = list.filter((i) => labels.every((l) => matchLabel((i.image.config.config?.['Labels'] as Record<string, string>) ?? {}, l)));
        }
        const refs = f.get('reference');
        if (refs) {
          const patterns = refs.map((r) => globToRegex(r));
          list = list
            .map((i) => ({ ...i, repoTags: i.repoTags.filter((t) => patterns.some((p) => p.test(t) || p.test(t.split(':')[0] ?? ''))) }))
            .filter((i) => i.repoTags.length > 0);
        }
        list.sort((x, y) => (y.image.config.created ?? '').localeCompare(x.image.config.created ?? ''));
        sendJson(res, 200, list.map((i) => imageSummaryJson(i, usage.get(i.image.id) ?? 0)));
      },
    },
    {
      method: 'POST',
      path: '/images/create',
      handler: async ({ req, res, query }) => {
        const fromSrc = query.get('fromSrc');
        const fromImage = query.get('fromImage');
        if (fromImage) {
          req.resume();
          throw notImplemented(`pulling images is not supported by this version of berth: use docker load or docker import (${fromImage})`);
        }
        if (fromSrc !== '-') {
          req.resume();
          throw invalidParameter(fromSrc ? `importing from a URL is not supported: ${fromSrc}` : 'fromImage or fromSrc is required');
        }
        const repo = query.get('repo') || undefined;
        const tag = query.get('tag') || undefined;
        // Validate the name before reading a large body.
        if (repo) withDefaultTag(parseReference(tag ? `${fullString(parseReference(repo))}:${tag}` : repo));
        const ac = new AbortController();
        req.once('close', () => {
          if (!req.complete) ac.abort(new Error('client went away'));
        });
        const id = await b.images.importRootfs(req, {
          ...(repo ? { repo } : {}),
          ...(tag ? { tag } : {}),
          changes: query.getAll('changes'),
          message: query.get('message') ?? '',
          source: '-',
          signal: ac.signal,
        });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(`${JSON.stringify({ status: id })}\r\n`);
      },
    },
    {
      method: 'GET',
      path: '/images/{name:*}/json',
      handler: ({ res, params }) => {
        sendJson(res, 200, imageInspectJson(b.images.resolve(params['name'] as string), storageDriver()));
      },
    },
    {
      method: 'POST',
      path: '/images/{name:*}/tag',
      handler: async ({ res, params, query }) => {
        const repo = query.get('repo');
        if (!repo) throw invalidParameter('repository name must have at least one component');
        await b.images.tag(params['name'] as string, repo, query.get('tag') || undefined);
        res.writeHead(201);
        res.end();
      },
    },
    {
      method: 'DELETE',
      path: '/images/{name:*}',
      handler: async ({ res, params, query }) => {
        const out = await b.images.remove(params['name'] as string, boolParam(query, 'force'));
        sendJson(res, 200, out);
      },
    },
  ];
}

function globToRegex(glob: string): RegExp {
  try {
    const src = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.');
    return new RegExp(`^${src}$`);
  } catch (err) {
    throw invalidParameter(`invalid reference filter: ${messageOf(err)}`);
  }
}
