import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync, existsSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { repoRoot, busyboxTarball, testTmpDir } from './paths.js';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';

export type RunResult = { code: number; stdout: string; stderr: string };

export type DaemonOptions = {
  liveRestore?: boolean;
  /** daemon.json content; written to <dir>/daemon.json and passed with --config-file. */
  config?: Record<string, unknown>;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Import the busybox test image as busybox:latest (default true). */
  busybox?: boolean;
  /** Passed as --storage-driver; without it berthd uses its default, overlay2. */
  storageDriver?: 'overlay2' | 'vfs';
  /** Share another daemon's exec-root (data-root isolation tests). */
  execRoot?: string;
  /**
   * Run berthd in a network namespace of its own (loopback up, nothing else), as the swarm
   * harness runs one daemon per namespace. It dies with berthd: no process stays in it.
   */
  ownNetns?: boolean;
  /**
   * Run berthd in a mount namespace of its own where every mount but its own tree (and /proc,
   * /dev, /sys) is read-only: a write outside its directories fails with
   * EROFS instead of landing on the host (the fuzzer's daemon). Mounts it makes stay in that
   * namespace, which ends with the last of berthd and its monitors.
   */
  readOnlyHost?: boolean;
  /**
   * Join this network namespace (a path such as /proc/<pid>/ns/net: see holdNetns). Unlike
   * ownNetns it outlives berthd, so a restarted daemon finds its bridge, veths and rules again,
   * and none of them is on the host (a long crash or soak run needs no test lock).
   */
  netns?: string;
  /**
   * A swarm manager's test daemon: its etcd member's data on tmpfs (/dev/shm, as the research
   * advises: the WAL preallocates 128 MB), and cleanup that leaves the swarm and makes sure no
   * etcd member of its own is left running.
   */
  swarm?: boolean;
  /**
   * Run berthd in a UTS namespace of its own with this hostname (the swarm harness: each node
   * has its own name in `docker node ls` and `docker info`). Nothing of the host changes.
   */
  hostname?: string;
  /** The default bridge's address (`--bip`); without it one free on the host is chosen. */
  bip?: string;
  /** Make the daemon's temporary tree inside this directory (default: the test run's tree). */
  parentDir?: string;
};

/** A network namespace held open by a process of ours (loopback up) until `release()`. */
export function holdNetns(): { path: string; pid: number; release: () => void } {
  const p = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec sleep infinity'], { stdio: 'ignore', detached: true });
  const pid = p.pid as number;
  p.unref();
  const path = `/proc/${pid}/ns/net`;
  // Until unshare has run, /proc/<pid>/ns/net is still the host's.
  const host = readlinkSync('/proc/self/ns/net');
  const deadline = Date.now() + 10_000;
  while (readlinkSafe(path) === host || readlinkSafe(path) === undefined) {
    if (Date.now() > deadline) throw new Error('the network namespace holder did not start');
    spawnSync('sleep', ['0.02']);
  }
  return { path, pid, release: () => { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } } };
}

function readlinkSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Before exec: every mount made read-only at once (mount_setattr(2) with AT_RECURSIVE, through
 * perl, which Debian always has: a host with a thousand mounts would take a minute one
 * `mount -o remount` at a time), /proc, /dev and /sys (sysctls, cgroups) writable again, then
 * the daemon's tree bound onto itself and made writable. The namespace is private: the host's
 * own mounts do not change.
 */
const READ_ONLY_HOST = [
  'set -e',
  // mount_setattr(AT_FDCWD, path, AT_RECURSIVE, { attr_set, attr_clr }, 32); 442 on every arch.
  `attr() { perl -e 'my ($p, $s, $c) = @ARGV; syscall(442, -100, $p, 0x8000, pack("QQQQ", $s, $c, 0, 0), 32) == 0 or die "mount_setattr $p: $!\\n"' "$@"; }`,
  'mount --make-rprivate /',
  'attr / 1 0',
  'for m in /proc /dev /sys; do attr "$m" 0 1; done',
  'mount --bind "$BERTH_RW_DIR" "$BERTH_RW_DIR"',
  'attr "$BERTH_RW_DIR" 0 1',
].join('\n');

const BERTHD = join(repoRoot, 'dist', 'src', 'cmd', 'berthd.cjs');

