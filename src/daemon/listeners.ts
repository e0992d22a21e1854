import { mkdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ApiServer } from '../api/server.js';
import type { DaemonConfig } from '../config/types.js';
import type { Logger } from '../lib/logger.js';
import { errnoCode, systemError } from '../lib/errors.js';

/** The group a fresh install's socket belongs to when it exists, as dockerd's `docker`. */
const DEFAULT_GROUP = 'berth';

/**
 * Open every `hosts` entry: unix sockets mode 0660 for root and the `group`, TCP with TLS
 * (mutual with `tlsverify`), or plain TCP when the configuration accepted the risk. Each unix
 * socket's path goes into `unixPaths` as soon as it exists (shutdown removes them, also after
 * a later host failed).
 */
export async function listenOnHosts(api: ApiServer, c: DaemonConfig, log: Logger, unixPaths: string[]): Promise<void> {
  for (const host of c.hosts) {
    if (host.startsWith('unix://')) {
      const path = host.slice('unix://'.length);
      await mkdir(dirname(path), { recursive: true });
      const gid = socketGroup(c.group, path, log);
      await api.listenUnix(path, gid === undefined ? {} : { gid });
      unixPaths.push(path);
    } else if (host.startsWith('tcp://')) {
      const { address, port } = tcpAddress(host);
      if (!c.tls) {
        log.warn({ host }, 'Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.');
      } else if (!c.tlsVerify) {
        log.warn({ host }, 'TLS without --tlsverify: any client that reaches this address can use the API; give --tlsverify and --tlscacert to require client certificates.');
      }
      await api.listenTcp(address, port, c.tls ? await tlsFiles(c) : undefined);
    } else {
      throw systemError(`cannot listen on ${host}`);
    }
    log.info({ host }, 'API listen');
  }
}

function tcpAddress(host: string): { address: string; port: number } {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:]*):(\d+)$/.exec(host);
  if (!m) throw systemError(`invalid TCP host ${host}`);
  return { address: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function tlsFiles(c: DaemonConfig): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer }> {
  const read = async (what: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw systemError(`could not load the TLS ${what} ${path}: ${errnoCode(err) === 'ENOENT' ? 'no such file or directory' : String(err)}`);
    }
  };
  const [cert, key] = [await read('certificate', c.tlsCert), await read('key', c.tlsKey)];
  return c.tlsVerify ? { cert, key, ca: await read('CA certificate', c.tlsCaCert) } : { cert, key };
}

/**
 * The socket's group id: the named (or numeric) group, else root. A missing group is a
 * warning, as dockerd's "could not change group ... group docker not found".
 */
function socketGroup(group: string, path: string, log: Logger): number | undefined {
  const name = group === '' ? DEFAULT_GROUP : group;
  if (/^\d+$/.test(name)) return Number(name);
  const gid = lookupGroup(name);
  if (gid === undefined) {
    if (group !== '') log.warn(`could not change group ${path} to ${name}: group ${name} not found`);
    return 0;
  }
  return gid;
}

function lookupGroup(name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}
