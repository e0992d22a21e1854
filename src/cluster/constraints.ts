import { invalidParameter } from '../lib/errors.js';
import type { NodeObject } from './objects.js';

/**
 * Placement constraints (`--constraint node.role==manager`, `node.labels.zone!=b`): each is
 * `<attribute> == | != <value>`, all must hold.
 */
export function constraintsMatch(constraints: string[], n: NodeObject): boolean {
  return constraints.every((c) => {
    const m = /^\s*([\w.-]+)\s*(==|!=)\s*(.*?)\s*$/.exec(c);
    if (!m) return false;
    const [, attr = '', op, want = ''] = m;
    const have = attribute(attr, n);
    const eq = have !== undefined && have.toLowerCase() === want.toLowerCase();
    return op === '==' ? eq : !eq;
  });
}

export function checkConstraints(constraints: string[]): void {
  for (const c of constraints) {
    if (!/^\s*[\w.-]+\s*(==|!=)\s*.+$/.test(c)) throw invalidParameter(`rpc error: code = InvalidArgument desc = invalid constraint: ${c}`);
  }
}

function attribute(attr: string, n: NodeObject): string | undefined {
  const a = attr.toLowerCase();
  if (a === 'node.id') return n.id;
  if (a === 'node.hostname') return n.hostname;
  if (a === 'node.role') return n.spec.Role;
  if (a === 'node.platform.os') return 'linux';
  if (a === 'node.platform.arch') return process.arch === 'x64' ? 'x86_64' : process.arch;
  if (a.startsWith('node.labels.')) return n.spec.Labels[attr.slice('node.labels.'.length)];
  if (a.startsWith('engine.labels.')) return n.engineLabels?.[attr.slice('engine.labels.'.length)];
  return undefined;
}

/**
 * The value a placement preference spreads over (`spread=node.labels.zone`): a node without
 * the label has the value '' (one branch of its own). Only node and engine labels can be
 * spread over, as with swarmkit; any other descriptor is ignored (undefined).
 */
export function spreadValue(descriptor: string, n: NodeObject): string | undefined {
  const d = descriptor.toLowerCase();
  if (d.startsWith('node.labels.') && d.length > 'node.labels.'.length) return n.spec.Labels[descriptor.slice('node.labels.'.length)] ?? '';
  if (d.startsWith('engine.labels.') && d.length > 'engine.labels.'.length) return n.engineLabels?.[descriptor.slice('engine.labels.'.length)] ?? '';
  return undefined;
}
