/**
 * Parsers for single option values, shared by the flag parser and the validator so that a
 * value means the same thing whichever way it was given. Each throws a ConfigError with
 * dockerd's sentence for the failure.
 */
import { isIP } from 'node:net';
import { ConfigError, configMessages as m } from './messages.js';
import type { AddressPool, Ulimit } from './types.js';
import { ramInBytes } from '../lib/units.js';

export const DEFAULT_UNIX_SOCKET = '/run/berth/berth.sock';

/** Go's strconv.ParseBool. */
export function parseGoBool(v: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new ConfigError(m.parseBool(v));
}

export function parseGoInt(v: string): number {
  if (!/^[+-]?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new ConfigError(m.parseInt(v));
  return Number(v);
}

export function parseSize(v: string): number {
  const bytes = ramInBytes(v);
  if (bytes === undefined) throw new ConfigError(m.invalidSize(v));
  return bytes;
}

/** moby opts.ValidateLabel: at least one `=`. */
export function validateLabel(v: string): string {
  if (!v.includes('=')) throw new ConfigError(m.badLabel(v));
  return v;
}

export function validateIp(v: string): string {
  if (isIP(v.trim()) === 0) throw new ConfigError(m.invalidIp(v));
  return v.trim();
}

/** moby opts.ValidateDNSSearch: `.` (no search domain) or a hostname of at most 255 chars. */
export function validateDomain(v: string): string {
  if (v === '.') return v;
  const label = '[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]';
  const domain = new RegExp(`^((${label})\\.)*(${label})$`);
  if (!domain.test(v) || v.length > 255) throw new ConfigError(m.invalidDomain(v));
  return v;
}

export type HostAddress = { proto: 'unix' | 'tcp' | 'fd'; address: string };

/**
 * Parses `-H` syntax. tcp:// and fd:// parse here so that the "unix only" rule lives in one
 * place (the validator) and lifting it later touches nothing else.
 */
export function parseHost(v: string): HostAddress {
  const h = v.trim();
  const match = /^(unix|tcp|fd):\/\/(.*)$/.exec(h);
  if (!match) throw new ConfigError(m.invalidHost(v));
  const proto = match[1] as HostAddress['proto'];
  const rest = match[2] ?? '';
  if (proto === 'unix') {
    if (rest === '') return { proto, address: DEFAULT_UNIX_SOCKET };
    if (!rest.startsWith('/')) throw new ConfigError(m.invalidHost(v));
  }
  return { proto, address: rest };
}

/**
 * A host in its full form. A TCP host without an address or port gets dockerd's defaults:
 * 127.0.0.1, and port 2376 with TLS or 2375 without.
 */
export function normalizeHost(v: string, tls = false): string {
  const h = parseHost(v);
  if (h.proto !== 'tcp') return `${h.proto}://${h.address}`;
  const m6 = /^\[([^\]]*)\](?::(\d*))?$/.exec(h.address);
  const [host, port] = m6 ? [m6[1] ?? '', m6[2] ?? ''] : splitHostPort(h.address);
  const p = port === '' ? (tls ? '2376' : '2375') : port;
  if (!/^\d+$/.test(p) || Number(p) > 65535) throw new ConfigError(m.invalidHost(v));
  const addr = host === '' ? '127.0.0.1' : host;
  return `tcp://${addr.includes(':') ? `[${addr}]` : addr}:${p}`;
}

function splitHostPort(a: string): [string, string] {
  const colon = a.lastIndexOf(':');
  return colon < 0 ? [a, ''] : [a.slice(0, colon), a.slice(colon + 1)];
}

/** go-units ulimit names. */
export const ULIMIT_NAMES = [
  'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice',
  'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack',
] as const;

