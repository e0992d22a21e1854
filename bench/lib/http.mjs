// HTTP over the daemon's unix socket with node's http module: a persistent keep-alive client
// (for raw API timings without CLI start-up) and one-shot probes (readiness polling).
import { Agent, request } from 'node:http';

/** The API version both engines serve (dockerd 20.10 tops out at 1.41). */
export const API = '/v1.41';

export class UnixClient {
  constructor(socketPath, { maxSockets = 1 } = {}) {
    this.socketPath = socketPath;
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /** One request; resolves { status, headers, body (Buffer), json() }. */
  request(method, path, body, { timeoutMs = 120_000 } = {}) {
    return call({ socketPath: this.socketPath, agent: this.agent }, method, path, body, timeoutMs);
  }

  async json(method, path, body, opts) {
    const r = await this.request(method, path, body, opts);
    if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.body.toString().slice(0, 500)}`);
    return r.body.length ? JSON.parse(r.body.toString()) : null;
  }

  close() {
    this.agent.destroy();
  }
}

/** A request on a fresh connection (no agent): what a poller that does not know the daemon's state does. */
export function oneShot(socketPath, method, path, body, timeoutMs = 2000) {
  return call({ socketPath, agent: false }, method, path, body, timeoutMs);
}

/** true when GET /_ping answers 200 on a fresh connection within the time. */
export async function ping(socketPath, timeoutMs = 1000) {
  try {
    const r = await oneShot(socketPath, 'GET', '/_ping', undefined, timeoutMs);
    return r.status === 200;
  } catch {
    return false;
  }
}

function call(base, method, path, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        ...base,
        method,
        path,
        headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
      },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          clearTimeout(timer);
          const buf = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json: () => JSON.parse(buf.toString()) });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (payload) req.write(payload);
    req.end();
  });
}
