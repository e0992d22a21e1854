import { readdir, readFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { errnoCode, forbidden, invalidParameter, messageOf } from '../../lib/errors.js';
import type { TlsOptions } from './http.js';

/** The daemon's registry options (dockerd's names in daemon.json). */
export type RegistrySettings = {
  insecureRegistries: string[];
  registryMirrors: string[];
  registryCertsDir: string;
  noDefaultRegistry: boolean;
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
};

/** One way to reach a registry: its base URL and how to trust it. */
export type Endpoint = {
  base: URL;
  tls?: TlsOptions;
  /** A docker.io mirror: any failure there moves on to the next endpoint. */
  mirror: boolean;
  /** Plain HTTP or unverified HTTPS, allowed for insecure registries only. */
  insecure: boolean;
};

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
/** dockerd's default insecure range: registries on loopback addresses may speak plain HTTP. */
const DEFAULT_INSECURE_CIDRS = ['127.0.0.0/8', '::1/128'];

/**
 * The endpoints to try for a registry host, in order (moby's LookupPullEndpoints): for
 * docker.io the mirrors, then Docker Hub unless `no-default-registry`; for an insecure
 * registry HTTPS without verification, then plain HTTP; otherwise HTTPS with the system CAs
 * plus those of `<certs-dir>/<host:port>/`.
 */
export async function endpointsFor(domain: string, s: RegistrySettings, purpose: 'pull' | 'push' | 'login'): Promise<Endpoint[]> {
  if (domain === DOCKER_HUB) {
    const out: Endpoint[] = [];
    if (purpose === 'pull') {
      for (const m of s.registryMirrors) {
        const base = new URL(m);
        const insecure = await isInsecure(base.host, s.insecureRegistries);
        out.push({ base, tls: await tlsFor(base.host, s, insecure), mirror: true, insecure });
      }
    }
    if (!s.noDefaultRegistry) out.push({ base: new URL(`https://${DOCKER_HUB_API}`), tls: await tlsFor(DOCKER_HUB_API, s, false), mirror: false, insecure: false });
    if (out.length === 0) {
      throw forbidden(
        purpose === 'pull'
          ? 'this daemon does not contact Docker Hub (no-default-registry is set and no registry-mirrors serve docker.io): name a registry host in the image reference, e.g. localhost:5000/busybox'
          : 'this daemon does not contact Docker Hub (no-default-registry is set): name a registry host, e.g. localhost:5000/busybox',
      );
    }
    return out;
  }
  const insecure = await isInsecure(domain, s.insecureRegistries);
  const tls = await tlsFor(domain, s, insecure);
  const https: Endpoint = { base: new URL(`https://${domain}`), tls, mirror: false, insecure };
  return insecure ? [https, { base: new URL(`http://${domain}`), mirror: false, insecure }] : [https];
}

/** Listed by name, or an address (or a name resolving to one) in an insecure CIDR. */
async function isInsecure(hostPort: string, listed: string[]): Promise<boolean> {
  if (listed.includes(hostPort)) return true;
  const host = hostOnly(hostPort);
  if (listed.includes(host)) return true;
  const cidrs = [...DEFAULT_INSECURE_CIDRS, ...listed.filter((l) => l.includes('/'))];
  let addrs: string[];
  if (isIP(host) !== 0) addrs = [host];
  else {
    try {
      addrs = (await lookup(host, { all: true })).map((a) => a.address);
    } catch {
      // An unknown name is not in any range; the connection will say it cannot resolve it.
      addrs = [];
    }
  }
  return addrs.some((a) => cidrs.some((c) => inCidr(a, c)));
}

export function hostOnly(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const i = hostPort.lastIndexOf(':');
  return i >= 0 && hostPort.indexOf(':') === i ? hostPort.slice(0, i) : hostPort;
}

export function inCidr(addr: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const a = ipBytes(addr);
  const n = ipBytes(net ?? '');
  if (!a || !n || a.length !== n.length || !Number.isInteger(bits)) return false;
  for (let i = 0; i < bits; i++) {
    const byte = Math.floor(i / 8);
    const mask = 0x80 >> i % 8;
    if (((a[byte] as number) & mask) !== ((n[byte] as number) & mask)) return false;
  }
  return true;
}

function ipBytes(ip: string): number[] | undefined {
  if (isIP(ip) === 4) return ip.split('.').map(Number);
  if (isIP(ip) !== 6) return undefined;
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  let s = ip;
  let tail: number[] = [];
  if (v4) {
    tail = (v4[1] as string).split('.').map(Number);
    s = ip.slice(0, ip.length - (v4[1] as string).length) + '0:0';
  }
  const [head = '', rest] = s.split('::');
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  const out = groups.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
  if (v4) out.splice(12, 4, ...tail);
  return out;
}

/**
 * certs.d, as dockerd reads it: `*.crt` are extra CAs (added to the system's), `*.cert` with
 * the `*.key` of the same name a client certificate.
 */
async function tlsFor(hostPort: string, s: RegistrySettings, insecure: boolean): Promise<TlsOptions> {
  const dir = join(s.registryCertsDir, hostPort);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return { verify: !insecure };
    throw invalidParameter(`cannot read certificates in ${dir}: ${messageOf(err)}`, err);
  }
  const ca: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  for (const n of names) {
    if (n.endsWith('.crt')) ca.push(await readFile(join(dir, n), 'utf8'));
    else if (n.endsWith('.cert')) {
      const keyName = `${n.slice(0, -5)}.key`;
      if (!names.includes(keyName)) throw invalidParameter(`missing key ${keyName} for client certificate ${n} in ${dir}`);
      cert = await readFile(join(dir, n), 'utf8');
      key = await readFile(join(dir, keyName), 'utf8');
    } else if (n.endsWith('.key') && !names.includes(`${n.slice(0, -4)}.cert`)) {
      throw invalidParameter(`missing client certificate ${n.slice(0, -4)}.cert for key ${n} in ${dir}`);
    }
  }
  return {
    verify: !insecure,
    ...(ca.length > 0 ? { ca: [...rootCertificates, ...ca] } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
  };
}
