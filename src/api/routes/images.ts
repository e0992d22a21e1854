import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { boolParam, readJson, sendJson } from '../body.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { imageHistoryJson, imageInspectJson, imagePruneJson, imageSummaryJson } from '../wire/image-json.js';
import { filterImageList, pruneSelection } from '../wire/image-filters.js';
import { invalidParameter } from '../../lib/errors.js';
import { parseReference, fullString, withDefaultTag } from '../backend.js';
import { writeStreamError } from '../http-errors.js';
import { JsonMessages } from '../streams/json-messages.js';
import { streamJson } from '../wire/progress-json.js';
import { sendTar } from '../streams/tar-body.js';

export function imageRoutes(b: Backend, storageDriver: () => string): Route[] {
  return [
    {
      method: 'GET',
      path: '/images/json',
      handler: ({ res, query }) => {
        const usage = new Map<string, number>();
        for (const c of b.containers.list()) usage.set(c.imageId, (usage.get(c.imageId) ?? 0) + 1);
        let list = filterImageList(b.images.list(), query.get('filters'), (r) => b.images.resolve(r));
        if (!boolParam(query, 'all')) {
          // Without -a, a build's intermediate images (no name, other images built on them) are hidden.
          const parents = new Set(b.images.list().map((i) => i.parent));
          list = list.filter((i) => i.repoTags.length > 0 || i.repoDigests.length > 0 || !parents.has(i.image.id));
        }
        const created = (i: { image: { config: { created?: string } } }) => Date.parse(i.image.config.created ?? '') || 0;
        list.sort((x, y) => created(y) - created(x));
        sendJson(res, 200, list.map((i) => imageSummaryJson(i, usage.get(i.image.id) ?? 0)));
      },
    },
    {
      method: 'POST',
      path: '/images/load',
      handler: async ({ req, res, query }) => {
        // dockerd's default is quiet; the CLI asks for the bars (quiet=0) on a terminal.
        const quiet = query.get('quiet') === null ? true : boolParam(query, 'quiet');
        const out = new JsonMessages(res, b.log);
        let lines: string[];
        try {
          lines = await withBody(req, (body, signal) => b.images.load(body, signal, quiet ? undefined : out.progress));
        } catch (err) {
          // dockerd answers 200 and reports a failed load in the JSON stream: clients read it
          // there (the CLI exits 1 with the message; docker-py raises its load error).
          writeStreamError(res, err, b.log);
          return;
        }
        for (const l of lines) out.write(streamJson(l));
        out.end();
      },
    },
    {
      method: 'POST',
      path: '/images/prune',
      handler: async ({ res, query }) => {
        const { all, select } = pruneSelection(query.get('filters'));
        sendJson(res, 200, imagePruneJson(await b.images.prune({ all, select })));
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
          const out = new JsonMessages(res, b.log);
          try {
            await b.images.pull(fromImage, query.get('tag') || undefined, {
              ...(query.get('platform') ? { platform: query.get('platform') as string } : {}),
              ...registryAuth(req),
              progress: out.progress,
              signal: closeSignal(req, res),
            });
            out.end();
          } catch (err) {
            out.fail(err);
          }
          return;
        }
        if (fromSrc !== '-') {
          req.resume();
          throw invalidParameter(fromSrc ? `importing from a URL is not supported: ${fromSrc}` : 'fromImage or fromSrc is required');
        }
        const repo = query.get('repo') || undefined;
        const tag = query.get('tag') || undefined;
        // Validate the name before reading a large body.
        if (repo) withDefaultTag(parseReference(tag ? `${fullString(parseReference(repo))}:${tag}` : repo));
        const id = await withBody(req, (body, signal) => b.images.importRootfs(body, {
          ...(repo ? { repo } : {}),
          ...(tag ? { tag } : {}),
          changes: query.getAll('changes'),
          message: query.get('message') ?? '',
          source: '-',
          signal,
        }));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(`${JSON.stringify({ status: id })}\r\n`);
      },
    },
    {
      method: 'POST',
      path: '/images/{name:*}/push',
      handler: async ({ req, res, params, query }) => {
        req.resume();
        const out = new JsonMessages(res, b.log);
        try {
          await b.images.push(params['name'] as string, query.get('tag') || undefined, { ...registryAuth(req), progress: out.progress, signal: closeSignal(req, res) });
          out.end();
        } catch (err) {
          out.fail(err);
        }
      },
    },
    {
      method: 'POST',
      path: '/commit',
      handler: async ({ req, res, query }) => {
        const container = query.get('container');
        if (!container) {
          req.resume();
          throw invalidParameter('container name or ID is required');
        }
        const body = await readJson(req);
        const id = await b.containers.commit(container, {
          ...(query.get('repo') ? { repo: query.get('repo') as string } : {}),
          ...(query.get('tag') ? { tag: query.get('tag') as string } : {}),
          author: query.get('author') ?? '',
          comment: query.get('comment') ?? '',
          changes: query.getAll('changes'),
          ...(body && typeof body === 'object' && !Array.isArray(body) ? { config: body as Record<string, unknown> } : {}),
          pause: query.get('pause') === null ? true : boolParam(query, 'pause'),
        });
        sendJson(res, 201, { Id: id });
      },
    },
    {
      method: 'POST',
      path: '/auth',
      handler: async ({ req, res }) => {
        const body = ((await readJson(req)) ?? {}) as Record<string, unknown>;
        const status = await b.images.login(body);
        sendJson(res, 200, { Status: status, IdentityToken: '' });
      },
    },
    {
      method: 'GET',
      path: '/images/get',
      handler: ({ res, query }) => save(b, res, query.getAll('names')),
    },
    {
      method: 'GET',
      path: '/images/{name:*}/get',
      handler: ({ res, params }) => save(b, res, [params['name'] as string]),
    },
    {
      method: 'GET',
      path: '/images/{name:*}/json',
      handler: ({ res, params }) => {
        sendJson(res, 200, imageInspectJson(b.images.resolve(params['name'] as string), storageDriver()));
      },
    },
    {
      method: 'GET',
      path: '/images/{name:*}/history',
      handler: ({ res, params }) => {
        sendJson(res, 200, imageHistoryJson(b.images.history(params['name'] as string)));
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

/** X-Registry-Auth, passed on as it came (the image service decodes it). */
function registryAuth(req: IncomingMessage): { auth?: string } {
  const h = req.headers['x-registry-auth'];
  return typeof h === 'string' && h !== '' ? { auth: h } : {};
}

/** Aborted when the client goes away before the answer is complete (dockerd cancels then too). */
export function closeSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new Error('client went away'));
  });
  req.socket.once('close', () => {
    if (!res.writableFinished) ac.abort(new Error('client went away'));
  });
  return ac.signal;
}

/** `docker save`: names resolved before the first byte, so a missing one is a 404. */
async function save(b: Backend, res: ServerResponse, names: string[]): Promise<void> {
  if (names.length === 0) throw invalidParameter('no image names given');
  const tar = await b.images.save(names);
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  sendTar(tar.stream, res);
  try {
    await tar.done;
  } catch (err) {
    b.log.error({ err }, 'docker save failed mid-stream');
    res.destroy();
    return;
  }
}

/**
 * Hand a request body to `fn` through a stream of its own, so that a consumer giving up on
 * malformed input does not close the connection: on failure the rest of the body is read
 * and dropped, and the client gets the error response. The signal fires if the client leaves.
 */
async function withBody<T>(req: IncomingMessage, fn: (body: Readable, signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  req.once('close', () => {
    if (!req.complete) ac.abort(new Error('client went away'));
  });
  const body = new PassThrough();
  req.pipe(body);
  try {
    return await fn(body, ac.signal);
  } catch (err) {
    req.unpipe(body);
    if (!req.complete && !req.destroyed) {
      await new Promise<void>((resolve) => {
        req.once('end', resolve).once('close', resolve).once('error', resolve);
        req.resume();
      });
    }
    throw err;
  }
}
