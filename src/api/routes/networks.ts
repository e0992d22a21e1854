import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { readJson, sendJson, sendNoContent } from '../body.js';
import { networkJson, networkPruneSelection, type AttachedJson, networkSelection, parseConnect, parseDisconnect, parseNetworkCreate } from '../wire/network-json.js';
import { invalidParameter } from '../../lib/errors.js';

// The built-in networks (`bridge` unless the daemon runs with `bridge: none`, `host`, `none`)
// and user-defined bridge networks.

export function networkRoutes(b: Backend): Route[] {
  const body = async (req: IncomingMessage) => {
    const v = await readJson(req);
    if (v === undefined) throw invalidParameter('invalid JSON: got EOF while reading request body');
    return v;
  };
  return [
    {
      method: 'GET',
      path: '/networks',
      handler: ({ res, query }) => {
        const select = networkSelection(query.get('filters'), (n) => (n.driver === 'bridge' ? b.networks.attached(n.name) : withoutEndpoint(b, n.name)).length > 0);
        sendJson(res, 200, b.networks.list().filter(select).map((n) => networkJson(n, undefined)));
      },
    },
    {
      method: 'GET',
      path: '/networks/{id}',
      handler: ({ res, params }) => {
        const n = b.networks.find(params['id'] as string);
        sendJson(res, 200, networkJson(n, n.driver === 'bridge' ? b.networks.attached(n.name) : withoutEndpoint(b, n.name)));
      },
    },
    {
      method: 'POST',
      path: '/networks/create',
      handler: async ({ req, res }) => {
        const r = await b.networks.create(parseNetworkCreate(await body(req)));
        sendJson(res, 201, { Id: r.id, Warning: r.warning });
      },
    },
    {
      method: 'DELETE',
      path: '/networks/{id}',
      handler: async ({ res, params }) => {
        await b.networks.remove(params['id'] as string);
        sendNoContent(res);
      },
    },
    {
      method: 'POST',
      path: '/networks/prune',
      handler: async ({ res, query }) => {
        const deleted = await b.networks.prune(networkPruneSelection(query.get('filters')));
        sendJson(res, 200, { NetworksDeleted: deleted });
      },
    },
    {
      method: 'POST',
      path: '/networks/{id}/connect',
      handler: async ({ req, res, params }) => {
        const { container, req: settings } = parseConnect(await body(req));
        await b.networks.connect(params['id'] as string, container, settings);
        ok(res);
      },
    },
    {
      method: 'POST',
      path: '/networks/{id}/disconnect',
      handler: async ({ req, res, params }) => {
        const { container, force } = parseDisconnect(await body(req));
        await b.networks.disconnect(params['id'] as string, container, force);
        ok(res);
      },
    },
  ];
}

/** dockerd answers connect and disconnect with a bare 200. */
function ok(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Length': 0 });
  res.end();
}

/** Running containers of `--network none` or `host`: Docker lists them there, with no address. */
function withoutEndpoint(b: Backend, name: string): AttachedJson[] {
  return b.containers
    .list()
    .filter((r) => r.spec.networkMode === name && (r.state.status === 'running' || r.state.status === 'paused'))
    .map((r) => ({ id: r.id, name: r.name, endpointId: '', mac: '', ipv4: '' }));
}
