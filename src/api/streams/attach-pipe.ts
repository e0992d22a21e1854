import type { Duplex } from 'node:stream';
import type { AttachSession } from '../backend.js';
import { frame } from '../stdcopy.js';
import { DetachMatcher } from './detach-keys.js';
import type { Logger } from '../../lib/logger.js';

// Output beyond this much unsent data is dropped rather than buffered without bound: the
// container must never wait for a slow client (conmon would block on us otherwise).
const MAX_PENDING = 16 * 1024 * 1024;

export type AttachPipeOptions = {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys: Buffer;
  /**
   * conmon closes the container's stdin when a client of a StdinOnce container disconnects,
   * and cannot tell a detach from an EOF. On detach such a session is kept open and drained,
   * so the container keeps its stdin, as with Docker.
   */
  keepOnDetach: boolean;
  log: Logger;
  /** Keep the client connection open after the output ends until this settles (exec). */
  holdOpenUntil?: Promise<unknown>;
};

/** Shuttle bytes between a hijacked client connection and a container's attach session. */
export function pipeAttach(session: AttachSession, conn: Duplex, o: AttachPipeOptions): Promise<void> {
  return new Promise((resolve) => {
    let dropped = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (dropped > 0) o.log.warn({ dropped }, 'attach client too slow: output dropped');
      resolve();
    };
    let detached = false;
    session.onData((stream, data) => {
      if (detached) return;
      if (stream === 'stdout' && !o.stdout) return;
      if (stream === 'stderr' && !o.stderr) return;
      if (conn.destroyed || conn.writableEnded) return;
      if (conn.writableLength > MAX_PENDING) {
        dropped += data.length;
        return;
      }
      conn.write(o.tty ? data : frame(stream === 'stdout' ? 1 : 2, data));
    });
    session.onClose(() => {
      const end = () => {
        if (!conn.destroyed && !conn.writableEnded) conn.end();
        finish();
      };
      if (o.holdOpenUntil) void o.holdOpenUntil.then(end, end);
      else end();
    });
    const matcher = new DetachMatcher(o.detachKeys);
    if (o.stdin) {
      conn.on('data', (chunk: Buffer) => {
        const { forward, detach } = matcher.feed(chunk);
        if (forward.length > 0) session.write(forward);
        if (detach) {
          detached = true;
          if (!o.keepOnDetach) session.close();
          conn.end();
          finish();
        }
      });
      conn.on('end', () => {
        if (!detached) session.closeStdin();
      });
      // The server paused the socket at the upgrade so early stdin waited for us.
      conn.resume();
    } else {
      conn.resume();
    }
    conn.on('close', () => {
      if (!detached) session.close();
      finish();
    });
    conn.on('error', () => undefined);
  });
}
