import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { DaemonConfig } from '../config/types.js';
import { configToJson } from '../config/index.js';
import { hostname } from 'node:os';
import type { Logger } from '../lib/logger.js';
import { RecordStore } from '../state/record-store.js';
import { migrateRecord, type ContainerRecord, type CriticalOptions } from '../engine/container.js';
import { ConmonRuntime } from '../runtime/conmon-runtime.js';
import { VfsDriver } from '../storage/drivers/vfs.js';
import { OverlayDriver } from '../storage/drivers/overlay.js';
import type { StorageDriver } from '../engine/ports.js';
import { LayerStore } from '../storage/layer-store.js';
import { ImageStore } from '../images/image-store.js';
import { ImageService } from '../images/image-service.js';
import { Registries } from '../images/registry/index.js';
import { ContainerService } from '../engine/container-service.js';
import { EventBus } from '../engine/events.js';
import { apiRoutes } from '../api/routes/index.js';
import { serveTaskLog } from '../api/routes/service-logs.js';
import { ApiServer } from '../api/server.js';
import { VolumeService } from '../volumes/volume-service.js';
import { LocalDriver } from '../volumes/local-driver.js';
import { buildBackend } from './build-host.js';
import { ExecService } from '../engine/exec-service.js';
import type { Backend, SystemInfo } from '../api/backend.js';
import { restore, type RestoreReport } from '../restore/restore.js';
import { currentFingerprint, fingerprintChanges, readFingerprint, writeFingerprint } from '../restore/fingerprint.js';
import { hardLimits, hostCapabilities } from './host-limits.js';
import { LogRotator } from '../logs/rotator.js';
import { readLogBatches, readLogs } from '../logs/log-reader.js';
import { errnoCode, invalidParameter, systemError } from '../lib/errors.js';
import { isAlive, identify, type ProcessIdentity } from '../lib/proc.js';
import { statSync } from 'node:fs';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { tarDirectory } from '../storage/tar-export.js';
import { listenOnHosts } from './listeners.js';
import { OciSpecBuilder } from '../runtime/container-spec.js';
import { DaemonNetworking } from './networking.js';
import { hostResources } from '../runtime/cgroups.js';
import { HelperContainerFiles } from '../runtime/container-files.js';
import type { ImageRuntimeConfig } from '../engine/create-options.js';
import type { SeccompChoice } from '../engine/seccomp.js';
import { goArch } from '../runtime/seccomp/default-profile.js';
import { loadSeccompChoice, seccompInfo } from './seccomp-option.js';
import { release } from 'node:os';
import { Swarm } from '../cluster/swarm.js';
import { ServiceApi } from '../cluster/services.js';
import { SecretApi } from '../cluster/secrets.js';
import { swarmEngine } from './swarm-engine.js';

export type DaemonOptions = {
  config: DaemonConfig;
  log: Logger;
  engineVersion: string;
  gitCommit: string;
  conmonPath?: string;
  /** The `docker cp` helper (native/berth-cp.c), built next to berthd's bundle. */
  cpHelperPath?: string;
};

/**
 * The composition root: builds each service by hand in a fixed order, runs the restore
 * pass, then opens the API. `shutdown()` undoes it in reverse.
 */
export class Daemon {
  #config: DaemonConfig;
  readonly #log: Logger;
  readonly #o: DaemonOptions;
  readonly #api: ApiServer;
  readonly #runtime: ConmonRuntime;
  readonly containers: ContainerService;
  readonly images: ImageService;
  readonly exec: ExecService;
  readonly volumes: VolumeService;
  readonly events = new EventBus();
  readonly swarm: Swarm;
  readonly #rotator: LogRotator;
  #id = '';
  /** What start() did, so that shutdown() after a failed start undoes only that. */
  #claimedPidfile = false;
  #listening: string[] = [];
  #runtimeStarted = false;
  #backend: Backend | undefined;
  restoreReport: RestoreReport | undefined;
  /** Milliseconds since the process started at which each start-up phase ended (logged once ready). */
  readonly startupMs: Record<string, number> = {};
  readonly #storage: StorageDriver;
  readonly #layers: LayerStore;
  readonly #imageStore: ImageStore;
  readonly #store: RecordStore<ContainerRecord>;
  readonly #networking: DaemonNetworking;
  /** The daemon's `seccomp-profile`, read at start. */
  #seccomp: SeccompChoice = { mode: 'builtin' };

