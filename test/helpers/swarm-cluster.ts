import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { TestDaemon, waitFor, type DaemonOptions, type RunResult } from './daemon.js';
import { inNetnsSync } from './net-tools.js';
import { testTmpDir } from './paths.js';
import { isAlive, readStatSync, type ProcessIdentity } from '../../src/lib/proc.js';

// A cluster of berthd nodes on one machine, for the multi-node swarm tests. Each node is a
// named network namespace with one veth to a switch: a bridge (br0) in a namespace of its own,
// because the root namespace's FORWARD policy may be DROP with br_netfilter on, which would
// drop bridged frames there. Each node runs one berthd (own data-root, exec-root, socket,
// cgroup parent, hostname, etcd data on /dev/shm) joined to its namespace with nsenter --net:
// `ip netns exec` would also give it a new mount namespace, so a restarted berthd would not
// see the overlay mounts of the one before it and live restore would break. The docker CLI
// stays in the root namespace and reaches every node through its unix socket.

export type ClusterOptions = {
  nodes: number;
  /** A short word in every name the cluster makes (namespaces, hostnames); default `bsw`. */
  prefix?: string;
  /** The nodes' /24, as its first three octets; node i is `<subnet>.<10 + i>`. Default 10.237.0. */
  subnet?: string;
  /** Default true: the point of the product, and what kill9()/restart() tests rely on. */
  liveRestore?: boolean;
  /** Passed to every node's TestDaemon (daemon.json, extra flags, environment). */
  daemon?: Pick<DaemonOptions, 'config' | 'extraArgs' | 'env' | 'busybox'>;
};

export type Role = 'worker' | 'manager';

export type ClusterTimings = { networkMs: number; daemonsMs: number; startMs: number; teardownMs?: number };

export type CleanupReport = {
  /** What a running node's own cleanup (swarm leave, rm -f, stop) left for the fallback. */
  leftovers: string[];
  /** Anything of the cluster still on the host afterwards: must always be empty. */
  residue: string[];
};

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

