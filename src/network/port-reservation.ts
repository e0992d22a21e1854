import { createServer, type Server } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { conflict, errnoCode, invalidParameter, messageOf, systemError, unavailable } from '../lib/errors.js';
import { listeningFd, socketInode, udpFd } from './socket-fd.js';
import type { PortMapping, PortRequest, Protocol } from './ports.js';

/**
 * Reserving a host port means holding a socket bound to it, so the kernel refuses it to
 * anyone else (another container, any host process): a listening TCP socket (a merely bound
 * one would not stop a second SO_REUSEADDR bind) or a bound UDP socket. Nothing ever reads
 * them: the DNAT in nat PREROUTING/OUTPUT rewrites the destination before local delivery, so
 * the traffic goes to the container (checked on this machine for 127.0.0.1:H, a host address
 * and all addresses, with a never-accepting listener holding the port).
 *
 * The sockets must stay held while berthd is away: berthd passes the descriptors to the
 * container's conmon when it spawns it (conmon 2.1.6 keeps inherited descriptors open for its
 * whole life; runc create inherits them but closes them before the container process starts,
 * so the container never sees them), then closes its own copies. conmon exits after the
 * container, which releases the port as dockerd does at stop.
 */
export class PortReservation {
  readonly mappings: PortMapping[];
  readonly #handles: (Server | UdpSocket)[];
  readonly fds: number[];

  constructor(mappings: PortMapping[], handles: (Server | UdpSocket)[], fds: number[]) {
    this.mappings = mappings;
    this.#handles = handles;
    this.fds = fds;
  }

  /** Close berthd's copies: after the monitor has inherited `fds`, or to give the ports up. */
  close(): void {
    for (const h of this.#handles.splice(0)) {
      try {
        h.close();
      } catch {
        // Already closed: nothing held.
      }
    }
  }
}

export function allocatedMessage(hostIp: string, port: string | number): string {
  return `Bind for ${hostIp === '' ? '0.0.0.0' : hostIp}:${port} failed: port is already allocated`;
}

/** Where ephemeral host ports come from: after the last one given, wrapping, as dockerd's allocator. */
export class EphemeralPorts {
  readonly #range: { start: number; end: number };
  readonly #last = new Map<Protocol, number>();

  constructor(range: { start: number; end: number }) {
    this.#range = range;
  }

  *candidates(proto: Protocol): Generator<number> {
    const { start, end } = this.#range;
    const size = end - start + 1;
    const from = (this.#last.get(proto) ?? start - 1) + 1 - start;
    for (let i = 0; i < size; i++) yield start + ((from + i) % size);
  }

  taken(proto: Protocol, port: number): void {
    this.#last.set(proto, port);
  }
}

/**
 * Bind every requested port, or none: on any failure what was bound is closed again, so a
 * refused `run -p` leaves nothing reserved.
 */
export async function reservePorts(requests: PortRequest[], opts: { ephemeral: EphemeralPorts; containerIp: string }): Promise<PortReservation> {
  const handles: (Server | UdpSocket)[] = [];
  const fds: number[] = [];
  const mappings: PortMapping[] = [];
  try {
    for (const r of requests) {
      const bound = await bindOne(r, opts);
      handles.push(bound.handle);
      fds.push(bound.fd);
      mappings.push({ proto: r.proto, containerPort: r.containerPort, hostIp: r.hostIp, hostPort: bound.port });
    }
  } catch (err) {
    new PortReservation(mappings, handles, fds).close();
    throw err;
  }
  return new PortReservation(mappings, handles, fds);
}

async function bindOne(
  r: PortRequest,
  opts: { ephemeral: EphemeralPorts; containerIp: string },
): Promise<{ handle: Server | UdpSocket; fd: number; port: number }> {
  const ephemeral = r.hostPortStart === 0;
  const candidates = ephemeral ? opts.ephemeral.candidates(r.proto) : range(r.hostPortStart, r.hostPortEnd);
  for (const port of candidates) {
    try {
      const bound = await bindPort(r.proto, r.hostIp, port);
      if (ephemeral) opts.ephemeral.taken(r.proto, port);
      return { ...bound, port };
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EADDRINUSE') {
        if (ephemeral || r.hostPortStart !== r.hostPortEnd) continue;
        throw conflict(allocatedMessage(r.hostIp, port));
      }
      if (code === 'EADDRNOTAVAIL') {
        throw invalidParameter(
          `failed to bind host port for ${r.hostIp}:${port}:${opts.containerIp}:${r.containerPort}/${r.proto}: cannot assign requested address`,
        );
      }
      throw systemError(`failed to bind host port ${r.hostIp || '0.0.0.0'}:${port}/${r.proto}: ${messageOf(err)}`, err);
    }
  }
  if (ephemeral) throw unavailable('all ports are allocated');
  throw conflict(allocatedMessage(r.hostIp, `${r.hostPortStart}-${r.hostPortEnd}`));
}

