import type { Ctx } from '../router.js';
import type { Backend, TaskObject } from '../backend.js';
import { boolParam } from '../body.js';
import { frame, STDERR, STDOUT } from '../stdcopy.js';
import { formatTimestamp } from '../../lib/docker-time.js';
import { invalidParameter } from '../../lib/errors.js';

/**
 * `docker service logs` / task logs: every task container's log, each line with the details
 * the CLI turns into `<task name>@<node> |` (it always asks for them). Tasks are read one after
 * the other; `follow` keeps reading the running ones side by side until they stop or the
 * client goes.
 */
export async function serviceLogs(b: Backend, ctx: Ctx, tasks: { value: TaskObject }[]): Promise<void> {
  const { query, res, req } = ctx;
  const stdout = boolParam(query, 'stdout');
  const stderr = boolParam(query, 'stderr');
  if (!stdout && !stderr) throw invalidParameter('Bad parameters: you must choose at least one stream');
  const follow = boolParam(query, 'follow');
  const timestamps = boolParam(query, 'timestamps');
  const details = boolParam(query, 'details');
  const tailRaw = query.get('tail');
  const tail = tailRaw && tailRaw !== 'all' && /^\d+$/.test(tailRaw) ? Number(tailRaw) : undefined;
  res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  const ac = new AbortController();
  req.socket.on('close', () => ac.abort());
  const readOne = async (t: TaskObject) => {
    const cid = t.status.containerId;
    if (!cid) return;
    let rec;
    try {
      rec = b.containers.get(cid);
    } catch {
      return;
    }
    if (!rec.logPath) return;
    const prefix = details ? `com.docker.swarm.node.id=${t.nodeId},com.docker.swarm.service.id=${t.serviceId},com.docker.swarm.task.id=${t.id} ` : '';
    const running = rec.state.status === 'running';
    for await (const m of b.logs.read({
      path: rec.logPath,
      follow: follow && running,
      ...(tail !== undefined ? { tail } : {}),
      signal: ac.signal,
      stopped: b.containers.exitedOrGone(cid),
    })) {
      if (m.stream === 'stdout' ? !stdout : !stderr) continue;
      const data = m.src ? m.src.subarray(m.start, m.end) : m.data;
      const stamp = timestamps ? `${formatTimestamp(m.timeNs)} ` : '';
      res.write(frame(m.stream === 'stdout' ? STDOUT : STDERR, Buffer.concat([Buffer.from(stamp + prefix), data])));
    }
  };
  try {
    if (follow) await Promise.all(tasks.map((t) => readOne(t.value).catch(() => undefined)));
    else for (const t of tasks) await readOne(t.value).catch(() => undefined);
  } finally {
    ac.abort();
    if (!res.writableEnded) res.end();
  }
}
