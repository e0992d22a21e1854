import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/**
 * A tar produced while it is sent (docker cp, export, save) as the response body. A failure
 * mid-stream destroys the stream, and the producer's own promise reports it; unlistened, that
 * 'error' would end the daemon (pipe() does not handle its source's errors).
 */
export function sendTar(stream: Readable, res: ServerResponse): void {
  stream.on('error', () => undefined);
  stream.pipe(res);
}
