import { mkdir, rm, writeFile, access, open, readFile } from 'node:fs/promises';
import { constants, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  AttachSession,
  AttachStreams,
  ExecProcess,
  ExecRequest,
  ExitInfo,
  OciRuntime,
  ProbeResult,
  RuntimeHandle,
  StartRequest,
  RawStats,
  ResourceLimits,
} from '../engine/ports.js';
import { identify, isAlive, readStatSync, signalGroup, signalIdentity, type ProcessIdentity } from '../lib/proc.js';
import { launchConmon } from './conmon.js';
import { RuncCli } from './runc.js';
import { ExitWatcher } from './exit-watcher.js';
import { connectAttach } from './attach.js';
import { launchExec } from './conmon-exec.js';
import { containerPids, readStats, runcResources } from './cgroups.js';
import { run } from '../lib/exec.js';
import { resolveUser } from './user.js';
import { mergeEnv } from '../lib/env.js';
import type { Logger } from '../lib/logger.js';
import { invalidParameter, messageOf, systemError } from '../lib/errors.js';

export type ConmonRuntimeOptions = {
  execRoot: string;
  /** Recorded in each bundle: which data root's daemon started it. */
  dataRoot: string;
  /** What `exec --privileged` gets: the daemon's bounding set. */
  hostCapabilities?: string[];
  conmonPath: string;
  log: Logger;
};

/**
 * The OciRuntime adapter: one conmon per container, runc underneath. Layout under exec-root:
 *   containers/<id>/          bundle (config.json, conmon's ctl/winsz FIFOs, attach socket)
 *   containers/<id>/persist/  conmon's persist dir (must exist until the container exits)
 *   exits/<id>                conmon's exit file
 *   s/<cuuid>                 conmon's short symlink to the bundle (attach socket path)
 *   runc/                     runc's state root
 */
export class ConmonRuntime implements OciRuntime {
  readonly #o: ConmonRuntimeOptions;
  readonly exits: ExitWatcher;
  readonly runcRoot: string;

  constructor(o: ConmonRuntimeOptions) {
    this.#o = o;
    this.exits = new ExitWatcher(join(o.execRoot, 'exits'), o.log);
    this.runcRoot = join(o.execRoot, 'runc');
  }

