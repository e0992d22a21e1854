import type { IncomingMessage } from 'node:http';
import type { Route } from '../router.js';
import type { Backend, BuildOptions } from '../backend.js';
import { boolParam, intParam, sendJson } from '../body.js';
import { invalidParameter, messageOf } from '../../lib/errors.js';
import { JsonMessages } from '../streams/json-messages.js';
import { streamJson } from '../wire/progress-json.js';
import { closeSignal } from './images.js';
import { StepFailure } from '../backend.js';
import { parseFilters } from '../wire/filters.js';

/** What `docker builder prune --filter` may name (BuildKit's filters: accepted, nothing to match). */
const BUILD_PRUNE_FILTERS = ['until', 'id', 'parent', 'type', 'description', 'inuse', 'shared', 'private', 'unused-for', 'reserved-space', 'max-used-space', 'min-free-space'];

/**
 * The classic builder's API: `POST /build` with the context as a tar body, answered with the
 * JSON messages the CLI prints. A failure before the first message (a bad Dockerfile, bad
 * options) is an HTTP error; after it, the stream's last message, with the failed RUN's exit
 * code, which the CLI exits with.
 */
export function buildRoutes(b: Backend): Route[] {
  return [
    {
      method: 'POST',
      path: '/build',
      handler: async ({ req, res, query }) => {
        let opts: BuildOptions;
        try {
          opts = parseBuildQuery(query, req.headers['x-registry-config'], req.headers['x-registry-auth']);
        } catch (err) {
          await drain(req);
          throw err;
        }
        const out = new JsonMessages(res, b.log);
        const signal = closeSignal(req, res);
        try {
          await b.build.build(req, opts, { stream: (t) => out.write(streamJson(t)), aux: (v) => out.write(`${JSON.stringify({ aux: v })}\r\n`), pullProgress: out.progress }, signal);
          out.end();
        } catch (err) {
          if (!out.started) {
            await drain(req);
            throw err;
          }
          if (!req.complete) req.resume();
          const message = messageOf(err);
          const code = err instanceof StepFailure ? err.code : undefined;
          b.log.debug({ err: message }, 'build failed');
          res.end(`${JSON.stringify({ errorDetail: { ...(code !== undefined ? { code } : {}), message }, error: message })}\r\n`);
        }
      },
    },
    {
      method: 'POST',
      path: '/build/prune',
      // BuildKit's cache, in dockerd. The classic builder's cache is its step images, which
      // this leaves to `image prune` and `rmi`, as dockerd does; a build's scratch space is
      // gone when the build ends. So there is nothing to free; filters are checked all the same.
      handler: ({ res, query }) => {
        try {
          parseFilters(query.get('filters'), BUILD_PRUNE_FILTERS);
        } catch (err) {
          throw invalidParameter(`failed to prune build cache: ${messageOf(err)}`);
        }
        sendJson(res, 200, { CachesDeleted: null, SpaceReclaimed: 0 });
      },
    },
  ];
}

function jsonParam<T>(q: URLSearchParams, name: string, check: (v: unknown) => v is T, type: string): T | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalidParameter(`invalid ${name} value: ${raw}`);
  }
  if (v === null) return undefined;
  if (!check(v)) throw invalidParameter(`json: cannot unmarshal ${name} into Go value of type ${type}`);
  return v;
}

const isMap = (nullable: boolean) => (v: unknown): v is Record<string, string | null> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || (nullable && x === null));
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Before refusing a build: read (and drop) what is left of the context, so the CLI, still
 * uploading it, gets the answer instead of a broken pipe. Bounded in size and time.
 */
function drain(req: IncomingMessage, maxBytes = 256 << 20, ms = 30_000): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData);
      resolve();
    };
    const onData = (c: Buffer) => {
      seen += c.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, ms);
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}

/**
 * The query and the credentials headers: X-Registry-Config, the CLI's credentials for every
 * registry it knows (what dockerd reads for a build); X-Registry-Auth, one credential, only
 * when the first is absent (API clients that send that one).
 */
export function parseBuildQuery(q: URLSearchParams, registryConfig: string | string[] | undefined, auth?: string | string[]): BuildOptions {
  const remote = q.get('remote');
  if (remote) throw invalidParameter(`remote build contexts are not supported by berth (${remote}): send the context as a tar body (docker build <directory>)`);
  if (q.get('version') === '2') throw invalidParameter('BuildKit is not supported by berth: use the classic builder (DOCKER_BUILDKIT=0)');
  const rm = q.get('rm') === null ? true : boolParam(q, 'rm');
  const networkMode = q.get('networkmode') || 'default';
  const shmSize = intParam(q, 'shmsize');
  const target = q.get('target');
  const platform = q.get('platform');
  const dockerfile = q.get('dockerfile');
  return {
    ...(dockerfile ? { dockerfile } : {}),
    tags: q.getAll('t').filter(Boolean),
    buildArgs: jsonParam(q, 'buildargs', isMap(true), 'map[string]*string') ?? {},
    labels: (jsonParam(q, 'labels', isMap(false), 'map[string]string') ?? {}) as Record<string, string>,
    ...(target ? { target } : {}),
    noCache: boolParam(q, 'nocache'),
    pull: boolParam(q, 'pull'),
    rm,
    forceRm: boolParam(q, 'forcerm'),
    quiet: boolParam(q, 'q'),
    networkMode,
    ...(shmSize ? { shmSize } : {}),
    extraHosts: q.getAll('extrahosts').flatMap((h) => h.split(',')).filter(Boolean),
    ...(platform ? { platform } : {}),
    cacheFrom: jsonParam(q, 'cachefrom', isStrings, '[]string') ?? [],
    ...(typeof registryConfig === 'string' && registryConfig !== '' ? { registryConfig } : {}),
    ...(typeof auth === 'string' && auth !== '' ? { auth } : {}),
  };
}
