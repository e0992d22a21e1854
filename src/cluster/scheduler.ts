import { constraintsMatch, spreadValue } from './constraints.js';
import { isTerminal, nodeState, stateRank, type NodeObject, type TaskObject } from './objects.js';
import type { PortConfig, TaskSpec } from './spec.js';

/**
 * The scheduler: which node a new task goes to. Pure (nodes and tasks in, a choice out), built
 * once per orchestrator pass and told of each choice, so that the tasks placed in one pass
 * spread as if placed one at a time.
 *
 * As swarmkit's: a node must pass every filter (ready and active, enough unreserved CPU and
 * memory, the constraints, its host-mode ports free, the service's per-node maximum); among
 * those, placement preferences pick the branch (a label's value) with the fewest tasks of the
 * service, and then the node with the fewest tasks of the service, then the fewest in all
 * (the spread strategy). A task no node takes says why, counting the nodes each filter turned
 * away: `no suitable node (insufficient resources on 2 nodes; 1 node not available for new tasks)`.
 */

/** What a new task asks of its node. */
export type TaskRequest = { serviceId: string; spec: TaskSpec; ports?: PortConfig[] };

export type Placement = { nodeId: string } | { err: string };

type NodeInfo = {
  node: NodeObject;
  /** Tasks to run here (desired running), per service: what spreading counts. */
  byService: Map<string, number>;
  total: number;
  /** The node's CPU and memory less the reservations of its tasks that have not ended. */
  cpu: number;
  memory: number;
  /** Host-mode published ports in use: `tcp/8080`. */
  ports: Set<string>;
};

type Filter = { check: (n: NodeInfo, r: TaskRequest) => boolean; explain: (nodes: number) => string };

const plural = (n: number, what: string) => `${what} on ${n} node${n === 1 ? '' : 's'}`;

/** swarmkit's filters, in its order (each node is counted against the first one it fails). */
const FILTERS: Filter[] = [
  {
    check: (n) => nodeState(n.node) === 'ready' && n.node.spec.Availability === 'active',
    explain: (k) => `${k} node${k === 1 ? '' : 's'} not available for new tasks`,
  },
  {
    check: (n, r) => {
      const want = reservations(r.spec);
      return (want.cpu === 0 && want.memory === 0) || (want.cpu <= n.cpu && want.memory <= n.memory);
    },
    explain: (k) => plural(k, 'insufficient resources'),
  },
  {
    check: (n, r) => constraintsMatch(r.spec.Placement?.Constraints ?? [], n.node),
    explain: (k) => plural(k, 'scheduling constraints not satisfied'),
  },
  {
    check: (n, r) => publishedPorts(r.ports).every((p) => !n.ports.has(p)),
    explain: (k) => plural(k, 'host-mode port already in use'),
  },
  {
    check: (n, r) => {
      const max = r.spec.Placement?.MaxReplicas ?? 0;
      return max <= 0 || (n.byService.get(r.serviceId) ?? 0) < max;
    },
    explain: () => 'max replicas per node limit exceed',
  },
];

export class Scheduler {
  readonly #nodes: NodeInfo[];

  constructor(nodes: NodeObject[], tasks: TaskObject[]) {
    const byId = new Map<string, NodeInfo>();
    for (const node of nodes) {
      byId.set(node.id, { node, byService: new Map(), total: 0, cpu: node.nanoCpus, memory: node.memoryBytes, ports: new Set() });
    }
    for (const t of tasks) {
      const info = byId.get(t.nodeId);
      if (!info || !holdsNode(t)) continue;
      const r = reservations(t.spec);
      info.cpu -= r.cpu;
      info.memory -= r.memory;
      for (const p of publishedPorts(t.ports)) info.ports.add(p);
      if (stateRank(t.desiredState) <= stateRank('running')) count(info, t.serviceId);
    }
    // A fixed order, so that ties go the same way every pass (swarmkit's heap breaks them arbitrarily).
    this.#nodes = [...byId.values()].sort((a, b) => a.node.hostname.localeCompare(b.node.hostname) || a.node.id.localeCompare(b.node.id));
  }

