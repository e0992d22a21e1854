import type { ChainNames } from './names.js';
import type { PortMapping } from './ports.js';

/**
 * The rules of one berthd instance, as data, written exactly as `iptables-save` prints them
 * so that what is in the kernel can be compared with what should be and nothing is rewritten
 * when they agree (a restart under running containers changes no rule).
 */
export type Table = 'nat' | 'filter';

/**
 * A network's share of the base chains. `internal`: nothing leaves it or enters it from outside
 * its bridge, and no masquerade; `dns`: its containers may reach the resolver on its gateway.
 */
export type FirewallNetwork = { bridge: string; subnet: string; icc: boolean; ipMasq: boolean; internal?: boolean; dns?: boolean };

/** One container's published ports, DNATed to its address. */
export type ContainerPorts = { chain: string; ip: string; ports: PortMapping[] };

export type Jump = { table: Table; chain: string; rule: string; position: 'append' | 'top' };

/** Desired content of each of the instance's chains, by table. */
export type ChainSet = Record<Table, Map<string, string[]>>;

export function jumps(n: ChainNames): Jump[] {
  return [
    // Local destinations only: a container's own outbound traffic to port 80 elsewhere is not caught.
    { table: 'nat', chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${n.dnat}`, position: 'append' },
    // OUTPUT too, so the host itself reaches published ports, on 127.0.0.1 as well.
    { table: 'nat', chain: 'OUTPUT', rule: `-m addrtype --dst-type LOCAL -j ${n.dnat}`, position: 'append' },
    { table: 'nat', chain: 'POSTROUTING', rule: `-j ${n.post}`, position: 'append' },
    // At the top: a DROP policy or a DROP rule left by dockerd must not block berth's bridges.
    { table: 'filter', chain: 'FORWARD', rule: `-j ${n.forward}`, position: 'top' },
    // The resolver of user networks listens on their gateways: a DROP policy must not hide it.
    { table: 'filter', chain: 'INPUT', rule: `-j ${n.input}`, position: 'top' },
  ];
}

/** Networks in a fixed order (by bridge), so the rules do not depend on the order networks were set up in. */
function byBridge(nets: FirewallNetwork[]): FirewallNetwork[] {
  return [...nets].sort((a, b) => (a.bridge < b.bridge ? -1 : a.bridge > b.bridge ? 1 : 0));
}

export function postRules(nets: FirewallNetwork[]): string[] {
  const out: string[] = [];
  for (const net of byBridge(nets)) {
    if (net.ipMasq && !net.internal) out.push(`-s ${net.subnet} ! -o ${net.bridge} -j MASQUERADE`);
    // The host reaching 127.0.0.1:port: after the DNAT the packet leaves by the bridge with a
    // loopback source (allowed by route_localnet), which the container could not answer.
    out.push(`-s 127.0.0.0/8 -o ${net.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`);
    // Hairpin: a container reaching a published port (its own or another's) through the
    // gateway or a host address; without it the answer would bypass the host's NAT.
    out.push(`-s ${net.subnet} -o ${net.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`);
  }
  return out;
}

/**
 * Forwarding between bridges and the world. Networks are isolated from each other as in
 * Docker (its DOCKER-ISOLATION chains): what leaves a bridge for another of this instance's
 * bridges is dropped in the isolation chain, unless it is DNATed to a published port (Docker
 * reaches those through its proxy from any network; berth has no proxy, so the DNATed
 * connection is accepted before the isolation check). An internal network has no way out and
 * no way in but its own bridge, published ports included.
 */
export function forwardRules(nets: FirewallNetwork[], n: Pick<ChainNames, 'isolation'>): string[] {
  const out: string[] = [];
  const sorted = byBridge(nets);
  for (const net of sorted.filter((x) => x.internal)) {
    out.push(`-i ${net.bridge} ! -o ${net.bridge} -j DROP`);
    out.push(`! -i ${net.bridge} -o ${net.bridge} -j DROP`);
  }
  // Replies and published ports of every bridge before any isolation check: a connection from
  // one bridge to a port published on another must not meet the first bridge's isolation jump.
  for (const net of sorted) {
    const br = net.bridge;
    out.push(`-o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    // Published ports, including the hairpin case, whatever `icc` says.
    if (!net.internal) out.push(`-o ${br} -m conntrack --ctstate DNAT -j ACCEPT`);
  }
  for (const net of sorted) {
    const br = net.bridge;
    if (!net.internal) {
      if (sorted.length > 1) out.push(`-i ${br} ! -o ${br} -j ${n.isolation}`);
      out.push(`-i ${br} ! -o ${br} -j ACCEPT`);
    }
    out.push(`-i ${br} -o ${br} -j ${net.icc ? 'ACCEPT' : 'DROP'}`);
  }
  return out;
}

/** The isolation chain: anything leaving a bridge for one of the instance's other bridges. */
export function isolationRules(nets: FirewallNetwork[]): string[] {
  return nets.length > 1 ? byBridge(nets).map((net) => `-o ${net.bridge} -j DROP`) : [];
}

/** DNS to the resolver on a user network's gateway (UDP: aardvark-dns 1.4 serves nothing else). */
export function inputRules(nets: FirewallNetwork[]): string[] {
  return byBridge(nets)
    .filter((x) => x.dns)
    .map((net) => `-i ${net.bridge} -p udp -m udp --dport 53 -j ACCEPT`);
}

/**
 * One rule per published port. All addresses means no `-d` at all: `-d 0.0.0.0/32` would
 * match nothing (netavark 1.4 published nothing that way).
 */
export function dnatRules(c: ContainerPorts): string[] {
  return c.ports.map((p) => {
    const dst = p.hostIp === '' || p.hostIp === '0.0.0.0' ? '' : `-d ${p.hostIp}/32 `;
    return `${dst}-p ${p.proto} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${c.ip}:${p.containerPort}`;
  });
}

export function desiredChains(n: ChainNames, nets: FirewallNetwork[], containers: ContainerPorts[]): ChainSet {
  const sorted = [...containers].filter((c) => c.ports.length > 0).sort((a, b) => (a.chain < b.chain ? -1 : 1));
  const nat = new Map<string, string[]>([
    [n.dnat, sorted.map((c) => `-j ${c.chain}`)],
    [n.post, postRules(nets)],
  ]);
  for (const c of sorted) nat.set(c.chain, dnatRules(c));
  return {
    nat,
    filter: new Map([
      [n.forward, forwardRules(nets, n)],
      [n.isolation, isolationRules(nets)],
      [n.input, inputRules(nets)],
    ]),
  };
}

export type SavedTable = { chains: Set<string>; rules: Map<string, string[]> };
export type Saved = Record<Table, SavedTable>;

/** `iptables-save` output → chains and rules of the nat and filter tables. */
export function parseSave(text: string): Saved {
  const saved: Saved = { nat: emptyTable(), filter: emptyTable() };
  let table: SavedTable | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      table = name === 'nat' || name === 'filter' ? saved[name] : undefined;
    } else if (!table) {
      continue;
    } else if (line.startsWith(':')) {
      table.chains.add(line.slice(1).split(' ')[0] ?? '');
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      const rule = sp < 0 ? '' : rest.slice(sp + 1);
      const list = table.rules.get(chain) ?? [];
      list.push(rule);
      table.rules.set(chain, list);
    }
  }
  return saved;
}

function emptyTable(): SavedTable {
  return { chains: new Set(), rules: new Map() };
}

/**
 * Pure: the iptables-restore input that turns `saved` into `desired` for this instance's
 * chains — nothing when they already agree. Declaring a chain with `--noflush` creates it or
 * empties it, so the batch never depends on what is there; references are rewritten before
 * the chains they name are deleted; the whole batch is one transaction.
 */
export function syncBatch(n: ChainNames, saved: Saved, desired: ChainSet): string {
  const sections: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const lines: string[] = [];
    const want = desired[table];
    const have = saved[table];
    const changed = [...want].filter(([chain, rules]) => !(have.chains.has(chain) && sameRules(have.rules.get(chain) ?? [], rules)));
    // Every declaration first: a rule may jump to a chain declared after it in the map.
    for (const [chain] of changed) lines.push(`:${chain} - [0:0]`);
    for (const [chain, rules] of changed) lines.push(...rules.map((r) => `-A ${chain} ${r}`));
    for (const j of jumps(n).filter((x) => x.table === table)) {
      const count = (have.rules.get(j.chain) ?? []).filter((r) => r === j.rule).length;
      if (count === 0) lines.push(j.position === 'top' ? `-I ${j.chain} 1 ${j.rule}` : `-A ${j.chain} ${j.rule}`);
      for (let i = 1; i < count; i++) lines.push(`-D ${j.chain} ${j.rule}`);
    }
    for (const chain of have.chains) {
      if (chain.startsWith(n.prefix) && !want.has(chain)) lines.push(`:${chain} - [0:0]`, `-X ${chain}`);
    }
    if (lines.length > 0) sections.push(`*${table}`, ...lines, 'COMMIT');
  }
  return sections.length > 0 ? `${sections.join('\n')}\n` : '';
}

/** Pure: the batch that removes every chain of the instance and every rule that jumps to one. */
export function removeAllBatch(n: ChainNames, saved: Saved): string {
  const sections: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const have = saved[table];
    const ours = [...have.chains].filter((c) => c.startsWith(n.prefix));
    const lines: string[] = [];
    for (const [chain, rules] of have.rules) {
      if (chain.startsWith(n.prefix)) continue;
      for (const r of rules) if (ours.some((o) => r.endsWith(`-j ${o}`))) lines.push(`-D ${chain} ${r}`);
    }
    for (const c of ours) lines.push(`:${c} - [0:0]`);
    for (const c of ours) lines.push(`-X ${c}`);
    if (lines.length > 0) sections.push(`*${table}`, ...lines, 'COMMIT');
  }
  return sections.length > 0 ? `${sections.join('\n')}\n` : '';
}

function sameRules(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}