  async init(): Promise<void> {
    for (const d of ['containers', 'exits', 's', 'runc', 'e']) {
      await mkdir(join(this.#o.execRoot, d), { recursive: true, mode: 0o700 });
    }
    this.exits.start();
    await this.#removeFinishedExecs();
  }

  /**
   * Exec sessions (health probes among them) whose daemon died before they ended leave their
   * folder behind; once their conmon is gone nothing needs it.
   */
  async #removeFinishedExecs(): Promise<void> {
    const dir = join(this.#o.execRoot, 'e');
    for (const name of readdirSync(dir)) {
      const pid = Number.parseInt(await readFile(join(dir, name, 'conmon.pid'), 'utf8').catch(() => ''), 10);
      const cmdline = pid > 0 ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '') : '';
      if (cmdline.split('\0')[0]?.endsWith('conmon') && cmdline.includes(join(dir, name))) continue;
      await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  close(): void {
    this.exits.stop();
  }

  bundleDir(id: string): string {
    return join(this.#o.execRoot, 'containers', id);
  }

  #runc(h: { runtimePath: string }): RuncCli {
    return new RuncCli(h.runtimePath, this.runcRoot);
  }

  async start(
    req: StartRequest,
    beforeStart: (handle: RuntimeHandle) => Promise<void>,
  ): Promise<RuntimeHandle> {
    const bundle = this.bundleDir(req.id);
    const persistDir = join(bundle, 'persist');
    const socketDir = join(this.#o.execRoot, 's');
    const cuuid = req.id.slice(0, 16);
    // A previous run of the same container leaves its exit file; it must not be taken for this one.
    await rm(this.exits.exitFile(req.id), { force: true });
    await rm(bundle, { recursive: true, force: true });
    await mkdir(persistDir, { recursive: true, mode: 0o700 });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(req.ociSpec), { mode: 0o600 });
    await writeFile(join(bundle, 'owner'), this.#o.dataRoot, { mode: 0o600 });

    const { containerPid, conmonPid } = await launchConmon({
      conmonPath: this.#o.conmonPath,
      id: req.id,
      cuuid,
      runtimePath: req.runtime.path,
      runtimeArgs: ['--root', this.runcRoot, ...req.runtime.args],
      bundle,
      containerPidFile: join(bundle, 'pidfile'),
      conmonPidFile: join(bundle, 'conmon.pid'),
      logPath: req.logPath,
      exitDir: this.exits.dir,
      persistDir,
      socketDir,
      tty: req.tty,
      ...(req.inheritFds ? { inheritFds: req.inheritFds } : {}),
      stdin: req.stdin,
      leaveStdinOpen: !req.stdinOnce,
    });
    const conmon = await identify(conmonPid);
    const container = await identify(containerPid);
    if (!conmon || !container) {
      await this.cleanup(req.id, undefined);
      throw systemError('container monitor exited during start');
    }
    const handle: RuntimeHandle = {
      handleVersion: 1,
      id: req.id,
      runtime: req.runtime.name,
      runtimePath: req.runtime.path,
      runtimeRoot: this.runcRoot,
      conmon,
      container,
      bundle,
      exitFile: this.exits.exitFile(req.id),
      persistDir,
      attachSocket: join(socketDir, cuuid, 'attach'),
      ctlFifo: join(bundle, 'ctl'),
      startedAt: '',
    };
    try {
      await beforeStart(handle);
      await this.#runc(handle).start(req.id);
    } catch (err) {
      await this.#forceStop(req.id, handle);
      await this.cleanup(req.id, handle);
      throw err;
    }
    return { ...handle, startedAt: new Date().toISOString() };
  }

  async #forceStop(id: string, h: RuntimeHandle): Promise<void> {
    await signalIdentity(h.container, 'SIGKILL');
    try {
      await this.waitExit(h, AbortSignal.timeout(10_000));
    } catch (err) {
      this.#o.log.warn({ containerId: id, err: messageOf(err) }, 'container did not exit after SIGKILL');
    }
  }

  async kill(h: RuntimeHandle, signal: number): Promise<boolean> {
    // Signal the container's init directly: verified by start time, and no runc process
    // to spawn on the stop path.
    return signalIdentity(h.container, signal);
  }

  waitExit(h: RuntimeHandle, signal?: AbortSignal): Promise<ExitInfo> {
    return this.exits.wait(h.id, h.persistDir, signal);
  }

  async probe(h: RuntimeHandle): Promise<ProbeResult> {
    const exit = await this.exits.read(h.id, h.persistDir);
    if (exit) return { state: 'exited', exit };
    if (await isAlive(h.conmon)) {
      if (await isAlive(h.container)) return { state: 'running' };
      // The container is exiting right now and conmon is about to write its exit file:
      // wait a moment, so the restore records the exit instead of adopting a corpse.
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 25));
        const late = await this.exits.read(h.id, h.persistDir);
        if (late) return { state: 'exited', exit: late };
        if (!(await isAlive(h.conmon))) break;
      }
      if (await isAlive(h.conmon)) return { state: 'running' };
    }
    // conmon writes the exit file before it exits; look once more in case it just did.
    const late = await this.exits.read(h.id, h.persistDir);
    if (late) return { state: 'exited', exit: late };
    return { state: 'monitor-lost', containerAlive: await isAlive(h.container) };
  }

  async attach(h: RuntimeHandle, _streams: AttachStreams): Promise<AttachSession> {
    return connectAttach(h.attachSocket);
  }

  async resize(h: RuntimeHandle, height: number, width: number): Promise<void> {
    await writeCtl(h.ctlFifo, `1 ${height} ${width}\n`);
  }

