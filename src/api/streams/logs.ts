import type { Ctx } from '../router.js';
import type { ContainerRecord, LogBackend } from '../backend.js';
import { boolParam } from '../body.js';
import { formatTimestamp, parseDockerTime } from '../../lib/docker-time.js';
import { frame } from '../stdcopy.js';
import { invalidParameter, notImplemented } from '../../lib/errors.js';
import { MULTIPLEXED_STREAM, RAW_STREAM } from './hijack.js';

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
  try {
    for await (const m of logs.read({
      path: r.logPath,
      follow,
      ...(tail !== undefined ? { tail } : {}),
      ...(sinceNs !== undefined ? { sinceNs } : {}),
      ...(untilNs !== undefined ? { untilNs } : {}),
      signal: ac.signal,
      stopped,
    })) {
      if (m.stream === 'stdout' && !stdout) continue;
      if (m.stream === 'stderr' && !stderr) continue;
      const data = timestamps ? Buffer.concat([Buffer.from(`${formatTimestamp(m.timeNs)} `), m.data]) : m.data;
      const ok = res.write(tty ? data : frame(m.stream === 'stdout' ? 1 : 2, data));
      if (!ok) await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
      if (ac.signal.aborted) break;
    }
  } finally {
    req.socket.off('close', onClose);
    if (!res.writableEnded) res.end();
  }
}