/**
 * A real berthd on temporary paths (data-root, exec-root, socket, pidfile, cgroup parent),
 * driven by the real docker CLI. `cleanup()` removes every container it made and checks that
 * nothing is left behind: conmon processes, mounts, runc state.
 */
export class TestDaemon {
  readonly dir: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly sock: string;
  readonly host: string;
  readonly cgroupParent: string;
  readonly logFile: string;
  readonly opts: DaemonOptions;
  /** The default bridge's address: opts.bip, or one chosen free at construction (10.213.N.1/24). */
  readonly bip: string;
  /** Where its user networks' subnets come from: a /21 of 10.214.0.0/15 of its own, cut in /24s. */
  readonly addressPool: string;
  proc: ChildProcess | undefined;
  #exit: Promise<number | null> | undefined;
  /** Set by stop(): an exit then is the test's doing. */
  #stopping = false;
  /**
   * How berthd ended when nothing here asked it to (a crash, most likely), with the end of its
   * log: printed by cleanup(), which deletes the log, and repeated by run-tests at the end of a
   * failed run.
   */
  #diagnosis: string | undefined;
  /** Whether berthd answered since it was last started. */
  #up = false;

  constructor(opts: DaemonOptions = {}) {
    this.opts = opts;
    this.dir = opts.parentDir ? mkdtempSync(join(opts.parentDir, 'bt-')) : testTmpDir('bt-');
    this.dataRoot = join(this.dir, 'data');
    this.execRoot = opts.execRoot ?? join(this.dir, 'x');
    this.sock = join(this.dir, 'berth.sock');
    this.host = `unix://${this.sock}`;
    this.cgroupParent = `/berth-test-${this.dir.slice(-6)}`;
    this.logFile = join(this.dir, 'berthd.log');
    this.bip = opts.bip ?? freeTestSubnet();
    this.addressPool = freeTestPool();
    // Written once: tests edit it later (SIGHUP, restarts with another configuration).
    writeFileSync(this.configFile, JSON.stringify(opts.config ?? {}));
  }

  /** Where a swarm test daemon's etcd member keeps its data (tmpfs). */
  get etcdDir(): string {
    return join('/dev/shm', `berth-etcd-${this.dir.split('/').pop() ?? 'x'}`);
  }

