import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode } from '../lib/errors.js';
import type { NodeRole } from './objects.js';

/**
 * What this node knows of its swarm, on its own disk (`<data-root>/swarm/state.json`). `role`
 * absent: a manager (the state of a one-manager swarm written before joins existed).
 * `managers`: the node APIs of the managers as last heard, which a worker (no store of its own)
 * talks to.
 */
export type LocalState = {
  schemaVersion: 1;
  nodeId: string;
  clusterId: string;
  advertiseAddr: string;
  listenAddr: string;
  dataPathAddr: string;
  role?: NodeRole;
  managers?: string[];
};

export const roleOf = (st: LocalState | undefined): NodeRole => st?.role ?? 'manager';

const isLoopback = (addr: string) => /^(127\.|localhost$|::1$|\[::1\])/.test(addr.replace(/:\d+$/, ''));
/** A swarm advertised on loopback is a one-node swarm: no node API, etcd peers on unix sockets. */
export const networked = (st: LocalState) => !isLoopback(st.advertiseAddr);

/** `dir` is the node's swarm directory; undefined when this node is in no swarm. */
export async function readState(dir: string): Promise<LocalState | undefined> {
  try {
    const s = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as LocalState;
    return s.schemaVersion === 1 ? s : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export function writeState(dir: string, st: LocalState): Promise<void> {
  return writeFileAtomic(join(dir, 'state.json'), JSON.stringify(st), 0o600);
}
