import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { OutgoingHttpHeaders } from 'node:http';
import { unavailable } from '../../lib/errors.js';
import { discard, readBody, send, type HttpResponse } from './http.js';
import type { Endpoint } from './hosts.js';
import { Authorizer, repositoryScope, USER_AGENT, type Credentials } from './auth.js';
import { NoBasicCredentials, registryError, RegistryError } from './errors.js';

export type Action = 'pull' | 'push';

type Req = {
  method: string;
  url: URL;
  headers?: OutgoingHttpHeaders;
  /** Made again for a retry after an auth challenge; a stream body is sent once only. */
  body?: () => Buffer | Readable;
  /** The body is a stream: it cannot be sent again after a challenge. */
  stream?: boolean;
  signal?: AbortSignal;
};

const MAX_REDIRECTS = 5;

/**
 * The Registry HTTP API v2 (OCI distribution spec) for one repository on one endpoint: the
 * requests pull and push need, each authorized (Basic or bearer, answering the registry's
 * challenges) and each failure turned into the registry's own error words.
 */
export class RepoClient {
  readonly endpoint: Endpoint;
  readonly repo: string;
  readonly #auth: Authorizer;
  readonly #scopes: string[];

  constructor(endpoint: Endpoint, repo: string, creds: Credentials | undefined, actions: Action[], extraScopes: string[] = []) {
    this.endpoint = endpoint;
    this.repo = repo;
    this.#auth = new Authorizer(endpoint, creds);
    this.#scopes = [repositoryScope(repo, actions), ...extraScopes];
  }

  url(rel: string): URL {
    return new URL(`/v2/${this.repo}/${rel}`, this.endpoint.base);
  }

