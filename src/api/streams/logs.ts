import type { Ctx } from '../router.js';
import type { ContainerRecord, LogBackend } from '../backend.js';
import { boolParam } from '../body.js';
import { parseDockerTime } from '../../lib/docker-time.js';
import { invalidParameter, notImplemented } from '../../lib/errors.js';
import { MULTIPLEXED_STREAM, RAW_STREAM } from './hijack.js';

const AHEAD = 8 * 1024 * 1024;

/**
 * `GET /containers/{id}/logs`: read conmon's log file (never the attach socket), frame it
 * for the client, and with `follow` keep going until the container stops.
 */
export async function streamLogs(ctx: Ctx, r: ContainerRecord, logs: LogBackend, stopped: Promise<void>): Promise<void> {
  const { query, res, req } = ctx;
  const stdout = boolParam(query, 'stdout');
  const stderr = boolParam(query, 'stderr');
  if (!stdout && !stderr) throw invalidParameter('Bad parameters: you must choose at least one stream');
  // The none driver keeps no file.
  if (r.logPath === '') throw notImplemented('configured logging driver does not support reading');
  const follow = boolParam(query, 'follow');
  const timestamps = boolParam(query, 'timestamps');
  const tailRaw = query.get('tail');
  let tail: number | undefined;
  if (tailRaw !== null && tailRaw !== '' && tailRaw !== 'all') {
    if (!/^\d+$/.test(tailRaw)) throw invalidParameter(`invalid value for "tail": "${tailRaw}"`);
    tail = Number(tailRaw);
  }
  const sinceRaw = query.get('since');
  const untilRaw = query.get('until');
  const sinceNs = sinceRaw && sinceRaw !== '0' ? parseDockerTime(sinceRaw) : undefined;
  const untilNs = untilRaw && untilRaw !== '0' ? parseDockerTime(untilRaw) : undefined;

  const tty = r.spec.tty;
  const contentType = tty ? RAW_STREAM : ctx.version >= 1042 ? MULTIPLEXED_STREAM : RAW_STREAM;
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();

  // A chunk read from the file goes out in one socket write, however many lines.
  const send = (pieces: Buffer[]) => {
    if (pieces.length === 0) return;
    res.cork();
    for (const p of pieces) res.write(p);
    res.uncork();
  };
  // A follower's line, the latency `logs -f` is judged by: written as one HTTP chunk straight
  // on the socket, past the response's own write path (half of berthd's time per line, cold
  // as that code is when a line comes every few milliseconds). Only while the response holds
  // nothing of its own, so that order is kept; else as above.
  const socket = res.socket;
  const sendNow = (pieces: Buffer[]) => {
    if (!res.chunkedEncoding || !socket || res.writableLength !== 0 || socket.destroyed) return send(pieces);
    let size = 0;
    for (const p of pieces) size += p.length;
    if (size === 0) return;
    const head = `${size.toString(16)}\r\n`;
    const out = Buffer.allocUnsafe(head.length + size + 2);
    let at = out.write(head, 0, 'latin1');
    for (const p of pieces) at += p.copy(out, at);
    out[at] = 0x0d;
    out[at + 1] = 0x0a;
    socket.write(out);
  };
  const ac = new AbortController();
  const onClose = () => ac.abort();
  req.socket.on('close', onClose);
  const batches = logs.readBatches({
    path: r.logPath,
    follow,
    ...(tail !== undefined ? { tail } : {}),
    ...(sinceNs !== undefined ? { sinceNs } : {}),
    ...(untilNs !== undefined ? { untilNs } : {}),
    signal: ac.signal,
    stopped,
    times: timestamps,
    // The reader frames what it reads (without -t, tail or since/until, over its read buffer).
    frames: { stdout, stderr, multiplexed: !tty, timestamps },
    // A line written while we wait goes out from the reader's wake-up, straight away. In
    // order: every batch below is written before the next one is asked for (and the reader's
    // direct writes come from later wake-ups, never from within that ask).
    ...(follow ? { direct: { ready: () => !ac.signal.aborted && res.writableLength <= AHEAD, write: sendNow } } : {}),
  })[Symbol.asyncIterator]();
  let next = batches.next();
  try {
    for (;;) {
      const got = await next;
      if (got.done || ac.signal.aborted) break;
      // The next chunk is read while this one drains. A follower's line goes out before that
      // read starts (its syscalls would hold the line up); a whole file's next chunk is asked
      // for first, so that the thread pool reads it while this one is written.
      if (!follow) next = batches.next();
      send(got.value.frames ?? []);
      if (follow) next = batches.next();
      // Several megabytes stay queued in the response: the event loop hands them to the socket
      // as the client drains it, so the client never waits for our next read and parse (a
      // drain per socket buffer, ~200 KiB, starved it on a busy machine).
      if (res.writableLength > AHEAD) await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  } finally {
    req.socket.off('close', onClose);
    ac.abort();
    // A read still under way ends with the abort; its result is no one's.
    await next.catch(() => undefined);
    await batches.return?.(undefined).catch(() => undefined);
    if (!res.writableEnded) res.end();
  }
}
