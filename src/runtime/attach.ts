import { createRequire } from 'node:module';
import type { AttachSession } from '../engine/ports.js';
import { systemError } from '../lib/errors.js';

// conmon frames each packet as [stream id][payload]; ids from conmon's ctr_stdio.c.
const STDOUT_ID = 2;
const STDERR_ID = 3;
// conmon reads at most 32 KiB per input packet (CONN_SOCK_BUF_SIZE).
const MAX_INPUT_PACKET = 32 * 1024;

/**
 * Connect to conmon's attach socket (SOCK_SEQPACKET, which node:net cannot open). The
 * session always drains the socket: conmon writes to attach clients with blocking writes,
 * so a reader that stops reading would stop the container.
 */
export async function connectAttach(socketPath: string): Promise<AttachSession> {
  // Loaded on first use: a native addon that daemon start-up does not need. require, not
  // import(): berthd runs from a bundle compiled by node:vm, where import() is unavailable.
  const { SeqpacketSocket } = createRequire(import.meta.url)('node-unix-socket') as typeof import('node-unix-socket');
  return new Promise((resolve, reject) => {
    const sock = new SeqpacketSocket();
    let dataCb: ((stream: 'stdout' | 'stderr', data: Buffer) => void) | undefined;
    const pending: [('stdout' | 'stderr'), Buffer][] = [];
    const closeCbs: (() => void)[] = [];
    let closed = false;
    let destroyed = false;
    // The descriptor goes with the session, whichever side ends it: conmon's end of an exec's
    // socket (the process exited) leaves ours open until destroyed, one per exec otherwise.
    const destroy = () => {
      if (destroyed) return;
      destroyed = true;
      sock.destroy();
    };
    const onClose = () => {
      if (closed) return;
      closed = true;
      destroy();
      for (const cb of closeCbs) cb();
    };
    sock.on('data', (buf: Buffer) => {
      if (buf.length < 1) return;
      const id = buf[0];
      const stream = id === STDERR_ID ? 'stderr' : id === STDOUT_ID ? 'stdout' : undefined;
      if (!stream) return;
      const payload = buf.subarray(1);
      if (dataCb) dataCb(stream, payload);
      else pending.push([stream, Buffer.from(payload)]);
    });
    sock.on('end', onClose);
    sock.on('close', onClose);
    sock.on('error', (err: Error) => {
      if (!connected) reject(systemError(`cannot attach: ${err.message}`, err));
      onClose();
    });
    let connected = false;
    try {
      sock.connect(socketPath, () => {
        connected = true;
        resolve({
          onData(cb) {
            dataCb = cb;
            for (const [s, d] of pending.splice(0)) cb(s, d);
          },
          onClose(cb) {
            if (closed) cb();
            else closeCbs.push(cb);
          },
          write(data) {
            if (closed) return;
            for (let off = 0; off < data.length; off += MAX_INPUT_PACKET) {
              sock.write(data.subarray(off, off + MAX_INPUT_PACKET));
            }
          },
          closeStdin() {
            if (!closed) sock.end();
          },
          close() {
            onClose();
          },
        });
      });
    } catch (err) {
      reject(systemError(`cannot attach: ${(err as Error).message}`, err));
    }
  });
}