  constructor(o: DaemonOptions) {
    this.#o = o;
    this.#config = o.config;
    this.#log = o.log;
    const c = o.config;
    this.#storage = createStorageDriver(c.storageDriver, join(c.dataRoot, c.storageDriver));
    this.#layers = new LayerStore(join(c.dataRoot, 'image', c.storageDriver, 'layers'), this.#storage, o.log, join(c.dataRoot, 'image', c.storageDriver, 'blobs'));
    this.#imageStore = new ImageStore(join(c.dataRoot, 'image', c.storageDriver), o.log);
    this.#store = new RecordStore<ContainerRecord>(join(c.dataRoot, 'containers'), 'container.json', migrateRecord);
    this.#runtime = new ConmonRuntime({
      execRoot: c.execRoot,
      dataRoot: c.dataRoot,
      conmonPath: o.conmonPath ?? 'conmon',
      log: o.log,
      hostCapabilities: hostCapabilities(),
    });
    this.#rotator = new LogRotator(o.log);
    this.images = new ImageService(this.#imageStore, this.#layers, (id) => this.containers.usersOf(id), o.engineVersion, {
      tmpDir: join(c.dataRoot, 'tmp'),
      log: o.log,
      events: this.events,
      registries: new Registries(() => this.#config, o.log),
      sourcesFile: join(c.dataRoot, 'image', c.storageDriver, 'blob-sources.json'),
    });
    this.volumes = new VolumeService({
      driver: new LocalDriver(join(c.dataRoot, 'volumes'), o.log),
      // Every container holds the volumes it mounts, whatever its state.
      users: () => this.containers.list().map((r) => ({ id: r.id, mounts: r.spec.mounts })),
      events: this.events,
      log: o.log,
    });
    this.#networking = new DaemonNetworking({
      config: () => this.#config,
      log: o.log,
      events: this.events,
      containers: () => ({
        connectNetwork: (ref, network, req) => this.containers.connectNetwork(ref, network, req),
        disconnectNetwork: (ref, network, force) => this.containers.disconnectNetwork(ref, network, force),
        nameOf: (id) => this.#containerById(id)?.name,
      }),
    });
    const networkStep = this.#networking.step({ container: (id) => this.#containerById(id), dirOf: (id) => this.#store.dirOf(id) });
    const limits = hardLimits();
    const hostCaps = hostCapabilities();
    const images = this.images;
    const layers = this.#layers;
    this.containers = new ContainerService({
      store: this.#store,
      runtime: this.#runtime,
      storage: this.#storage,
      images: {
        resolve: (ref) => {
          const info = images.resolve(ref);
          return { id: info.image.id, runtimeConfig: (info.image.config.config ?? {}) as ImageRuntimeConfig, topLayer: info.topLayer };
        },
        layerCacheIds: (top) => layers.chain(top).map((l) => l.cacheId),
        commit: (req, diff) => images.commits.commitContainer(req, diff),
      },
      events: this.events,
      log: o.log,
      engineVersion: o.engineVersion,
      critical: () => this.critical(),
      logDefaults: () => ({ driver: this.#config.logDriver, opts: this.#config.logOpts }),
      runtimes: () => ({ defaultName: this.#config.defaultRuntime, names: Object.keys(this.#config.runtimes) }),
      rotator: this.#rotator,
      host: hostResources,
      files: new HelperContainerFiles(o.cpHelperPath ?? 'berth-cp'),
      tarDirectory,
      volumes: this.volumes,
      bridgeEnabled: () => this.#networking.bridgeEnabled,
      steps: [networkStep],
      network: networkStep,
      specs: new OciSpecBuilder(() => {
        const cfg = this.#config;
        return {
          runtimeFor: (name) => {
            const n = name ?? cfg.defaultRuntime;
            const rt = cfg.runtimes[n];
            // A runtime removed from daemon.json since the container was created.
            if (!rt) throw invalidParameter(`unknown or invalid runtime name: ${n}`);
            return { name: n, path: resolveRuntimePath(rt.path), args: rt.runtimeArgs ?? [] };
          },
          cgroupParent: cfg.cgroupParent,
          defaultUlimits: Object.values(cfg.defaultUlimits).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
          hardLimits: limits,
          hostCapabilities: hostCaps,
          initPath: cfg.initPath,
          noNewPrivileges: cfg.noNewPrivileges,
          seccomp: { daemon: this.#seccomp, host: { arch: goArch(process.arch), kernel: release() } },
        };
      }),
    });
    this.exec = new ExecService({
      runtime: this.#runtime,
      events: this.events,
      log: o.log,
      runningContainer: (ref) => this.containers.forExec(ref),
    });
    this.swarm = new Swarm({
      dataRoot: c.dataRoot,
      execRoot: c.execRoot,
      ...(c.swarmEtcdDir ? { etcdDir: c.swarmEtcdDir } : {}),
      engine: swarmEngine({ containers: this.containers, images: this.images, events: this.events, engineVersion: o.engineVersion, labels: () => this.#config.labels }),
      log: o.log,
      // The backend exists only below; a node API logs request comes long after start-up.
      taskLogs: (taskId, query, res, signal) => serveTaskLog(this.#backend as Backend, taskId, query, res, signal),
    });
    const secrets = new SecretApi(() => this.swarm.store(), () => this.swarm.secretBox());
    const swarm = {
      swarm: this.swarm,
      services: new ServiceApi(() => this.swarm.store(), (kind, spec) => secrets.checkRefs(kind, spec)),
      secrets,
      logs: () => [],
    };
    const backend: Backend = (this.#backend = {
      swarm,
      exec: this.exec,
      containers: this.containers,
      images: this.images,
      volumes: this.volumes,
      build: buildBackend({ images: this.images, containers: this.containers, tmpDir: join(c.dataRoot, 'tmp'), tarDirectory, log: o.log }),
      events: this.events,
      networks: this.#networking.backend,
      logs: { read: readLogs, readBatches: readLogBatches },
      system: () => this.systemInfo(),
      log: o.log,
    });
    this.#api = new ApiServer({
      routes: apiRoutes(backend, () => this.#storage.name),
      log: o.log,
      serverHeader: `berth/${o.engineVersion} (linux)`,
    });
  }

  get config(): DaemonConfig {
    return this.#config;
  }

  /**
   * Apply a reloaded configuration (reloadConfig has kept non-reloadable options at their
   * running values) and announce it, as dockerd does, with a `daemon reload` event.
   */
  applyReload(c: DaemonConfig, changed: string[]): void {
    this.#config = c;
    const json = configToJson(c);
    const attributes: Record<string, string> = { name: hostname(), changed: changed.join(',') };
    for (const [k, v] of Object.entries(json)) attributes[k] = typeof v === 'string' ? v : JSON.stringify(v);
    this.events.emit('daemon', 'reload', this.#id, attributes);
  }

  async start(): Promise<void> {
    const c = this.#config;
    const mark = (phase: string) => (this.startupMs[phase] = Math.round(performance.now()));
    mark('entered');
    await mkdir(c.dataRoot, { recursive: true, mode: 0o711 });
    await mkdir(c.execRoot, { recursive: true, mode: 0o700 });
    await this.#claimPidfile();
    this.#seccomp = await loadSeccompChoice(c.seccompProfile, this.#log);
    // Listen at once but answer only when the containers are known: a client that connects
    // during the restore waits a few milliseconds instead of finding no daemon (what
    // systemd's socket activation does for dockerd).
    await listenOnHosts(this.#api, c, this.#log, this.#listening);
    mark('listening');
    this.#id = await this.#engineId();
    await this.#storage.init();
    await this.#layers.init();
    await this.#imageStore.init();
    await this.images.init();
    await this.#store.init();
    await this.volumes.init();
    await this.#runtime.init();
    this.#runtimeStarted = true;
    mark('initialized');
    const fingerprint = currentFingerprint(this.#o.engineVersion, this.critical());
    const previous = await readFingerprint(c.dataRoot);
    if (previous) {
      for (const change of fingerprintChanges(previous, fingerprint)) this.#log.warn(`since the last start: ${change}`);
    }
    await this.#networking.start(this.#id);
    mark('network');
    this.#log.info('Loading containers: start.');
    this.restoreReport = await restore({
      store: this.#store,
      containers: this.containers,
      runtime: this.#runtime,
      storage: this.#storage,
      runtimeBundlesDir: join(c.execRoot, 'containers'),
      dataRoot: c.dataRoot,
      view: { engineVersion: this.#o.engineVersion, critical: this.critical(), liveRestore: c.liveRestore },
      log: this.#log,
      deadlineMs: 60_000,
      concurrency: 64,
    });
    await this.#networking.restore(this.containers.list());
    mark('restored');
    // After the containers are known: the agent adopts the task containers among them.
    await this.swarm.start();
    mark('swarm');
    await this.images.removeUnusedLayers(new Set(this.containers.list().map((r) => r.storage.layerId)));
    // Unchanged most of the time: skip the write and its two fsyncs.
    if (JSON.stringify(previous) !== JSON.stringify(fingerprint)) await writeFingerprint(c.dataRoot, fingerprint);
    this.#api.open();
    mark('ready');
  }

  /**
   * Graceful stop. With live restore, containers and their monitors are left running
   * untouched; without it every container is stopped first.
   */
  async shutdown(): Promise<void> {
    await this.#api.close();
    // The etcd member and the task containers keep running, like every container with live restore.
    await this.swarm.shutdown({ stopMember: !this.#config.liveRestore });
    if (this.#config.liveRestore) {
      this.containers.detachAll();
      this.#log.info('live restore: leaving containers running');
    } else if (this.#runtimeStarted) {
      await this.containers.stopAll(this.#config.shutdownTimeout);
      await this.volumes.close();
    }
    if (this.#runtimeStarted) {
      this.#runtime.close();
      await this.#networking.shutdown(this.#config.liveRestore);
    }
    for (const path of this.#listening) await rm(path, { force: true });
    if (this.#claimedPidfile) await rm(this.#config.pidfile, { force: true });
    this.#log.info('Daemon shutdown complete');
  }

  #containerById(id: string): ContainerRecord | undefined {
    try {
      return this.containers.get(id);
    } catch {
      return undefined;
    }
  }

  /** The options running containers depend on (see restore/classify.ts). */
  critical(): CriticalOptions {
    return criticalOptions(this.#config);
  }

  systemInfo(): SystemInfo {
    const c = this.#config;
    return {
      id: this.#id,
      name: '',
      engineVersion: this.#o.engineVersion,
      gitCommit: this.#o.gitCommit,
      dataRoot: c.dataRoot,
      storageDriver: this.#storage.name,
      loggingDriver: c.logDriver,
      cgroupDriver: 'cgroupfs',
      cgroupVersion: '1',
      defaultRuntime: c.defaultRuntime,
      runtimes: Object.fromEntries(
        Object.entries(c.runtimes).map(([k, v]) => [k, { path: v.path, ...(v.runtimeArgs?.length ? { runtimeArgs: v.runtimeArgs } : {}) }]),
      ),
      liveRestore: c.liveRestore,
      debug: c.debug,
      labels: c.labels,
      experimental: c.experimental,
      ...seccompInfo(this.#seccomp, c.noNewPrivileges),
      registries: { insecure: c.insecureRegistries, mirrors: c.registryMirrors },
    };
  }

  /** One daemon per pidfile: a live one is an error; a stale file is replaced. */
  async #claimPidfile(): Promise<void> {
    const path = this.#config.pidfile;
    const holder = await readPidfile(path);
    if (holder && holder.pid !== process.pid && (await isAlive(holder))) {
      throw systemError(`pid file found, ensure berthd is not running or delete ${path}`);
    }
    const me = await identify(process.pid);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, `${process.pid} ${me?.startTime ?? ''}\n`);
    this.#claimedPidfile = true;
  }

  async #engineId(): Promise<string> {
    const file = join(this.#config.dataRoot, 'engine-id');
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      const id = randomUUID();
      await writeFileAtomic(file, id, 0o600);
      return id;
    }
  }
}

function createStorageDriver(name: string, root: string): StorageDriver {
  switch (name) {
    case 'overlay2':
      return new OverlayDriver(root);
    case 'vfs':
      return new VfsDriver(root);
    default:
      throw systemError(`storage driver ${name} is not available`);
  }
}

/** The options running containers depend on, from a configuration (see restore/classify.ts). */
export function criticalOptions(c: DaemonConfig): CriticalOptions {
  return {
    'storage-driver': c.storageDriver,
    ...(c.bip ? { bip: c.bip } : {}),
    ...(c.bridge ? { bridge: c.bridge } : {}),
    'default-runtime': c.defaultRuntime,
    'data-root': c.dataRoot,
  };
}


/** The pidfile holds "<pid> <start time>" so a reused PID is not taken for a live daemon. */
async function readPidfile(path: string): Promise<ProcessIdentity | undefined> {
  try {
    const [pid, startTime] = (await readFile(path, 'utf8')).trim().split(' ');
    return pid && startTime ? { pid: Number(pid), startTime } : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Runtimes named without a path are looked up on PATH (a few stat calls per start). */
function resolveRuntimePath(p: string): string {
  if (p.includes('/')) return p;
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const candidate = join(dir, p);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return p;
}
