import { invalidParameter, unavailable } from '../../lib/errors.js';
import { readBody, send, type HttpResponse } from './http.js';
import type { Endpoint } from './hosts.js';
import { registryError } from './errors.js';

/** What the CLI sends in X-Registry-Auth (after `docker login`): Docker's AuthConfig. */
export type Credentials = {
  username?: string;
  password?: string;
  /** An OAuth refresh token some registries hand out at login. */
  identityToken?: string;
  /** A bearer token to send as it is. */
  registryToken?: string;
};

/**
 * X-Registry-Auth: base64url (or, from old clients, standard base64) JSON. Like dockerd, a
 * header that does not decode counts as no credentials.
 */
export function decodeRegistryAuth(header: string | undefined): Credentials | undefined {
  const json = decodeJson(header);
  return typeof json === 'object' && json !== null && !Array.isArray(json) ? credentialsOf(json as Record<string, unknown>) : undefined;
}

/**
 * X-Registry-Config, what the CLI sends with `docker build`: every credential it holds, as a
 * map of the registry keys `docker login` wrote (`127.0.0.1:5000`,
 * `https://index.docker.io/v1/`) to AuthConfigs. As dockerd: one that does not decode is none.
 */
export function decodeRegistryConfig(header: string | undefined): Map<string, Credentials> {
  const out = new Map<string, Credentials>();
  const json = decodeJson(header);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return out;
  for (const [key, v] of Object.entries(json as Record<string, unknown>)) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    const c = credentialsOf(v as Record<string, unknown>);
    if (c) out.set(key, c);
  }
  return out;
}

/** The key `docker login` files Docker Hub's credentials under. */
const HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/**
 * The credentials a registry config holds for `domain`, picked as dockerd picks them: the key
 * itself (Docker Hub's index URL for docker.io), else, for other registries, a key whose host
 * part is the domain (`https://host:5000/v2/` in an old config file).
 */