  async exec(h: RuntimeHandle, req: ExecRequest): Promise<ExecProcess> {
    const execDir = join(this.#o.execRoot, 'e', req.execId.slice(0, 16));
    await rm(execDir, { recursive: true, force: true });
    await mkdir(join(execDir, 'exit'), { recursive: true, mode: 0o700 });
    await mkdir(join(execDir, 'persist'), { recursive: true, mode: 0o700 });
    try {
      const base = JSON.parse(await readFile(join(h.bundle, 'config.json'), 'utf8')) as {
        process: Record<string, unknown> & { env?: string[]; cwd?: string; user?: unknown; capabilities?: Record<string, string[]> };
        root: { path: string };
      };
      const user = req.user ? await resolveUser(base.root.path, req.user) : undefined;
      const caps = req.privileged ? this.#o.hostCapabilities ?? [] : undefined;
      const process = {
        ...base.process,
        terminal: req.tty,
        args: req.args,
        env: mergeEnv(base.process.env ?? [], req.env),
        cwd: req.cwd || base.process.cwd || '/',
        ...(user ? { user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids } } : {}),
        ...(caps ? { capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [] } } : {}),
        ...(req.tty && req.consoleSize ? { consoleSize: { height: req.consoleSize[0], width: req.consoleSize[1] } } : {}),
      };
      const spec = join(execDir, 'process.json');
      await writeFile(spec, JSON.stringify(process), { mode: 0o600 });
      let session: AttachSession | undefined;
      const started = await launchExec({
        conmonPath: this.#o.conmonPath,
        containerId: h.id,
        execId: req.execId,
        runtimePath: h.runtimePath,
        runtimeArgs: ['--root', this.runcRoot],
        execDir,
        processSpec: spec,
        tty: req.tty,
        stdin: req.stdin,
        ...(req.attach ? { attach: async (sock: string) => void (session = await connectAttach(sock)) } : {}),
        ...(req.timeoutSeconds !== undefined ? { timeoutSeconds: req.timeoutSeconds } : {}),
      });
      const execProcess = await identify(started.pid);
      const exit = started.exit.then(async (code) => {
        // conmon also wrote the code to its exit dir: prefer it when the pipe said nothing.
        const fromFile = code >= 0 ? code : Number.parseInt(await readFile(join(execDir, 'exit', h.id), 'utf8').catch(() => '-1'), 10);
        await rm(execDir, { recursive: true, force: true });
        return Number.isFinite(fromFile) ? fromFile : -1;
      });
      return {
        pid: started.pid,
        ...(session ? { session } : {}),
        exit,
        resize: (height, width) => writeCtl(join(execDir, 'ctl'), `1 ${height} ${width}\n`),
        kill: async () => {
          // runc makes the exec's process the leader of its own group: its children go too.
          if (execProcess) await signalGroup(execProcess, 'SIGKILL');
        },
      };
    } catch (err) {
      await rm(execDir, { recursive: true, force: true });
      throw err;
    }
  }

  stats(h: RuntimeHandle): Promise<RawStats> {
    return readStats(h.container.pid);
  }

  async top(h: RuntimeHandle, psArgs: string): Promise<{ titles: string[]; processes: string[][] }> {
    const pids = new Set(await containerPids(h.container.pid));
    const args = psArgs.trim() === '' ? ['-ef'] : psArgs.trim().split(/\s+/);
    const r = await run('ps', args, { timeoutMs: 30_000 });
    if (r.code !== 0) throw invalidParameter(`Error running top: ps ${args.join(' ')} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
    const titles = (lines.shift() ?? '').trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw invalidParameter(`Couldn't find PID field in ps output`);
    const processes: string[][] = [];
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (!pids.has(Number(fields[pidCol]))) continue;
      // The last column (the command) keeps its spaces.
      const head = fields.slice(0, titles.length - 1);
      processes.push([...head, fields.slice(titles.length - 1).join(' ')]);
    }
    return { titles, processes };
  }

  async reopenLog(h: RuntimeHandle): Promise<void> {
    await writeCtl(h.ctlFifo, '2 0 0\n');
  }

  async update(h: RuntimeHandle, limits: ResourceLimits): Promise<void> {
    await this.#runc(h).update(h.id, runcResources(limits));
  }

  async pause(h: RuntimeHandle): Promise<void> {
    await this.#runc(h).pause(h.id);
  }

  async frozen(h: RuntimeHandle): Promise<boolean | undefined> {
    const st = await this.#runc(h).state(h.id);
    return st ? st.status === 'paused' : undefined;
  }

  async resume(h: RuntimeHandle): Promise<void> {
    await this.#runc(h).resume(h.id);
  }

  async cleanup(id: string, h: RuntimeHandle | undefined): Promise<void> {
    const runc = new RuncCli(h?.runtimePath ?? 'runc', this.runcRoot);
    // The /proc search is for a start cut short (bundle written, pid file not yet): a container
    // without a bundle has no monitor, and the restore pass cleans every stopped one.
    const conmon =
      h?.conmon ?? (await this.#conmonOf(id)) ?? (!h && (await exists(this.bundleDir(id))) ? findConmon(id, this.bundleDir(id)) : undefined);
    if (await exists(join(this.runcRoot, id))) await runc.delete(id, true);
    // A monitor still running would write its exit file later, where the next start of this
    // container would take it for its own: wait for it to finish.
    if (conmon) {
      for (let i = 0; i < 200 && (await isAlive(conmon)); i++) await new Promise((r) => setTimeout(r, 25));
      // A monitor launched by a daemon killed in the middle of a start may still have been
      // running `runc create`: the runtime state appears only now.
      if (await exists(join(this.runcRoot, id))) await runc.delete(id, true);
    }
    await rm(join(this.#o.execRoot, 's', id.slice(0, 16)), { force: true });
    await rm(this.bundleDir(id), { recursive: true, force: true });
    await rm(this.exits.exitFile(id), { force: true });
  }

  /** The conmon recorded in a bundle, if that PID is still conmon for this container. */
  async #conmonOf(id: string): Promise<ProcessIdentity | undefined> {
    try {
      const pid = Number.parseInt(await readFile(join(this.bundleDir(id), 'conmon.pid'), 'utf8'), 10);
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      const i = cmdline.indexOf('-c');
      if (!cmdline[0]?.endsWith('conmon') || i < 0 || cmdline[i + 1] !== id) return undefined;
      return await identify(pid);
    } catch {
      return undefined;
    }
  }

  async ownerOf(id: string): Promise<{ dataRoot: string; monitorAlive: boolean } | undefined> {
    let dataRoot: string;
    try {
      dataRoot = (await readFile(join(this.bundleDir(id), 'owner'), 'utf8')).trim();
    } catch {
      return undefined;
    }
    return { dataRoot, monitorAlive: (await this.#conmonOf(id)) !== undefined };
  }

  cleanupOrphan(id: string): Promise<void> {
    return this.cleanup(id, undefined);
  }
}

/**
 * conmon's control FIFO takes `<type> <a> <b>` lines. Opened non-blocking: if conmon is gone
 * there is no reader and the open fails (ENXIO) instead of hanging.
 */
async function writeCtl(fifo: string, line: string): Promise<void> {
  const fh = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    await fh.write(line);
  } finally {
    await fh.close();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The conmon monitoring `id` from `bundle`, found through /proc: for a start cut short, whose
 * conmon may not have written its pid file yet. Only for orphans, which are rare: it reads
 * every process's command line.
 */
function findConmon(id: string, bundle: string): ProcessIdentity | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith('conmon')) continue;
    if (argv[argv.indexOf('-c') + 1] !== id || argv[argv.indexOf('-b') + 1] !== bundle) continue;
    const st = readStatSync(Number(pid));
    if (st) return { pid: Number(pid), startTime: st.startTime };
  }
  return undefined;
}
