// The two engines under test, each on its own temporary paths (data-root, exec-root, socket,
// pidfile, cgroup parent, CLI config), started in their own session and stopped by the PID we
// recorded when we launched them.
//
//   berth:  berthd --live-restore  (conmon per container, runc), its bridge berth-<tag> on
//           bip 172.31.232.1/21
//   docker: containerd on its own + dockerd --containerd=... --live-restore
//           (containerd-shim-runc-v2 per container, runc), on a bridge of the run's own,
//           bbd-<suffix> with 172.31.240.1/21 (`--bridge`): not docker0, which another
//           dockerd on the machine may be using
//
// Both subnets are /21s (room for 2000 bridged containers) that no default of either engine,
// the tests (10.x) or this machine's routes use; each daemon's DNS server is its own gateway,
// where nothing answers, so no container query could leave the machine.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UnixClient, API, ping, oneShot } from './http.mjs';
import { alive, childrenOf, killQuietly, log, now, pool, processes, run, sleep, waitGone } from './util.mjs';

export const BERTH_BIP = '172.31.232.1/21';
export const DOCKER_BIP = '172.31.240.1/21';

/** "172.31.240.1/21" -> "172.31.240.0/21"; and the gateway alone. */
export const subnetOf = (bip) => {
  const [ip, len] = bip.split('/');
  const n = ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const mask = len === '0' ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  const base = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (base >>> s) & 255).join('.')}/${len}`;
};
export const gatewayOf = (bip) => bip.split('/')[0];

/** berth's names for the objects of one data root (src/network/names.ts, default-bridge.ts). */
export function berthNetNames(dataRoot) {
  const tag = createHash('sha256').update(dataRoot).digest('hex').slice(0, 6);
  return { bridge: `berth-${tag}`, chainPrefix: `BERTH-${tag}-` };
}

class Engine {
  /**
   * @param {string} name   'berth' | 'docker'
   * @param {string} root   the run's temporary directory
   */
  constructor(name, root) {
    this.name = name;
    this.dir = join(root, name);
    this.suffix = root.slice(-6);
    this.cgroupParent = `/berth-bench-${name}-${this.suffix}`;
    this.proc = undefined;
    this.pid = undefined;
    this.api = undefined;
    this.cliEnv = undefined;
    this.stopped = false; // SIGSTOPped by a scenario
  }

  get host() {
    return `unix://${this.sock}`;
  }

  prepare() {
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(join(this.dir, 'cli'), { recursive: true });
    const env = { ...process.env, DOCKER_CONFIG: join(this.dir, 'cli') };
    delete env.DOCKER_HOST;
    delete env.DOCKER_CONTEXT;
    delete env.DOCKER_CLI_HINTS;
    this.cliEnv = env;
    this.api = new UnixClient(this.sock, { maxSockets: 4 });
  }

  /** The docker CLI (first on PATH) against this engine. */
  docker(args, opts = {}) {
    return run('docker', ['-H', this.host, ...args], { ...opts, env: this.cliEnv });
  }

  async dockerOk(args, opts = {}) {
    const r = await this.docker(args, opts);
    if (r.code !== 0) throw new Error(`${this.name}: docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(-1500)}`);
    return r;
  }

  /** Launch the daemon in its own session; returns the launch time (ms, now()). */
  launch() {
    const [cmd, args] = this.daemonCommand();
    const fd = openSync(join(this.dir, `${this.daemonName}.log`), 'a');
    const t0 = now();
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, env: this.daemonEnv() });
    closeSync(fd);
    child.unref();
    this.proc = child;
    this.pid = child.pid;
    this.stopped = false;
    child.on('error', () => {});
    this.onLaunch?.();
    return t0;
  }

  /**
   * What systemd gives a service: PATH and the locale, not the login shell's variables. It
   * matters for berthd: NODE_EXTRA_CA_CERTS, which this machine's shell sets, makes Node
   * parse a whole CA bundle before any code runs (~40 ms of every launch here).
   */
  daemonEnv() {
    return serviceEnv();
  }

  /** Launch and wait for /_ping (60 s). */
  async start() {
    this.launch();
    const deadline = now() + 60_000;
    while (!(await ping(this.sock, 1000))) {
      if (!alive(this.pid)) throw new Error(`${this.daemonName} exited during start-up:\n${this.logTail()}`);
      if (now() > deadline) throw new Error(`${this.daemonName} did not answer /_ping within 60 s:\n${this.logTail()}`);
      await sleep(20);
    }
  }

  logTail(n = 3000) {
    try {
      return readFileSync(join(this.dir, `${this.daemonName}.log`), 'utf8').slice(-n);
    } catch {
      return '';
    }
  }

  /** Signal the daemon (by its recorded PID) and wait for it to exit; returns ms until it did. */
  async stopDaemon(signal = 'SIGTERM', timeoutMs = 60_000) {
    if (!this.pid || !alive(this.pid)) return 0;
    this.api.close();
    this.api = new UnixClient(this.sock, { maxSockets: 4 });
    const t0 = now();
    if (this.stopped && signal !== 'SIGKILL') killQuietly(this.pid, 'SIGCONT');
    killQuietly(this.pid, signal);
    const gone = await waitGone(this.pid, timeoutMs, 5);
    const ms = now() - t0;
    if (!gone) {
      killQuietly(this.pid, 'SIGKILL');
      await waitGone(this.pid, 10_000);
      throw new Error(`${this.daemonName} did not exit within ${timeoutMs} ms of ${signal}`);
    }
    this.stopped = false;
    return ms;
  }

  pause() {
    killQuietly(this.pid, 'SIGSTOP');
    this.stopped = true;
  }

  /** Memory of the daemon process(es): { name: pid }. */
  daemonPids() {
    return { [this.daemonName]: this.pid };
  }

  /** Container monitors (conmon / containerd-shim) that belong to this engine. */
  monitorPids() {
    return processes().filter((p) => this.isMonitor(p)).map((p) => p.pid);
  }

  /** Create and start containers through the API (not timed: set-up for other measurements). */
  async populate(count, { prefix = 'ct', from = 0, concurrency = 4, network = 'none' } = {}) {
    const idx = Array.from({ length: count }, (_, i) => from + i);
    const t0 = now();
    let done = 0;
    await pool(idx, concurrency, async (i) => {
      const c = await this.api.json('POST', `${API}/containers/create?name=${prefix}${i}`, sleeperBody({ HostConfig: { NetworkMode: network } }));
      await this.api.json('POST', `${API}/containers/${c.Id}/start`);
      done++;
      if (done % 100 === 0) log(`${this.name}: ${done}/${count} containers started`);
    });
    return now() - t0;
  }

  /** Remove every container through the API (force). */
  async removeAll({ concurrency = 4 } = {}) {
    const list = await this.api.json('GET', `${API}/containers/json?all=1`);
    const del = (c) => this.api.request('DELETE', `${API}/containers/${c.Id}?force=1&v=1`, undefined, { timeoutMs: 120_000 });
    await pool(list, concurrency, del, { abortable: false });
    return list.length;
  }

  async runningCount() {
    const r = await oneShot(this.sock, 'GET', `${API}/containers/json`, undefined, 30_000);
    return r.status === 200 ? r.json().length : -1;
  }

  /** Whatever a crashed or interrupted run may leave: end it all, unmount, remove the tree. */
  async teardown() {
    const notes = [];
    if (this.pid && alive(this.pid)) {
      killQuietly(this.pid, 'SIGCONT');
      this.stopped = false;
      if (await ping(this.sock, 2000)) {
        try {
          const n = await withTimeout(this.removeAll(), 300_000, 'removing containers');
          if (n) notes.push(`removed ${n} container(s)`);
        } catch (err) {
          notes.push(`could not remove containers through the API: ${err.message}`);
        }
      }
      try {
        await this.stopDaemon('SIGTERM', 30_000);
      } catch (err) {
        notes.push(err.message);
      }
    }
    this.api?.close();
    notes.push(...(await this.teardownRest()));
    notes.push(...(await cleanupTree(this.dir, [this.cgroupParent], (p) => this.isMonitor(p), this.runcRoots())));
    return notes;
  }

  async teardownRest() {
    return [];
  }

  /** For the leftovers file that bench/cleanup.mjs reads after a crash. */
  state() {
    return { name: this.name, dir: this.dir, pids: this.daemonPids(), net: this.netOwned() };
  }

  /** A container's address on its bridge (NetworkSettings.IPAddress). */
  async addressOf(id) {
    const c = await this.api.json('GET', `${API}/containers/${id}/json`);
    const ip = c.NetworkSettings?.IPAddress || Object.values(c.NetworkSettings?.Networks ?? {})[0]?.IPAddress;
    if (!ip) throw new Error(`${this.name}: container ${id.slice(0, 12)} has no address`);
    return ip;
  }
}