export function credentialsFor(configs: Map<string, Credentials>, domain: string): Credentials | undefined {
  const hub = domain === 'docker.io';
  const exact = configs.get(hub ? HUB_AUTH_KEY : domain);
  if (exact || hub) return exact;
  for (const [key, c] of configs) if (key.replace(/^https?:\/\//, '').split('/')[0] === domain) return c;
  return undefined;
}

function decodeJson(header: string | undefined): unknown {
  if (!header) return undefined;
  try {
    return JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Docker's AuthConfig: username and password, or `auth` (base64 of `user:password`), or tokens. */
function credentialsOf(o: Record<string, unknown>): Credentials | undefined {
  const str = (k: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);
  let username = str('username');
  let password = str('password');
  const auth = str('auth');
  if (!username && auth) {
    const plain = Buffer.from(auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) {
      username = plain.slice(0, i);
      password = plain.slice(i + 1);
    }
  }
  const c: Credentials = {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(str('identitytoken') ? { identityToken: str('identitytoken') as string } : {}),
    ...(str('registrytoken') ? { registryToken: str('registrytoken') as string } : {}),
  };
  return Object.keys(c).length > 0 ? c : undefined;
}

export type Challenge = { scheme: string; params: Record<string, string> };

/** `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const h of Array.isArray(header) ? header : header ? [header] : []) {
    const re = /\s*([A-Za-z][\w-]*)\s*(.*)$/s;
    let rest = h;
    while (rest.trim() !== '') {
      const m = re.exec(rest);
      if (!m) break;
      const scheme = (m[1] as string).toLowerCase();
      rest = m[2] as string;
      const params: Record<string, string> = {};
      const pr = /^\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/;
      for (let p = pr.exec(rest); p; p = pr.exec(rest)) {
        params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
        rest = rest.slice(p[0].length);
      }
      out.push({ scheme, params });
      rest = rest.replace(/^\s*,/, '');
    }
  }
  return out;
}

type Token = { value: string; expires: number };

/**
 * Authorization for one endpoint: Basic with the user's credentials, or the bearer token
 * flow (ask the challenge's realm for a token for `service` and the scopes, with the
 * credentials if there are any), tokens kept until shortly before they expire.
 */
export class Authorizer {
  readonly #endpoint: Endpoint;
  readonly #creds: Credentials | undefined;
  #challenge: Challenge | undefined;
  readonly #tokens = new Map<string, Token>();

  constructor(endpoint: Endpoint, creds: Credentials | undefined) {
    this.#endpoint = endpoint;
    this.#creds = creds;
  }

  /** The Authorization header for a request needing `scopes`, if one is known. */
  header(scopes: string[]): string | undefined {
    if (this.#creds?.registryToken) return `Bearer ${this.#creds.registryToken}`;
    const c = this.#challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') return this.#basic();
    if (c.scheme === 'bearer') {
      const t = this.#tokens.get(scopes.join(' '));
      if (t && t.expires > Date.now()) return `Bearer ${t.value}`;
    }
    return undefined;
  }

  /**
   * After a 401: learn the challenge and get what answers it. Returns false when retrying
   * cannot help (no credentials for Basic, or the challenge was already answered).
   */
  async answer(res: HttpResponse, scopes: string[], signal?: AbortSignal): Promise<boolean> {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    const c = challenges.find((x) => x.scheme === 'bearer') ?? challenges.find((x) => x.scheme === 'basic');
    if (!c) return false;
    const before = this.header(scopes);
    this.#challenge = c;
    if (c.scheme === 'basic') {
      const h = this.#basic();
      return h !== undefined && h !== before;
    }
    if (c.scheme !== 'bearer') return false;
    const key = scopes.join(' ');
    const had = this.#tokens.get(key);
    if (had && before === `Bearer ${had.value}`) {
      // The token we sent was refused: one fresh token, then give up.
      this.#tokens.delete(key);
      if (had.expires > Date.now() + 1000) return false;
    }
    await this.#fetchToken(c, scopes, signal);
    return true;
  }

  /** The registry asked for Basic credentials and there are none to give. */
  wantsBasicWithout(): boolean {
    return this.#challenge?.scheme === 'basic' && !this.#creds?.username && !this.#creds?.registryToken;
  }

  #basic(): string | undefined {
    const { username, password } = this.#creds ?? {};
    if (!username) return undefined;
    return `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
  }

  async #fetchToken(c: Challenge, scopes: string[], signal?: AbortSignal): Promise<void> {
    const realm = c.params['realm'];
    if (!realm) throw unavailable(`${this.#endpoint.base.host}: the registry's bearer challenge names no realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw unavailable(`${this.#endpoint.base.host}: the registry's token realm is not a URL: ${realm}`);
    }
    if (c.params['service']) url.searchParams.set('service', c.params['service']);
    for (const s of scopes) url.searchParams.append('scope', s);
    // Credentials go to an https realm, or to a realm on the registry's own (insecure) host.
    const basic = this.#basic();
    const mayCarry = url.protocol === 'https:' || url.host === this.#endpoint.base.host || this.#endpoint.insecure;
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
    if (basic && mayCarry) headers['Authorization'] = basic;
    const sameHost = url.host === this.#endpoint.base.host;
    const res = await send({
      method: 'GET',
      url,
      headers,
      // The registry's own host keeps its certs.d trust; another host is checked against the system CAs.
      ...(sameHost && this.#endpoint.tls ? { tls: this.#endpoint.tls } : {}),
      ...(signal ? { signal } : {}),
    });
    const body = await readBody(res, 1024 * 1024);
    if (res.status !== 200) throw registryError(res.status, body, `token request to ${url.origin}${url.pathname}`);
    let json: { token?: string; access_token?: string; expires_in?: number };
    try {
      json = JSON.parse(body.toString('utf8')) as typeof json;
    } catch {
      throw unavailable(`the token server at ${url.origin} answered something that is not JSON`);
    }
    const value = json.token || json.access_token;
    if (!value) throw unavailable(`the token server at ${url.origin} answered no token`);
    const ttl = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 60;
    // Renewed a little early, so a token never expires between our check and the request.
    this.#tokens.set(scopes.join(' '), { value, expires: Date.now() + Math.max(ttl - 10, 5) * 1000 });
  }
}

export const USER_AGENT = 'berth (docker-compatible registry client)';

/** `repository:<path>:pull,push`, the scope grammar of the token spec. */
export function repositoryScope(path: string, actions: string[]): string {
  if (actions.length === 0) throw invalidParameter('a repository scope needs actions');
  return `repository:${path}:${actions.join(',')}`;
}
