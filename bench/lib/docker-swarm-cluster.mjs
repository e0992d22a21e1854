// The dockerd side of the multi-node swarm bench (bench/swarm-cluster.mjs): N dockerd 20.10,
// each with a containerd of its own, each pair in a network namespace of its own cabled to a
// switch (lib/netns.mjs), as the berth harness lays out its nodes. dockerd and containerd join
// the namespace with nsenter --net only (the host's mounts, so a restarted node finds its
// overlay mounts), dockerd also a UTS namespace with the node's hostname. No live restore
// (dockerd refuses it in swarm mode), no iptables (nothing the measurements need; the
// namespaces' own tables stay empty), and DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1, so a task
// runs the imported busybox without asking a registry: nothing leaves the namespaces.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API, oneShot, ping } from './http.mjs';
import { cleanupTree, removeShimSockets, runcDeleteAll, serviceEnv, writeContainerdConfig } from './engines.mjs';
import { deleteNetns, killInNetns, makeSwitch, netnsWithPrefix, processesInNetns } from './netns.mjs';
import { alive, killQuietly, now, processes, run, sleep, waitGone } from './util.mjs';

export class DockerNode {
  constructor(cluster, index) {
    this.index = index;
    this.name = `n${index}`;
    this.hostname = `${cluster.prefix}-n${index}`;
    this.ip = `${cluster.subnet}.${10 + index}`;
    this.netns = `${cluster.base}-n${index}`;
    this.netnsPath = `/run/netns/${this.netns}`;
    // The cable's end on the switch: at most 15 characters, unique to the run.
    this.port = `d${cluster.token}n${index}`;
    this.dir = join(cluster.dir, this.name);
    this.dataRoot = join(this.dir, 'data');
    this.execRoot = join(this.dir, 'x');
    this.sock = join(this.dir, 'docker.sock');
    this.cdDir = join(this.dir, 'cd');
    this.cdSock = join(this.cdDir, 'containerd.sock');
    this.cgroupParent = `/berth-bench-swarm-${cluster.token}-n${index}`;
    // Distinct default bridges, so that container addresses differ across the cluster.
    this.bip = `10.240.${index}.1/24`;
    this.pid = undefined;
    this.containerdPid = undefined;
    this.cliEnv = undefined;
    this.onLaunch = () => {};
  }

  get host() {
    return `unix://${this.sock}`;
  }

  get running() {
    return alive(this.pid);
  }

  runcRoot() {
    return join(this.execRoot, 'runtime-runc', 'moby');
  }

  prepare() {
    mkdirSync(join(this.dir, 'cli'), { recursive: true });
    mkdirSync(this.cdDir, { recursive: true });
    const env = { ...process.env, DOCKER_CONFIG: join(this.dir, 'cli') };
    delete env.DOCKER_HOST;
    delete env.DOCKER_CONTEXT;
    this.cliEnv = env;
    // The trust key would otherwise go to /etc/docker/key.json (no flag for it in 20.10).
    writeFileSync(join(this.dir, 'daemon.json'), JSON.stringify({ 'deprecated-key-path': join(this.dir, 'key.json') }) + '\n');
    writeContainerdConfig(this.cdDir, this.cdSock);
  }

  docker(args, opts = {}) {
    return run('docker', ['-H', this.host, ...args], { ...opts, env: this.cliEnv });
  }

