import { newId } from '../lib/ids.js';
import { conflict, invalidParameter, messageOf, notFound } from '../lib/errors.js';
import type { ContainerRecord } from './container.js';
import type { AttachSession, ExecProcess, OciRuntime } from './ports.js';
import type { EventBus } from './events.js';
import type { Logger } from '../lib/logger.js';

export type ExecConfig = {
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  privileged: boolean;
  detachKeys: string;
  consoleSize?: [number, number];
};

export type ExecSession = {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  exitCode: number | null;
  pid: number;
  process?: ExecProcess;
  /** Settles when the process has ended and its exit code is known. */
  done?: Promise<number>;
};

export type ExecDeps = {
  runtime: OciRuntime;
  events: EventBus;
  log: Logger;
  /** The container, checked to be running and managed by this daemon. */
  runningContainer: (ref: string) => ContainerRecord;
};

/**
 * `docker exec`: sessions live in memory, as in dockerd (they are forgotten when the daemon
 * restarts; the processes themselves keep running under their conmon).
 */
export class ExecService {
  readonly #d: ExecDeps;
  readonly #sessions = new Map<string, ExecSession>();

  constructor(d: ExecDeps) {
    this.#d = d;
    // A removed container's sessions go with it, as in dockerd (inspect of one is then a 404):
    // kept, they held every exec ever run for as long as the daemon lived.
    d.events.subscribe((e) => {
      if (e.type === 'container' && e.action === 'destroy') this.#forget(e.id);
    });
  }

  #forget(containerId: string): void {
    for (const [id, s] of this.#sessions) if (s.containerId === containerId) this.#sessions.delete(id);
  }

  create(containerRef: string, config: ExecConfig): string {
    const c = this.#d.runningContainer(containerRef);
    if (config.cmd.length === 0) throw invalidParameter('No exec command specified');
    const id = newId();
    this.#sessions.set(id, { id, containerId: c.id, config, running: false, exitCode: null, pid: 0 });
    this.#d.events.emit('container', `exec_create: ${config.cmd.join(' ')}`, c.id, { execID: id, name: c.name, image: c.spec.image });
    return id;
  }

  get(id: string): ExecSession {
    const s = this.#sessions.get(id);
    if (!s) throw notFound(`No such exec instance: ${id}`);
    return s;
  }

  /** Exec ids of a container's running sessions (inspect's ExecIDs). */
  idsOf(containerId: string): string[] {
    return [...this.#sessions.values()].filter((s) => s.containerId === containerId && s.running).map((s) => s.id);
  }

  /**
   * Start the process. With attach, the session is connected before the process runs. A
   * failure to start sets Docker's exit codes (127 not found, 126 not executable).
   */
  async start(id: string, opts: { detach: boolean; consoleSize?: [number, number] }): Promise<{ session?: AttachSession; done: Promise<number> }> {
    const s = this.get(id);
    if (s.running || s.exitCode !== null) throw conflict(`Error: Exec command ${id} has already run`);
    const c = this.#d.runningContainer(s.containerId);
    if (c.state.status !== 'running') throw conflict(`Container ${c.id} is not running`);
    const cfg = s.config;
    s.running = true;
    // The terminal comes from the exec's creation, as in dockerd; the start request's Tty
    // only chooses how the answer is framed (the API's business).
    const tty = cfg.tty;
    const consoleSize = opts.consoleSize ?? cfg.consoleSize;
    let proc: ExecProcess;
    try {
      proc = await this.#d.runtime.exec(c.state.handle, {
        execId: id,
        args: cfg.cmd,
        env: cfg.env,
        ...(cfg.workingDir ? { cwd: cfg.workingDir } : {}),
        ...(cfg.user ? { user: cfg.user } : {}),
        tty,
        stdin: cfg.attachStdin && !opts.detach,
        privileged: cfg.privileged,
        ...(consoleSize ? { consoleSize } : {}),
        ...(opts.detach ? {} : { attach: { stdin: cfg.attachStdin, stdout: cfg.attachStdout, stderr: cfg.attachStderr } }),
      });
    } catch (err) {
      s.running = false;
      const msg = messageOf(err);
      s.exitCode = /executable file not found|no such file or directory/.test(msg) ? 127 : 126;
      throw err;
    }
    s.process = proc;
    s.pid = proc.pid;
    this.#d.events.emit('container', `exec_start: ${cfg.cmd.join(' ')}`, c.id, { execID: id, name: c.name, image: c.spec.image });
    s.done = proc.exit.then((code) => {
      s.running = false;
      s.exitCode = code;
      // The ended process's streams and buffers are not kept with its session.
      delete s.process;
      this.#d.events.emit('container', 'exec_die', c.id, { execID: id, exitCode: String(code), name: c.name, image: c.spec.image });
      return code;
    });
    return { ...(proc.session ? { session: proc.session } : {}), done: s.done };
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const s = this.get(id);
    if (!s.process || !s.running) throw conflict(`Exec process ${id} is not running`);
    await s.process.resize(height, width);
  }
}
