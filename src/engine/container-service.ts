import type { Readable } from 'node:stream';
import { isRunningLike, type ContainerRecord } from './container.js';
import type { AttachStreams, Change, ExitInfo, PathStat, RawStats, RuntimeHandle } from './ports.js';
import type { CreateOptions } from './create-options.js';
import { conflict } from '../lib/errors.js';
import { ContainerContext, type ContainerServiceDeps } from './containers/context.js';
import { createContainer } from './containers/create.js';
import { ExitHandling } from './containers/exits.js';
import { Lifecycle, type RemoveOptions } from './containers/lifecycle.js';
import { Unadopted } from './containers/unadopted.js';
import { Housekeeping } from './containers/housekeeping.js';
import { waitFor, type WaitCondition, type WaitResult } from './containers/wait.js';
import { attachTo, type AttachRequest } from './containers/attach.js';
import { ContainerNetworks, type ConnectRequest } from './containers/networks.js';
import { commitContainer, resumeAfterCommit, type CommitOptions } from './containers/commit.js';
import { updateContainer } from './containers/update.js';
import { HealthMonitor } from './containers/health-monitor.js';
import { ContainerArchive } from './containers/archive.js';
import type { ResourceUpdate } from './resource-update.js';

export type { ContainerServiceDeps } from './containers/context.js';
export type { WaitCondition, WaitResult } from './containers/wait.js';
export type { AttachRequest } from './containers/attach.js';
export type { ConnectRequest } from './containers/networks.js';
export type { CommitOptions } from './containers/commit.js';

/**
 * The containers: one entry for the API and the restore pass, each concern in its own
 * module under containers/ — lifecycle, exits and restart policy, unadopted containers,
 * housekeeping. What a start needs beyond rootfs and volumes comes in through `StartStep`s.
 */
export class ContainerService {
  readonly #x: ContainerContext;
  readonly #exits: ExitHandling;
  readonly #life: Lifecycle;
  readonly #unadopted: Unadopted;
  readonly #house: Housekeeping;
  readonly #networks: ContainerNetworks;
  readonly #archive: ContainerArchive;

