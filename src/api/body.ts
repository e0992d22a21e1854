import type { IncomingMessage } from 'node:http';
import { invalidParameter } from '../lib/errors.js';

/** What a JSON request body may cost: its size, and how long the client may take to send it. */
export type BodyLimits = { maxJsonBytes: number; jsonTimeoutMs: number };

export const DEFAULT_BODY_LIMITS: BodyLimits = { maxJsonBytes: 16 * 1024 * 1024, jsonTimeoutMs: 60_000 };

// Set by the server for each request it dispatches (tests run a server with small limits).
const limitsOf = new WeakMap<IncomingMessage, BodyLimits>();

export function setBodyLimits(req: IncomingMessage, limits: BodyLimits): void {
  limitsOf.set(req, limits);
}

/**
 * The whole body, refused as soon as it is known to be too large (by its Content-Length or
 * once that many bytes came) or too slow: a client never makes the daemon hold more than the
 * limit, nor wait forever. The server closes a connection whose request was cut off this way.
 */
function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const tooLarge = () => invalidParameter(`request body too large: a JSON body is at most ${limits.maxJsonBytes} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxJsonBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', done).off('aborted', onAborted);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxJsonBytes) done(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => done();
    const onAborted = () => done(invalidParameter('the client closed the connection before sending the whole request body'));
    const timer = setTimeout(() => done(invalidParameter(`request body not received within ${limits.jsonTimeoutMs / 1000} s`)), limits.jsonTimeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', done).on('aborted', onAborted);
  });
}

/**
 * Read a JSON request body as dockerd does: a non-JSON Content-Type is refused, an empty
 * body is `undefined`, malformed JSON is a 400 naming the problem.
 */
export async function readJson(req: IncomingMessage, preread?: Buffer): Promise<unknown> {
  const text = (preread ?? (await readBody(req, limitsOf.get(req) ?? DEFAULT_BODY_LIMITS))).toString('utf8');
  if (text.trim() === '') return undefined;
  const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  if (ct !== '' && ct !== 'application/json') {
    throw invalidParameter(`unsupported Content-Type header (${ct}): must be 'application/json'`);
  }
  tooDeep(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidParameter(`invalid JSON: ${(err as Error).message}`);
  }
  // Only an escape can put a NUL in a JSON string (a raw one is malformed).
  if (/\\u0000/i.test(text)) refuseNul(value, '');
  return value;
}

/**
 * No path, argument, environment entry or name Linux takes can hold a NUL byte, and Node's
 * fs and spawn throw on one (500s found by the fuzzer: a bind source, a volume, a workdir).
 * dockerd takes the string and fails wherever it meets it; berth refuses it at the door.
 */
function refuseNul(v: unknown, at: string): void {
  const where = () => (at === '' ? 'the body' : at);
  if (typeof v === 'string') {
    if (v.includes('\0')) throw invalidParameter(`invalid value in ${where()}: a NUL byte`);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => refuseNul(x, `${at}[${i}]`));
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const path = at === '' ? k : `${at}.${k}`;
      if (k.includes('\0')) throw invalidParameter(`invalid key in ${where()}: a NUL byte`);
      refuseNul(x, path);
    }
  }
}

// No request has a reason to nest this deep; the daemon walks and stores bodies with
// recursive code (JSON.stringify among it), which a deeper one would overflow.
const MAX_JSON_DEPTH = 512;

/** Refuses JSON nested deeper than MAX_JSON_DEPTH, counting brackets outside strings. */
function tooDeep(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw invalidParameter(`invalid JSON: nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** dockerd's BoolValue: false for absent, empty, 0, no, false, none (any case, spaces trimmed). */
export function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
}

/**
 * An integer query parameter, absent or empty being `undefined`. Bounded like the Go integer
 * dockerd parses it into (int64 unless said otherwise; resize sizes are uint16 in the kernel):
 * past the bounds is "value out of range", as strconv says, never a silent huge number.
 */
export function intParam(q: URLSearchParams, name: string, range: { min?: number; max?: number } = {}): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[-+]?\d+$/.test(v)) throw invalidParameter(`invalid value for ${name}: ${v}`);
  const n = Number(v);
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalidParameter(`invalid value for ${name}: ${v}: value out of range`);
  return n;
}

/** A terminal's height or width (`h`, `w` of resize): what a winsize holds. */
export const TTY_SIZE = { min: 0, max: 65535 } as const;

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