export class Berth extends Engine {
  /** @param {string} berthdJs path of berthd.cjs (a snapshot of dist/, see run.mjs) */
  constructor(root, { berthdJs, storageDriver = 'overlay2', commit = '' }) {
    super('berth', root);
    this.daemonName = 'berthd';
    this.berthdJs = berthdJs;
    this.storageDriver = storageDriver;
    this.commit = commit;
    this.sock = join(this.dir, 'berth.sock');
    this.execRoot = join(this.dir, 'x');
    this.dataRoot = join(this.dir, 'data');
    this.bip = BERTH_BIP;
    this.bridge = berthNetNames(this.dataRoot).bridge;
  }

  prepare() {
    super.prepare();
    writeFileSync(join(this.dir, 'daemon.json'), JSON.stringify({ bip: this.bip, dns: [gatewayOf(this.bip)] }) + '\n');
  }

  netOwned() {
    const { bridge, chainPrefix } = berthNetNames(this.dataRoot);
    return { bridges: [bridge], chainPrefixes: [chainPrefix], subnets: [subnetOf(this.bip)] };
  }

  /**
   * berth's own clean-up of what berthd set up on the host (its bridge, endpoints, chains,
   * ip_forward), with berthd stopped: `berth network-cleanup`, from the same build. --force
   * only when containers could not be removed (their processes are ended right after).
   */
  async teardownRest() {
    const notes = [];
    const berthJs = join(dirname(this.berthdJs || ''), 'berth.js');
    if (!this.berthdJs || !existsSync(berthJs) || !existsSync(this.dataRoot)) return notes;
    const args = [berthJs, 'network-cleanup', '--data-root', this.dataRoot, '--exec-root', this.execRoot];
    let r = await run(process.execPath, args, { timeoutMs: 120_000 });
    if (r.code !== 0) {
      notes.push(`berth network-cleanup: ${r.stderr.trim()}; again with --force`);
      r = await run(process.execPath, [...args, '--force'], { timeoutMs: 120_000 });
    }
    notes.push(r.code === 0 ? `berth network-cleanup: ${r.stdout.trim()}` : `berth network-cleanup --force failed: ${r.stderr.trim()}`);
    return notes;
  }

