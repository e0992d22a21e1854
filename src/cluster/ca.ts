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
export async function issueNodeCert(ca: ClusterCa, nodeId: string, role: 'manager' | 'worker', clusterId: string): Promise<NodeCert> {
  const lib = x509();
  const caCert = new lib.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.keyPem), ALG, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${nodeId},OU=swarm-${role},O=${clusterId}`,
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + NODE_CERT_LIFETIME_NS / 1_000_000),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth]),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
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
