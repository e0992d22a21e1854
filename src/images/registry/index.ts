import { BerthError, invalidParameter, messageOf, unauthorized, unavailable } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { discard, readBody } from './http.js';
import { endpointsFor, DOCKER_HUB, type Endpoint, type RegistrySettings } from './hosts.js';
import { RepoClient, type Action } from './client.js';
import { registryError, statusText } from './errors.js';
import type { Credentials } from './auth.js';

export { RepoClient, type Action } from './client.js';
export { RegistryError } from './errors.js';
export { credentialsFor, decodeRegistryAuth, decodeRegistryConfig, type Credentials } from './auth.js';
export type { RegistrySettings } from './hosts.js';

/**
 * The registries berth talks to: which endpoint serves a host (mirrors, HTTPS, plain HTTP for
 * insecure ones), and login. An endpoint is chosen by pinging it (`GET /v2/`): the first that
 * answers over HTTP at all is used for the whole operation; a mirror that fails the
 * operation hands over to the next endpoint, as dockerd does.
 */
export class Registries {
  readonly #settings: () => RegistrySettings;
  readonly #log: Logger;

  constructor(settings: () => RegistrySettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
  }

  get settings(): RegistrySettings {
    return this.#settings();
  }

  /** Run `fn` against the repository on the first endpoint that works. */
  async withRepo<T>(
    domain: string,
    repo: string,
    creds: Credentials | undefined,
    actions: Action[],
    fn: (c: RepoClient) => Promise<T>,
    opts: { signal?: AbortSignal; extraScopes?: (c: Endpoint) => string[] } = {},
  ): Promise<T> {
    const endpoints = await endpointsFor(domain, this.#settings(), actions.includes('push') ? 'push' : 'pull');
    let lastErr: unknown;
    for (const [i, ep] of endpoints.entries()) {
      const last = i === endpoints.length - 1;
      const client = new RepoClient(ep, repo, creds, actions, opts.extraScopes?.(ep) ?? []);
      try {
        await this.#reach(client, opts.signal);
      } catch (err) {
        lastErr = err;
        if (last || opts.signal?.aborted) throw err;
        this.#log.debug({ endpoint: ep.base.href, err: messageOf(err) }, 'registry endpoint not reachable, trying the next');
        continue;
      }
      try {
        return await fn(client);
      } catch (err) {
        if (!ep.mirror || last || opts.signal?.aborted) throw err;
        lastErr = err;
        this.#log.info({ mirror: ep.base.href, err: messageOf(err) }, 'registry mirror failed, trying the next endpoint');
      }
    }
    throw lastErr ?? unavailable(`no endpoint for ${domain}`);
  }

  /** `GET /v2/` answered over HTTP (whatever the status): the endpoint speaks the protocol. */
  async #reach(client: RepoClient, signal?: AbortSignal): Promise<void> {
    let res;
    try {
      res = await client.ping(signal);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw unavailable(`cannot reach the registry at ${client.endpoint.base.origin}: ${describeNetworkError(err)}`, err);
    }
    if (res) discard(res);
  }

  /**
   * `docker login`: the credentials are checked against the registry (`GET /v2/` answering
   * its challenge: Basic, or a token from its realm), nothing is stored by the daemon.
   */
  async login(serverAddress: string, creds: Credentials, signal?: AbortSignal): Promise<string> {
    const domain = loginDomain(serverAddress);
    const endpoints = await endpointsFor(domain, this.#settings(), 'login');
    let lastErr: unknown;
    for (const ep of endpoints) {
      const client = new RepoClient(ep, '', creds, ['pull']);
      const url = new URL('/v2/', ep.base);
      let res;
      try {
        res = await client.request({ method: 'GET', url, ...(signal ? { signal } : {}) });
      } catch (err) {
        if (err instanceof BerthError && err.kind === 'Unauthorized') {
          throw unauthorized(`login attempt to ${url.href} failed: ${err.message}`);
        }
        if (err instanceof BerthError) throw err;
        lastErr = unavailable(`cannot reach the registry at ${ep.base.origin}: ${describeNetworkError(err)}`, err);
        continue;
      }
      if (res.status === 200) {
        discard(res);
        return 'Login Succeeded';
      }
      const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
      if (res.status === 401) throw unauthorized(`login attempt to ${url.href} failed with status: 401 ${statusText(401)}`);
      throw registryError(res.status, body, `login attempt to ${url.href}`);
    }
    throw lastErr ?? unavailable(`no endpoint for ${domain}`);
  }
}

/** `docker login` names a registry as `host[:port]`, a URL, or Docker Hub's index URL. */
export function loginDomain(serverAddress: string): string {
  const s = serverAddress.trim();
  if (s === '' || /^(https?:\/\/)?(index\.)?docker\.io(\/v1\/?)?\/?$/.test(s) || s === 'registry-1.docker.io') return DOCKER_HUB;
  let host = s;
  if (/^https?:\/\//.test(s)) {
    try {
      host = new URL(s).host;
    } catch {
      throw invalidParameter(`invalid registry address: ${serverAddress}`);
    }
  } else host = s.split('/')[0] as string;
  if (host === '') throw invalidParameter(`invalid registry address: ${serverAddress}`);
  return host;
}

/** Node's network failures, in words: "connection refused", "TLS: certificate signed by unknown authority"... */
export function describeNetworkError(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by peer';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `no such host (${messageOf(err)})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `tls: failed to verify certificate: x509: certificate signed by unknown authority (${String(code)})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `tls: failed to verify certificate: ${messageOf(err)}`;
    case 'CERT_HAS_EXPIRED':
      return 'tls: failed to verify certificate: x509: certificate has expired';
    default:
      return messageOf(err);
  }
}
