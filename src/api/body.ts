import type { IncomingMessage } from 'node:http';
import { invalidParameter } from '../lib/errors.js';

const MAX_JSON_BODY = 16 * 1024 * 1024;

/**
 * Read a JSON request body as dockerd does: a non-JSON Content-Type is refused, an empty
 * body is `undefined`, malformed JSON is a 400 naming the problem.
 */
export async function readJson(req: IncomingMessage, preread?: Buffer): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (preread) chunks.push(preread);
  else {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_JSON_BODY) throw invalidParameter('request body too large');
      chunks.push(chunk);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  if (ct !== '' && ct !== 'application/json') {
    throw invalidParameter(`unsupported Content-Type header (${ct}): must be 'application/json'`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidParameter(`invalid JSON: ${(err as Error).message}`);
  }
}

export function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !(v === '' || v === '0' || v.toLowerCase() === 'false' || v.toLowerCase() === 'no');
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw invalidParameter(`invalid value for ${name}: ${v}`);
  return Number(v);
}

export function sendJson(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  // Encoded once: byteLength then end(text) would walk a large list twice.
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length });
  res.end(bytes);
}

export function sendNoContent(res: import('node:http').ServerResponse): void {
  res.writeHead(204);
  res.end();
}