/** Several `ip` commands in one namespace, one process. */
function ipIn(netns: string, lines: string[]): void {
  const r = spawnSync('ip', ['-n', netns, '-batch', '-'], { encoding: 'utf8', input: `${lines.join('\n')}\n`, timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip -n ${netns} -batch: ${r.stderr || r.error?.message}\n${lines.join('\n')}`);
}

function netnsInode(name: string): number | undefined {
  try {
    return statSync(`/run/netns/${name}`).ino;
  } catch {
    return undefined;
  }
}

/** One node: its namespace, its berthd, and clients run from inside its namespace. */
export class SwarmNode {
  /** 1-based, as in the names: node 1 is `n1`. */
  readonly index: number;
  readonly name: string;
  readonly hostname: string;
  readonly ip: string;
  /** The namespace's name (`ip -n <netns>`) and its file, which berthd joins. */
  readonly netns: string;
  readonly netnsPath: string;
  /** Its cable's end on the switch. */
  readonly switchPort: string;
  readonly daemon: TestDaemon;
  /** berthd as last started (PID and start time). */
  berthd: ProcessIdentity | undefined;

  constructor(index: number, o: { base: string; prefix: string; token: string; subnet: string; dir: string; opts: ClusterOptions }) {
    this.index = index;
    this.name = `n${index}`;
    this.hostname = `${o.prefix}-n${index}`;
    this.ip = `${o.subnet}.${10 + index}`;
    this.netns = `${o.base}-n${index}`;
    this.netnsPath = `/run/netns/${this.netns}`;
    // Interface names are at most 15 characters; this one is unique to the run (its token).
    this.switchPort = `s${o.token}n${index}`;
    const extra = o.opts.daemon?.extraArgs ?? [];
    this.daemon = new TestDaemon({
      ...o.opts.daemon,
      netns: this.netnsPath,
      hostname: this.hostname,
      swarm: true,
      liveRestore: o.opts.liveRestore ?? true,
      parentDir: o.dir,
      // Distinct on every node so that container addresses are unique in the cluster; outside
      // the node subnet. ip_forward is this namespace's own: published ports reached from
      // another node are forwarded from eth0 to the node's bridge.
      bip: `10.238.${index}.1/24`,
      extraArgs: [...(extra.some((a) => a.startsWith('--ip-forward')) ? [] : ['--ip-forward=true']), ...extra],
    });
  }

  get running(): boolean {
    const p = this.daemon.proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  async start(): Promise<void> {
    await this.daemon.start();
    const pid = this.daemon.proc?.pid;
    const st = pid === undefined ? undefined : readStatSync(pid);
    this.berthd = pid !== undefined && st ? { pid, startTime: st.startTime } : undefined;
  }

  /** The real docker CLI against this node. */
  docker(args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    return this.daemon.docker(args, opts);
  }

  ok(args: string[]): string {
    return this.daemon.ok(args);
  }

  fails(args: string[]): string {
    return this.daemon.fails(args);
  }

  /** SIGKILL berthd (by PID); its containers and its etcd member keep running. */
  async kill9(): Promise<void> {
    await this.daemon.kill();
  }

  /** berthd again, on the same roots with the same arguments. */
  async restart(): Promise<void> {
    if (this.running) await this.daemon.stop('SIGTERM');
    await this.start();
  }

  /** This node's etcd member, as berthd recorded it (`<data-root>/swarm/etcd-member.json`), if alive. */
  async etcdMember(): Promise<ProcessIdentity | undefined> {
    let rec: { process?: ProcessIdentity };
    try {
      rec = JSON.parse(readFileSync(join(this.daemon.dataRoot, 'swarm', 'etcd-member.json'), 'utf8')) as { process?: ProcessIdentity };
    } catch {
      return undefined;
    }
    return rec.process && (await isAlive(rec.process)) ? rec.process : undefined;
  }

  /**
   * "Kill a manager": SIGKILL its berthd and then its etcd member (the recorded PID, only if
   * its start time still matches), as when the machine dies. Its task containers stay.
   * Returns the member killed, if there was one.
   */
  async killAll(): Promise<ProcessIdentity | undefined> {
    const member = await this.etcdMember();
    await this.kill9();
    if (member && (await isAlive(member))) {
      try {
        process.kill(member.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await waitFor(`etcd member ${member.pid} of ${this.name} to die`, async () => !(await isAlive(member)), 10_000, 20);
    }
    return member;
  }

  /**
   * Leave the swarm, remove every container and stop berthd, without blocking the event
   * loop (the cluster drains its nodes together); TestDaemon.cleanup() then checks the rest.
   */
  async drain(): Promise<void> {
    const d = this.daemon;
    const run = (args: string[]) => d.dockerAsync(args).done;
    await d.dockerAsync(['swarm', 'leave', '--force'], { timeoutMs: 60_000 }).done;
    const ids = (await run(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await run(['rm', '-f', ...ids]);
    await d.stop('SIGTERM').catch(() => d.stop('SIGKILL'));
  }

  /** A command inside this node's network namespace (only: the mounts are the host's). */
  exec(cmd: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    const r = spawnSync('nsenter', [`--net=${this.netnsPath}`, '--', ...cmd], { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeoutMs ?? 30_000 });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
  }

  /** Connect from this node to ip:port and read until the server closes; undefined if it fails. */
  tcpGet(host: string, port: number, timeoutMs = 3000): string | undefined {
    const r = inNetnsSync(this.netnsPath, ['tcp-get', host, String(port), String(timeoutMs)], timeoutMs + 10_000);
    return r.status === 0 ? r.stdout : undefined;
  }

  /** An HTTP GET from this node (a task's published port on another node, say): the body, or undefined. */
  httpGet(host: string, port: number, path = '/', timeoutMs = 3000): string | undefined {
    const r = inNetnsSync(this.netnsPath, ['http-get', host, String(port), path, String(timeoutMs)], timeoutMs + 10_000);
    return r.status === 0 ? r.stdout : undefined;
  }
}

/** The switch, its nodes, and what it takes to remove them. Made by startCluster(). */
export class SwarmCluster {
  readonly prefix: string;
  /** Unique to this run: in every namespace name (`<prefix>-<pid>-<hex>`). */
  readonly base: string;
  /** Unique to this run: in every link name the cluster makes. */
  readonly token: string;
  readonly subnet: string;
  readonly dir: string;
  readonly switchNetns: string;
  readonly nodes: SwarmNode[];
  readonly timings: ClusterTimings = { networkMs: 0, daemonsMs: 0, startMs: 0 };
  readonly #netnsInodes = new Map<string, number>();
  #cleanup: Promise<CleanupReport> | undefined;

  constructor(opts: ClusterOptions) {
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 200) throw new Error(`a cluster of ${opts.nodes} nodes?`);
    this.prefix = opts.prefix ?? 'bsw';
    this.token = randomBytes(3).toString('hex');
    this.base = `${this.prefix}-${process.pid}-${this.token}`;
    this.subnet = opts.subnet ?? '10.237.0';
    this.dir = testTmpDir('bt-swarm-');
    this.switchNetns = `${this.base}-sw`;
    this.nodes = Array.from({ length: opts.nodes }, (_, i) => new SwarmNode(i + 1, { base: this.base, prefix: this.prefix, token: this.token, subnet: this.subnet, dir: this.dir, opts }));
  }

  /** Node i, 1-based (node(1) is n1). */
  node(i: number): SwarmNode {
    const n = this.nodes[i - 1];
    if (!n) throw new Error(`no node ${i} in a cluster of ${this.nodes.length}`);
    return n;
  }

  /** Every namespace of the cluster, the switch's first. */
  get namespaces(): string[] {
    return [this.switchNetns, ...this.nodes.map((n) => n.netns)];
  }

  /** The switch, then each node's namespace and cable; then every berthd, in parallel. */
  async start(): Promise<void> {
    const t0 = Date.now();
    const sw = this.switchNetns;
    for (const ns of this.namespaces) {
      ip(['netns', 'add', ns]);
      const ino = netnsInode(ns);
      if (ino !== undefined) this.#netnsInodes.set(ns, ino);
    }
    ipIn(sw, ['link set lo up', 'link add br0 type bridge', 'link set br0 up']);
    for (const n of this.nodes) {
      ipIn(n.netns, ['link set lo up', `link add eth0 type veth peer name ${n.switchPort} netns ${sw}`, `addr add ${n.ip}/24 dev eth0`, 'link set eth0 up']);
    }
    ipIn(sw, this.nodes.flatMap((n) => [`link set ${n.switchPort} master br0`, `link set ${n.switchPort} up`]));
    const t1 = Date.now();
    this.timings.networkMs = t1 - t0;
    await Promise.all(this.nodes.map((n) => n.start()));
    this.timings.daemonsMs = Date.now() - t1;
    this.timings.startMs = Date.now() - t0;
  }

  /**
   * waitFor, and when it times out, each node's last swarm and etcd lines as `[diagnosis]`
   * lines (run-tests repeats them under the failed file: cleanup deletes the logs).
   */
  async waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, stepMs: number): Promise<T> {
    try {
      return await waitFor(what, fn, timeoutMs, stepMs);
    } catch (err) {
      this.diagnose(what);
      throw err;
    }
  }

  /** Prints, per node, its last few log lines about the swarm (or warnings and errors). */
  diagnose(what: string, perNode = 8): void {
    const out = [`while waiting for ${what}:`];
    for (const n of this.nodes) {
      const lines = n.daemon
        .log()
        .split('\n')
        .filter((l) => /swarm|etcd|"level":"(warn|error|fatal)"/.test(l))
        .slice(-perNode)
        .map((l) => `  ${n.name}${n.running ? '' : ' (down)'}: ${l.replace(/^\{"level":"(\w+)","time":"[^"]*T([^"]*)Z",/, '$2 $1 ')}`);
      out.push(...(lines.length > 0 ? lines : [`  ${n.name}: no swarm lines`]));
    }
    console.log(out.map((l) => `[diagnosis] ${l.slice(0, 300)}`).join('\n'));
  }

  /** Unplug the node's cable at the switch: nothing passes between it and the others. */
  cutCable(node: SwarmNode): void {
    ip(['-n', this.switchNetns, 'link', 'set', node.switchPort, 'down']);
  }

  healCable(node: SwarmNode): void {
    ip(['-n', this.switchNetns, 'link', 'set', node.switchPort, 'up']);
  }

  /** `docker swarm init --advertise-addr <node ip>` on the node: its node ID. */
  swarmInit(node: SwarmNode, extra: string[] = []): string {
    node.ok(['swarm', 'init', '--advertise-addr', node.ip, ...extra]);
    return node.ok(['info', '--format', '{{.Swarm.NodeID}}']).trim();
  }

  /** The join tokens, asked of a manager (node 1 by default). */
  joinTokens(manager: SwarmNode = this.node(1)): Record<Role, string> {
    return {
      worker: manager.ok(['swarm', 'join-token', '-q', 'worker']).trim(),
      manager: manager.ok(['swarm', 'join-token', '-q', 'manager']).trim(),
    };
  }

  /**
   * `docker swarm join --token <t> <manager ip>:2377` on the node, advertising its own address
   * (a node has two: eth0 and its bridge's). Its node ID.
   */
  join(node: SwarmNode, role: Role, manager: SwarmNode = this.node(1)): string {
    const token = this.joinTokens(manager)[role];
    node.ok(['swarm', 'join', '--token', token, '--advertise-addr', node.ip, `${manager.ip}:2377`]);
    return node.ok(['info', '--format', '{{.Swarm.NodeID}}']).trim();
  }

  /**
   * Remove everything, also after a failed test or a failed start: each node's berthd (its
   * own cleanup when it runs: swarm leave, rm -f, stop; the fallback's when it was killed),
   * every etcd member (recorded PID and start time), any process left in the namespaces,
   * the namespaces, the trees. Once: later calls return the first call's report.
   */
  cleanup(): Promise<CleanupReport> {
    this.#cleanup ??= this.#doCleanup();
    return this.#cleanup;
  }

  async #doCleanup(): Promise<CleanupReport> {
    const t0 = Date.now();
    const leftovers: string[] = [];
    const members = await Promise.all(this.nodes.map((n) => n.etcdMember().catch(() => undefined)));
    const running = this.nodes.map((n) => n.running);
    // What TestDaemon.cleanup does first through the API, on every node at once (it runs its
    // commands one after another): it then finds each daemon stopped and checks what is left.
    await Promise.all(this.nodes.filter((n) => n.running).map((n) => n.drain().catch(() => undefined)));
    for (const [i, n] of this.nodes.entries()) {
      const member = members[i];
      const wasRunning = running[i] === true;
      try {
        const r = await n.daemon.cleanup();
        // A killed node's containers and member are the fallback's to remove: no leak of berthd's.
        if (wasRunning) leftovers.push(...r.leftovers.map((l) => `${n.name}: ${l}`));
      } catch (err) {
        leftovers.push(`${n.name}: cleanup failed: ${String(err)}`);
      }
      if (member && (await isAlive(member))) {
        if (wasRunning) leftovers.push(`${n.name}: etcd member ${member.pid}`);
        try {
          process.kill(member.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    // Whatever still runs in a namespace of ours was started by us (a client, say).
    for (const pid of this.#processesInNamespaces()) {
      leftovers.push(`process ${pid} (${commandOf(pid)}) in a namespace of the cluster`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    // Held open until the residue is read: a namespace freed meanwhile gives its inode number
    // back, and the kernel hands it at once to a new namespace of someone else's (another test's
    // container), whose process would then read as ours. Held, only a process of ours matches.
    const held: number[] = [];
    try {
      for (const ns of [...this.nodes.map((n) => n.netns), this.switchNetns]) {
        if (!existsSync(`/run/netns/${ns}`)) continue;
        held.push(openSync(`/run/netns/${ns}`, 'r'));
        spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
      }
      rmSync(this.dir, { recursive: true, force: true });
      this.timings.teardownMs = Date.now() - t0;
      return { leftovers, residue: this.residue() };
    } finally {
      for (const fd of held) closeSync(fd);
    }
  }

  /** PIDs of processes whose network namespace is one of the cluster's. */
  #processesInNamespaces(): number[] {
    const wanted = new Set([...this.#netnsInodes.values()].map((ino) => `net:[${ino}]`));
    const out: number[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (wanted.has(readlinkSync(`/proc/${pid}/ns/net`))) {
          const st = readStatSync(Number(pid));
          if (st && st.state !== 'Z') out.push(Number(pid));
        }
      } catch {
        // gone, or a kernel thread
      }
    }
    return out;
  }

  /**
   * What of the cluster is on the host now: namespaces, links, mounts, processes (in its
   * namespaces, or naming its tree), its tree, etcd data on /dev/shm, cgroups. Empty once
   * cleanup() is done.
   */
  residue(): string[] {
    const out: string[] = [];
    const names = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const line of names.split('\n')) {
      const name = line.trim().split(' ')[0];
      if (name?.startsWith(this.base)) out.push(`netns ${name}`);
    }
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
    for (const line of links.split('\n')) {
      const name = line.split(': ')[1]?.split('@')[0];
      if (name?.includes(this.token)) out.push(`link ${name}`);
    }
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const target = line.split(' ')[1];
      if (target && (target.startsWith(this.dir) || target.startsWith(`/run/netns/${this.base}`))) out.push(`mount ${target}`);
    }
    for (const pid of this.#processesInNamespaces()) out.push(`process ${pid} (${commandOf(pid)}) in a namespace of the cluster`);
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        let cwd = '';
        try {
          cwd = readlinkSync(`/proc/${pid}/cwd`);
        } catch {
          // a zombie or a kernel thread
        }
        if (argv.includes(this.dir) || cwd.startsWith(this.dir)) out.push(`process ${pid} (${argv.split('\0').slice(0, 3).join(' ')})`);
      } catch {
        // gone
      }
    }
    if (existsSync(this.dir)) out.push(`directory ${this.dir}`);
    for (const n of this.nodes) {
      if (existsSync(n.daemon.etcdDir)) out.push(`directory ${n.daemon.etcdDir}`);
      for (const c of cgroupControllers()) {
        const d = join('/sys/fs/cgroup', c, n.daemon.cgroupParent);
        if (existsSync(d)) out.push(`cgroup ${d}`);
      }
    }
    return out;
  }
}

/** The first words of a process's command line, to tell what was left. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ');
  } catch {
    return 'gone';
  }
}

function cgroupControllers(): string[] {
  try {
    return readdirSync('/sys/fs/cgroup');
  } catch {
    return [];
  }
}

/** A cluster of `opts.nodes` nodes, started; everything removed again if the start fails. */
export async function startCluster(opts: ClusterOptions): Promise<SwarmCluster> {
  const c = new SwarmCluster(opts);
  try {
    await c.start();
  } catch (err) {
    await c.cleanup();
    throw err;
  }
  return c;
}

/**
 * One cluster for a whole test file: started before its tests, removed after them, failing
 * the file if anything was left. `use` receives it once started.
 */
export function clusterForFile(opts: ClusterOptions, use: (c: SwarmCluster) => void): void {
  let c: SwarmCluster | undefined;
  before(async () => {
    c = await startCluster(opts);
    use(c);
  });
  after(async () => {
    if (!c) return;
    const r = await c.cleanup();
    assert.deepEqual(r, { leftovers: [], residue: [] });
  });
}