  daemonCommand() {
    return [
      process.execPath,
      [
        this.berthdJs,
        '--data-root', this.dataRoot,
        '--exec-root', this.execRoot,
        '-H', this.host,
        '--pidfile', join(this.dir, 'berthd.pid'),
        '--cgroup-parent', this.cgroupParent,
        '--storage-driver', this.storageDriver,
        '--config-file', join(this.dir, 'daemon.json'),
        '--live-restore',
      ],
    ];
  }

  daemonEnv() {
    return this.commit ? { ...serviceEnv(), BERTH_GIT_COMMIT: this.commit } : serviceEnv();
  }

  isMonitor(p) {
    return p.comm === 'conmon' && p.cmdline.some((a) => a.includes(this.execRoot + '/') || a.includes(this.dataRoot + '/'));
  }

  runcRoots() {
    return [join(this.execRoot, 'runc')];
  }
}

export class Docker extends Engine {
  constructor(root, { iptables = true } = {}) {
    super('docker', root);
    this.daemonName = 'dockerd';
    this.iptables = iptables;
    this.sock = join(this.dir, 'docker.sock');
    this.execRoot = join(this.dir, 'x');
    this.dataRoot = join(this.dir, 'data');
    this.cdDir = join(this.dir, 'cd');
    this.cdSock = join(this.cdDir, 'containerd.sock');
    this.containerdPid = undefined;
    this.bip = DOCKER_BIP;
    this.bridge = `bbd-${this.suffix}`;
    this.userlandProxy = true;
  }

  netOwned() {
    return { bridges: [this.bridge], chainPrefixes: ['DOCKER'], subnets: [subnetOf(this.bip)] };
  }

