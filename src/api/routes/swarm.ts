import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { boolParam, intParam, readJson, sendJson } from '../body.js';
import { matchLabel, parseFilters } from '../wire/filters.js';
import { clusterJson, nodeJson } from '../wire/swarm-json.js';
import { invalidParameter, notImplemented, unavailable } from '../../lib/errors.js';

type Json = Record<string, unknown>;
const str = (o: Json, k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : '');

/** `docker swarm` and `docker node`: the swarm this node manages and its nodes. */
export function swarmRoutes(b: Backend): Route[] {
  const sw = b.swarm.swarm;
  const requireVersion = (q: URLSearchParams): number => {
    const v = intParam(q, 'version');
    if (v === undefined) throw invalidParameter('invalid swarm version');
    return v;
  };
  return [
    {
      method: 'GET',
      path: '/swarm',
      handler: async ({ res }) => sendJson(res, 200, clusterJson(await sw.cluster(), true)),
    },
    {
      method: 'POST',
      path: '/swarm/init',
      handler: async ({ req, res }) => {
        const body = ((await readJson(req)) ?? {}) as Json;
        const id = await sw.init({
          listenAddr: str(body, 'ListenAddr'),
          advertiseAddr: str(body, 'AdvertiseAddr'),
          dataPathAddr: str(body, 'DataPathAddr'),
          autoLock: body['AutoLockManagers'] === true || (body['Spec'] as { EncryptionConfig?: { AutoLockManagers?: boolean } } | undefined)?.EncryptionConfig?.AutoLockManagers === true,
          forceNewCluster: body['ForceNewCluster'] === true,
          spec: (body['Spec'] as Json | undefined) ?? {},
          defaultAddrPool: Array.isArray(body['DefaultAddrPool']) ? (body['DefaultAddrPool'] as string[]) : [],
          subnetSize: typeof body['SubnetSize'] === 'number' ? body['SubnetSize'] : 24,
          dataPathPort: typeof body['DataPathPort'] === 'number' ? body['DataPathPort'] : 4789,
        });
        sendJson(res, 200, id);
      },
    },
    {
      method: 'POST',
      path: '/swarm/join',
      handler: async ({ req, res }) => {
        const body = ((await readJson(req)) ?? {}) as Json;
        const availability = str(body, 'Availability') || 'active';
        if (!['active', 'pause', 'drain'].includes(availability)) throw invalidParameter(`invalid availability: ${availability}`);
        const remotes = Array.isArray(body['RemoteAddrs']) ? (body['RemoteAddrs'] as unknown[]).filter((x): x is string => typeof x === 'string' && x !== '') : [];
        await sw.join({
          listenAddr: str(body, 'ListenAddr'),
          advertiseAddr: str(body, 'AdvertiseAddr'),
          dataPathAddr: str(body, 'DataPathAddr'),
          remoteAddrs: remotes,
          joinToken: str(body, 'JoinToken'),
          availability: availability as 'active' | 'pause' | 'drain',
        });
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      },
    },
    {
      method: 'POST',
      path: '/swarm/leave',
      handler: async ({ res, query }) => {
        await sw.leave(boolParam(query, 'force'));
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      },
    },
    {
      method: 'POST',
      path: '/swarm/update',
      handler: async ({ req, res, query }) => {
        if (boolParam(query, 'rotateManagerUnlockKey')) throw notImplemented('berth does not support autolock yet, so there is no unlock key to rotate');
        await sw.updateCluster(requireVersion(query), ((await readJson(req)) ?? {}) as Json, {
          worker: boolParam(query, 'rotateWorkerToken'),
          manager: boolParam(query, 'rotateManagerToken'),
        });
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      },
    },
    {
      method: 'GET',
      path: '/swarm/unlockkey',
      handler: async ({ res }) => {
        await sw.cluster();
        sendJson(res, 200, { UnlockKey: '' });
      },
    },
    {
      method: 'POST',
      path: '/swarm/unlock',
      handler: () => {
        throw unavailable('swarm is not locked');
      },
    },
    {
      method: 'GET',
      path: '/nodes',
      handler: async ({ res, query }) => {
        const f = parseFilters(query.get('filters'), ['id', 'label', 'name', 'membership', 'role', 'node.label']);
        const { entry } = await sw.cluster();
        const leader = await sw.leaderId();
        let nodes = await sw.nodes();
        const any = (k: string, ok: (v: string) => boolean) => !f.has(k) || (f.get(k) ?? []).some(ok);
        nodes = nodes.filter(
          (n) =>
            any('id', (v) => n.value.id.startsWith(v)) &&
            any('name', (v) => n.value.hostname.startsWith(v) || n.value.spec.Name === v) &&
            any('role', (v) => n.value.spec.Role === v) &&
            any('membership', (v) => v === 'accepted') &&
            any('label', () => true) &&
            any('node.label', (v) => matchLabel(n.value.spec.Labels, v)),
        );
        sendJson(res, 200, nodes.map((n) => nodeJson(n, leader, entry.value.caCert)));
      },
    },
    {
      method: 'GET',
      path: '/nodes/{id}',
      handler: async ({ res, params }) => {
        const { entry } = await sw.cluster();
        sendJson(res, 200, nodeJson(await sw.node(params['id'] as string), await sw.leaderId(), entry.value.caCert));
      },
    },
    {
      method: 'POST',
      path: '/nodes/{id}/update',
      handler: async ({ req, res, params, query }) => {
        const warnings = await sw.updateNode(params['id'] as string, requireVersion(query), ((await readJson(req)) ?? {}) as Json);
        // The CLI prints nothing the daemon sends here; API clients get the quorum warning.
        sendJson(res, 200, { Warnings: warnings });
      },
    },
    {
      method: 'DELETE',
      path: '/nodes/{id}',
      handler: async ({ res, params, query }) => {
        await sw.removeNode(params['id'] as string, boolParam(query, 'force'));
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      },
    },
  ];
}