  constructor(deps: ContainerServiceDeps) {
    const x = new ContainerContext(deps);
    x.steps = [...deps.steps, new HealthMonitor(x)];
    this.#x = x;
    this.#exits = new ExitHandling(x, {
      restart: (c) => this.#life.startNow(c, true),
      autoRemove: (c) => this.#life.removeNow(c, { force: true }),
    });
    this.#life = new Lifecycle(x, this.#exits);
    this.#unadopted = new Unadopted(x, this.#exits);
    this.#networks = new ContainerNetworks(x);
    this.#archive = new ContainerArchive(x);
    this.#house = new Housekeeping(x, async (c) => {
      await this.#exits.cancelRestart(c);
      await this.#life.removeNow(c, { force: false });
    });
  }

  // ---- lookup -------------------------------------------------------------------------

  get(ref: string): ContainerRecord {
    return this.#x.reg.find(ref).record;
  }

  list(): ContainerRecord[] {
    return this.#x.reg.all().map((l) => l.record);
  }

  /** Containers using an image, for `rmi`'s conflict rules. */
  usersOf(imageId: string): { id: string; running: boolean }[] {
    return this.list()
      .filter((r) => r.imageId === imageId)
      .map((r) => ({ id: r.id, running: isRunningLike(r.state) }));
  }

  /** A promise that settles when the container next exits (or is removed). */
  exitedOrGone(ref: string): Promise<void> {
    const c = this.#x.reg.find(ref);
    if (!isRunningLike(c.record.state)) return Promise.resolve();
    return new Promise((resolve) => {
      c.events.once('exited', () => resolve());
      c.events.once('removed', () => resolve());
    });
  }

  /** The container for a new exec: running and managed by this daemon (Docker's 409s otherwise). */
  forExec(ref: string): ContainerRecord {
    const c = this.#x.reg.managed(ref);
    const st = c.record.state.status;
    if (st === 'paused') throw conflict(`Container ${c.record.id} is paused, unpause the container before exec`);
    if (st !== 'running') throw conflict(`container ${c.record.id} is not running`);
    return c.record;
  }

  // ---- restore bookkeeping ------------------------------------------------------------

  /**
   * Register a record loaded at start-up. The restore pass calls this first for every
   * record (so names are taken), then settles each one's state.
   */
  register(record: ContainerRecord): void {
    this.#x.reg.add(record);
  }

  /** Take a container that is really running (checked against the machine) under watch. */
  watch(id: string): void {
    const c = this.#x.reg.get(id);
    if (!c || !isRunningLike(c.record.state)) return;
    this.#exits.monitor(c, c.record.state.handle);
    for (const step of this.#x.steps) step.adopt?.(c.record);
  }

  markNotAdopted(id: string, reason: string): void {
    this.#unadopted.mark(id, reason);
  }

  /** Why a container is not managed by this daemon, if it is not. */
  notAdoptedReason(id: string): string | undefined {
    return this.#unadopted.reason(id);
  }

  stopUnadopted(refs: string[], timeout: number): Promise<string[]> {
    return this.#unadopted.stop(refs, timeout);
  }

  stopFound(id: string): Promise<void> {
    return this.#life.stopFound(id);
  }

  recordExit(id: string, exit: ExitInfo, handle: RuntimeHandle | undefined, error?: string): Promise<void> {
    return this.#exits.recordExit(id, exit, handle, error);
  }

  restartAtDaemonStart(id: string): Promise<boolean> {
    return this.#exits.restartAtDaemonStart(id);
  }

  /** A container a crashed `commit --pause` left frozen is unfrozen (restore). */
  async resumeAfterCommit(id: string): Promise<void> {
    const c = this.#x.reg.get(id);
    if (c?.record.pausedFor === 'commit') await resumeAfterCommit(this.#x, c);
  }

  /**
   * Restore: a pause or unpause cut short by a crash leaves the record saying one thing and
   * the runtime the other; the runtime is the truth (found by the crash harness, kill 922).
   */
  async alignPauseState(id: string): Promise<void> {
    const c = this.#x.reg.get(id);
    if (!c || c.record.pausedFor === 'commit') return;
    const st = c.record.state;
    if (st.status !== 'running' && st.status !== 'paused') return;
    const frozen = await this.#x.d.runtime.frozen(st.handle);
    if (frozen === undefined || frozen === (st.status === 'paused')) return;
    c.record.state = { status: frozen ? 'paused' : 'running', handle: st.handle };
    await this.#x.persist(c);
  }

  finishRemoval(id: string, removeVolumes?: boolean): Promise<void> {
    return this.#life.finishRemoval(id, removeVolumes);
  }

  // ---- lifecycle ----------------------------------------------------------------------

  async create(o: CreateOptions): Promise<{ id: string; warnings: string[] }> {
    const { record, warnings } = await createContainer(this.#x, o);
    this.register(record);
    this.watch(record.id);
    this.#x.emit('create', record);
    return { id: record.id, warnings };
  }

  start(ref: string): Promise<void> {
    return this.#life.start(ref);
  }

  stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    return this.#life.stop(ref, opts);
  }

  kill(ref: string, signal?: string): Promise<void> {
    return this.#life.kill(ref, signal);
  }

  remove(ref: string, opts: RemoveOptions): Promise<void> {
    return this.#life.remove(ref, opts);
  }

  pause(ref: string): Promise<void> {
    return this.#life.pause(ref);
  }

  unpause(ref: string): Promise<void> {
    return this.#life.unpause(ref);
  }

  restart(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    return this.#life.restart(ref, opts);
  }

  rename(ref: string, newName: string): Promise<void> {
    return this.#life.rename(ref, newName);
  }

  resize(ref: string, height: number, width: number): Promise<void> {
    return this.#life.resize(ref, height, width);
  }

  /** `docker update`: new limits and restart policy, kept in the record and applied to a running container. */
  update(ref: string, u: ResourceUpdate): Promise<{ warnings: string[] }> {
    return updateContainer(this.#x, ref, u);
  }

  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult> {
    return waitFor(this.#x, ref, condition, signal);
  }

  attach(ref: string, streams: AttachStreams): AttachRequest {
    return attachTo(this.#x, ref, streams);
  }

  async stats(ref: string): Promise<RawStats | undefined> {
    const st = this.#x.reg.find(ref).record.state;
    return isRunningLike(st) ? this.#x.d.runtime.stats(st.handle) : undefined;
  }

  async top(ref: string, psArgs: string): Promise<{ titles: string[]; processes: string[][] }> {
    const c = this.#x.reg.managed(ref);
    const st = c.record.state;
    if (!isRunningLike(st)) throw conflict(`Container ${c.record.id} is not running`);
    return this.#x.d.runtime.top(st.handle, psArgs);
  }

  // ---- networks -----------------------------------------------------------------------

  /** `docker network connect`: recorded, and an endpoint at once if the container runs. */
  connectNetwork(ref: string, network: string, req: ConnectRequest): Promise<{ id: string; name: string; network: string; networkId: string }> {
    return this.#networks.connect(ref, network, req);
  }

  disconnectNetwork(ref: string, network: string, force: boolean): Promise<{ id: string; name: string; network: string }> {
    return this.#networks.disconnect(ref, network, force);
  }

  // ---- docker cp ----------------------------------------------------------------------

  statPath(ref: string, path: string): Promise<PathStat> {
    return this.#archive.stat(ref, path);
  }

  archivePath(ref: string, path: string): Promise<{ stat: PathStat; stream: Readable; done: Promise<void> }> {
    return this.#archive.get(ref, path);
  }

  extractToDir(ref: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    return this.#archive.put(ref, path, tar, opts);
  }

  // ---- housekeeping -------------------------------------------------------------------

  /** `docker commit`: the new image's id. */
  commit(ref: string, o: CommitOptions): Promise<string> {
    return commitContainer(this.#x, ref, o);
  }

  export(ref: string): Promise<{ stream: Readable; done: Promise<void> }> {
    return this.#house.export(ref);
  }

  withRootfs<T>(ref: string, fn: (rootfs: string) => Promise<T>): Promise<T> {
    return this.#house.withRootfs(ref, fn);
  }

  diffTar(ref: string): Promise<{ stream: Readable; done: Promise<void> }> {
    return this.#house.diffTar(ref);
  }

  changes(ref: string): Promise<Change[]> {
    return this.#house.changes(ref);
  }

  layerSize(ref: string): Promise<number> {
    return this.#house.layerSize(ref);
  }

  prune(select: (r: ContainerRecord) => boolean): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    return this.#house.prune(select);
  }

  // ---- shutdown -----------------------------------------------------------------------

  stopAll(shutdownTimeout: number): Promise<void> {
    return this.#life.stopAll(shutdownTimeout);
  }

  detachAll(): void {
    this.#life.detachAll();
  }
}