  /** The node for a new task, counted there; or why no node can take it. */
  place(r: TaskRequest): Placement {
    const failures = FILTERS.map(() => 0);
    const fit = this.#nodes.filter((n) => {
      const i = FILTERS.findIndex((f) => !f.check(n, r));
      if (i >= 0) failures[i] = (failures[i] ?? 0) + 1;
      return i < 0;
    });
    if (fit.length === 0) {
      const why = explain(failures);
      return { err: why ? `no suitable node (${why})` : 'no suitable node' };
    }
    let pool = this.#nodes;
    let candidates = fit;
    for (const descriptor of spreadDescriptors(r.spec)) {
      const branches = new Map<string, { tasks: number; members: NodeInfo[]; fit: NodeInfo[] }>();
      const fitting = new Set(candidates);
      for (const n of pool) {
        const value = spreadValue(descriptor, n.node) ?? '';
        const b = branches.get(value) ?? { tasks: 0, members: [], fit: [] };
        b.tasks += n.byService.get(r.serviceId) ?? 0;
        b.members.push(n);
        if (fitting.has(n)) b.fit.push(n);
        branches.set(value, b);
      }
      // The branch with the fewest tasks of the service that still has a node to take one.
      const best = [...branches.entries()].filter(([, b]) => b.fit.length > 0).sort(([va, a], [vb, b]) => a.tasks - b.tasks || va.localeCompare(vb))[0]?.[1];
      if (!best) break;
      pool = best.members;
      candidates = best.fit;
    }
    const chosen = candidates.reduce((a, b) => (spreadLess(b, a, r.serviceId) ? b : a));
    this.#add(chosen, r);
    return { nodeId: chosen.node.id };
  }

  /**
   * A task bound to its node (global services): whether that node can take it, counted there
   * if so; otherwise why not, as swarmkit says it for a pre-assigned task (`insufficient
   * resources on 1 node`).
   */
  fit(nodeId: string, r: TaskRequest): Placement {
    const n = this.#nodes.find((x) => x.node.id === nodeId);
    if (!n) return { err: 'node not found' };
    const f = FILTERS.find((x) => !x.check(n, r));
    if (f) return { err: f.explain(1) };
    this.#add(n, r);
    return { nodeId };
  }

  #add(n: NodeInfo, r: TaskRequest): void {
    const want = reservations(r.spec);
    n.cpu -= want.cpu;
    n.memory -= want.memory;
    for (const p of publishedPorts(r.ports)) n.ports.add(p);
    count(n, r.serviceId);
  }
}

/** Nodes that should run a task of a global service: not down, not drained, meeting its constraints. */
export function globalNodes(nodes: NodeObject[], spec: TaskSpec): NodeObject[] {
  return nodes.filter((n) => nodeState(n) !== 'down' && n.spec.Availability !== 'drain' && constraintsMatch(spec.Placement?.Constraints ?? [], n));
}

/** A task's node is gone (removed) or down: its task is lost, however it last reported. */
export function nodeLost(node: NodeObject | undefined): boolean {
  return !node || nodeState(node) === 'down';
}

/** Assigned to the node and not ended: it holds the node's reservations and ports. */
function holdsNode(t: TaskObject): boolean {
  return t.desiredState !== 'remove' && stateRank(t.status.state) >= stateRank('assigned') && !isTerminal(t.status.state);
}

function count(n: NodeInfo, serviceId: string): void {
  n.byService.set(serviceId, (n.byService.get(serviceId) ?? 0) + 1);
  n.total++;
}

function spreadLess(a: NodeInfo, b: NodeInfo, serviceId: string): boolean {
  const sa = a.byService.get(serviceId) ?? 0;
  const sb = b.byService.get(serviceId) ?? 0;
  return sa !== sb ? sa < sb : a.total < b.total;
}

function reservations(spec: TaskSpec): { cpu: number; memory: number } {
  const r = spec.Resources?.Reservations;
  return { cpu: r?.NanoCPUs ?? 0, memory: r?.MemoryBytes ?? 0 };
}

function publishedPorts(ports: PortConfig[] | undefined): string[] {
  return (ports ?? []).filter((p) => p.PublishMode === 'host' && (p.PublishedPort ?? 0) > 0).map((p) => `${p.Protocol ?? 'tcp'}/${p.PublishedPort}`);
}

function spreadDescriptors(spec: TaskSpec): string[] {
  const prefs = (spec.Placement?.Preferences ?? []) as { Spread?: { SpreadDescriptor?: string } }[];
  return prefs.map((p) => p.Spread?.SpreadDescriptor ?? '').filter((d) => d !== '' && spreadValue(d, PROBE) !== undefined);
}

/** A node with no labels: whether a descriptor is one that can be spread over at all. */
const PROBE = { spec: { Labels: {} } } as unknown as NodeObject;

/** The filters' counts, most failures first (ties in filter order), as swarmkit joins them. */
function explain(failures: number[]): string {
  return failures
    .map((k, i) => ({ k, i }))
    .filter((x) => x.k > 0)
    .sort((a, b) => b.k - a.k || a.i - b.i)
    .map((x) => (FILTERS[x.i] as Filter).explain(x.k))
    .join('; ');
}
