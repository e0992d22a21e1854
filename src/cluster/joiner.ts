import { connect } from 'node:net';
import { invalidParameter, messageOf, unavailable } from '../lib/errors.js';
import { createCsr, parseJoinToken, tokenMatchesCa } from './ca.js';
import type { JoinAnswer, JoinRequest } from './join-service.js';
import { NO_LEADER } from './messages.js';
import { callNode, NodeCallError, splitHostPort } from './node-api.js';

export type JoinResult = { answer: JoinAnswer; keyPem: string; advertiseAddr: string; remote: string };

/**
 * The joining node's side: check the token's form, fetch the manager's CA and compare it with
 * the digest in the token (a token of another swarm, or a node posing as its manager, stops
 * here), then send a CSR — the node's private key never leaves it.
 */
export async function requestJoin(o: {
  remotes: string[];
  token: string;
  advertiseAddr: string;
  listenPort: number;
  availability: JoinRequest['availability'];
  node: { hostname: string; engineVersion: string; nanoCpus: number; memoryBytes: number; labels?: Record<string, string> };
}): Promise<JoinResult> {
  const t = parseJoinToken(o.token);
  if (!t) throw invalidParameter('invalid join token');
  let last: unknown;
  for (const remote of o.remotes) {
    try {
      const { caPem } = await callNode<{ caPem: string }>(remote, 'GET', '/v1/ca', undefined, { tls: {}, insecureNoCa: true, timeoutMs: 10_000 });
      if (!tokenMatchesCa(o.token, caPem)) {
        throw invalidParameter(`error while validating Root CA Certificate: remote CA does not match fingerprint. Expected: ${t.digest}`);
      }
      const advertiseAddr = o.advertiseAddr ? withPort(o.advertiseAddr, o.listenPort) : `${await localAddressTowards(remote)}:${o.listenPort}`;
      const { csrPem, keyPem } = await createCsr();
      const req: JoinRequest = { token: o.token, csrPem, advertiseAddr, availability: o.availability, ...o.node };
      const answer = await callNode<JoinAnswer>(remote, 'POST', '/v1/join', req, { tls: { ca: caPem }, timeoutMs: 60_000 });
      return { answer, keyPem, advertiseAddr, remote };
    } catch (err) {
      if (err instanceof NodeCallError && err.status < 500) throw invalidParameter(err.message);
      // A manager without quorum says so; that is the answer, not a reason to wait.
      if (err instanceof NodeCallError && err.message === NO_LEADER) throw unavailable(NO_LEADER);
      if (err instanceof Error && 'kind' in err && (err as { kind: string }).kind === 'InvalidParameter') throw err;
      last = err;
    }
  }
  throw unavailable(`Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see the current swarm status of your node. (${messageOf(last)})`, last);
}

/** The address this node would use to reach the manager: what it advertises if not told. */
export function localAddressTowards(remote: string): Promise<string> {
  const { host, port } = splitHostPort(remote, 2377);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 5000 });
    s.once('connect', () => {
      const a = s.localAddress ?? '';
      s.destroy();
      resolve(a.replace(/^::ffff:/, ''));
    });
    s.once('timeout', () => s.destroy(new Error(`cannot reach ${remote}`)));
    s.once('error', (err) => reject(unavailable(`cannot reach the manager at ${remote}: ${messageOf(err)}`, err)));
  });
}

function withPort(addr: string, port: number): string {
  return /:\d+$/.test(addr) ? addr : `${addr}:${port}`;
}