  /**
   * dockerd's `--bridge` must name an existing bridge, whose address becomes the network's
   * gateway (`--bip` is refused alongside it). Made once; it outlives dockerd's restarts.
   */
  async ensureBridge() {
    if ((await run('ip', ['link', 'show', this.bridge], { timeoutMs: 10_000 })).code === 0) return;
    const batch = `link add name ${this.bridge} type bridge\naddr add ${this.bip} dev ${this.bridge}\nlink set ${this.bridge} up\n`;
    const r = await run('ip', ['-batch', '-'], { input: batch, timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`could not make dockerd's bridge ${this.bridge}: ${r.stderr.trim()}`);
  }

  /** daemon.json, read at the next launch. */
  writeConfig() {
    const cfg = {
      // The trust key would otherwise go to /etc/docker/key.json (no flag for it in 20.10).
      'deprecated-key-path': join(this.dir, 'key.json'),
      dns: [gatewayOf(this.bip)],
      'userland-proxy': this.userlandProxy,
    };
    writeFileSync(join(this.dir, 'daemon.json'), JSON.stringify(cfg) + '\n');
  }

  /** dockerd's `userland-proxy` for the next launch (the harness restarts it with no containers). */
  setUserlandProxy(on) {
    this.userlandProxy = on;
    this.writeConfig();
  }

  prepare() {
    super.prepare();
    mkdirSync(this.cdDir, { recursive: true });
    this.writeConfig();
    writeContainerdConfig(this.cdDir, this.cdSock);
  }

  /** containerd first (it stays up across dockerd restarts, as with a system containerd). */
  async start() {
    await this.ensureBridge();
    if (!this.containerdPid || !alive(this.containerdPid)) {
      const fd = openSync(join(this.dir, 'containerd.log'), 'a');
      const child = spawn('containerd', ['--config', join(this.cdDir, 'config.toml')], { stdio: ['ignore', fd, fd], detached: true });
      closeSync(fd);
      child.unref();
      child.on('error', () => {});
      this.containerdPid = child.pid;
      this.onLaunch?.();
      const deadline = now() + 30_000;
      while (!existsSync(this.cdSock)) {
        if (!alive(this.containerdPid)) throw new Error(`containerd exited during start-up:\n${readTail(join(this.dir, 'containerd.log'))}`);
        if (now() > deadline) throw new Error('containerd did not create its socket within 30 s');
        await sleep(20);
      }
    }
    await super.start();
  }

  daemonCommand() {
    const args = [
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '-H', this.host,
      '--pidfile', join(this.dir, 'dockerd.pid'),
      '--containerd', this.cdSock,
      '--config-file', join(this.dir, 'daemon.json'),
      '--cgroup-parent', this.cgroupParent,
      '--storage-driver', 'overlay2',
      '--bridge', this.bridge,
      '--live-restore',
    ];
    if (!this.iptables) args.push('--iptables=false');
    return ['dockerd', args];
  }

  daemonPids() {
    return { dockerd: this.pid, containerd: this.containerdPid };
  }

  isMonitor(p) {
    return p.comm.startsWith('containerd-shim') && p.cmdline.includes(this.cdSock);
  }

  runcRoots() {
    return [join(this.execRoot, 'runtime-runc', 'moby')];
  }

  async teardownRest() {
    const notes = [];
    // containerd first, so that it does not start cleanup shims for the ones we end below.
    if (this.containerdPid && alive(this.containerdPid)) {
      killQuietly(this.containerdPid, 'SIGTERM');
      if (!(await waitGone(this.containerdPid, 15_000))) {
        killQuietly(this.containerdPid, 'SIGKILL');
        await waitGone(this.containerdPid, 5_000);
        notes.push('containerd needed SIGKILL');
      }
    }
    // Shims of containers dockerd did not remove: their containers first, then the shims.
    const taskDir = join(this.cdDir, 'state', 'io.containerd.runtime.v2.task', 'moby');
    const ids = new Set(existsSync(taskDir) ? readdirSync(taskDir) : []);
    for (const root of this.runcRoots()) {
      if (existsSync(root)) for (const id of readdirSync(root)) ids.add(id);
      notes.push(...(await runcDeleteAll(root)));
    }
    // docker-proxy processes end with dockerd (parent-death signal); any left are ours if they
    // forward to our subnet.
    const ours = (q) => q.comm === 'docker-proxy' && q.cmdline.some((a, i) => q.cmdline[i - 1] === '-container-ip' && inSubnet(a, subnetOf(this.bip)));
    for (const p of processes().filter(ours)) {
      notes.push(`killed leftover docker-proxy ${p.pid}`);
      killQuietly(p.pid);
    }
    for (const p of processes().filter((q) => this.isMonitor(q))) {
      notes.push(`killed leftover shim ${p.pid}`);
      for (const c of childrenOf(p.pid)) killQuietly(c);
      killQuietly(p.pid);
      await waitGone(p.pid, 5000);
    }
    notes.push(...removeShimSockets(this.cdSock, ids));
    return notes;
  }
}

/**
 * A killed shim leaves its socket in /run/containerd/s (containerd 1.6 puts them there
 * whatever its own paths): sha256("<containerd address>/<namespace>/<id>").
 */
/** containerd on its own paths (config.toml in `cdDir`); CRI is off (dockerd does not use it). */
export function writeContainerdConfig(cdDir, cdSock) {
  writeFileSync(
    join(cdDir, 'config.toml'),
    [
      'version = 2',
      `root = ${JSON.stringify(join(cdDir, 'root'))}`,
      `state = ${JSON.stringify(join(cdDir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(cdSock)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(cdSock + '.ttrpc')}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(cdDir, 'opt'))}`,
      '',
    ].join('\n'),
  );
}

export function removeShimSockets(cdSock, ids) {
  const notes = [];
  for (const id of ids) {
    const sock = join('/run/containerd/s', createHash('sha256').update(join(cdSock, 'moby', id)).digest('hex'));
    if (existsSync(sock)) {
      rmSync(sock, { force: true });
      notes.push(`removed shim socket ${sock}`);
    }
  }
  return notes;
}

export async function runcDeleteAll(root) {
  const notes = [];
  if (!existsSync(root)) return notes;
  for (const id of readdirSync(root)) {
    notes.push(`runc delete --force ${id.slice(0, 12)}`);
    await run('runc', ['--root', root, 'delete', '--force', id], { timeoutMs: 30_000 });
  }
  return notes;
}

/**
 * Remove what a run may leave in `dir`: monitor processes and their containers, runc state,
 * mounts under it, the cgroup parents, then the directory. Used by teardown() and by
 * bench/cleanup.mjs after a crash.
 */
export async function cleanupTree(dir, cgroupParents, isMonitor, runcRoots) {
  const notes = [];
  for (const root of runcRoots) notes.push(...(await runcDeleteAll(root)));
  for (const p of processes().filter(isMonitor)) {
    notes.push(`killed leftover monitor ${p.comm} ${p.pid}`);
    for (const c of childrenOf(p.pid)) killQuietly(c);
    killQuietly(p.pid);
    await waitGone(p.pid, 5000);
  }
  notes.push(...(await unmountUnder(dir)));
  for (const parent of cgroupParents) removeCgroupTree(parent);
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    notes.push(`could not remove ${dir}: ${err.message}`);
  }
  return notes;
}

