import { readFile, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { ContainerFile, EtcFilesRequest, EtcFilesWriter } from '../engine/ports.js';
import { errnoCode } from '../lib/errors.js';

const LOOPBACK_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** Nameservers on the host's loopback are unreachable from a container's own namespace. */
export function containerResolvConf(hostText: string): string {
  const lines = hostText.split('\n');
  const kept = lines.filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !/^(127\.|::1$)/.test(m[1] ?? '');
  });
  const hasNs = kept.some((l) => /^\s*nameserver\s+/.test(l));
  if (!hasNs) kept.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return kept.join('\n').replace(/\n*$/, '\n');
}

/** resolv.conf from explicit settings, falling back per line kind to what the host has. */
export function resolvConfWith(base: string, dns: { servers: string[]; search: string[]; options: string[] }): string {
  const lines = base.split('\n').filter((l) => {
    if (dns.servers.length > 0 && /^\s*nameserver\s/.test(l)) return false;
    if (dns.search.length > 0 && /^\s*(search|domain)\s/.test(l)) return false;
    if (dns.options.length > 0 && /^\s*options\s/.test(l)) return false;
    return l.trim() !== '';
  });
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Write the container's /etc/hostname, /etc/hosts and /etc/resolv.conf into its folder and
 * say where they go in the container. As Docker: with the host's network, the host's files;
 * otherwise loopback names, the container's own address with its hostname on a bridge, and
 * the host's resolvers minus loopback ones (unreachable from the container) or the given dns.
 */
export async function writeEtcFiles(i: EtcFilesRequest): Promise<ContainerFile[]> {
  const hostsPath = join(i.dir, 'hosts');
  const hostnamePath = join(i.dir, 'hostname');
  const resolvPath = join(i.dir, 'resolv.conf');
  const hostResolv = await readOr('/etc/resolv.conf', '');
  let hosts: string;
  if (i.mode === 'host') {
    hosts = await readOr('/etc/hosts', `${LOOPBACK_HOSTS.join('\n')}\n`);
    await writeFile(hostnamePath, `${osHostname()}\n`);
    await writeFile(resolvPath, hostResolv);
  } else {
    hosts = `${LOOPBACK_HOSTS.join('\n')}\n`;
    if (i.ip) {
      const fqdn = i.domainname ? `${i.hostname}.${i.domainname} ` : '';
      hosts += `${i.ip}\t${fqdn}${i.hostname}\n`;
    }
    await writeFile(hostnamePath, `${i.hostname}\n`);
    const base = containerResolvConf(hostResolv);
    const resolv = i.dns ? resolvConfWith(base, i.dns) : base;
    // Written in place (truncate, write): the file is bind-mounted into a running container
    // when its networks change, and a new inode would not be seen through the mount.
    await writeFile(resolvPath, i.resolvers?.length ? resolvConfWith(resolv, { servers: i.resolvers, search: [], options: [] }) : resolv);
  }
  for (const e of i.extraHosts ?? []) {
    const at = e.indexOf(':');
    hosts += `${e.slice(at + 1)}\t${e.slice(0, at)}\n`;
  }
  await writeFile(hostsPath, hosts);
  return [
    { source: resolvPath, destination: '/etc/resolv.conf' },
    { source: hostnamePath, destination: '/etc/hostname' },
    { source: hostsPath, destination: '/etc/hosts' },
  ];
}

/** The EtcFilesWriter port. */
export const etcFilesWriter: EtcFilesWriter = { write: writeEtcFiles };

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return fallback;
    throw err;
  }
}
