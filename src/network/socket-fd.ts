import { readlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import { systemError } from '../lib/errors.js';

/**
 * The descriptor number behind a listening server or a bound UDP socket. Node has no public
 * API for it; both handles expose `fd` (libuv's uv_fileno). Checked against /proc so that a
 * change of Node internals fails loudly here instead of handing a wrong descriptor to a
 * monitor.
 */
export function listeningFd(server: Server): number {
  const handle = (server as unknown as { _handle?: { fd?: unknown } })._handle;
  return checked(handle?.fd);
}

export function udpFd(socket: UdpSocket): number {
  // `socket._handle` works too but prints a deprecation warning (DEP0112).
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym ? (socket as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[sym] : undefined;
  return checked(state?.handle?.fd);
}

function checked(fd: unknown): number {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw systemError('cannot find the descriptor of a bound socket (unsupported Node.js version?)');
  }
  if (!readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:[')) {
    throw systemError(`descriptor ${fd} is not a socket (unsupported Node.js version?)`);
  }
  return fd;
}

/** `socket:[12345]` → 12345: how /proc names a socket, and how /proc/net/* lists it. */
export function socketInode(link: string): number | undefined {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}