export async function unmountUnder(dir) {
  const notes = [];
  for (let round = 0; round < 3; round++) {
    const targets = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((t) => t && (t === dir || t.startsWith(dir + '/')))
      .map((t) => t.replace(/\\040/g, ' '));
    if (targets.length === 0) break;
    for (const t of targets.reverse()) {
      const r = await run('umount', ['-l', t], { timeoutMs: 30_000 });
      if (round === 0) notes.push(`unmounted ${t}${r.code ? ' (failed)' : ''}`);
    }
  }
  return notes;
}

/** rmdir a cgroup parent (and empty children) in every v1 controller / the v2 tree. */
export function removeCgroupTree(parent) {
  const roots = [];
  try {
    for (const c of readdirSync('/sys/fs/cgroup')) roots.push(join('/sys/fs/cgroup', c));
  } catch {
    return;
  }
  roots.push('/sys/fs/cgroup');
  for (const r of roots) {
    const dir = join(r, parent);
    if (existsSync(dir)) rmdirDeep(dir);
  }
}

function rmdirDeep(dir) {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirDeep(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    // still has processes: reported by the caller's leftover check
  }
}

function readTail(file, n = 3000) {
  try {
    return readFileSync(file, 'utf8').slice(-n);
  } catch {
    return '';
  }
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: timed out`)), ms)))]).finally(() => clearTimeout(t));
}

/** The long-running container every "N running containers" measurement uses. */
export function sleeperBody(extra = {}) {
  return { Image: 'busybox:latest', Cmd: ['sleep', '1d'], Labels: { 'berth-bench': '1' }, HostConfig: { NetworkMode: 'none' }, ...extra };
}

/** Whether dotted-quad `ip` lies in `cidr` ("a.b.c.d/len"). */
export function inSubnet(ip, cidr) {
  const num = (a) => a.split('.').reduce((x, y) => x * 256 + Number(y), 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return false;
  const [base, len] = cidr.split('/');
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  return ((num(ip) & mask) >>> 0) === ((num(base) & mask) >>> 0);
}

export function serviceEnv() {
  const env = { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: process.env.LANG ?? 'C.UTF-8' };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return env;
}
