import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import { chmod, chown, rm } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { Router, type Route } from './router.js';
import { DEFAULT_BODY_LIMITS, setBodyLimits, type BodyLimits } from './body.js';
import { writeError } from './http-errors.js';
import { API_VERSION, checkVersion, versionNumber } from './api-version.js';
import { errnoCode, errorKind, invalidParameter, messageOf, notFound, systemError } from '../lib/errors.js';
import { connect } from 'node:net';
import type { Logger } from '../lib/logger.js';

/** What one client may cost the daemon (defaults below; tests run a server with small ones). */
export type ApiLimits = BodyLimits & {
  /** The request line and headers must arrive within this. */
  headersTimeoutMs: number;
  /**
   * Hijacked connections (attach, exec start) open at once, over every listener: each holds
   * descriptors until its client goes. A unix socket does not tell clients apart, so the bound
   * is global; `docker compose up` of 20 services attaches 20.
   */
  maxHijacked: number;
};

export const DEFAULT_LIMITS: ApiLimits = { ...DEFAULT_BODY_LIMITS, headersTimeoutMs: 60_000, maxHijacked: 1024 };

export type ApiServerOptions = { routes: Route[]; log: Logger; serverHeader: string; limits?: Partial<ApiLimits> };

/** PEM contents for a TLS listener; with `ca`, clients must present a certificate it signed. */
export type TlsFiles = { cert: Buffer; key: Buffer; ca?: Buffer };

/**
 * No limit on a whole request (`docker load` of a large image takes what it takes); JSON
 * bodies have theirs (body.ts). Node checks its header deadline every `connectionsCheckingInterval`.
 */
function serverOptions(l: ApiLimits) {
  return { keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: l.headersTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(100, l.headersTimeoutMs / 4)) };
}

