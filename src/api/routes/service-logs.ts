import type { ServerResponse } from 'node:http';
import type { Ctx } from '../router.js';
import type { Backend, TaskObject } from '../backend.js';
import { boolParam } from '../body.js';
import { frame, STDERR, STDOUT } from '../stdcopy.js';
import { formatTimestamp } from '../../lib/docker-time.js';
import { invalidParameter } from '../../lib/errors.js';

type LogOptions = { stdout: boolean; stderr: boolean; follow: boolean; timestamps: boolean; details: boolean; tail?: number };

function logOptions(query: URLSearchParams): LogOptions {
  const stdout = boolParam(query, 'stdout');
  const stderr = boolParam(query, 'stderr');
  if (!stdout && !stderr) throw invalidParameter('Bad parameters: you must choose at least one stream');
  const tailRaw = query.get('tail');
  const tail = tailRaw && tailRaw !== 'all' && /^\d+$/.test(tailRaw) ? Number(tailRaw) : undefined;
  return { stdout, stderr, follow: boolParam(query, 'follow'), timestamps: boolParam(query, 'timestamps'), details: boolParam(query, 'details'), ...(tail !== undefined ? { tail } : {}) };
}

/**
 * `docker service logs` / task logs: every task container's log, each line with the details
 * the CLI turns into `<task name>@<node> |` (it always asks for them). Tasks are read one after
 * the other; `follow` keeps reading the running ones side by side until they stop or the
 * client goes. A task on another node is read there (its node API streams the same frames).
 */
export async function serviceLogs(b: Backend, ctx: Ctx, tasks: { value: TaskObject }[]): Promise<void> {
  const { query, res, req } = ctx;
  const o = logOptions(query);
  res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  const ac = new AbortController();
  req.socket.on('close', () => ac.abort());
  const local = b.swarm.swarm.nodeId;
  const readOne = async (t: TaskObject) => {
    if (t.nodeId === local) return writeTaskLog(b, t, o, res, ac.signal);
    const remote = await b.swarm.swarm.remoteTaskLogs(t, query, ac.signal);
    for await (const chunk of remote) res.write(chunk as Buffer);
  };
  try {
    if (o.follow) await Promise.all(tasks.map((t) => readOne(t.value).catch(() => undefined)));
    else for (const t of tasks) await readOne(t.value).catch(() => undefined);
  } finally {
    ac.abort();
    if (!res.writableEnded) res.end();
  }
}

/** A node's side of a manager's `/v1/logs` request: one task of this node, framed. */
export async function serveTaskLog(b: Backend, taskId: string, query: URLSearchParams, res: ServerResponse, signal: AbortSignal): Promise<void> {
  const o = logOptions(query);
  const c = b.containers.list().find((r) => r.spec.labels['com.docker.swarm.task.id'] === taskId);
  res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  try {
    if (c) await writeTaskLog(b, { id: taskId, nodeId: c.spec.labels['com.docker.swarm.node.id'] ?? '', serviceId: c.spec.labels['com.docker.swarm.service.id'] ?? '', status: { containerId: c.id } }, o, res, signal);
  } finally {
    if (!res.writableEnded) res.end();
  }
}

async function writeTaskLog(
  b: Backend,
  t: Pick<TaskObject, 'id' | 'nodeId' | 'serviceId'> & { status: { containerId?: string } },
  o: LogOptions,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const cid = t.status.containerId;
  if (!cid) return;
  let rec;
  try {
    rec = b.containers.get(cid);
  } catch {
    return;
  }
  if (!rec.logPath) return;
  const prefix = o.details ? `com.docker.swarm.node.id=${t.nodeId},com.docker.swarm.service.id=${t.serviceId},com.docker.swarm.task.id=${t.id} ` : '';
  const running = rec.state.status === 'running';
  for await (const m of b.logs.read({
    path: rec.logPath,
    follow: o.follow && running,
    ...(o.tail !== undefined ? { tail: o.tail } : {}),
    signal,
    stopped: b.containers.exitedOrGone(cid),
  })) {
    if (m.stream === 'stdout' ? !o.stdout : !o.stderr) continue;
    const data = m.src ? m.src.subarray(m.start, m.end) : m.data;
    const stamp = o.timestamps ? `${formatTimestamp(m.timeNs)} ` : '';
    res.write(frame(m.stream === 'stdout' ? STDOUT : STDERR, Buffer.concat([Buffer.from(stamp + prefix), data])));
  }
}
