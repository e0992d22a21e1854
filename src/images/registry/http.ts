import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { unavailable } from '../../lib/errors.js';

/** TLS settings for one registry host: extra CAs and client certificates from certs.d. */
export type TlsOptions = { ca?: string[]; cert?: string; key?: string; verify: boolean };

export type HttpRequest = {
  method: string;
  url: URL;
  headers?: OutgoingHttpHeaders;
  /** A buffer, or a stream whose length is in Content-Length (or sent chunked). */
  body?: Buffer | Readable;
  tls?: TlsOptions;
  signal?: AbortSignal;
};

export type HttpResponse = {
  status: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
  url: URL;
};

/**
 * A registry that does not answer fails in bounded time, never hangs: the connection, and
 * then each silence (waiting for the headers, or inside a body), are bounded.
 * BERTH_REGISTRY_TIMEOUT (seconds) shortens the silence bound, for tests and impatient users.
 */
const CONNECT_TIMEOUT_MS = 15_000;
const IDLE_TIMEOUT_MS = (Number(process.env['BERTH_REGISTRY_TIMEOUT']) || 60) * 1000;

const agents = new Map<string, HttpAgent>();
/** One endpoint's TLS options are made once per operation and used for all its requests. */
const materialOf = new WeakMap<TlsOptions, string>();

function agentFor(url: URL, tls: TlsOptions | undefined): HttpAgent {
  // Keyed by the trust material too: certs.d is read again for each operation, and a changed
  // CA or client certificate must not ride on a connection made with the old one.
  let material = tls ? materialOf.get(tls) : 'default';
  if (material === undefined && tls) {
    material = createHash('sha256').update(JSON.stringify([tls.verify, tls.ca ?? [], tls.cert ?? '', tls.key ?? ''])).digest('hex');
    materialOf.set(tls, material);
  }
  const key = `${url.protocol}//${url.host} ${material}`;
  let a = agents.get(key);
  if (!a) {
    a =
      url.protocol === 'https:'
        ? new HttpsAgent({
            keepAlive: true,
            maxSockets: 16,
            rejectUnauthorized: tls?.verify ?? true,
            ...(tls?.ca ? { ca: tls.ca } : {}),
            ...(tls?.cert ? { cert: tls.cert, key: tls.key } : {}),
          })
        : new HttpAgent({ keepAlive: true, maxSockets: 16 });
    agents.set(key, a);
  }
  return a;
}

/**
 * One HTTP exchange over node's http/https, with the timeouts a registry client needs: the
 * connection, the wait for the headers and every pause in the body are bounded.
 */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  try {
    return await sendOnce(req);
  } catch (err) {
    // A kept-alive connection the server closed just as we reused it (its idle timeout):
    // the request never reached it, so it is sent again on a fresh connection, as Go's
    // client does for requests without a stream body.
    if ((err as { reusedSocket?: boolean }).reusedSocket && !(req.body !== undefined && !Buffer.isBuffer(req.body)) && !req.signal?.aborted) {
      return sendOnce(req);
    }
    throw err;
  }
}

function sendOnce(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const { url } = req;
    const fn = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const r = fn(url, { method: req.method, headers: req.headers ?? {}, agent: agentFor(url, req.tls), signal: req.signal });
    let connected = false;
    const connectTimer = setTimeout(() => {
      if (!connected) r.destroy(unavailable(`${req.method} ${url.origin}: connection timed out after ${CONNECT_TIMEOUT_MS / 1000}s`));
    }, CONNECT_TIMEOUT_MS);
    connectTimer.unref();
    r.on('socket', (s) => {
      const onConnect = () => {
        connected = true;
        clearTimeout(connectTimer);
      };
      if (!s.connecting) onConnect();
      else s.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', onConnect);
    });
    r.setTimeout(IDLE_TIMEOUT_MS, () => r.destroy(unavailable(`${req.method} ${url.href}: no answer from the registry within ${IDLE_TIMEOUT_MS / 1000}s`)));
    r.on('error', (err) => {
      clearTimeout(connectTimer);
      const code = (err as { code?: string }).code;
      if (r.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) Object.assign(err, { reusedSocket: true });
      reject(err);
    });
    r.on('response', (res) => {
      clearTimeout(connectTimer);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    const body = req.body;
    if (body === undefined) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else {
      body.on('error', (err) => r.destroy(err));
      body.pipe(r);
    }
  });
}

export async function readBody(res: HttpResponse, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.body.destroy();
      throw unavailable(`${res.url.href}: the registry's answer is larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Drop a body we do not read, keeping the connection reusable when it is small. */
export function discard(res: HttpResponse): void {
  res.body.resume();
}
