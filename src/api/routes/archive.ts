import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { boolParam } from '../body.js';
import { pathStatHeader } from '../wire/path-stat.js';
import { invalidParameter, messageOf } from '../../lib/errors.js';
import { sendTar } from '../streams/tar-body.js';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

/** `docker cp`: the archive API (HEAD stats a path, GET reads it as a tar, PUT unpacks a tar into a directory). */
export function archiveRoutes(b: Backend): Route[] {
  const pathOf = (q: URLSearchParams) => {
    const p = q.get('path');
    if (p === null || p === '') throw invalidParameter('path is required');
    return p;
  };
  return [
    {
      method: 'GET',
      path: '/containers/{id}/archive',
      handler: async ({ req, res, params, query }) => {
        const id = params['id'] as string;
        const path = pathOf(query);
        if (req.method === 'HEAD') {
          const stat = await b.containers.statPath(id, path);
          res.writeHead(200, { [STAT_HEADER]: pathStatHeader(stat), 'Content-Type': 'application/json' });
          res.end();
          return;
        }
        const tar = await b.containers.archivePath(id, path);
        res.writeHead(200, { [STAT_HEADER]: pathStatHeader(tar.stat), 'Content-Type': 'application/x-tar' });
        // A client that leaves stops the helper, which unmounts a stopped container. (The
        // response's close, not the socket's: a keep-alive connection outlives the request.)
        res.once('close', () => tar.stream.destroy());
        sendTar(tar.stream, res);
        await tar.done.catch((err: unknown) => {
          b.log.error({ err: messageOf(err), containerId: id, path }, 'docker cp from the container failed');
          res.destroy();
        });
      },
    },
    {
      method: 'PUT',
      path: '/containers/{id}/archive',
      handler: async ({ req, res, params, query }) => {
        await b.containers.extractToDir(params['id'] as string, pathOf(query), req, {
          noOverwriteDirNonDir: boolParam(query, 'noOverwriteDirNonDir'),
          copyUIDGID: boolParam(query, 'copyUIDGID'),
        });
        res.writeHead(200);
        res.end();
      },
    },
  ];
}
