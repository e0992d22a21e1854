import type { ServerResponse } from 'node:http';
import { errorKind, messageOf, type ErrorKind } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

/** The one place error kinds become HTTP status codes (as moby's httpstatus does). */
export function statusOf(kind: ErrorKind): number {
  switch (kind) {
    case 'NotFound':
      return 404;
    case 'InvalidParameter':
      return 400;
    case 'Conflict':
      return 409;
    case 'Unauthorized':
      return 401;
    case 'Forbidden':
      return 403;
    case 'Unavailable':
      return 503;
    case 'NotModified':
      return 304;
    case 'NotImplemented':
      return 501;
    case 'System':
      return 500;
  }
}

export function writeError(res: ServerResponse, err: unknown): void {
  const status = statusOf(errorKind(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 304) {
    res.writeHead(304);
    res.end();
    return;
  }
  const body = JSON.stringify({ message: messageOf(err) });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A failure inside a JSON message stream (load, and later pull, push, build): dockerd answers
 * 200 and writes the error as the stream's last message, which clients turn into their error
 * (the CLI prints it and exits 1).
 */
export function writeStreamError(res: ServerResponse, err: unknown, log: Logger): void {
  const message = messageOf(err);
  if (statusOf(errorKind(err)) >= 500) log.error({ err }, message);
  else log.debug({ err: message }, 'stream request failed');
  if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
}
