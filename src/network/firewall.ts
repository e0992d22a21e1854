import { systemError } from '../lib/errors.js';
import type { NetCommands } from './commands.js';
import { chainNames, type ChainNames } from './names.js';
import {
  desiredChains,
  jumps,
  parseSave,
  removeAllBatch,
  syncBatch,
  type ContainerPorts,
  type FirewallNetwork,
  type Saved,
} from './firewall-rules.js';

/**
 * The instance's iptables rules, kept equal to a desired state (networks + containers with
 * published ports). `iptables-save` is read once (at start-up, to adopt what a previous run
 * left); afterwards the last applied state is the model, so a container start or removal costs
 * exactly one `iptables-restore --noflush`, and one that publishes nothing costs none.
 *
 * `enabled: false` (dockerd's `iptables: false`) touches nothing at all.
 */
export class Firewall {
  readonly names: ChainNames;
  readonly enabled: boolean;
  readonly #cmds: NetCommands;
  #model: Saved | undefined;
  readonly #networks = new Map<string, FirewallNetwork>();
  readonly #containers = new Map<string, ContainerPorts>();

  constructor(cmds: NetCommands, tag: string, opts: { enabled: boolean }) {
    this.#cmds = cmds;
    this.names = chainNames(tag);
    this.enabled = opts.enabled;
  }

  /** Read what is in the kernel (one spawn); the next sync compares against it. */
  async look(): Promise<Saved> {
    const r = await this.#cmds.must('cannot read the firewall rules', 'iptables-save', []);
    this.#model = parseSave(r.stdout);
    return this.#model;
  }

  /** The kernel's rules as last read or applied; read them if that never happened. */
  async known(): Promise<Saved> {
    return this.#model ?? (await this.look());
  }

  /** Chains of this instance found in the kernel by the last look (for leak reports). */
  ownChains(): string[] {
    if (!this.#model) return [];
    return [...this.#model.nat.chains, ...this.#model.filter.chains].filter((c) => c.startsWith(this.names.prefix));
  }

  setNetwork(name: string, net: FirewallNetwork | undefined): void {
    if (net) this.#networks.set(name, net);
    else this.#networks.delete(name);
  }

  setContainer(id: string, c: ContainerPorts | undefined): void {
    if (c && c.ports.length > 0) this.#containers.set(id, c);
    else this.#containers.delete(id);
  }

  hasContainer(id: string): boolean {
    return this.#containers.has(id);
  }

  /**
   * Make the kernel match the desired state: one `iptables-restore` if anything differs,
   * none otherwise. Returns the batch applied ('' when nothing was needed).
   */
  async sync(): Promise<string> {
    if (!this.enabled) return '';
    const model = this.#model ?? (await this.look());
    const desired = desiredChains(this.names, [...this.#networks.values()], [...this.#containers.values()]);
    const text = syncBatch(this.names, model, desired);
    if (text === '') return '';
    const r = await this.#cmds.iptablesRestore(text);
    if (!r.ok) {
      // The kernel may differ from the model (rules changed by hand): look again next time.
      this.#model = undefined;
      throw systemError(`cannot apply firewall rules: ${r.stderr.trim()}`);
    }
    this.#model = modelAfter(model, desired, this.names);
    return text;
  }

  /** Remove every chain of this instance and every jump to one (the admin cleanup); reads the kernel first. */
  async removeAll(): Promise<string> {
    if (!this.enabled) return '';
    const saved = await this.look();
    const text = removeAllBatch(this.names, saved);
    if (text !== '') {
      const r = await this.#cmds.iptablesRestore(text);
      if (!r.ok) throw systemError(`cannot remove firewall rules: ${r.stderr.trim()}`);
    }
    this.#model = undefined;
    this.#networks.clear();
    this.#containers.clear();
    return text;
  }
}

/** The kernel's state once a sync batch succeeded: ours as desired, everything else as it was. */
function modelAfter(before: Saved, desired: ReturnType<typeof desiredChains>, n: ChainNames): Saved {
  const after: Saved = { nat: { chains: new Set(), rules: new Map() }, filter: { chains: new Set(), rules: new Map() } };
  for (const table of ['nat', 'filter'] as const) {
    const b = before[table];
    const a = after[table];
    for (const c of b.chains) if (!c.startsWith(n.prefix)) a.chains.add(c);
    for (const [c, rules] of b.rules) if (!c.startsWith(n.prefix)) a.rules.set(c, [...rules]);
    for (const [c, rules] of desired[table]) {
      a.chains.add(c);
      a.rules.set(c, [...rules]);
    }
    for (const j of jumps(n).filter((x) => x.table === table)) {
      const list = (a.rules.get(j.chain) ?? []).filter((r) => r !== j.rule);
      if (j.position === 'top') list.unshift(j.rule);
      else list.push(j.rule);
      a.rules.set(j.chain, list);
    }
  }
  return after;
}