  /** etcd members this daemon started (their working directory is in our exec-root). */
  etcdMembers(): number[] {
    const out: number[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'etcd') continue;
        if (readlinkSync(`/proc/${pid}/cwd`).startsWith(this.execRoot + '/')) out.push(Number(pid));
      } catch {
        // gone
      }
    }
    return out;
  }

  /** The storage driver's directory: `<data-root>/overlay2` by default. */
  get storageRoot(): string {
    return join(this.dataRoot, this.opts.storageDriver ?? 'overlay2');
  }

  /** The daemon's certs.d (`<host:port>/ca.crt`, `client.cert`, `client.key`). */
  get certsDir(): string {
    return join(this.dir, 'certs.d');
  }

  get configFile(): string {
    return join(this.dir, 'daemon.json');
  }

  args(): string[] {
    const a = [
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '-H', this.host,
      '--pidfile', join(this.dir, 'berthd.pid'),
      '--cgroup-parent', this.cgroupParent,
      '--log-level', 'debug',
      // Tests never reach Docker Hub: names without a registry host fail at once.
      '--no-default-registry',
      '--registry-certs-dir', this.certsDir,
    ];
    if (this.opts.storageDriver) a.push('--storage-driver', this.opts.storageDriver);
    // Each test daemon's default bridge on a subnet of its own (its bridge is named after its
    // data root), and container lookups kept off the host's resolvers (an outside address):
    // 127.0.0.1 inside a container is the container's own loopback, where nothing answers.
    const given = (key: string) => key in (this.opts.config ?? {}) || (this.opts.extraArgs ?? []).some((x) => x === `--${key}` || x.startsWith(`--${key}=`));
    if (!given('bip') && !given('bridge')) a.push('--bip', this.bip);
    // User networks too: several daemons run at once, each creating networks (berth also skips
    // subnets routed on the host, which covers another daemon's networks once they exist).
    if (!given('default-address-pools') && !given('default-address-pool')) a.push('--default-address-pool', `base=${this.addressPool},size=24`);
    if (!given('dns')) a.push('--dns', '127.0.0.1');
    // ip_forward is one setting for the whole host, shared by every daemon running: test
    // daemons leave it alone unless a test asks (hairpin through the gateway needs it).
    if (!given('ip-forward')) a.push('--ip-forward=false');
    a.push('--config-file', this.configFile);
    if (this.opts.liveRestore) a.push('--live-restore');
    if (this.opts.swarm) a.push('--swarm-etcd-dir', this.etcdDir);
    return [...a, ...(this.opts.extraArgs ?? [])];
  }

  /** Launch berthd (in its own session, so it outlives nothing of ours) and wait for /_ping. */
  async start(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    const prelude = [
      ...(this.opts.ownNetns ? ['ip link set lo up'] : []),
      ...(this.opts.readOnlyHost ? [READ_ONLY_HOST] : []),
      ...(this.opts.hostname !== undefined ? ['hostname "$BERTH_HOSTNAME"'] : []),
    ];
    const unshare = [...(this.opts.ownNetns ? ['--net'] : []), ...(this.opts.readOnlyHost ? ['--mount'] : []), ...(this.opts.hostname !== undefined ? ['--uts'] : [])];
    const [cmd0, argv0] = prelude.length > 0
      ? ['unshare', [...unshare, '--', 'sh', '-c', `${prelude.join('\n')}\nexec "$0" "$@"`, process.execPath, BERTHD, ...this.args()]]
      : [process.execPath, [BERTHD, ...this.args()]];
    const [cmd, argv] = this.opts.netns ? ['nsenter', [`--net=${this.opts.netns}`, '--', cmd0, ...argv0]] : [cmd0, argv0];
    const proc = spawn(cmd, argv, {
      stdio: ['ignore', fd, fd],
      env: {
        ...process.env,
        ...(this.opts.env ?? {}),
        ...(this.opts.readOnlyHost ? { BERTH_RW_DIR: this.dir } : {}),
        ...(this.opts.hostname !== undefined ? { BERTH_HOSTNAME: this.opts.hostname } : {}),
      },
      detached: true,
    });
    closeSync(fd);
    this.proc = proc;
    this.#stopping = false;
    this.#up = false;
    this.#exit = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        // An exit during start-up is start()'s error, with the log, already.
        if (!this.#stopping && this.#up) this.#diagnosis = `berthd of ${this.dir} exited by itself (${signal ?? `code ${code}`}); its log ended with:\n${this.log().split('\n').slice(-20).join('\n')}`;
        resolve(code ?? (signal ? 128 : null));
      }),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`berthd exited during start-up:\n${this.log().slice(-3000)}`);
      }
      if (await this.ping()) {
        this.#up = true;
        break;
      }
      if (Date.now() > deadline) throw new Error(`berthd did not answer within 60 s:\n${this.log().slice(-3000)}`);
      await sleep(50);
    }
    if (this.opts.busybox !== false && !this.#imported) {
      const r = this.docker(['import', '-c', 'CMD ["sh"]', busyboxTarball(), 'busybox:latest']);
      if (r.code !== 0) throw new Error(`cannot import busybox: ${r.stderr}`);
      this.#imported = true;
    }
  }

  #imported = false;

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ socketPath: this.sock, path: '/_ping', method: 'GET', timeout: 2000, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
      req.end();
    });
  }

  /** Run the real docker CLI (first on PATH) against this daemon. */
  docker(args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    const r = spawnSync('docker', ['-H', this.host, ...args], {
      input: opts.input ?? '',
      timeout: opts.timeoutMs ?? 120_000,
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: join(this.dir, 'docker-config') },
      maxBuffer: 256 * 1024 * 1024,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** `docker args` that must succeed: its stdout. */
  ok(args: string[]): string {
    const r = this.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** `docker args` that must fail: its stderr. */
  fails(args: string[]): string {
    const r = this.docker(args);
    assert.notEqual(r.code, 0, `docker ${args.join(' ')} should fail: ${r.stdout}`);
    return r.stderr;
  }

  /** Remove every container and volume: a clean slate between tests sharing a daemon. */
  removeAllContainersAndVolumes(): void {
    const ids = this.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) this.docker(['rm', '-f', ...ids]);
    const vols = this.docker(['volume', 'ls', '-q']).stdout.split('\n').filter(Boolean);
    if (vols.length > 0) this.docker(['volume', 'rm', '-f', ...vols]);
  }

  /** The docker CLI in the background, for attached or following commands. */
  dockerAsync(args: string[], opts: { input?: string; timeoutMs?: number } = {}): { proc: ChildProcess; done: Promise<RunResult> } {
    const proc = spawn('docker', ['-H', this.host, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_CONFIG: join(this.dir, 'docker-config') },
    });
    let stdout = '';
    let stderr = '';
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) proc.stdin?.end(opts.input);
    const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    const done = new Promise<RunResult>((resolve) =>
      proc.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      }),
    );
    return { proc, done };
  }

  /** Raw HTTP against the API socket. */
  api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string; json: () => unknown }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.sock,
          path,
          method,
          headers: {
            ...(payload !== undefined && !Buffer.isBuffer(payload) && typeof body !== 'string' ? { 'Content-Type': 'application/json' } : {}),
            ...headers,
          },
          timeout: 60_000,
          // A connection of its own: the tests block the event loop in spawnSync for minutes,
          // so a pooled socket the daemon closed meanwhile would look alive (EPIPE on write).
          agent: false,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    this.#stopping = true;
    p.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const code = await Promise.race([this.#exit, timeout]);
    clearTimeout(timer);
    if (code === 'timeout') {
      p.kill('SIGKILL');
      await this.#exit;
      throw new Error(`berthd did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return code ?? null;
  }

  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }

  async restart(opts: { signal?: NodeJS.Signals } = {}): Promise<void> {
    await this.stop(opts.signal ?? 'SIGTERM');
    await this.start();
  }

  /** conmon processes started for this daemon (their argv names our exec-root). */
  conmons(): number[] {
    const out: number[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.startsWith('conmon\0') || cmd.includes('/conmon\0')) {
          if (cmd.includes(this.execRoot + '/')) out.push(Number(pid));
        }
      } catch {
        // gone
      }
    }
    return out;
  }

  mounts(): string[] {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[1]?.startsWith(this.dir));
  }

  /** A command in the daemon's network namespace (the host's unless it has one of its own). */
  inNetns(cmd: string, args: string[]): string {
    const r = this.opts.netns ? spawnSync('nsenter', [`--net=${this.opts.netns}`, '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
    return r.stdout ?? '';
  }

  runcState(): string[] {
    const root = join(this.execRoot, 'runc');
    return existsSync(root) ? readdirSync(root) : [];
  }

  /**
   * Remove every container (through the API when the daemon runs), stop the daemon, and
   * make sure nothing is left; then delete the temporary tree. Safe to call after failures.
   */
  async cleanup(): Promise<{ leftovers: string[] }> {
    const leftovers: string[] = [];
    if (this.#diagnosis) console.log(this.#diagnosis.split('\n').map((l) => `[diagnosis] ${l}`).join('\n'));
    try {
      if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
        // A swarm takes its task containers and its etcd member with it when it is left.
        if (this.opts.swarm) this.docker(['swarm', 'leave', '--force'], { timeoutMs: 120_000 });
        // Containers a daemon refused to adopt (upgrade tests) are stopped the admin way first.
        spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cmd', 'berth.js'), '-H', this.host, 'stop-unadopted', '-t', '1'], { timeout: 60_000 });
        const ids = this.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) this.docker(['rm', '-f', ...ids], { timeoutMs: 120_000 });
        await this.stop('SIGTERM').catch(() => this.stop('SIGKILL'));
      }
    } finally {
      for (const pid of this.etcdMembers()) {
        leftovers.push(`etcd ${pid}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      if (this.opts.swarm) rmSync(this.etcdDir, { recursive: true, force: true });
      // Last resort for a test that failed mid-way: end our own conmons and their containers.
      for (const pid of this.conmons()) {
        leftovers.push(`conmon ${pid}`);
        killContainerOf(pid);
      }
      for (const id of this.runcState()) {
        leftovers.push(`runc ${id}`);
        spawnSync('runc', ['--root', join(this.execRoot, 'runc'), 'delete', '--force', id], { timeout: 30_000 });
      }
      // The bridge and base chains outlive the daemon by design; endpoints left are leaks.
      const net = spawnSync(this.opts.netns ? 'nsenter' : process.execPath, [...(this.opts.netns ? [`--net=${this.opts.netns}`, '--', process.execPath] : []), join(repoRoot, 'dist', 'src', 'cmd', 'berth.js'), 'network-cleanup', '--data-root', this.dataRoot, '--exec-root', this.execRoot, '--force'], { encoding: 'utf8', timeout: 60_000 });
      if (net.status !== 0) leftovers.push(`network cleanup failed: ${net.stderr.trim()}`);
      const endpoints = /(\d+) endpoint\(s\)/.exec(net.stdout)?.[1];
      if (endpoints && endpoints !== '0') leftovers.push(`${endpoints} network endpoint(s)`);
      for (const m of this.mounts().reverse()) {
        const target = m.split(' ')[1] as string;
        leftovers.push(`mount ${target}`);
        spawnSync('umount', ['-l', target], { timeout: 30_000 });
      }
      removeCgroups(this.cgroupParent);
      rmSync(this.dir, { recursive: true, force: true });
    }
    return { leftovers };
  }
}

function killContainerOf(conmonPid: number): void {
  try {
    const children = readFileSync(`/proc/${conmonPid}/task/${conmonPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const c of children) process.kill(Number(c), 'SIGKILL');
  } catch {
    // already gone
  }
  try {
    process.kill(conmonPid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** runc removes each container's cgroup; the per-daemon parent is ours to remove. */
function removeCgroups(parent: string): void {
  let controllers: string[] = [];
  try {
    controllers = readdirSync('/sys/fs/cgroup');
  } catch {
    return;
  }
  for (const c of controllers) {
    const dir = join('/sys/fs/cgroup', c, parent);
    if (!existsSync(dir)) continue;
    for (const sub of readdirSync(dir, { withFileTypes: true })) {
      if (!sub.isDirectory()) continue;
      try {
        rmdirSync(join(dir, sub.name));
      } catch {
        // a cgroup with processes in it cannot be removed; the leak check reports those
      }
    }
    try {
      rmdirSync(dir);
    } catch {
      // as above
    }
  }
}

/** A 10.213.N.0/24 no route of the host overlaps (another test daemon's bridge, say). */
function freeTestSubnet(): string {
  const used = new Set<number>();
  for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
    const dest = line.trim().split(/\s+/)[1];
    if (!dest) continue;
    const n = Number.parseInt(dest, 16);
    // Little-endian: the first octet is the low byte.
    if ((n & 0xff) === 10 && ((n >>> 8) & 0xff) === 213) used.add((n >>> 16) & 0xff);
  }
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((i) => !used.has(i));
  const pick = free[Math.floor(Math.random() * free.length)];
  if (pick === undefined) throw new Error('no free 10.213.N.0/24 subnet for a test daemon');
  return `10.213.${pick}.1/24`;
}

/** A 10.214-215.N.0/21 that no route of the host overlaps: 64 choices, 8 networks each. */
function freeTestPool(): string {
  const routes: { base: number; mask: number }[] = [];
  for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (h: string) => {
      const n = Number.parseInt(h, 16);
      return (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | ((n >>> 24) & 0xff)) >>> 0;
    };
    const mask = le(f[7] as string);
    if (mask !== 0) routes.push({ base: (le(f[1] as string) & mask) >>> 0, mask });
  }
  const blocks = Array.from({ length: 64 }, (_, i) => (((10 << 24) | (214 << 16)) + i * 2048) >>> 0);
  const free = blocks.filter((b) => !routes.some((r) => ((b & r.mask) >>> 0) === r.base || ((r.base & 0xfffff800) >>> 0) === b));
  const pick = free[Math.floor(Math.random() * free.length)];
  if (pick === undefined) throw new Error('no free 10.214.0.0/15 block for a test daemon');
  return `${[pick >>> 24, (pick >>> 16) & 255, (pick >>> 8) & 255, pick & 255].join('.')}/21`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * One daemon for a whole test file: started before its tests and cleaned up after them,
 * failing the file if anything it made is left behind. `use` receives it once started.
 */
export function daemonForFile(use: (d: TestDaemon) => void, opts: DaemonOptions = {}): void {
  let d: TestDaemon | undefined;
  before(async () => {
    d = await startDaemon(opts);
    use(d);
  });
  after(async () => {
    if (!d) return;
    const { leftovers } = await d.cleanup();
    assert.deepEqual(leftovers, []);
  });
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<TestDaemon> {
  const d = new TestDaemon(opts);
  try {
    await d.start();
  } catch (err) {
    await d.cleanup();
    throw err;
  }
  return d;
}
