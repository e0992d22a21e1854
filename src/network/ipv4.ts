import { invalidParameter } from '../lib/errors.js';

/** IPv4 addresses as unsigned 32-bit integers: allocation is arithmetic on these. */
export type Ipv4Cidr = { base: number; prefixLen: number };

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? '';
    // Leading zeros would be read as octal by some tools: refuse them, as Go's net.ParseIP does.
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const b = Number(part);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function isIpv4(s: string): boolean {
  return parseIpv4(s) !== undefined;
}

function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** `10.1.0.0/16` → its network base and prefix; host bits set are refused unless `loose`. */
export function parseCidr(s: string, what = 'subnet', loose = false): Ipv4Cidr {
  const [ip, len, extra] = s.split('/');
  const addr = parseIpv4(ip ?? '');
  const prefixLen = len !== undefined && /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (addr === undefined || extra !== undefined || !(prefixLen >= 0 && prefixLen <= 32)) {
    throw invalidParameter(`invalid ${what}: ${s}`);
  }
  const base = (addr & maskOf(prefixLen)) >>> 0;
  if (!loose && base !== addr) throw invalidParameter(`invalid ${what} ${s}: it should be ${formatIpv4(base)}/${prefixLen}`);
  return { base, prefixLen };
}

export function formatCidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefixLen}`;
}

export function cidrSize(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefixLen);
}

export function cidrContains(c: Ipv4Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefixLen)) >>> 0) === c.base;
}

/** Whether `inner` lies wholly inside `outer`. */
export function cidrWithin(inner: Ipv4Cidr, outer: Ipv4Cidr): boolean {
  return inner.prefixLen >= outer.prefixLen && cidrContains(outer, inner.base);
}

export function cidrOverlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return cidrContains(a, b.base) || cidrContains(b, a.base);
}

/** The MAC Docker derives from an endpoint's address: 02:42 then the four address bytes. */
export function macFromIpv4(ip: number): string {
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function isUnicastMac(s: string): boolean {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s)) return false;
  return (Number.parseInt(s.slice(0, 2), 16) & 1) === 0;
}