  /** An authorized exchange; on a 401 the challenge is answered and the request sent once more. */
  async request(r: Req): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const headers: OutgoingHttpHeaders = { 'User-Agent': USER_AGENT, ...(r.headers ?? {}) };
      const auth = this.#auth.header(this.#scopes);
      if (auth) headers['Authorization'] = auth;
      const res = await send({
        method: r.method,
        url: r.url,
        headers,
        ...(r.body ? { body: r.body() } : {}),
        ...(this.endpoint.tls ? { tls: this.endpoint.tls } : {}),
        ...(r.signal ? { signal: r.signal } : {}),
      });
      if (res.status === 401 && attempt === 0) {
        const body = await readBody(res, 64 * 1024);
        if (!r.stream && (await this.#auth.answer(res, this.#scopes, r.signal))) continue;
        if (this.#auth.wantsBasicWithout()) throw new NoBasicCredentials(r.method, r.url);
        throw registryError(401, body, `${r.method} ${r.url.pathname}`);
      }
      return res;
    }
  }

  /** A request whose answer must have one of `ok`; anything else is the registry's error. */
  async expect(r: Req, ok: number[], what: string): Promise<HttpResponse> {
    const res = await this.request(r);
    if (ok.includes(res.status)) return res;
    const body = r.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    throw registryError(res.status, body, what);
  }

  /**
   * `GET /v2/` with this client's authorization: the endpoint speaks the protocol (any answer
   * does; a Basic challenge without credentials is learned here, refused at the next request).
   */
  async ping(signal?: AbortSignal): Promise<HttpResponse | undefined> {
    try {
      return await this.request({ method: 'GET', url: new URL('/v2/', this.endpoint.base), ...(signal ? { signal } : {}) });
    } catch (err) {
      if (err instanceof NoBasicCredentials) return undefined;
      throw err;
    }
  }

  async manifest(ref: string, accept: string[], signal?: AbortSignal): Promise<{ body: Buffer; mediaType: string; digest: string }> {
    const res = await this.expect(
      { method: 'GET', url: this.url(`manifests/${ref}`), headers: { Accept: accept.join(', ') }, ...(signal ? { signal } : {}) },
      [200],
      `manifest ${ref}`,
    );
    const body = await readBody(res, 4 * 1024 * 1024);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    return { body, mediaType, digest };
  }

  /**
   * A blob's bytes from `offset` on (HTTP Range when resuming). Redirects (to a CDN or object
   * store) are followed without our Authorization header when they leave the registry's host.
   */
  async blob(digest: string, offset: number, signal?: AbortSignal): Promise<{ res: HttpResponse; resumed: boolean }> {
    const headers: OutgoingHttpHeaders = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    let res = await this.request({ method: 'GET', url: this.url(`blobs/${digest}`), headers, ...(signal ? { signal } : {}) });
    for (let hops = 0; res.status >= 300 && res.status < 400 && res.headers.location; hops++) {
      if (hops >= MAX_REDIRECTS) throw unavailable(`blob ${digest}: too many redirects`);
      const next = new URL(res.headers.location, res.url);
      discard(res);
      res =
        next.host === this.endpoint.base.host
          ? await this.request({ method: 'GET', url: next, headers, ...(signal ? { signal } : {}) })
          : await send({ method: 'GET', url: next, headers: { ...headers, 'User-Agent': USER_AGENT }, ...(signal ? { signal } : {}) });
    }
    if (res.status === 200 || res.status === 206) return { res, resumed: res.status === 206 };
    const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    throw registryError(res.status, body, `blob ${digest}`);
  }

  /** Whether the repository has the blob (HEAD), and its size. */
  async blobSize(digest: string, signal?: AbortSignal): Promise<number | undefined> {
    const res = await this.request({ method: 'HEAD', url: this.url(`blobs/${digest}`), ...(signal ? { signal } : {}) });
    discard(res);
    if (res.status === 200) return Number(res.headers['content-length'] ?? 0);
    if (res.status === 404) return undefined;
    throw registryError(res.status, Buffer.alloc(0), `blob ${digest}`);
  }

  /**
   * Open an upload session, or mount the blob from another repository of the same registry
   * (201: mounted, nothing to send; 202: the registry would not mount it, here is a session).
   */
  async startUpload(mount?: { digest: string; from: string }, signal?: AbortSignal): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    const url = this.url('blobs/uploads/');
    if (mount) {
      url.searchParams.set('mount', mount.digest);
      url.searchParams.set('from', mount.from);
    }
    const res = await this.expect({ method: 'POST', url, headers: { 'Content-Length': '0' }, body: () => Buffer.alloc(0), ...(signal ? { signal } : {}) }, [201, 202], 'blob upload');
    discard(res);
    if (res.status === 201 && mount) return { mounted: true };
    return { mounted: false, location: this.#location(res, url) };
  }

  /**
   * Send a blob into an upload session: one PATCH with the whole content, then the closing
   * PUT with its digest — or, for a registry refusing PATCH, a single monolithic PUT.
   */
  async upload(location: URL, body: () => Readable, size: number, digest: string, signal?: AbortSignal): Promise<void> {
    const sig = signal ? { signal } : {};
    const patch = await this.request({
      method: 'PATCH',
      url: location,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size), ...(size > 0 ? { 'Content-Range': `0-${size - 1}` } : {}) },
      body,
      stream: true,
      ...sig,
    });
    if (patch.status === 202 || patch.status === 204) {
      discard(patch);
      const put = this.#withDigest(this.#location(patch, location), digest);
      discard(await this.expect({ method: 'PUT', url: put, headers: { 'Content-Length': '0' }, body: () => Buffer.alloc(0), ...sig }, [201, 204], `blob ${digest}`));
      return;
    }
    if (patch.status !== 404 && patch.status !== 405 && patch.status !== 501) {
      throw registryError(patch.status, await readBody(patch, 64 * 1024).catch(() => Buffer.alloc(0)), `blob ${digest}`);
    }
    discard(patch);
    // No chunked uploads here: start again and send everything with the PUT.
    const again = await this.startUpload(undefined, signal);
    if (again.mounted) return;
    const put = this.#withDigest(again.location, digest);
    discard(
      await this.expect(
        { method: 'PUT', url: put, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) }, body, stream: true, ...sig },
        [201, 204],
        `blob ${digest}`,
      ),
    );
  }

  async putManifest(ref: string, mediaType: string, body: Buffer, signal?: AbortSignal): Promise<string> {
    const res = await this.expect(
      { method: 'PUT', url: this.url(`manifests/${ref}`), headers: { 'Content-Type': mediaType, 'Content-Length': String(body.length) }, body: () => body, ...(signal ? { signal } : {}) },
      [200, 201, 202],
      `manifest ${ref}`,
    );
    discard(res);
    return String(res.headers['docker-content-digest'] ?? `sha256:${createHash('sha256').update(body).digest('hex')}`);
  }

  /** Every tag of the repository, following the Link header's pages. */
  async tags(signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let url: URL | undefined = this.url('tags/list');
    for (let page = 0; url && page < 100; page++) {
      const res = await this.expect({ method: 'GET', url, ...(signal ? { signal } : {}) }, [200], 'tags list');
      const json = JSON.parse((await readBody(res)).toString('utf8')) as { tags?: unknown };
      if (Array.isArray(json.tags)) out.push(...json.tags.filter((t): t is string => typeof t === 'string'));
      const link = /<([^>]+)>;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
      url = link ? new URL(link[1] as string, res.url) : undefined;
    }
    return out;
  }

  #location(res: HttpResponse, base: URL): URL {
    const loc = res.headers.location;
    if (!loc) throw unavailable(`${res.url.pathname}: the registry gave no upload location`);
    return new URL(loc, base);
  }

  #withDigest(url: URL, digest: string): URL {
    const u = new URL(url);
    u.searchParams.set('digest', digest);
    return u;
  }
}

export { RegistryError };
