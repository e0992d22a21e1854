import type { Ctx } from '../router.js';
import type { ContainerRecord, LogBackend, LogBatch, LogMessage } from '../backend.js';
import { boolParam } from '../body.js';
import { formatTimestamp, parseDockerTime } from '../../lib/docker-time.js';
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
    // Without -t the reader frames whole chunks itself (it ignores this for tail/since/until).
    ...(timestamps ? {} : { frames: { stdout, stderr, multiplexed: !tty } }),
  })[Symbol.asyncIterator]();
  // The next chunk is read and parsed while this one goes out: at a drain, it is ready.
  let next = batches.next();
  try {
    for (;;) {
      const got = await next;
      if (got.done || ac.signal.aborted) break;
      next = batches.next();
      const pieces = encodeBatch(got.value, { stdout, stderr, tty, timestamps });
      if (pieces.length === 0) continue;
      // A chunk read from the file goes out in one socket write, however many lines.
      res.cork();
      for (const p of pieces) res.write(p);
      res.uncork();
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

/** A batch as the pieces to write: the reader's frames, or its messages encoded. */
export function encodeBatch(batch: LogBatch, o: { stdout: boolean; stderr: boolean; tty: boolean; timestamps: boolean }): Buffer[] {
  if (batch.frames) return batch.frames;
  const out = encodeMessages(batch.messages, o);
  return out.length > 0 ? [out] : [];
}

/**
 * Messages as the client reads them: one stdcopy frame per message (Docker's framing, which
 * clients that iterate frames rely on), or the raw bytes with a terminal; `docker logs -t`
 * puts the time in front of each. Encoded into one buffer.
 */
export function encodeMessages(messages: readonly LogMessage[], o: { stdout: boolean; stderr: boolean; tty: boolean; timestamps: boolean }): Buffer {
  const header = o.tty ? 0 : 8;
  const stamps = o.timestamps ? messages.map((m) => `${formatTimestamp(m.timeNs)} `) : undefined;
  let size = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as LogMessage;
    if (m.stream === 'stdout' ? !o.stdout : !o.stderr) continue;
    size += header + (m.src ? (m.end as number) - (m.start as number) : m.data.length) + (stamps ? (stamps[i] as string).length : 0);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as LogMessage;
    if (m.stream === 'stdout' ? !o.stdout : !o.stderr) continue;
    const stamp = stamps?.[i];
    const bytes = m.src ? (m.end as number) - (m.start as number) : m.data.length;
    const len = bytes + (stamp ? stamp.length : 0);
    // Plain byte stores: writeUInt32BE checks its arguments on each call.
    if (header) {
      out[at] = m.stream === 'stdout' ? 1 : 2;
      out[at + 1] = 0;
      out[at + 2] = 0;
      out[at + 3] = 0;
      out[at + 4] = len >>> 24;
      out[at + 5] = (len >>> 16) & 0xff;
      out[at + 6] = (len >>> 8) & 0xff;
      out[at + 7] = len & 0xff;
      at += 8;
    }
    if (stamp) at += out.write(stamp, at, 'latin1');
    if (m.src) m.src.copy(out, at, m.start, m.end);
    else out.set(m.data, at);
    at += bytes;
  }
  return out;
}