function listen(server: Server, start: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    start(() => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The Docker Engine API over HTTP/1.1 on unix sockets: versioned paths, errors, hijack. */
export class ApiServer {
  readonly #router = new Router();
  readonly #log: Logger;
  readonly #serverHeader: string;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Duplex>();
  readonly #hijacked = new Set<Duplex>();
  readonly #limits: ApiLimits;
  #opened = false;
  #open: () => void = () => undefined;
  readonly #whenOpen = new Promise<void>((resolve) => (this.#open = resolve));

  constructor(o: ApiServerOptions) {
    this.#router.add(o.routes);
    this.#log = o.log;
    this.#serverHeader = o.serverHeader;
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
  }

  /** The API on a unix socket, mode 0660, owned by root and `gid` (the `group` option). */
  async listenUnix(path: string, opts: { mode?: number; gid?: number } = {}): Promise<void> {
    // A stale socket file is replaced; one with a live server behind it is not ours to take.
    if (await answers(path)) throw systemError(`listen unix ${path}: bind: address already in use`);
    await rm(path, { force: true });
    const server = this.#wire(createServer(serverOptions(this.#limits)));
    await listen(server, (done) => server.listen(path, done));
    await chmod(path, opts.mode ?? 0o660);
    if (opts.gid !== undefined) await chown(path, 0, opts.gid);
    this.#servers.push(server);
  }

  /**
   * The API on TCP. With `tls`, over TLS; with `tls.ca`, mutual TLS: a client without a
   * certificate signed by that CA is refused during the handshake, before any request.
   */
  async listenTcp(host: string, port: number, tls?: TlsFiles): Promise<{ port: number }> {
    const server = this.#wire(
      tls
        ? createHttpsServer({
            ...serverOptions(this.#limits),
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
            minVersion: 'TLSv1.2',
          })
        : createServer(serverOptions(this.#limits)),
    );
    if (tls) {
      server.on('tlsClientError', (err: Error) => this.#log.debug({ err: err.message }, 'TLS handshake refused'));
    }
    await listen(server, (done) => server.listen(port, host, done));
    this.#servers.push(server);
    const addr = server.address();
    return { port: typeof addr === 'object' && addr ? addr.port : port };
  }

  /** Requests, hijacked upgrades and connection bookkeeping, the same on every listener. */
  #wire<S extends Server>(server: S): S {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.#dispatch(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.#hijacked.size >= this.#limits.maxHijacked) {
        this.#log.warn({ open: this.#hijacked.size, url: req.url }, 'hijacked connection refused: too many open');
        const body = JSON.stringify({ message: `too many attached connections (${this.#hijacked.size} open, at most ${this.#limits.maxHijacked}): close some attach or exec sessions` });
        socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      this.#hijacked.add(socket);
      socket.once('close', () => this.#hijacked.delete(socket));
      // Hold the client's bytes (stdin may follow the request at once) until a reader is
      // attached: a flowing socket with no 'data' listener would drop them.
      socket.pause();
      // Hijacked requests get a response object only for reporting errors before the switch.
      const res = new ServerResponse(req);
      res.assignSocket(socket as never);
      // node:http leaves an upgrade request's body in the raw stream: split it off, so it is
      // not taken for the client's first stdin bytes.
      void splitBody(req, socket, head).then(
        ({ body, rest }) => this.#dispatch(req, res, { socket, head: rest, body }),
        (err: unknown) => {
          const body = JSON.stringify({ message: messageOf(err) });
          socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        },
      );
    });
    server.on(server instanceof HttpsServer ? 'secureConnection' : 'connection', (s: Duplex) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.on('clientError', (err: Error, socket: Duplex) => {
      this.#log.debug({ err: messageOf(err) }, 'bad HTTP request');
      // What node's parser says went wrong, in HTTP's words (a slow client's headers: 408).
      const code = errnoCode(err);
      const status = code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      if (!socket.destroyed) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    });
    return server;
  }

  /** Start answering: requests that arrived since listenUnix were held until now. */
  open(): void {
    this.#opened = true;
    this.#open();
  }

  /** Stop accepting connections and close the ones in flight. */
  async close(): Promise<void> {
    for (const s of this.#servers) s.close();
    for (const s of this.#sockets) s.destroy();
    this.#servers.length = 0;
  }

  /** Hijacked connections open now. */
  get hijackedCount(): number {
    return this.#hijacked.size;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse, upgrade?: { socket: Duplex; head: Buffer; body: Buffer }): Promise<void> {
    setBodyLimits(req, this.#limits);
    if (!this.#opened) await this.#whenOpen;
    res.setHeader('Server', this.#serverHeader);
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Ostype', 'linux');
    const url = new URL(req.url ?? '/', 'http://berth');
    let path = url.pathname;
    let version = versionNumber(API_VERSION);
    try {
      const m = /^\/v([0-9.]+)(\/.*)$/.exec(path);
      if (m) {
        version = checkVersion(m[1] as string);
        path = m[2] as string;
      } else if (/^\/v\d[^/]*\//.test(path)) {
        // A malformed version prefix (`/v1.x/…`), not an unversioned path such as `/volumes/…`.
        throw notFound('page not found');
      }
      const found = this.#router.match(req.method ?? 'GET', path.replace(/\/+$/, '') || '/');
      if (found === undefined) throw notFound('page not found');
      if (found === 'method') {
        res.writeHead(405, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: 'method not allowed' }));
        return;
      }
      for (const [k, v] of url.searchParams) {
        // As in a JSON body (body.ts): nothing a query value names can hold one.
        if (k.includes('\0') || v.includes('\0')) throw invalidParameter(`invalid value for ${k.replace(/\0/g, '\\0')}: a NUL byte`);
      }
      await found.handler({ req, res, params: found.params, query: url.searchParams, version, ...(upgrade ? { upgrade } : {}) });
    } catch (err) {
      const kind = errorKind(err);
      if (kind === 'System') this.#log.error({ err, method: req.method, url: req.url }, 'request failed');
      else this.#log.debug({ err: messageOf(err), method: req.method, url: req.url }, 'request refused');
      // Refused before its body was read whole (too large, too slow): the rest of it is not
      // read to find the next request; the connection ends with the answer.
      if (!upgrade && !req.complete && !res.headersSent) res.setHeader('Connection', 'close');
      writeError(res, err);
    }
  }
}


function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** The first Content-Length bytes after the headers of an upgrade request are its body. */
async function splitBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<{ body: Buffer; rest: Buffer }> {
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isFinite(length) || length <= 0) return { body: Buffer.alloc(0), rest: head };
  if (length > 1024 * 1024) throw new Error('request body too large: an attach or exec request body is at most 1048576 bytes');
  let buf = head;
  while (buf.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => {
        cleanup();
        resolve(d);
      };
      const onEnd = () => {
        cleanup();
        resolve(null);
      };
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      socket.resume();
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  return { body: buf.subarray(0, length), rest: buf.subarray(length) };
}
