import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CertSet = { ca: string; cert: string; key: string };

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA of its own in `dir`: `<name>-ca.pem` and its key. */
export function makeCa(dir: string, name: string): string {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name} test CA`,
    '-keyout', `${name}-ca-key.pem`, '-out', `${name}-ca.pem`], dir);
  return join(dir, `${name}-ca.pem`);
}

/**
 * A certificate signed by the CA `caName` made with makeCa: for a server (with its IP
 * addresses and names as subjectAltName) or for a client (clientAuth).
 */
export function makeCert(dir: string, caName: string, name: string, o: { server?: { ips: string[]; dns?: string[] } } = {}): CertSet {
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`], dir);
  const ext = o.server
    ? `subjectAltName=${[...o.server.ips.map((i) => `IP:${i}`), ...(o.server.dns ?? []).map((d) => `DNS:${d}`)].join(',')}\nextendedKeyUsage=serverAuth\n`
    : 'extendedKeyUsage=clientAuth\n';
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}-ca.pem`, '-CAkey', `${caName}-ca-key.pem`, '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  return { ca: join(dir, `${caName}-ca.pem`), cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
}