  async dockerOk(args, opts = {}) {
    const r = await this.docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${this.name}: docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(-1500)}`);
    return r;
  }

  #spawn(logName, argv, env) {
    const fd = openSync(join(this.dir, logName), 'a');
    const child = spawn('nsenter', [`--net=${this.netnsPath}`, '--', ...argv], { stdio: ['ignore', fd, fd], detached: true, env });
    closeSync(fd);
    child.unref();
    child.on('error', () => {});
    return child.pid;
  }

  /** containerd, then dockerd; until /_ping answers. The node's engine as after a reboot. */
  async start() {
    if (!alive(this.containerdPid)) {
      rmSync(this.cdSock, { force: true });
      this.containerdPid = this.#spawn('containerd.log', ['containerd', '--config', join(this.cdDir, 'config.toml')], serviceEnv());
      this.onLaunch();
      const deadline = now() + 30_000;
      while (!existsSync(this.cdSock)) {
        if (!alive(this.containerdPid)) throw new Error(`containerd of ${this.name} exited during start-up:\n${this.logTail('containerd.log')}`);
        if (now() > deadline) throw new Error(`containerd of ${this.name} made no socket within 30 s`);
        await sleep(10);
      }
    }
    const args = [
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '-H', this.host,
      '--pidfile', join(this.dir, 'dockerd.pid'),
      '--containerd', this.cdSock,
      '--config-file', join(this.dir, 'daemon.json'),
      '--cgroup-parent', this.cgroupParent,
      '--storage-driver', 'overlay2',
      '--bip', this.bip,
      '--iptables=false',
      '--ip-masq=false',
    ];
    const env = { ...serviceEnv(), BENCH_HOSTNAME: this.hostname, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1' };
    // unshare and sh exec: the PID we keep is dockerd's.
    this.pid = this.#spawn('dockerd.log', ['unshare', '--uts', '--', 'sh', '-c', 'hostname "$BENCH_HOSTNAME" && exec "$0" "$@"', 'dockerd', ...args], env);
    this.onLaunch();
    const deadline = now() + 120_000;
    while (!(await ping(this.sock, 1000))) {
      if (!alive(this.pid)) throw new Error(`dockerd of ${this.name} exited during start-up:\n${this.logTail('dockerd.log')}`);
      if (now() > deadline) throw new Error(`dockerd of ${this.name} did not answer /_ping within 120 s:\n${this.logTail('dockerd.log')}`);
      await sleep(20);
    }
  }

  restart() {
    return this.start();
  }

  /**
   * The node dies: SIGKILL to dockerd and its containerd at once (by PID). Its shims and their
   * containers stay, as conmon and containers stay when a berth node is killed. `gone`
   * resolves once both have exited.
   */
  kill() {
    const t0 = now();
    const pids = [this.pid, this.containerdPid].filter((p) => alive(p));
    for (const p of pids) killQuietly(p);
    const gone = Promise.all(pids.map((p) => waitGone(p, 30_000, 2)));
    return { t0, gone };
  }

  logTail(name, n = 3000) {
    try {
      return readFileSync(join(this.dir, name), 'utf8').slice(-n);
    } catch {
      return '';
    }
  }

  isMonitor(p) {
    return p.comm.startsWith('containerd-shim') && p.cmdline.includes(this.cdSock);
  }

  state() {
    return { name: this.name, dir: this.dir, pid: this.pid, containerdPid: this.containerdPid, cgroupParent: this.cgroupParent, cdSock: this.cdSock, runcRoot: this.runcRoot(), netns: this.netns };
  }

  /** Leave the swarm, remove every container, stop dockerd, then containerd (each by its PID). */
  async drain() {
    const notes = [];
    if (alive(this.pid) && (await ping(this.sock, 2000))) {
      await oneShot(this.sock, 'POST', `${API}/swarm/leave?force=1`, undefined, 60_000).catch((e) => notes.push(`${this.name}: swarm leave: ${e.message}`));
      try {
        const list = JSON.parse((await oneShot(this.sock, 'GET', `${API}/containers/json?all=1`, undefined, 30_000)).body.toString());
        for (const c of list) await oneShot(this.sock, 'DELETE', `${API}/containers/${c.Id}?force=1&v=1`, undefined, 60_000).catch(() => {});
      } catch (err) {
        notes.push(`${this.name}: could not remove containers: ${err.message}`);
      }
    }
    for (const [pid, what, ms] of [[this.pid, 'dockerd', 30_000], [this.containerdPid, 'containerd', 15_000]]) {
      if (!alive(pid)) continue;
      killQuietly(pid, 'SIGTERM');
      if (!(await waitGone(pid, ms))) {
        killQuietly(pid, 'SIGKILL');
        await waitGone(pid, 10_000);
        notes.push(`${this.name}: ${what} needed SIGKILL`);
      }
    }
    return notes;
  }

  /** What is left once the daemons are gone: containers, shims, mounts, cgroups. */
  async teardownRest() {
    const notes = [];
    const ids = new Set(existsSync(this.runcRoot()) ? readdirSync(this.runcRoot()) : []);
    const taskDir = join(this.cdDir, 'state', 'io.containerd.runtime.v2.task', 'moby');
    if (existsSync(taskDir)) for (const id of readdirSync(taskDir)) ids.add(id);
    // runc delete --force first (the containers), then the shims, mounts, cgroups, the tree.
    notes.push(...(await cleanupTree(this.dir, [this.cgroupParent], (p) => this.isMonitor(p), [this.runcRoot()])).map((n) => `${this.name}: ${n}`));
    notes.push(...removeShimSockets(this.cdSock, ids).map((n) => `${this.name}: ${n}`));
    return notes;
  }
}

export class DockerCluster {
  /**
   * @param {string} dir      a directory of the run's (the nodes' roots go under it)
   * @param {object} o        { nodes, prefix, subnet (first three octets), token (hex, unique to the run) }
   */
  constructor(dir, { nodes = 5, prefix = 'bsd', subnet = '10.239.0', token }) {
    this.name = 'docker';
    this.dir = dir;
    this.prefix = prefix;
    this.subnet = subnet;
    this.token = token;
    this.base = `${prefix}-${process.pid}-${token}`;
    this.switchNetns = `${this.base}-sw`;
    this.inodes = {};
    this.nodes = Array.from({ length: nodes }, (_, i) => new DockerNode(this, i + 1));
    this.timings = {};
    this.onLaunch = () => {};
  }

  node(i) {
    return this.nodes[i - 1];
  }

  get namespaces() {
    return [this.switchNetns, ...this.nodes.map((n) => n.netns)];
  }

  /** The switch and the namespaces, then every node's containerd and dockerd; busybox imported into each. */
  async start(busyboxTar) {
    const t0 = now();
    mkdirSync(this.dir, { recursive: true });
    this.inodes = await makeSwitch(this.switchNetns, this.nodes);
    this.onLaunch();
    for (const n of this.nodes) {
      n.prepare();
      n.onLaunch = () => this.onLaunch();
    }
    await Promise.all(this.nodes.map((n) => n.start()));
    await Promise.all(this.nodes.map((n) => n.dockerOk(['import', '-c', 'CMD ["sh"]', busyboxTar, 'busybox:latest'], { timeoutMs: 300_000 })));
    this.timings.startMs = now() - t0;
  }

  async swarmInit(node) {
    await node.dockerOk(['swarm', 'init', '--advertise-addr', node.ip], { timeoutMs: 120_000 });
    return (await node.dockerOk(['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim();
  }

  async join(node, role, manager = this.node(1)) {
    const token = (await manager.dockerOk(['swarm', 'join-token', '-q', role])).stdout.trim();
    await node.dockerOk(['swarm', 'join', '--token', token, '--advertise-addr', node.ip, `${manager.ip}:2377`], { timeoutMs: 180_000 });
    return (await node.dockerOk(['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim();
  }

  state() {
    return { base: this.base, dir: this.dir, token: this.token, namespaces: this.namespaces, inodes: this.inodes, nodes: this.nodes.map((n) => n.state()) };
  }

  /** Everything removed, even after a failure half-way: returns { notes, residue }. */
  async cleanup() {
    const notes = [];
    const drained = await Promise.all(this.nodes.map((n) => n.drain().catch((e) => [`${n.name}: ${e.message}`])));
    notes.push(...drained.flat());
    for (const n of this.nodes) notes.push(...(await n.teardownRest()));
    // Whatever still runs in a namespace of ours was started by us.
    for (const pid of killInNetns(Object.values(this.inodes))) notes.push(`killed process ${pid} left in a namespace of the cluster`);
    notes.push(...(await deleteNetns(this.namespaces)));
    rmSync(this.dir, { recursive: true, force: true });
    return { notes, residue: await this.residue() };
  }

  /** Anything of the cluster still on the host: namespaces, links, mounts, processes, cgroups, its tree. */
  async residue() {
    const out = [];
    for (const ns of await netnsWithPrefix(this.base)) out.push(`netns ${ns}`);
    const links = (await run('ip', ['-o', 'link', 'show'], { timeoutMs: 10_000 })).stdout;
    for (const line of links.split('\n')) {
      const name = line.split(': ')[1]?.split('@')[0];
      if (name?.includes(this.token)) out.push(`link ${name}`);
    }
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const target = line.split(' ')[1];
      if (target && (target.startsWith(this.dir) || target.startsWith(`/run/netns/${this.base}`))) out.push(`mount ${target}`);
    }
    for (const pid of processesInNetns(Object.values(this.inodes))) out.push(`process ${pid} in a namespace of the cluster`);
    for (const p of processes()) {
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${p.pid}/cwd`);
      } catch {
        // gone or a kernel thread
      }
      if (p.cmdline.some((a) => a.includes(this.dir)) || cwd.startsWith(this.dir)) out.push(`process ${p.pid} (${p.cmdline.slice(0, 3).join(' ')})`);
    }
    if (existsSync(this.dir)) out.push(`directory ${this.dir}`);
    for (const n of this.nodes) {
      for (const c of readdirSync('/sys/fs/cgroup')) if (existsSync(join('/sys/fs/cgroup', c, n.cgroupParent))) out.push(`cgroup ${c}${n.cgroupParent}`);
    }
    return out;
  }
}

/** runc roots' containers removed, for bench/swarm-cluster.mjs --cleanup. */
export async function runcDeleteRoots(roots) {
  const notes = [];
  for (const r of roots) notes.push(...(await runcDeleteAll(r)));
  return notes;
}
