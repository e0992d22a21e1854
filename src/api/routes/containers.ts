import type { Route, Ctx } from '../router.js';
import type { Backend } from '../backend.js';
import { boolParam, intParam, readJson, sendJson, sendNoContent, TTY_SIZE } from '../body.js';
import { parseCreateBody } from '../wire/create-request.js';
import { parseUpdateBody } from '../wire/update-request.js';
import { inspectJson, summaryJson, type ContainerNet } from '../wire/container-json.js';
import { statsJson } from '../wire/stats-json.js';
import { hijack, MULTIPLEXED_STREAM, RAW_STREAM } from '../streams/hijack.js';
import { pipeAttach } from '../streams/attach-pipe.js';
import { parseDetachKeys } from '../streams/detach-keys.js';
import { streamLogs } from '../streams/logs.js';
import { containerPruneSelection, filterContainers } from '../wire/container-filters.js';
import { invalidParameter, messageOf } from '../../lib/errors.js';
import { frame } from '../stdcopy.js';
import type { Duplex } from 'node:stream';
import { familiarString, parseReference, type ContainerRecord, type WaitCondition } from '../backend.js';
import { sendTar } from '../streams/tar-body.js';

export function containerRoutes(b: Backend): Route[] {
  const imageName = (r: ContainerRecord) => displayImage(r.spec.image);
  return [
    {
      method: 'POST',
      path: '/containers/create',
      handler: async ({ req, res, query }) => {
        const body = await readJson(req);
        if (body === undefined) throw invalidParameter('invalid JSON: got EOF while reading request body');
        const opts = parseCreateBody(body, query.get('name') ?? undefined, query.get('platform') || undefined);
        const { id, warnings } = await b.containers.create(opts);
        sendJson(res, 201, { Id: id, Warnings: warnings });
      },
    },
    {
      method: 'POST',
      path: '/containers/prune',
      handler: async ({ res, query }) => {
        const r = await b.containers.prune(containerPruneSelection(query.get('filters')));
        sendJson(res, 200, { ContainersDeleted: r.deleted, SpaceReclaimed: r.spaceReclaimed });
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/changes',
      handler: async ({ res, params }) => {
        const changes = await b.containers.changes(params['id'] as string);
        sendJson(res, 200, changes.map((c) => ({ Path: c.path, Kind: c.kind })));
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/export',
      handler: async ({ req, res, params }) => {
        const tar = await b.containers.export(params['id'] as string);
        res.writeHead(200, { 'Content-Type': 'application/x-tar' });
        // A client that leaves stops tar (SIGPIPE), which unmounts the container.
        req.socket.once('close', () => tar.stream.destroy());
        sendTar(tar.stream, res);
        await tar.done.catch((err: unknown) => {
          b.log.error({ err: messageOf(err) }, 'docker export failed');
          res.destroy();
        });
      },
    },
    {
      method: 'GET',
      path: '/containers/json',
      handler: async ({ res, query }) => {
        const now = Date.now();
        const all = boolParam(query, 'all');
        const limit = intParam(query, 'limit') ?? -1;
        let list = filterContainers(b.containers.list(), query.get('filters'), all || limit > 0);
        list.sort((x, y) => (y.created < x.created ? -1 : y.created > x.created ? 1 : 0));
        if (limit > 0) list = list.slice(0, limit);
        const ids = networkIds(b);
        const rows = list.map((r) => summaryJson(r, imageName(r), now, b.containers.notAdoptedReason(r.id), containerNet(b, r, ids)));
        // `ps --size`: walking every container layer is why it is asked for, not done by default.
        if (boolParam(query, 'size')) await Promise.all(list.map(async (r, i) => Object.assign(rows[i] as object, await sizesOf(b, r))));
        sendJson(res, 200, rows);
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/json',
      handler: async ({ res, params, query }) => {
        const r = b.containers.get(params['id'] as string);
        const json = inspectJson(r, imageName(r), b.containers.notAdoptedReason(r.id), containerNet(b, r, networkIds(b)));
        const execs = b.exec.idsOf(r.id);
        const sizes = boolParam(query, 'size') ? await sizesOf(b, r) : {};
        sendJson(res, 200, { ...json, ExecIDs: execs.length > 0 ? execs : null, ...sizes });
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/start',
      handler: async ({ res, params }) => {
        await b.containers.start(params['id'] as string);
        sendNoContent(res);
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/stop',
      handler: async ({ res, params, query }) => {
        const t = intParam(query, 't');
        const signal = query.get('signal') || undefined;
        await b.containers.stop(params['id'] as string, { ...(t !== undefined ? { timeout: t } : {}), ...(signal ? { signal } : {}) });
        sendNoContent(res);
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/kill',
      handler: async ({ res, params, query }) => {
        await b.containers.kill(params['id'] as string, query.get('signal') || 'SIGKILL');
        sendNoContent(res);
      },
    },
    {
      method: 'DELETE',
      path: '/containers/{id}',
      handler: async ({ res, params, query }) => {
        await b.containers.remove(params['id'] as string, { force: boolParam(query, 'force'), removeVolumes: boolParam(query, 'v') });
        sendNoContent(res);
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/restart',
      handler: async ({ res, params, query }) => {
        const t = intParam(query, 't');
        const signal = query.get('signal') || undefined;
        await b.containers.restart(params['id'] as string, { ...(t !== undefined ? { timeout: t } : {}), ...(signal ? { signal } : {}) });
        sendNoContent(res);
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/pause',
      handler: async ({ res, params }) => {
        await b.containers.pause(params['id'] as string);
        sendNoContent(res);
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/unpause',
      handler: async ({ res, params }) => {
        await b.containers.unpause(params['id'] as string);
        sendNoContent(res);
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/update',
      handler: async ({ req, res, params }) => {
        const { warnings } = await b.containers.update(params['id'] as string, parseUpdateBody(await readJson(req)));
        sendJson(res, 200, { Warnings: warnings.length > 0 ? warnings : null });
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/rename',
      handler: async ({ res, params, query }) => {
        const name = query.get('name');
        if (!name) throw invalidParameter('Neither old nor new names may be empty');
        await b.containers.rename(params['id'] as string, name);
        sendNoContent(res);
      },
    },
    { method: 'POST', path: '/containers/{id}/wait', handler: (ctx) => waitHandler(b, ctx) },
    {
      method: 'GET',
      path: '/containers/{id}/top',
      handler: async ({ res, params, query }) => {
        const t = await b.containers.top(params['id'] as string, query.get('ps_args') ?? '');
        sendJson(res, 200, { Titles: t.titles, Processes: t.processes });
      },
    },
    { method: 'GET', path: '/containers/{id}/stats', handler: (ctx) => statsHandler(b, ctx) },
    // berth's own: list and stop the containers this daemon refused to adopt (`berth stop-unadopted`).
    {
      method: 'GET',
      path: '/berth/unadopted',
      handler: ({ res }) => {
        const list = b.containers.list().filter((r) => b.containers.notAdoptedReason(r.id));
        sendJson(res, 200, list.map((r) => ({ Id: r.id, Name: r.name, Reason: b.containers.notAdoptedReason(r.id) })));
      },
    },
    {
      method: 'POST',
      path: '/berth/unadopted/stop',
      handler: async ({ res, query }) => {
        const ids = await b.containers.stopUnadopted(query.getAll('id'), intParam(query, 't') ?? 10);
        sendJson(res, 200, { Stopped: ids });
      },
    },
    { method: 'POST', path: '/containers/{id}/attach', handler: (ctx) => attachHandler(b, ctx) },
    {
      method: 'POST',
      path: '/containers/{id}/resize',
      handler: async ({ res, params, query }) => {
        const h = intParam(query, 'h', TTY_SIZE) ?? 0;
        const w = intParam(query, 'w', TTY_SIZE) ?? 0;
        await b.containers.resize(params['id'] as string, h, w);
        res.writeHead(200);
        res.end();
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/logs',
      handler: async (ctx) => {
        const r = b.containers.get(ctx.params['id'] as string);
        await streamLogs(ctx, r, b.logs, b.containers.exitedOrGone(r.id));
      },
    },
  ];
}

const WAIT_CONDITIONS = new Set(['not-running', 'next-exit', 'removed']);

async function waitHandler(b: Backend, { req, res, params, query }: Ctx): Promise<void> {
  const condition = query.get('condition') || 'not-running';
  if (!WAIT_CONDITIONS.has(condition)) throw invalidParameter(`invalid condition: "${condition}"`);
  const ac = new AbortController();
  // Looked up before the headers go out, so a missing container is still a 404.
  const result = b.containers.wait(params['id'] as string, condition as WaitCondition, ac.signal);
  // `docker run` waits for these headers before it starts the container.
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const onClose = () => ac.abort(new Error('client went away'));
  req.socket.on('close', onClose);
  try {
    const r = await result;
    res.end(JSON.stringify({ StatusCode: r.statusCode, Error: r.error ? { Message: r.error } : null }));
  } catch {
    res.destroy();
  } finally {
    req.socket.off('close', onClose);
  }
}

async function attachHandler(b: Backend, ctx: Ctx): Promise<void> {
  const { params, query } = ctx;
  const ref = params['id'] as string;
  const r = b.containers.get(ref);
  const detachKeys = parseDetachKeys(query.get('detachKeys'));
  const want = {
    stdin: boolParam(query, 'stdin'),
    stdout: boolParam(query, 'stdout'),
    stderr: boolParam(query, 'stderr'),
  };
  const logs = boolParam(query, 'logs');
  const stream = boolParam(query, 'stream');
  const contentType = r.spec.tty ? RAW_STREAM : ctx.version >= 1042 ? MULTIPLEXED_STREAM : RAW_STREAM;
  if (!stream) {
    // Docker's defaults: without stream=1 the answer is the output so far (logs=1) and ends.
    const conn = hijack(ctx, contentType);
    conn.on('error', () => undefined);
    if (logs) await replayLogs(b, r, want, conn);
    if (!conn.destroyed) conn.end();
    return;
  }
  const attach = b.containers.attach(ref, want);
  const conn = hijack(ctx, contentType);
  conn.on('error', () => undefined);
  if (logs) await replayLogs(b, r, want, conn);
  let cancelled = false;
  const onEarlyClose = () => {
    cancelled = true;
    attach.cancel();
  };
  conn.once('close', onEarlyClose);
  let session;
  try {
    session = await attach.ready;
  } catch (err) {
    if (!conn.destroyed) conn.end();
    void err;
    return;
  }
  conn.off('close', onEarlyClose);
  if (cancelled || conn.destroyed) {
    session.close();
    return;
  }
  await pipeAttach(session, conn, {
    tty: r.spec.tty,
    ...want,
    detachKeys,
    keepOnDetach: r.spec.stdinOnce,
    log: b.log,
  });
}

/** What the container wrote so far, framed as the attach stream frames it. */
async function replayLogs(b: Backend, r: ContainerRecord, want: { stdout: boolean; stderr: boolean }, conn: Duplex): Promise<void> {
  if (r.logPath === '') return;
  for await (const m of b.logs.read({ path: r.logPath, follow: false })) {
    if (conn.destroyed) return;
    if ((m.stream === 'stdout' && !want.stdout) || (m.stream === 'stderr' && !want.stderr)) continue;
    const ok = conn.write(r.spec.tty ? m.data : frame(m.stream === 'stdout' ? 1 : 2, m.data));
    if (!ok) await new Promise<void>((resolve) => {
      conn.once('drain', resolve);
      conn.once('close', resolve);
    });
  }
}

function networkIds(b: Backend): Map<string, string> {
  return new Map(b.networks.list().map((n) => [n.name, n.id]));
}

/** The container's endpoints and the networks' ids, for inspect and ps. */
export function containerNet(b: Backend, r: ContainerRecord, ids: Map<string, string>): ContainerNet {
  return { endpoints: b.networks.endpointsOf(r.id), networkIds: ids };
}

/** SizeRw (the container's own layer) and SizeRootFs (with its image), as `--size` shows them. */
async function sizesOf(b: Backend, r: ContainerRecord): Promise<{ SizeRw: number; SizeRootFs: number }> {
  const rw = await b.containers.layerSize(r.id).catch(() => 0);
  let image = 0;
  try {
    image = b.images.resolve(r.imageId).size;
  } catch {
    // The image is gone (rmi -f): its size is unknown.
  }
  return { SizeRw: rw, SizeRootFs: rw + image };
}

/** How ps and inspect show the image: as the user named it. */
export function displayImage(image: string): string {
  let shown = displayed.get(image);
  if (shown === undefined) {
    shown = familiarOrAsIs(image);
    // Names are few and parsing one is not free: a ps of 1000 containers parsed 1000 times.
    if (displayed.size > 10_000) displayed.clear();
    displayed.set(image, shown);
  }
  return shown;
}
const displayed = new Map<string, string>();

function familiarOrAsIs(image: string): string {
  if (/^(sha256:)?[0-9a-f]{64}$/.test(image)) return image;
  try {
    return familiarString(parseReference(image));
  } catch {
    return image;
  }
}

/** One sample (stream=false or one-shot), or a sample a second until the client leaves. */
async function statsHandler(b: Backend, { req, res, params, query }: Ctx): Promise<void> {
  const r = b.containers.get(params['id'] as string);
  const stream = query.get('stream') === null ? true : boolParam(query, 'stream');
  const sample = async () => {
    const at = new Date().toISOString();
    const s = await b.containers.stats(r.id).catch(() => undefined);
    const st = b.containers.get(r.id).state;
    const pid = st.status === 'running' || st.status === 'paused' ? st.handle.container.pid : undefined;
    const net = s && b.networks.endpointsOf(r.id).length > 0 ? await b.networks.stats(r.id, pid).catch(() => undefined) : undefined;
    return { at, s, net };
  };
  let prev = stream || boolParam(query, 'one-shot') ? undefined : await sample();
  if (prev) await new Promise((resolve) => setTimeout(resolve, 100));
  res.writeHead(200, { 'Content-Type': 'application/json' });
  let open = true;
  req.socket.on('close', () => (open = false));
  do {
    const now = await sample();
    const body = statsJson(r.id, r.name, now.s, prev?.s, now.at, prev?.at, now.net);
    if (!stream) {
      res.end(JSON.stringify(body));
      return;
    }
    res.write(`${JSON.stringify(body)}\n`);
    prev = now;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } while (open && !res.writableEnded);
  if (!res.writableEnded) res.end();
}
