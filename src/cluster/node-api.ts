import { createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { BerthError, invalidParameter, messageOf, systemError, unavailable, type ErrorKind } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { certIdentity } from './ca.js';

/**
 * berth's node-to-node protocol: JSON over HTTPS with mutual TLS, certificates issued by the
 * cluster CA. Every node listens on its advertise address (port 2377 by default). Only two
 * routes answer a caller without a certificate — the CA (which a joining node checks against
 * its token's digest) and the join itself (which the token authorises); every other route
 * wants a certificate of this cluster, and some of them a manager's.
 */
export type Caller = { nodeId: string; role: string };

export type NodeRoute = {
  method: 'GET' | 'POST';
  path: string;
  /** `none`: open (CA, join); `node`: any node of the cluster; `manager`: a manager's certificate. */
  auth: 'none' | 'node' | 'manager';
  handler: (x: { caller: Caller | undefined; body: unknown; query: URLSearchParams; req: IncomingMessage; res: ServerResponse }) => Promise<unknown>;
};

export type Tls = { ca: string; cert: string; key: string };

/** Bodies are small JSON documents (a CSR, a task status): anything larger is refused. */
const MAX_BODY = 1 << 20;

export class NodeApiServer {
  #server: Server | undefined;
  readonly #routes: NodeRoute[];
  readonly #clusterId: string;
  readonly #log: Logger;

  constructor(o: { routes: NodeRoute[]; clusterId: string; log: Logger }) {
    this.#routes = o.routes;
    this.#clusterId = o.clusterId;
    this.#log = o.log;
  }

  async listen(addr: string, tls: Tls): Promise<void> {
    const { host, port } = splitHostPort(addr, 2377);
    const server = createServer({ ...tls, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
      void this.#handle(req, res);
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 0;
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(systemError(`failed to listen on remote API address ${addr}: ${messageOf(err)}`, err)));
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => this.#log.warn({ err: messageOf(err) }, 'swarm: node API server error'));
    this.#server = server;
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://node');
    const route = this.#routes.find((r) => r.method === req.method && r.path === url.pathname);
    try {
      if (!route) return send(res, 404, { message: `no such route: ${req.method} ${url.pathname}` });
      let caller: Caller | undefined;
      if (route.auth !== 'none') {
        const sock = req.socket as TLSSocket;
        const id = sock.authorized ? certIdentity((sock.getPeerCertificate() as PeerCertificate).subject) : undefined;
        if (!id || id.clusterId !== this.#clusterId) return send(res, 401, { message: 'a certificate of this swarm is required' });
        if (route.auth === 'manager' && id.role !== 'manager') return send(res, 403, { message: 'only a manager may call this' });
        caller = { nodeId: id.nodeId, role: id.role };
      }
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      const out = await route.handler({ caller, body, query: url.searchParams, req, res });
      if (!res.headersSent) send(res, 200, out ?? {});
    } catch (err) {
      const kind: ErrorKind = err instanceof BerthError ? err.kind : 'System';
      const status = STATUS[kind];
      if (status >= 500) this.#log.warn({ err: messageOf(err), path: url.pathname }, 'swarm: node API call failed');
      if (!res.headersSent) send(res, status, { message: messageOf(err), kind });
      else res.destroy();
    }
  }
}

/** The kind travels in the body; the status is for people reading a trace. */
const STATUS: Record<ErrorKind, number> = {
  NotFound: 404,
  InvalidParameter: 400,
  Conflict: 409,
  Unauthorized: 401,
  Forbidden: 403,
  Unavailable: 503,
  NotModified: 304,
  NotImplemented: 501,
  System: 500,
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw invalidParameter('request body too large');
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw invalidParameter('the request body is not JSON');
  }
}

/** An error answered by another node: its message and kind, as the remote side raised it. */
export class NodeCallError extends BerthError {
  readonly status: number;

  constructor(kind: ErrorKind, message: string, status: number) {
    super(kind, message);
    this.status = status;
  }
}

export type CallOptions = {
  /** Without a certificate (a joining node): `ca` may be absent for the very first call. */
  tls: Partial<Tls>;
  timeoutMs?: number;
  /** For a joining node: which CA the server's certificate must chain to (no host name check). */
  insecureNoCa?: boolean;
};

/**
 * One call to another node. The server's certificate must chain to the cluster CA; its host
 * name is not checked (node certificates name nodes, not addresses: any node of the cluster
 * may answer at an address).
 */
export function callNode<T>(addr: string, method: 'GET' | 'POST', path: string, body: unknown, o: CallOptions): Promise<T> {
  const { host, port } = splitHostPort(addr, 2377);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method,
        path,
        ...(o.tls.ca ? { ca: o.tls.ca } : {}),
        ...(o.tls.cert && o.tls.key ? { cert: o.tls.cert, key: o.tls.key } : {}),
        rejectUnauthorized: !o.insecureNoCa,
        checkServerIdentity: () => undefined,
        agent: false,
        headers: { 'Content-Type': 'application/json', ...(data ? { 'Content-Length': data.length } : {}) },
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : {};
          } catch {
            return reject(unavailable(`node ${addr} answered ${res.statusCode} with something that is not JSON`));
          }
          const status = res.statusCode ?? 500;
          if (status >= 400) {
            const j = json as { message?: string; kind?: ErrorKind };
            return reject(new NodeCallError(j.kind ?? 'System', j.message ?? `node ${addr} answered ${status}`, status));
          }
          resolve(json as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(unavailable(`node ${addr} did not answer within ${o.timeoutMs ?? 10_000} ms`)));
    req.on('error', (err) => reject(err instanceof BerthError ? err : unavailable(`cannot reach node ${addr}: ${messageOf(err)}`, err)));
    req.end(data);
  });
}

/**
 * A streaming GET to another node (task logs): the response itself, for the caller to pipe.
 * A refusal (4xx/5xx) is read and thrown as for callNode.
 */
export function streamNode(addr: string, path: string, tls: Tls, signal: AbortSignal): Promise<IncomingMessage> {
  const { host, port } = splitHostPort(addr, 2377);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method: 'GET', path, ca: tls.ca, cert: tls.cert, key: tls.key, checkServerIdentity: () => undefined, agent: false, signal }, (res) => {
      const status = res.statusCode ?? 500;
      if (status < 400) return resolve(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let msg = `node ${addr} answered ${status}`;
        try {
          msg = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: string }).message ?? msg;
        } catch {
          // not JSON: keep the status
        }
        reject(new NodeCallError(status === 404 ? 'NotFound' : 'Unavailable', msg, status));
      });
    });
    req.on('error', (err) => reject(err instanceof BerthError ? err : unavailable(`cannot reach node ${addr}: ${messageOf(err)}`, err)));
    req.end();
  });
}

export function splitHostPort(addr: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(addr.trim());
  const host = m?.[1] || '0.0.0.0';
  return { host, port: m?.[2] ? Number(m[2]) : defaultPort };
}
