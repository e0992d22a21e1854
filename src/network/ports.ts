import { readFileSync } from 'node:fs';
import { invalidParameter } from '../lib/errors.js';
import { isIpv4 } from './ipv4.js';
import type { PortMapping, PortRequest, Protocol } from '../engine/ports.js';

export type { PortMapping, PortRequest, Protocol };

/** Docker's wire shape (HostConfig.PortBindings, NetworkSettings.Ports). */
export type WirePortBinding = { HostIp?: string; HostPort?: string };
export type WirePortMap = Record<string, WirePortBinding[] | null>;

const bad = (s: string) => invalidParameter(`invalid port specification: "${s}"`);

function portNumber(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** `80`, `80/tcp`, `53/UDP` → number and protocol; the keys of PortBindings and ExposedPorts. */
export function parsePortKey(key: string): { port: number; proto: Protocol } {
  const [num = '', protoRaw = 'tcp', extra] = key.split('/');
  if (extra !== undefined) throw bad(key);
  const proto = (protoRaw === '' ? 'tcp' : protoRaw).toLowerCase();
  if (proto === 'sctp') throw invalidParameter('publishing sctp ports is not supported by berth');
  if (proto !== 'tcp' && proto !== 'udp') throw invalidParameter(`invalid proto: ${proto}`);
  const port = portNumber(num);
  if (port === undefined) throw bad(num);
  return { port, proto };
}

/** A binding's HostPort: '' or '0' for any, `8080`, or a range `8000-8010` to pick one from. */
export function parseHostPort(s: string): { start: number; end: number } {
  if (s === '' || s === '0') return { start: 0, end: 0 };
  const [a = '', b, extra] = s.split('-');
  if (extra !== undefined) throw bad(s);
  const start = portNumber(a);
  const end = b === undefined ? start : portNumber(b);
  if (start === undefined || end === undefined || end < start) throw bad(s);
  return { start, end };
}

/**
 * The daemon-side shapes (what the docker CLI, dockerode and compose send) → the ports to
 * publish. `-P` publishes every exposed port that has no binding on an ephemeral port, as
 * dockerd does; identical requests are merged.
 */
export function portRequests(input: {
  portBindings?: unknown;
  exposedPorts?: unknown;
  publishAll?: boolean;
}): PortRequest[] {
  const out: PortRequest[] = [];
  const seen = new Set<string>();
  const push = (r: PortRequest) => {
    const k = `${r.proto}/${r.containerPort}/${r.hostIp}/${r.hostPortStart}-${r.hostPortEnd}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(r);
    }
  };
  const bindings = isRecord(input.portBindings) ? input.portBindings : {};
  const bound = new Set<string>();
  for (const [key, list] of Object.entries(bindings)) {
    const { port, proto } = parsePortKey(key);
    bound.add(`${port}/${proto}`);
    if (list === null || list === undefined) continue;
    if (!Array.isArray(list)) throw invalidParameter(`json: cannot unmarshal into Go struct field HostConfig.PortBindings of type []nat.PortBinding`);
    for (const b of list as unknown[]) {
      const hostIp = isRecord(b) && typeof b['HostIp'] === 'string' ? b['HostIp'] : '';
      const hostPort = isRecord(b) && typeof b['HostPort'] === 'string' ? b['HostPort'] : '';
      const { start, end } = parseHostPort(hostPort);
      push({ proto, containerPort: port, hostIp: normaliseHostIp(hostIp), hostPortStart: start, hostPortEnd: end });
    }
  }
  if (input.publishAll) {
    const exposed = isRecord(input.exposedPorts) ? Object.keys(input.exposedPorts) : [];
    for (const key of exposed) {
      const { port, proto } = parsePortKey(key);
      if (bound.has(`${port}/${proto}`)) continue;
      push({ proto, containerPort: port, hostIp: '', hostPortStart: 0, hostPortEnd: 0 });
    }
  }
  return out;
}

function normaliseHostIp(ip: string): string {
  if (ip === '' || ip === '0.0.0.0') return '';
  if (isIpv4(ip)) return ip;
  if (ip.includes(':')) throw invalidParameter(`publishing on IPv6 host address ${ip} is not supported by berth`);
  throw invalidParameter(`invalid IP address: ${ip}`);
}

/**
 * The docker CLI's `-p` syntax, `[ip:][hostPort:]containerPort[/proto]` with ranges, to the
 * wire shape. The CLI does this itself before calling the API; berth needs it for its own
 * tools and tests.
 */
export function parsePortSpec(spec: string): { exposed: string[]; bindings: WirePortMap } {
  let ip = '';
  let rest = spec;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']:');
    if (close < 0) throw invalidParameter(`invalid IP address: ${spec}`);
    ip = rest.slice(1, close);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  let hostPort = '';
  let container = parts[parts.length - 1] ?? '';
  if (parts.length === 2) hostPort = parts[0] ?? '';
  else if (parts.length >= 3) {
    if (ip !== '') throw invalidParameter(`invalid port specification: ${spec}`);
    ip = parts.slice(0, parts.length - 2).join(':');
    hostPort = parts[parts.length - 2] ?? '';
  }
  let proto = 'tcp';
  const slash = container.indexOf('/');
  if (slash >= 0) {
    proto = container.slice(slash + 1).toLowerCase() || 'tcp';
    container = container.slice(0, slash);
  }
  if (container === '') throw invalidParameter(`no port specified: ${spec}<empty>`);
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw invalidParameter(`invalid proto: ${proto}`);
  if (ip !== '' && !isIpv4(ip) && !ip.includes(':')) throw invalidParameter(`invalid IP address: ${ip}`);
  const cr = rangeOf(container);
  if (!cr) throw invalidParameter(`invalid containerPort: ${container}`);
  const hr = hostPort === '' ? undefined : rangeOf(hostPort);
  if (hostPort !== '' && !hr) throw invalidParameter(`invalid hostPort: ${hostPort}`);
  const count = cr.end - cr.start + 1;
  if (hr && hr.end - hr.start + 1 !== count && count !== 1) {
    throw invalidParameter(`invalid ranges specified for container and host Ports: ${container} and ${hostPort}`);
  }
  const exposed: string[] = [];
  const bindings: WirePortMap = {};
  for (let i = 0; i < count; i++) {
    const key = `${cr.start + i}/${proto}`;
    let hp = '';
    // One container port and a host range: the range is where to pick the host port from.
    if (hr) hp = count === 1 && hr.start !== hr.end ? `${hr.start}-${hr.end}` : String(hr.start + i);
    exposed.push(key);
    (bindings[key] ??= [])?.push({ HostIp: ip, HostPort: hp });
  }
  return { exposed, bindings };
}

function rangeOf(s: string): { start: number; end: number } | undefined {
  const [a = '', b, extra] = s.split('-');
  if (extra !== undefined) return undefined;
  const start = portNumber(a);
  const end = b === undefined ? start : portNumber(b);
  return start === undefined || end === undefined || end < start ? undefined : { start, end };
}

/** The wire shape of published ports (NetworkSettings.Ports); exposed ports without a host port are null. */
export function wirePorts(mappings: PortMapping[], exposed: string[] = []): WirePortMap {
  const out: WirePortMap = {};
  for (const key of exposed) {
    const { port, proto } = parsePortKey(key);
    out[`${port}/${proto}`] ??= null;
  }
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.proto}`;
    const list = out[key] ?? [];
    list.push({ HostIp: m.hostIp === '' ? '0.0.0.0' : m.hostIp, HostPort: String(m.hostPort) });
    out[key] = list;
  }
  return out;
}

/** The kernel's ephemeral range, where dockerd picks host ports for `-P` and `-p C`. */
export function ephemeralRange(text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')): { start: number; end: number } {
  const [a, b] = text.trim().split(/\s+/).map(Number);
  if (!a || !b || b < a) return { start: 32768, end: 60999 };
  return { start: a, end: b };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
