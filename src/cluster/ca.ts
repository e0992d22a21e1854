import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as X509 from '@peculiar/x509';

const requireCjs = createRequire(import.meta.url);

/** Loaded at swarm init only (it needs a reflect polyfill, which berthd otherwise never loads). */
function x509(): typeof X509 {
  requireCjs('reflect-metadata');
  const lib = requireCjs('@peculiar/x509') as typeof X509;
  lib.cryptoProvider.set(webcrypto as unknown as Parameters<typeof lib.cryptoProvider.set>[0]);
  return lib;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
/** swarmkit's defaults: a 20-year root, 90-day node certificates. */
const CA_LIFETIME = 20 * 365 * DAY;
export const NODE_CERT_LIFETIME_NS = 90 * DAY * 1_000_000;

export type ClusterCa = { certPem: string; keyPem: string };
export type NodeCert = { certPem: string; keyPem: string };

/** The cluster's root CA, made at `swarm init`: ECDSA P-256, CN=swarm-ca, as Docker's. */
export async function createCa(): Promise<ClusterCa> {
  const lib = x509();
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=swarm-ca',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + CA_LIFETIME),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new lib.BasicConstraintsExtension(true, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** A node's certificate: CN is the node id, OU its role, O the cluster id (swarmkit's layout). */
export async function issueNodeCert(ca: ClusterCa, nodeId: string, role: 'manager' | 'worker', clusterId: string, ip?: string): Promise<NodeCert> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const certPem = await signPublicKey(ca, keys.publicKey, { cn: nodeId, role, clusterId, ...(ip ? { ip } : {}) });
  return { certPem, keyPem: await keyPem(keys.privateKey) };
}

/** A key pair and a CSR for it: what a joining node sends, keeping its private key at home. */
export async function createCsr(): Promise<{ csrPem: string; keyPem: string }> {
  const lib = x509();
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const csr = await lib.Pkcs10CertificateRequestGenerator.create({ name: 'CN=swarm-node', keys, signingAlgorithm: ALG });
  return { csrPem: csr.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** The public key of a CSR whose signature holds (proof that the sender has the key). */
export async function csrPublicKey(csrPem: string): Promise<webcrypto.CryptoKey> {
  const lib = x509();
  let csr: X509.Pkcs10CertificateRequest;
  try {
    csr = new lib.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw new Error('the certificate signing request cannot be parsed');
  }
  if (!(await csr.verify())) throw new Error('the certificate signing request is not signed by its key');
  return csr.publicKey.export(ALG, ['verify']);
}

/** The public key of an issued certificate: a role change reissues a node's certificate on it. */
export async function certPublicKey(certPem: string): Promise<webcrypto.CryptoKey> {
  const lib = x509();
  return new lib.X509Certificate(certPem).publicKey.export(ALG, ['verify']);
}

export type CertSubject = { cn: string; role: 'manager' | 'worker'; clusterId: string; ip?: string };

/**
 * Sign a node's key. The subject says who (node id), what (role) and where (cluster id); the
 * IP address, when given, lets etcd's peers check the host they dialled (Go verifies SANs).
 */
export async function signPublicKey(ca: ClusterCa, publicKey: webcrypto.CryptoKey, s: CertSubject): Promise<string> {
  const lib = x509();
  const caCert = new lib.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.keyPem), ALG, false, ['sign']);
  const names: X509.JsonGeneralNames = [{ type: 'dns', value: s.cn }, { type: 'dns', value: `swarm-${s.role}` }];
  if (s.ip) names.push({ type: 'ip', value: s.ip });
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${s.cn},OU=swarm-${s.role},O=${s.clusterId}`,
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + NODE_CERT_LIFETIME_NS / 1_000_000),
    signingKey: caKey,
    publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth]),
      new lib.SubjectAlternativeNameExtension(names),
    ],
  });
  return cert.toString('pem');
}

/** CN, OU and O of a peer certificate as Node's TLS socket reports them. */
export function certIdentity(subject: { CN?: string | string[]; OU?: string | string[]; O?: string | string[] } | undefined): { nodeId: string; role: string; clusterId: string } | undefined {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const nodeId = one(subject?.CN);
  const ou = one(subject?.OU);
  const clusterId = one(subject?.O);
  if (!nodeId || !ou || !clusterId) return undefined;
  return { nodeId, role: ou.replace(/^swarm-/, ''), clusterId };
}

/** TLSInfo's issuer fields: the CA's subject and public key, DER in base64. */
export function issuerInfo(caPem: string): { subject: string; publicKey: string } {
  const lib = x509();
  const c = new lib.X509Certificate(caPem);
  const subject = Buffer.from(c.subjectName.toArrayBuffer()).toString('base64');
  return { subject, publicKey: Buffer.from(c.publicKey.rawData).toString('base64') };
}

/**
 * A join token as Docker writes it: `SWMTKN-1-<digest of the CA certificate>-<secret>`, both
 * in base 36 (50 and 25 characters). The digest lets a joining node check the CA it is shown.
 */
export function joinToken(caPem: string, secret: string): string {
  const der = pemBody(caPem);
  const digest = BigInt(`0x${createHash('sha256').update(der).digest('hex')}`).toString(36).padStart(50, '0');
  return `SWMTKN-1-${digest}-${secret}`;
}

/** The two halves of a join token, or undefined when it is not one (Docker: "invalid join token"). */
export function parseJoinToken(token: string): { digest: string; secret: string } | undefined {
  const m = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(token.trim());
  return m ? { digest: m[1] as string, secret: m[2] as string } : undefined;
}

/** Whether a CA certificate is the one a token names (what a joining node checks first). */
export function tokenMatchesCa(token: string, caPem: string): boolean {
  const t = parseJoinToken(token);
  return t !== undefined && joinToken(caPem, t.secret) === token.trim();
}

export function newJoinSecret(): string {
  return BigInt(`0x${randomBytes(16).toString('hex')}`).toString(36).padStart(25, '0').slice(0, 25);
}

function serial(): string {
  return randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');
}

async function keyPem(k: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}
