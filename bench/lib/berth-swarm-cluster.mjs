// The berth side of the multi-node swarm bench: the test harness's cluster
// (test/helpers/swarm-cluster.ts, compiled into <repo>/dist/test/helpers), N berthd nodes each
// in a network namespace of its own behind one switch, managers with their etcd members.
// Wrapped here with the same surface as lib/docker-swarm-cluster.mjs, and driven with
// asynchronous CLI calls and API requests only: the harness's own docker() blocks the event
// loop (spawnSync), which would stall the pollers that take the times.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { netnsInode } from './netns.mjs';
import { killQuietly, now, run, waitGone } from './util.mjs';

class BerthNode {
  constructor(n) {
    this.n = n;
    this.index = n.index;
    this.name = n.name;
    this.hostname = n.hostname;
    this.ip = n.ip;
    this.sock = n.daemon.sock;
    this.host = `unix://${this.sock}`;
    this.cliEnv = { ...process.env, DOCKER_CONFIG: join(n.daemon.dir, 'docker-config') };
    delete this.cliEnv.DOCKER_HOST;
    delete this.cliEnv.DOCKER_CONTEXT;
  }

  get running() {
    return this.n.running;
  }

  docker(args, opts = {}) {
    return run('docker', ['-H', this.host, ...args], { ...opts, env: this.cliEnv });
  }

  async dockerOk(args, opts = {}) {
    const r = await this.docker(args, opts);
    if (r.code !== 0) throw new Error(`berth ${this.name}: docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(-1500)}`);
    return r;
  }

  /**
   * The node dies: SIGKILL to berthd and to its etcd member (as berthd recorded it) at once.
   * Its task containers stay. `gone` resolves once both have exited.
   */
  async kill() {
    const member = await this.n.etcdMember();
    const t0 = now();
    this.n.daemon.proc?.kill('SIGKILL');
    if (member) killQuietly(member.pid);
    const gone = (async () => {
      await this.n.kill9();
      if (member) await waitGone(member.pid, 30_000, 2);
    })();
    return { t0, gone };
  }

  /** berthd again on the same roots (it starts or adopts its etcd member); until /_ping answers. */
  restart() {
    return this.n.restart();
  }

  state() {
    const d = this.n.daemon;
    return { name: this.name, dir: d.dir, pid: this.n.berthd?.pid, cgroupParent: d.cgroupParent, etcdDir: d.etcdDir, runcRoot: join(d.execRoot, 'runc'), netns: this.n.netns };
  }
}

class BerthCluster {
  constructor(c) {
    this.name = 'berth';
    this.c = c;
    this.nodes = c.nodes.map((n) => new BerthNode(n));
  }

  node(i) {
    return this.nodes[i - 1];
  }

  async swarmInit(node) {
    return this.c.swarmInit(node.n);
  }

  async join(node, role, manager = this.node(1)) {
    return this.c.join(node.n, role, manager.n);
  }

  state() {
    return { base: this.c.base, dir: this.c.dir, token: this.c.token, namespaces: this.c.namespaces, inodes: Object.fromEntries(this.c.namespaces.map((ns) => [ns, netnsInode(ns)])), nodes: this.nodes.map((n) => n.state()) };
  }

  async cleanup() {
    const r = await this.c.cleanup();
    return { notes: r.leftovers, residue: r.residue };
  }
}

/**
 * Start the harness's cluster from the compiled tree of `repoRoot` (its dist/, and the berthd
 * bundle in it), its trees under `tmpDir`. `onCreated` receives the wrapper before the nodes
 * start, so that a crash during the start still leaves a record to clean up from.
 */
export async function startBerthCluster({ repoRoot, tmpDir, nodes, prefix, subnet, onCreated }) {
  // Read by test/helpers/paths.ts when it loads: where berthd.cjs, berth.js and busybox are.
  process.env.BERTH_REPO_ROOT = repoRoot;
  process.env.BERTH_TEST_TMP = tmpDir;
  const mod = await import(pathToFileURL(join(repoRoot, 'dist', 'test', 'helpers', 'swarm-cluster.js')).href);
  const c = new mod.SwarmCluster({ nodes, prefix, subnet });
  const cluster = new BerthCluster(c);
  onCreated?.(cluster);
  try {
    await c.start();
  } catch (err) {
    await c.cleanup();
    throw err;
  }
  cluster.timings = c.timings;
  return cluster;
}
