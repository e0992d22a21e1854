import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { systemError } from '../lib/errors.js';
import { cleanRuntimeMessage } from './conmon.js';

export type ExecLaunch = {
  conmonPath: string;
  containerId: string;
  execId: string;
  runtimePath: string;
  runtimeArgs: string[];
  /** Short path: conmon puts the attach socket at `<execDir>/attach` (sun_path is 108 bytes). */
  execDir: string;
  processSpec: string;
  tty: boolean;
  stdin: boolean;
  /** Called once conmon's attach socket exists and before the process starts. */
  attach?: (socketPath: string) => Promise<void>;
  /** conmon kills the process after this many seconds (`-T`), with or without us. */
  timeoutSeconds?: number;
};

export type ExecStarted = { pid: number; conmonPid: number; exit: Promise<number> };

/** JSON lines from one of conmon's pipes, as they come. */
function messages(stream: Readable): AsyncIterator<{ data: number; message?: string }> {
  let buf = '';
  const queue: { data: number; message?: string }[] = [];
  const waiters: ((v: IteratorResult<{ data: number; message?: string }>) => void)[] = [];
  let ended = false;
  const flush = () => {
    while (waiters.length > 0 && (queue.length > 0 || ended)) {
      const w = waiters.shift() as (v: IteratorResult<{ data: number; message?: string }>) => void;
      const m = queue.shift();
      w(m ? { value: m, done: false } : { value: undefined, done: true });
    }
  };
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        queue.push(JSON.parse(line) as { data: number; message?: string });
      } catch {
        queue.push({ data: -1, message: `unreadable message from conmon: ${line}` });
      }
    }
    flush();
  });
  const end = () => {
    ended = true;
    flush();
  };
  stream.on('end', end);
  stream.on('close', end);
  stream.on('error', end);
  return { next: () => new Promise((resolve) => (waiters.push(resolve), flush())) };
}

/**
 * Run a process in a running container through its own conmon (`conmon --exec`), as podman
 * does. The exit code arrives on the sync pipe when the process ends; conmon also writes it to
 * `<execDir>/exit/<container id>`, which survives a daemon restart.
 */
export async function launchExec(l: ExecLaunch): Promise<ExecStarted> {
  const args = [
    '--api-version', '1',
    '-c', l.containerId,
    '-u', l.execId,
    '-r', l.runtimePath,
    '-b', l.execDir,
    '-p', `${l.execDir}/exec_pid`,
    '-P', `${l.execDir}/conmon.pid`,
    '-l', 'none',
    '--exit-dir', `${l.execDir}/exit`,
    '--persist-dir', `${l.execDir}/persist`,
    '--full-attach',
    '--log-level', 'warn',
    '-e',
    '--exec-process-spec', l.processSpec,
  ];
  for (const a of l.runtimeArgs) args.push('--runtime-arg', a);
  if (l.tty) args.push('-t');
  if (l.stdin) args.push('-i');
  if (l.attach) args.push('--exec-attach');
  if (l.timeoutSeconds !== undefined && l.timeoutSeconds > 0) args.push('-T', String(Math.ceil(l.timeoutSeconds)));
  const child = spawn(l.conmonPath, args, {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      _OCI_SYNCPIPE: '3',
      _OCI_STARTPIPE: '4',
      ...(l.attach ? { _OCI_ATTACHPIPE: '5' } : {}),
    },
    detached: true,
  });
  let diag = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (diag += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (diag += d));
  const failed = new Promise<never>((_r, reject) => child.on('error', (err) => reject(systemError(`cannot run conmon: ${err.message}`, err))));
  const sync = messages(child.stdio[3] as Readable);
  const start = child.stdio[4] as Writable;
  start.on('error', () => undefined);
  start.write('0');
  try {
    if (l.attach) {
      const attachMsgs = messages((child.stdio as unknown as Readable[])[5] as Readable);
      const ready = await Promise.race([attachMsgs.next(), failed]);
      if (ready.done || ready.value.data < 0) throw systemError(`conmon could not set up the exec attach socket: ${ready.value?.message ?? diag}`);
      await l.attach(`${l.execDir}/attach`);
      // Only now does conmon run the process: the client misses no output.
      start.write('0');
    }
    const first = await Promise.race([sync.next(), failed]);
    if (first.done) throw systemError(`conmon exited before the exec started: ${diag.trim()}`);
    if (first.value.data < 0) throw systemError(cleanRuntimeMessage(first.value.message ?? diag).replace('OCI runtime create failed', 'OCI runtime exec failed'));
    const exit = sync.next().then((m) => {
      child.stdio[3]?.destroy();
      start.destroy();
      return m.done ? -1 : m.value.data;
    });
    const conmonPid = Number.parseInt(await readText(`${l.execDir}/conmon.pid`), 10);
    child.unref();
    return { pid: first.value.data, conmonPid, exit };
  } catch (err) {
    child.stdio[3]?.destroy();
    start.destroy();
    child.unref();
    throw err;
  }
}

async function readText(path: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const t = await readFile(path, 'utf8');
      if (t.trim() !== '') return t;
    } catch {
      // not yet written
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return '0';
}