/** go-units ParseUlimit: `name=soft[:hard]`; hard defaults to soft. */
export function parseUlimit(v: string): Ulimit {
  const eq = v.indexOf('=');
  if (eq < 0) throw new ConfigError(m.invalidUlimitArgument(v));
  const name = v.slice(0, eq);
  if (!(ULIMIT_NAMES as readonly string[]).includes(name)) throw new ConfigError(m.invalidUlimitType(name));
  const parts = v.slice(eq + 1).split(':');
  if (parts.length > 2) throw new ConfigError(m.invalidUlimitArgument(v));
  const [soft, hard] = parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw new ConfigError(m.invalidUlimitValue(p));
    return Number(p);
  }) as [number, number | undefined];
  const u = { Name: name, Soft: soft, Hard: hard ?? soft };
  if (u.Soft > u.Hard) throw new ConfigError(m.ulimitSoftAboveHard(u.Soft, u.Hard));
  return u;
}

/** moby RuntimeOpt.Set: `name=path`, name lower-cased, `runc` reserved. */
export function parseRuntimeArg(v: string): { name: string; path: string } {
  const eq = v.indexOf('=');
  const name = eq < 0 ? '' : v.slice(0, eq).trim().toLowerCase();
  const path = eq < 0 ? '' : v.slice(eq + 1).trim();
  if (name === '' || path === '') throw new ConfigError(m.invalidRuntimeArgument(v));
  if (name === BUILTIN_RUNTIME) throw new ConfigError(m.reservedRuntime(name));
  return { name, path };
}

export const BUILTIN_RUNTIME = 'runc';

/** `--default-address-pool base=10.10.0.0/16,size=24`. */
export function parseAddressPool(v: string): AddressPool {
  let base: string | undefined;
  let size: number | undefined;
  for (const field of v.split(',')) {
    const [k, val] = field.split('=', 2);
    if (k === 'base' && val) base = val;
    else if (k === 'size' && val && /^\d+$/.test(val)) size = Number(val);
    else throw new ConfigError(m.invalidAddressPoolFlag(v));
  }
  if (base === undefined || size === undefined) throw new ConfigError(m.invalidAddressPoolFlag(v));
  return { base, size };
}

/** `a.b.c.d/n` with each part in range; returns the prefix length. */
export function ipv4PrefixLength(v: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  return octets.every((o) => o <= 255) && prefix <= 32 ? prefix : undefined;
}

/** IPv4 or IPv6 CIDR; returns the prefix length and the family's bit count. */
export function cidrPrefix(v: string): { prefix: number; bits: number } | undefined {
  const v4 = ipv4PrefixLength(v);
  if (v4 !== undefined) return { prefix: v4, bits: 32 };
  const slash = v.lastIndexOf('/');
  if (slash < 0 || isIP(v.slice(0, slash)) !== 6 || !/^\d{1,3}$/.test(v.slice(slash + 1))) return undefined;
  const prefix = Number(v.slice(slash + 1));
  return prefix <= 128 ? { prefix, bits: 128 } : undefined;
}

/**
 * Go's `%v` for a decoded JSON value, as dockerd prints a file value in a conflict: strings
 * bare, arrays `[a b]`, objects `map[k:v]` with sorted keys, float64 in `%g` style. Flag
 * values print their integers as pflag does (`int`).
 */
export function goFormat(v: unknown, numbers: 'float64' | 'int' = 'float64'): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'number') return numbers === 'int' ? String(v) : goFloat(v);
  if (Array.isArray(v)) return `[${v.map((x) => goFormat(x, numbers)).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const entries = Object.keys(o).sort().map((k) => `${k}:${goFormat(o[k], numbers)}`);
    return `map[${entries.join(' ')}]`;
  }
  return String(v);
}

function goFloat(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const [mantissa = '', exp = '0'] = n.toExponential().split('e');
  const e = Number(exp);
  // fmt's %v picks the exponent form outside [-4, 6) when printing the shortest digits.
  if (e < -4 || e >= 6) {
    return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(n);
}

/** moby ValidateIndexName/insecure-registry entries: a host[:port] or a CIDR, never a URL. */
export function validateInsecureRegistry(v: string): string {
  if (v.includes('://')) throw new ConfigError(m.insecureRegistryScheme(v));
  return v;
}

/** moby ValidateMirror: an http(s) URL naming a host, with nothing after the host but `/`. */
export function validateMirror(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(m.invalidMirror(v));
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(m.invalidMirrorScheme(v));
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || u.username !== '') {
    throw new ConfigError(m.invalidMirrorPath(v));
  }
  return v;
}
