import { mkdir, readFile, rm, writeFile, chown } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { run } from '../lib/exec.js';
import { messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { LocalEngine, TaskContainer } from './engine-port.js';
import { ReconcileLoop } from './loop.js';
import type { AgentSource } from './agent-source.js';
import { isTerminal, now, stateRank, type TaskObject, type TaskStatus } from './objects.js';
import type { Entry } from './store.js';
import { LABELS, taskCreateOptions, type TaskFile } from './task-container.js';

export type AgentOptions = {
  source: AgentSource;
  engine: LocalEngine;
  nodeId: string;
  /** `<exec-root>/swarm/tasks`: one tmpfs per task holding its secrets and configs. */
  filesDir: string;
  log: Logger;
};

/**
 * The node's executor: makes this node's containers match the tasks assigned to it. A task's
 * container is found by its task-id label, never by memory, so a berthd that restarts (live
 * restore) finds the containers its predecessor started and adopts them instead of starting
 * duplicates; containers of tasks that no longer exist are stopped and removed.
 */
export class Agent {
  readonly #o: AgentOptions;
  readonly #loop: ReconcileLoop;
  #unwatch: (() => Promise<void>) | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(o: AgentOptions) {
    this.#o = o;
    this.#loop = new ReconcileLoop('agent', () => this.#pass(), o.log, 5000);
  }

  async start(): Promise<void> {
    this.#unsubscribe = this.#o.engine.onContainerEvent((action) => {
      if (action === 'die' || action === 'start' || action === 'destroy' || action.startsWith('health_status')) this.#loop.kick();
    });
    this.#unwatch = await this.#o.source.watch(() => this.#loop.kick());
    this.#loop.start();
  }

  kick(): void {
    this.#loop.kick();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#unwatch?.();
    await this.#loop.stop();
  }

  async #pass(): Promise<number | undefined> {
    const tasks = await this.#o.source.tasks();
    const byTask = new Map<string, TaskContainer>();
    for (const c of this.#o.engine.containers()) {
      const id = c.labels[LABELS.taskId];
      if (id !== undefined && c.labels[LABELS.nodeId] === this.#o.nodeId) byTask.set(id, c);
    }
    const known = new Set(tasks.map((e) => e.value.id));
    // A few at a time: a 50-replica service starts quickly without flooding the engine.
    await eachLimited(tasks, 8, (e) => this.#reconcile(e, byTask.get(e.value.id)));
    for (const [taskId, c] of byTask) {
      if (known.has(taskId)) continue;
      this.#o.log.info({ task: taskId, container: c.id }, 'swarm: removing the container of a task that no longer exists');
      await this.#o.engine.stop(c.id, 10).catch(() => undefined);
      await this.#o.engine.remove(c.id).catch((err) => this.#o.log.warn({ err: messageOf(err) }, 'swarm: cannot remove a task container'));
      await this.#dropFiles(taskId);
    }
    return undefined;
  }

  async #reconcile(e: Entry<TaskObject>, c: TaskContainer | undefined): Promise<void> {
    const t = e.value;
    if (stateRank(t.desiredState) <= stateRank('running')) {
      if (isTerminal(t.status.state)) return;
      if (!c) {
        if (t.status.state === 'running') return this.#setStatus(e, { state: 'failed', message: 'task: the container is gone', err: 'task: the container is gone' });
        if (stateRank(t.status.state) < stateRank('assigned')) return;
        return this.#run(e);
      }
      if (c.status === 'created') {
        await this.#o.engine.start(c.id).catch((err) => this.#setStatus(e, { state: 'failed', message: 'starting', err: messageOf(err), containerId: c.id }));
        return;
      }
      if (c.status === 'running' || c.status === 'paused' || c.status === 'restarting') {
        if (c.health === 'unhealthy') {
          await this.#o.engine.stop(c.id, graceSeconds(t)).catch(() => undefined);
          return this.#setStatus(e, { state: 'failed', message: 'unhealthy container', err: 'task: non-zero exit (137): dockerexec: unhealthy container', containerId: c.id, exitCode: 137 });
        }
        const state = c.health === 'starting' ? 'starting' : 'running';
        if (t.status.state !== state || t.status.containerId !== c.id) {
          return this.#setStatus(e, { state, message: state === 'running' ? 'started' : 'starting', containerId: c.id, ...(c.pid ? { pid: c.pid } : {}), exitCode: 0 });
        }
        return;
      }
      // exited or dead: the task ended by itself.
      const failed = c.exitCode !== 0;
      return this.#setStatus(e, {
        state: failed ? 'failed' : 'complete',
        message: failed ? 'started' : 'finished',
        ...(failed ? { err: `task: non-zero exit (${c.exitCode})` } : {}),
        containerId: c.id,
        exitCode: c.exitCode,
      });
    }
    // Desired shutdown (or remove): stop the container; `remove` also deletes it and the task.
    if (c && (c.status === 'running' || c.status === 'paused' || c.status === 'restarting')) {
      await this.#o.engine.stop(c.id, graceSeconds(t));
    }
    if (t.desiredState === 'remove') {
      if (c) await this.#o.engine.remove(c.id);
      await this.#dropFiles(t.id);
      await this.#o.source.deleteTask(e);
      return;
    }
    if (!isTerminal(t.status.state)) {
      await this.#setStatus(e, { state: 'shutdown', message: 'shutdown', ...(c ? { containerId: c.id, exitCode: c.exitCode } : {}) });
    }
  }

  async #run(e: Entry<TaskObject>): Promise<void> {
    const t = e.value;
    try {
      await this.#setStatus(e, { state: 'preparing', message: 'preparing' });
      await this.#o.engine.ensureImage(t.spec.ContainerSpec?.Image ?? '');
      const files = await this.#prepareFiles(t);
      const id = await this.#o.engine.create(taskCreateOptions(t, files));
      await this.#o.engine.start(id);
      // The status itself is written by the next pass, from the container (one source of truth).
      this.#loop.kick();
    } catch (err) {
      this.#o.log.warn({ task: t.id, err: messageOf(err) }, 'swarm: task rejected');
      const fresh = await this.#o.source.task(e.key);
      if (fresh) await this.#setStatus(fresh, { state: 'rejected', message: 'preparing', err: messageOf(err) });
    }
  }

  async #setStatus(e: Entry<TaskObject>, s: Omit<TaskStatus, 'timestamp'>): Promise<void> {
    const t: TaskObject = { ...e.value, status: { ...s, timestamp: now() }, updatedAt: now() };
    const r = await this.#o.source.writeTask(e, t);
    // Someone else wrote the task meanwhile: the next pass sees the new version.
    if (r.ok) e.modRevision = r.revision;
    e.value = t;
    if (!r.ok) this.#loop.kick();
  }

  /**
   * Secrets and configs as files on a tmpfs of the task's own (never on disk), bind-mounted
   * read-only into the container: secrets under /run/secrets, configs at their target.
   */
  async #prepareFiles(t: TaskObject): Promise<TaskFile[]> {
    const c = t.spec.ContainerSpec;
    const refs = [...(c?.Secrets ?? []).map((r) => ({ r, kind: 'secrets' as const })), ...(c?.Configs ?? []).map((r) => ({ r, kind: 'configs' as const }))];
    if (refs.length === 0) return [];
    const dir = join(this.#o.filesDir, t.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!(await isMountPoint(dir))) {
      const r = await run('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dir]);
      if (r.code !== 0) throw new Error(`cannot mount a tmpfs for the task's secrets: ${r.stderr.trim()}`);
    }
    const out: TaskFile[] = [];
    let i = 0;
    for (const { r, kind } of refs) {
      const objId = kind === 'secrets' ? r.SecretID : r.ConfigID;
      const data = objId ? await this.#o.source.fileData(kind, objId) : undefined;
      if (!data) throw new Error(`${kind === 'secrets' ? 'secret' : 'config'} ${objId ?? r.SecretName ?? r.ConfigName} not found`);
      const host = join(dir, `${kind}-${i++}`);
      await writeFile(host, data, { mode: r.File?.Mode ?? 0o444 });
      await chown(host, Number(r.File?.UID ?? 0), Number(r.File?.GID ?? 0));
      const name = r.File?.Name ?? (kind === 'secrets' ? (r.SecretName ?? '') : (r.ConfigName ?? ''));
      const target = kind === 'secrets' ? (name.startsWith('/') ? name : posix.join('/run/secrets', name)) : posix.resolve('/', name);
      out.push({ hostPath: host, target });
    }
    return out;
  }

  async #dropFiles(taskId: string): Promise<void> {
    const dir = join(this.#o.filesDir, taskId);
    if (await isMountPoint(dir)) await run('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Swarm leave: every task's secrets tmpfs unmounted and removed. */
export async function removeTaskFiles(filesDir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const line of mounts.split('\n')) {
    const target = line.split(' ')[4];
    if (target?.startsWith(`${filesDir}/`)) await run('umount', [target]);
  }
  await rm(filesDir, { recursive: true, force: true });
}

function graceSeconds(t: TaskObject): number {
  const g = t.spec.ContainerSpec?.StopGracePeriod;
  return g === undefined ? 10 : Math.ceil(g / 1e9);
}

async function isMountPoint(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mounts.split('\n').some((l) => l.split(' ')[4] === dir);
}

async function eachLimited<T>(items: T[], limit: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const x = items[next++] as T;
      await f(x);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
