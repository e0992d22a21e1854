import { Duplex, PassThrough } from 'node:stream';
import type { Ctx } from '../router.js';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/**
 * Take over the connection for a bidirectional stream (attach, exec start). With
 * `Upgrade: tcp` it answers `101 UPGRADED` and hands back the raw socket, as dockerd does;
 * without it (older clients), it streams the response body and reads the request body.
 */
export function hijack(ctx: Ctx, contentType: string): Duplex {
  if (ctx.upgrade) {
    const { socket, head } = ctx.upgrade;
    ctx.res.detachSocket(socket as never);
    socket.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    if (head.length > 0) socket.unshift(head);
    return socket;
  }
  ctx.res.writeHead(200, { 'Content-Type': contentType });
  ctx.res.flushHeaders();
  const input = new PassThrough();
  ctx.req.pipe(input);
  const res = ctx.res;
  const duplex = new Duplex({
    read() {
      const chunk = input.read() as Buffer | null;
      if (chunk) this.push(chunk);
    },
    write(chunk: Buffer, _enc, cb) {
      res.write(chunk, () => cb());
    },
    final(cb) {
      res.end(() => cb());
    },
  });
  input.on('readable', () => {
    let chunk: Buffer | null;
    while ((chunk = input.read() as Buffer | null)) duplex.push(chunk);
  });
  input.on('end', () => duplex.push(null));
  res.on('close', () => duplex.destroy());
  return duplex;
}
