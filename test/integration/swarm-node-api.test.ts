// berth's node-to-node protocol on loopback, with real certificates from a real cluster CA:
// who may call what. A joining node's token and CSR, and the TLS checks in front of them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { certIdentity, createCa, createCsr, csrPublicKey, issueNodeCert, joinToken, newJoinSecret, parseJoinToken, signPublicKey, tokenMatchesCa } from '../../src/cluster/ca.js';
import { NodeApiServer, callNode, NodeCallError, type NodeRoute } from '../../src/cluster/node-api.js';
import { freePort } from '../helpers/net-fixture.js';

const log = { info() {}, warn() {}, error() {}, debug() {} } as never;
const servers: NodeApiServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

test('a join token names its CA: the CA it was made from matches, another swarm\'s does not, a malformed token is refused', async () => {
  const [a, b] = [await createCa(), await createCa()];
  const token = joinToken(a.certPem, newJoinSecret());
  assert.ok(parseJoinToken(token));
  assert.equal(tokenMatchesCa(token, a.certPem), true);
  assert.equal(tokenMatchesCa(token, b.certPem), false);
  for (const bad of ['', 'SWMTKN-1-abc-def', token.replace('SWMTKN-1', 'SWMTKN-2'), `${token}x`]) assert.equal(parseJoinToken(bad), undefined, bad);
});

test('a CSR is signed on the key it carries: the certificate names the node, its role and cluster, its address, and chains to the CA; a CSR that is not one is refused', async () => {
  const ca = await createCa();
  const { csrPem } = await createCsr();
  const cert = new X509Certificate(await signPublicKey(ca, await csrPublicKey(csrPem), { cn: 'node1', role: 'worker', clusterId: 'c1', ip: '10.1.2.3' }));
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.match(cert.subject, /CN=node1/);
  assert.match(cert.subject, /OU=swarm-worker/);
  assert.match(cert.subject, /O=c1/);
  assert.match(cert.subjectAltName ?? '', /IP Address:10\.1\.2\.3/);
  await assert.rejects(csrPublicKey('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'), /cannot be parsed|not signed/);
  // A CSR whose body was changed after signing: its signature no longer holds.
  const body = csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const der = Buffer.from(body, 'base64');
  der[der.length - 5] = (der[der.length - 5] as number) ^ 0xff;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(csrPublicKey(tampered), /not signed|cannot be parsed/);
  assert.deepEqual(certIdentity({ CN: 'n', OU: 'swarm-manager', O: 'c' }), { nodeId: 'n', role: 'manager', clusterId: 'c' });
  assert.equal(certIdentity({ CN: 'n' }), undefined);
});

test('the node API: open routes answer anyone, node routes want a certificate of this swarm, manager routes a manager\'s', async () => {
  const ca = await createCa();
  const other = await createCa();
  const server = await issueNodeCert(ca, 'mgr', 'manager', 'c1', '127.0.0.1');
  const worker = await issueNodeCert(ca, 'w1', 'worker', 'c1');
  const manager = await issueNodeCert(ca, 'm2', 'manager', 'c1');
  const wrongCluster = await issueNodeCert(ca, 'x', 'manager', 'c2');
  const foreign = await issueNodeCert(other, 'y', 'manager', 'c1');
  const seen: string[] = [];
  const routes: NodeRoute[] = [
    { method: 'GET', path: '/open', auth: 'none', handler: async () => ({ ok: true }) },
    { method: 'POST', path: '/node', auth: 'node', handler: async ({ caller, body }) => (seen.push(`${caller?.nodeId}:${JSON.stringify(body)}`), { who: caller }) },
    { method: 'GET', path: '/manager', auth: 'manager', handler: async ({ caller }) => ({ who: caller?.nodeId }) },
  ];
  const s = new NodeApiServer({ routes, clusterId: 'c1', log });
  servers.push(s);
  const port = await freePort();
  await s.listen(`127.0.0.1:${port}`, { ca: ca.certPem, cert: server.certPem, key: server.keyPem });
  const addr = `127.0.0.1:${port}`;
  const as = (c: { certPem: string; keyPem: string }) => ({ tls: { ca: ca.certPem, cert: c.certPem, key: c.keyPem } });
  const status = async (p: Promise<unknown>) => {
    try {
      await p;
      return 200;
    } catch (err) {
      return err instanceof NodeCallError ? err.status : String(err);
    }
  };
  assert.deepEqual(await callNode(addr, 'GET', '/open', undefined, { tls: {}, insecureNoCa: true }), { ok: true });
  assert.equal(await status(callNode(addr, 'POST', '/node', {}, { tls: { ca: ca.certPem } })), 401, 'no certificate');
  assert.equal(await status(callNode(addr, 'POST', '/node', {}, as(wrongCluster))), 401, 'a certificate of another cluster id');
  assert.equal(await status(callNode(addr, 'POST', '/node', {}, { tls: { ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem } })), 401, 'a certificate of another CA');
  assert.deepEqual(await callNode(addr, 'POST', '/node', { a: 1 }, as(worker)), { who: { nodeId: 'w1', role: 'worker' } });
  assert.deepEqual(seen, ['w1:{"a":1}']);
  assert.equal(await status(callNode(addr, 'GET', '/manager', undefined, as(worker))), 403, 'a worker on a manager route');
  assert.deepEqual(await callNode(addr, 'GET', '/manager', undefined, as(manager)), { who: 'm2' });
  assert.equal(await status(callNode(addr, 'GET', '/nothing', undefined, as(manager))), 404);
  // The client checks the server too: a server whose certificate is not of the CA is refused.
  assert.match(String(await status(callNode(addr, 'GET', '/open', undefined, { tls: { ca: other.certPem } }))), /cannot reach node|certificate/i);
  // Bodies that are not JSON, or too big, are the caller's error.
  const big = { x: 'a'.repeat(2 << 20) };
  assert.equal(await status(callNode(addr, 'POST', '/node', big, as(worker))), 400);
});
