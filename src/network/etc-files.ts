import { readFile, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { ContainerFile } from '../engine/ports.js';
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

export type EtcFilesInput = {
  dir: string;
  hostname: string;
  domainname: string;
  networkMode: 'none' | 'host';
  dns?: { servers: string[]; search: string[]; options: string[] } | undefined;
  extraHosts?: string[] | undefined;
};

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
 * say where they go in the container.
 */
export async function writeEtcFiles(i: EtcFilesInput): Promise<ContainerFile[]> {
  const hostsPath = join(i.dir, 'hosts');
  const hostnamePath = join(i.dir, 'hostname');
  const resolvPath = join(i.dir, 'resolv.conf');
  const hostResolv = await readOr('/etc/resolv.conf', '');
  if (i.networkMode === 'host') {
    await writeFile(hostsPath, await readOr('/etc/hosts', `${LOOPBACK_HOSTS.join('\n')}\n`));
    await writeFile(hostnamePath, `${osHostname()}\n`);
    await writeFile(resolvPath, hostResolv);
  } else {
    await writeFile(hostsPath, `${LOOPBACK_HOSTS.join('\n')}\n`);
    await writeFile(hostnamePath, `${i.hostname}\n`);
    const resolv = containerResolvConf(hostResolv);
    await writeFile(resolvPath, i.dns ? resolvConfWith(resolv, i.dns) : resolv);
  }
  if (i.extraHosts && i.extraHosts.length > 0) {
    const extra = i.extraHosts.map((e) => {
      const at = e.indexOf(':');
      return `${e.slice(at + 1)}\t${e.slice(0, at)}`;
    });
    await writeFile(hostsPath, `${await readFile(hostsPath, 'utf8')}${extra.join('\n')}\n`);
  }
  return [
    { source: resolvPath, destination: '/etc/resolv.conf' },
    { source: hostnamePath, destination: '/etc/hostname' },
    { source: hostsPath, destination: '/etc/hosts' },
  ];
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return fallback;
    throw err;
  }
}
