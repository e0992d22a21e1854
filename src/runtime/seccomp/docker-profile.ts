import type { SeccompChoice, SeccompCondition, SeccompProfile } from '../../engine/ports.js';
import { builtinSeccompProfile } from './default-profile.js';
import type { OciSeccomp, OciSyscallRule } from './oci.js';

/** What the host contributes to a profile's conditions. */
export type SeccompHost = {
  /** Go's architecture name (`amd64`). */
  arch: string;
  /** The kernel release (`6.1.0-18-amd64`). */
  kernel: string;
};

/** Go architecture name → libseccomp's, for a profile's archMap. */
const NATIVE_ARCH: Readonly<Record<string, string>> = {
  '386': 'SCMP_ARCH_X86', amd64: 'SCMP_ARCH_X86_64', arm: 'SCMP_ARCH_ARM', arm64: 'SCMP_ARCH_AARCH64',
  mips64: 'SCMP_ARCH_MIPS64', mips64le: 'SCMP_ARCH_MIPSEL64', mipsle: 'SCMP_ARCH_MIPSEL', ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64', ppc64le: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64', s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
};

/** `6.1.0-18-amd64` ≥ `5.8`? Only the first two numbers count, as in Docker. */
export function kernelAtLeast(release: string, min: string): boolean {
  const [k = 0, m = 0] = release.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  const [wk = 0, wm = 0] = min.split('.').map(Number);
  return k > wk || (k === wk && m >= wm);
}

function holds(c: SeccompCondition, caps: ReadonlySet<string>, host: SeccompHost, all: boolean): boolean {
  const tests: boolean[] = [];
  if (c.arches && c.arches.length > 0) tests.push(c.arches.includes(host.arch));
  if (c.caps && c.caps.length > 0) tests.push(all ? c.caps.every((x) => caps.has(x)) : c.caps.some((x) => caps.has(x)));
  if (c.minKernel) tests.push(kernelAtLeast(host.kernel, c.minKernel));
  return all ? tests.every(Boolean) : tests.some(Boolean);
}

/**
 * A profile in Docker's format, for a container with this bounding set on this host: rules
 * whose `includes` do not all hold, or one of whose `excludes` holds, are dropped; `archMap`
 * becomes the architectures of the host's entry. undefined: the profile asks for no filter.
 */
export function ociFromProfile(p: SeccompProfile, capabilities: readonly string[], host: SeccompHost): OciSeccomp | undefined {
  if (p.defaultAction === undefined && p.syscalls.length === 0) return undefined;
  const caps = new Set(capabilities);
  const native = NATIVE_ARCH[host.arch];
  const mapped = p.archMap?.find((a) => a.architecture === native);
  const architectures = p.architectures ?? (mapped ? [mapped.architecture, ...mapped.subArchitectures] : undefined);
  const syscalls: OciSyscallRule[] = p.syscalls
    .filter((r) => (!r.excludes || !holds(r.excludes, caps, host, false)) && (!r.includes || holds(r.includes, caps, host, true)))
    .map((r) => ({
      names: r.names,
      action: r.action,
      ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args && r.args.length > 0 ? { args: r.args } : {}),
    }));
  return {
    // The decoder refuses rules without a default action.
    defaultAction: p.defaultAction ?? 'SCMP_ACT_ALLOW',
    ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    ...(architectures && architectures.length > 0 ? { architectures } : {}),
    ...(p.listenerPath ? { listenerPath: p.listenerPath } : {}),
    ...(p.listenerMetadata ? { listenerMetadata: p.listenerMetadata } : {}),
    syscalls,
  };
}

export type SeccompRequest = {
  /** The container's own choice (`--security-opt seccomp=`), if it made one. */
  container?: SeccompChoice | undefined;
  /** The daemon's `seccomp-profile`. */
  daemon: SeccompChoice;
  privileged: boolean;
  capabilities: readonly string[];
  host: SeccompHost;
};

/**
 * The filter a container starts under. `--privileged` runs unconfined unless the container
 * itself names a profile (Docker 28 applies a custom one there too); otherwise the container's
 * choice wins over the daemon's.
 */
export function seccompFor(r: SeccompRequest): OciSeccomp | undefined {
  if (r.privileged && !r.container) return undefined;
  const choice = r.container ?? r.daemon;
  switch (choice.mode) {
    case 'unconfined':
      return undefined;
    case 'builtin':
      return builtinSeccompProfile({ capabilities: r.capabilities, arch: r.host.arch });
    case 'custom':
      return ociFromProfile(choice.profile, r.capabilities, r.host);
  }
}
