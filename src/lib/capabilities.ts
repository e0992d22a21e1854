/**
 * Linux capability names as Docker takes them: `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN`
 * name the same one, and `ALL` stands for every one. Both the create checks (a name no one
 * knows is refused at create, as dockerd does) and the runtime's set come from this list.
 */

/** Every capability runc 1.1 knows, ordered by bit number (the host's bounding mask is read against it). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

const KNOWN: ReadonlySet<string> = new Set(ALL_CAPABILITIES);

/** A name as `CAP_X` (or `ALL`). */
export function normalizeCapability(name: string): string {
  const up = name.toUpperCase();
  return up === 'ALL' || up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** The first name of `names` that is no capability (normalized, as Docker reports it), if any. */
export function unknownCapability(names: readonly string[]): string | undefined {
  for (const n of names) {
    const c = normalizeCapability(n);
    if (c !== 'ALL' && !KNOWN.has(c)) return c;
  }
  return undefined;
}
