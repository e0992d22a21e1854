import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { invalidParameter } from '../lib/errors.js';

/** What a handler gets: the request, its path parameters, its query, and the API version in use. */
export type Ctx = {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  version: number;
  /** Set when the client asked to hijack the connection (`Upgrade: tcp`). */
  upgrade?: { socket: Duplex; head: Buffer; body: Buffer };
};

export type Handler = (ctx: Ctx) => Promise<void> | void;

export type Route = { method: string; path: string; handler: Handler };

type Compiled = { method: string; re: RegExp; keys: string[]; handler: Handler };

/**
 * Routes are `METHOD /path/{param}`; a `{name:*}` param takes the rest of the path (image
 * names contain slashes: `/images/localhost:5000/a/b/json`).
 */
export class Router {
  readonly #routes: Compiled[] = [];

  add(routes: Route[]): void {
    for (const r of routes) {
      const keys: string[] = [];
      const src = r.path.replace(/\{(\w+)(:\*)?\}/g, (_m, key: string, rest?: string) => {
        keys.push(key);
        return rest ? '(.+)' : '([^/]+)';
      });
      this.#routes.push({ method: r.method, re: new RegExp(`^${src}$`), keys, handler: r.handler });
    }
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method' | undefined {
    let pathMatched = false;
    for (const r of this.#routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => (params[k] = decodeParam(m[i + 1] ?? '')));
      return { handler: r.handler, params };
    }
    return pathMatched ? 'method' : undefined;
  }
}

/** A path parameter with a bad escape (`%zz`, a cut UTF-8 sequence) is the client's error. */
function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidParameter(`invalid URL escape in path: ${JSON.stringify(raw)}`);
  }
}
