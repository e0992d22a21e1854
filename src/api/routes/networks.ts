import type { Route } from '../router.js';
import type { Backend, NetworkView } from '../backend.js';
import { sendJson } from '../body.js';
import { parseFilters, matchLabel } from '../wire/filters.js';
import { invalidParameter, notFound } from '../../lib/errors.js';

// The networks are dockerd's built-in ones: the default `bridge` (unless the daemon runs with
// `bridge: none`), `host` and `none`. User-defined networks come with `docker network create`.

const LIST_FILTERS = ['driver', 'id', 'label', 'name', 'scope', 'type', 'dangling'] as const;

export function networkRoutes(b: Backend): Route[] {
  const find = (ref: string): NetworkView => {
    const all = b.networks.networks();
    const n = all.find((x) => x.name === ref || x.id === ref) ?? all.find((x) => ref.length > 0 && x.id.startsWith(ref));
    if (!n) throw notFound(`network ${ref} not found`);
    return n;
  };
  const json = (n: NetworkView, verbose: boolean) => ({
    Name: n.name,
    Id: n.id,
    Created: '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: n.driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: n.ipam ? [{ Subnet: n.ipam.subnet, Gateway: n.ipam.gateway, ...(n.ipam.ipRange ? { IPRange: n.ipam.ipRange } : {}) }] : [],
    },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: verbose ? attached(b, n.name) : {},
    Options: n.options,
    Labels: {},
  });
  return [
    {
      method: 'GET',
      path: '/networks',
      handler: ({ res, query }) => {
        const select = networkSelection(query.get('filters'));
        sendJson(res, 200, b.networks.networks().filter(select).map((n) => json(n, false)));
      },
    },
    {
      method: 'GET',
      path: '/networks/{id}',
      handler: ({ res, params }) => sendJson(res, 200, json(find(params['id'] as string), true)),
    },
    {
      method: 'POST',
      path: '/networks/prune',
      // The built-in networks are never pruned, and there are no others.
      handler: ({ res, query }) => {
        parseFilters(query.get('filters'), ['until', 'label', 'label!']);
        sendJson(res, 200, { NetworksDeleted: [] });
      },
    },
    {
      method: 'POST',
      path: '/networks/create',
      handler: () => {
        throw invalidParameter('creating networks is not supported by this version of berth (only "bridge", "host" and "none" exist)');
      },
    },
  ];
}

/** Running containers in a network, as `docker network inspect` shows them. */
function attached(b: Backend, name: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of b.containers.list()) {
    if (r.spec.networkMode !== name || (r.state.status !== 'running' && r.state.status !== 'paused')) continue;
    const e = b.networks.endpoint(r.id);
    out[r.id] = {
      Name: r.name,
      EndpointID: e?.endpointId ?? '',
      MacAddress: e?.mac ?? '',
      IPv4Address: e ? `${e.ip}/${e.prefixLen}` : '',
      IPv6Address: '',
    };
  }
  return out;
}

function networkSelection(raw: string | null): (n: NetworkView) => boolean {
  const f = parseFilters(raw, LIST_FILTERS);
  for (const t of f.get('type') ?? []) {
    if (t !== 'custom' && t !== 'builtin') throw invalidParameter(`invalid filter: 'type'='${t}'`);
  }
  const any = (key: string, test: (v: string) => boolean) => {
    const values = f.get(key);
    return values === undefined || values.some(test);
  };
  return (n) =>
    any('name', (v) => n.name.includes(v)) &&
    any('id', (v) => n.id.startsWith(v)) &&
    any('driver', (v) => v === n.driver) &&
    any('scope', (v) => v === 'local') &&
    any('type', (v) => v === 'builtin') &&
    any('dangling', (v) => v === 'false' || v === '0') &&
    (f.get('label') ?? []).every((l) => matchLabel({}, l));
}
