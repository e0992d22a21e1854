import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { systemError } from '../lib/errors.js';

export type ConmonLaunch = {
  conmonPath: string;
  id: string;
  /** Names the attach-socket symlink; kept short so the socket path fits in sun_path. */
  cuuid: string;
  runtimePath: string;
  runtimeArgs: string[];
  bundle: string;
  containerPidFile: string;
  conmonPidFile: string;
  /** '' for no log file. */
  logPath: string;
  exitDir: string;
  persistDir: string;
  socketDir: string;
  tty: boolean;
  stdin: boolean;
  leaveStdinOpen: boolean;
  /**
   * Descriptors conmon inherits (as fds 5, 6, ...) and keeps open for its whole life: the
   * sockets reserving the container's published host ports (src/network/port-reservation.ts).
   * conmon 2.1.6 passes them on to `runc create`, which closes them before the container
   * process starts, so the container never holds them.
   */
  inheritFds?: readonly number[];
  timeoutMs?: number;
};

export function conmonArgs(l: ConmonLaunch): string[] {
  const args = [
    '--api-version', '1',
    '-c', l.id,
    '-u', l.cuuid,
    '-r', l.runtimePath,
    '-b', l.bundle,
    '-p', l.containerPidFile,
    '-P', l.conmonPidFile,
    // No path: the none log driver, output goes only to attached clients.
    '-l', l.logPath ? `k8s-file:${l.logPath}` : 'none',
    '--exit-dir', l.exitDir,
    '--persist-dir', l.persistDir,
    '--socket-dir-path', l.socketDir,
    '--log-level', 'warn',
  ];
  for (const a of l.runtimeArgs) args.push('--runtime-arg', a);
  if (l.tty) args.push('-t');
  if (l.stdin) args.push('-i');
  if (l.leaveStdinOpen) args.push('--leave-stdin-open');
  return args;
}

/**
 * Launch conmon, which forks itself away from us (so it outlives berthd), runs
 * `runc create`, and reports the container's PID on the sync pipe. The caller then runs
 * `runc start`. Returns the container PID and conmon's PID.
 */
export async function launchConmon(l: ConmonLaunch): Promise<{ containerPid: number; conmonPid: number }> {
  const child = spawn(l.conmonPath, conmonArgs(l), {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...(l.inheritFds ?? [])],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
    detached: true,
  });
  const sync = child.stdio[3] as Readable;
  const start = child.stdio[4] as Writable;
  let diag = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (diag += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (diag += d));
  start.on('error', () => undefined);
  // conmon waits for one byte on the start pipe before doing anything (podman moves it into
  // a cgroup at that point); we have nothing to do there.
  start.write('0');

  const timeoutMs = l.timeoutMs ?? 60_000;
  const message = await new Promise<{ data: number; message?: string }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(systemError(`conmon did not report within ${timeoutMs} ms`)), timeoutMs);
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      sync.removeAllListeners('data');
      fn();
    };
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        finish(() => resolve(JSON.parse(buf.slice(0, nl)) as { data: number; message?: string }));
      } catch (err) {
        finish(() => reject(systemError(`conmon sent an unreadable sync message: ${buf}`, err)));
      }
    });
    sync.on('end', () => finish(() => reject(systemError(`conmon exited before the container was created: ${diag.trim()}`))));
    sync.on('error', (err) => finish(() => reject(systemError('conmon sync pipe failed', err))));
    child.on('error', (err) => finish(() => reject(systemError(`cannot run conmon: ${err.message}`, err))));
  });
  // conmon keeps its end of these pipes; we are done with them.
  sync.destroy();
  start.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
  child.unref();

  if (message.data < 0) {
    throw systemError(cleanRuntimeMessage(message.message ?? diag));
  }
  const conmonPid = await readPidFile(l.conmonPidFile);
  return { containerPid: message.data, conmonPid };
}

async function readPidFile(path: string): Promise<number> {
  // The daemonised conmon writes this just before it reports on the sync pipe; allow a
  // short grace in case the write and our read race.
  for (let i = 0; i < 50; i++) {
    try {
      const pid = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
      if (pid > 0) return pid;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw systemError(`conmon did not write its pid file ${path}`);
}

/**
 * runc's create failure arrives as its stderr, often JSON log lines or
 * `time=... level=error msg="..."`; Docker shows the runtime's message after
 * "OCI runtime create failed: ".
 */
export function cleanRuntimeMessage(raw: string): string {
  const lines = raw.trim().split('\n').filter(Boolean);
  const msgs = lines.map((line) => {
    try {
      const j = JSON.parse(line) as { msg?: string };
      if (j.msg) return j.msg;
    } catch {
      // not JSON
    }
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
    return m?.[1] ? m[1].replace(/\\"/g, '"') : line;
  });
  return `OCI runtime create failed: ${msgs[msgs.length - 1] ?? 'unknown error'}`;
}