function* range(a: number, b: number): Generator<number> {
  for (let p = a; p <= b; p++) yield p;
}

export function bindPort(proto: Protocol, hostIp: string, port: number): Promise<{ handle: Server | UdpSocket; fd: number }> {
  const address = hostIp === '' ? '0.0.0.0' : hostIp;
  if (proto === 'tcp') {
    return new Promise((resolve, reject) => {
      const server = createServer();
      // Connections only arrive here when no DNAT rule applies (iptables: false): refuse them.
      server.on('connection', (s) => s.destroy());
      server.once('error', reject);
      server.listen({ host: address, port, backlog: 1, exclusive: true }, () => {
        server.removeListener('error', reject);
        server.on('error', () => undefined);
        resolve({ handle: server, fd: listeningFd(server) });
      });
    });
  }
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp4', reuseAddr: false });
    sock.once('error', reject);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.removeListener('error', reject);
      sock.on('error', () => undefined);
      resolve({ handle: sock, fd: udpFd(sock) });
    });
  });
}

const LITTLE_ENDIAN = endianness() === 'LE';

export type HeldState = 'held' | 'free' | 'taken';

/**
 * After a restart: is each published port still held by the container's monitor? Read from
 * /proc (this namespace's /proc/net/tcp and udp, the monitor's fd table): no spawn.
 * `taken` means another process holds it (its traffic is still DNATed to the container, but
 * the reservation is lost); `free` means nobody does.
 */
export function checkHeld(
  mappings: PortMapping[],
  holderPid: number,
  sockets: SocketTables = readSocketTables(),
): { mapping: PortMapping; state: HeldState }[] {
  let holderInodes: Set<number> | undefined;
  const holder = () => (holderInodes ??= socketInodesOf(holderPid));
  return mappings.map((m) => {
    const inodes = sockets[m.proto].get(`${m.hostIp === '' ? '0.0.0.0' : m.hostIp}:${m.hostPort}`) ?? [];
    if (inodes.length === 0) return { mapping: m, state: 'free' as const };
    return { mapping: m, state: inodes.some((i) => holder().has(i)) ? ('held' as const) : ('taken' as const) };
  });
}

export type SocketTables = Record<Protocol, Map<string, number[]>>;

/** Both tables at once: read them once for a whole restore pass, not once per container. */
export function readSocketTables(): SocketTables {
  return { tcp: socketTable('tcp'), udp: socketTable('udp') };
}

/** `/proc/net/{tcp,udp}` → "ip:port" of listening (tcp) or unconnected (udp) sockets → inodes. */
export function socketTable(proto: Protocol, text?: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const body = text ?? readFileSync(`/proc/self/net/${proto}`, 'utf8');
  for (const line of body.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const st = f[3];
    const inode = Number(f[9]);
    if (!local || !st || !inode) continue;
    if (proto === 'tcp' ? st !== '0A' : st !== '07') continue;
    const [hexIp = '', hexPort = ''] = local.split(':');
    const n = Number.parseInt(hexIp, 16);
    // The kernel prints the network-order address as a native integer.
    const bytes = [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
    const ip = (LITTLE_ENDIAN ? bytes : bytes.reverse()).join('.');
    const key = `${ip}:${Number.parseInt(hexPort, 16)}`;
    const list = out.get(key) ?? [];
    list.push(inode);
    out.set(key, list);
  }
  return out;
}

export function socketInodesOf(pid: number): Set<number> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const ino = socketInode(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (ino !== undefined) out.add(ino);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}
