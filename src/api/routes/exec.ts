import type { Route, Ctx } from '../router.js';
import type { Backend } from '../backend.js';
import { intParam, readJson, sendJson, TTY_SIZE } from '../body.js';
import { hijack, MULTIPLEXED_STREAM, RAW_STREAM } from '../streams/hijack.js';
import { pipeAttach } from '../streams/attach-pipe.js';
import { parseDetachKeys } from '../streams/detach-keys.js';
import { frame } from '../stdcopy.js';
import { invalidParameter, messageOf } from '../../lib/errors.js';
import type { ExecConfig } from '../backend.js';

type Json = Record<string, unknown>;

function strings(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw invalidParameter(`json: cannot unmarshal into Go struct field ExecConfig.${field} of type []string`);
}

function size(v: unknown): [number, number] | undefined {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => Number.isInteger(n) && (n as number) > 0)) return undefined;
  return [v[0] as number, v[1] as number];
}

export function parseExecBody(body: unknown): ExecConfig {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidParameter('invalid JSON: expected an object');
  const b = body as Json;
  const str = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : '');
  const bool = (k: string) => b[k] === true;
  const consoleSize = size(b['ConsoleSize']);
  if (str('DetachKeys')) parseDetachKeys(str('DetachKeys'));
  return {
    cmd: strings(b['Cmd'], 'Cmd'),
    env: strings(b['Env'], 'Env'),
    workingDir: str('WorkingDir'),
    user: str('User'),
    tty: bool('Tty'),
    attachStdin: bool('AttachStdin'),
    attachStdout: bool('AttachStdout'),
    attachStderr: bool('AttachStderr'),
    privileged: bool('Privileged'),
    detachKeys: str('DetachKeys'),
    ...(consoleSize ? { consoleSize } : {}),
  };
}

export function execRoutes(b: Backend): Route[] {
  return [
    {
      method: 'POST',
      path: '/containers/{id}/exec',
      handler: async ({ req, res, params }) => {
        const body = await readJson(req);
        if (body === undefined) throw invalidParameter('invalid JSON: got EOF while reading request body');
        sendJson(res, 201, { Id: b.exec.create(params['id'] as string, parseExecBody(body)) });
      },
    },
    { method: 'POST', path: '/exec/{id}/start', handler: (ctx) => startHandler(b, ctx) },
    {
      method: 'POST',
      path: '/exec/{id}/resize',
      handler: async ({ res, params, query }) => {
        await b.exec.resize(params['id'] as string, intParam(query, 'h', TTY_SIZE) ?? 0, intParam(query, 'w', TTY_SIZE) ?? 0);
        res.writeHead(200);
        res.end();
      },
    },
    {
      method: 'GET',
      path: '/exec/{id}/json',
      handler: ({ res, params }) => {
        const s = b.exec.get(params['id'] as string);
        const [entrypoint = '', ...args] = s.config.cmd;
        sendJson(res, 200, {
          ID: s.id,
          Running: s.running,
          ExitCode: s.exitCode,
          ProcessConfig: { tty: s.config.tty, entrypoint, arguments: args, privileged: s.config.privileged, user: s.config.user },
          OpenStdin: s.config.attachStdin,
          OpenStderr: s.config.attachStderr,
          OpenStdout: s.config.attachStdout,
          CanRemove: false,
          ContainerID: s.containerId,
          DetachKeys: s.config.detachKeys,
          Pid: s.pid,
        });
      },
    },
  ];
}

async function startHandler(b: Backend, ctx: Ctx): Promise<void> {
  const body = ((await readJson(ctx.req, ctx.upgrade?.body)) ?? {}) as Json;
  const id = ctx.params['id'] as string;
  const s = b.exec.get(id);
  const detach = body['Detach'] === true;
  // Raw or multiplexed framing of the answer; the process's terminal was chosen at create.
  const tty = typeof body['Tty'] === 'boolean' ? (body['Tty'] as boolean) : s.config.tty;
  const consoleSize = size(body['ConsoleSize']);
  if (detach) {
    await b.exec.start(id, { detach: true, ...(consoleSize ? { consoleSize } : {}) });
    ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
    ctx.res.end();
    return;
  }
  const conn = hijack(ctx, tty ? RAW_STREAM : ctx.version >= 1042 ? MULTIPLEXED_STREAM : RAW_STREAM);
  conn.on('error', () => undefined);
  let started;
  try {
    started = await b.exec.start(id, { detach: false, ...(consoleSize ? { consoleSize } : {}) });
  } catch (err) {
    // After the switch to a raw stream, dockerd reports a start failure as text in it.
    const text = Buffer.from(`${messageOf(err)}\r\n`);
    conn.end(tty ? text : frame(1, text));
    return;
  }
  const piped = started.session
    ? pipeAttach(started.session, conn, {
        tty,
        stdin: s.config.attachStdin,
        stdout: s.config.attachStdout,
        stderr: s.config.attachStderr,
        detachKeys: parseDetachKeys(s.config.detachKeys || undefined),
        keepOnDetach: false,
        log: b.log,
        // The client reads the exit code right after the stream ends: end it only then.
        holdOpenUntil: started.done,
      })
    : Promise.resolve();
  await Promise.all([piped, started.done]);
}
