import type { SeccompArg } from '../../engine/ports.js';
import type { OciSeccomp, OciSyscallRule } from './oci.js';
import {
  AF_VSOCK,
  ANY_CONTAINER,
  ANY_CONTAINER_32BIT,
  ARCH_ONLY,
  CLONE_NAMESPACE_FLAGS,
  ENOSYS,
  EPERM,
  NEEDS_CAPABILITY,
  PERSONALITY,
} from './policy.js';

/**
 * The host architecture (Go's name, as Docker profiles spell it) → the architectures the
 * filter covers: the native one and the 32-bit ABIs the same kernel runs. A syscall made
 * through an ABI left out fails with the default action.
 */
export const FILTER_ARCHES: Readonly<Record<string, readonly string[]>> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  riscv64: ['SCMP_ARCH_RISCV64'],
  ppc64le: ['SCMP_ARCH_PPC64LE'],
};

/** Node's process.arch → Go's architecture name. */
export function goArch(nodeArch: string): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', s390x: 's390x', riscv64: 'riscv64', ppc64: 'ppc64le' };
  return map[nodeArch] ?? nodeArch;
}

export type BuiltinInput = {
  /** The container's bounding set (`CAP_...`). */
  capabilities: readonly string[];
  /** The host architecture, Go's name (`amd64`). */
  arch: string;
};

/**
 * berth's default profile for a container with these capabilities: a pure function of them
 * and the architecture. Anything not allowed fails with EPERM, except clone3, which fails
 * with ENOSYS without CAP_SYS_ADMIN: glibc (2.34+) falls back to clone only on ENOSYS, and
 * clone's flags can be filtered where clone3's (behind a pointer) cannot. Syscalls newer than
 * the host's libseccomp fail with ENOSYS too (runc answers numbers above the highest it knows
 * in the filter that way), so a libc probing for them falls back as it would on an old kernel.
 */
export function builtinSeccompProfile(i: BuiltinInput): OciSeccomp {
  const caps = new Set(i.capabilities);
  const allowed = new Set<string>([...ANY_CONTAINER, ...ANY_CONTAINER_32BIT]);
  for (const [cap, calls] of NEEDS_CAPABILITY) if (caps.has(cap)) calls.forEach((c) => allowed.add(c));
  for (const [arches, calls] of ARCH_ONLY) if (arches.includes(i.arch)) calls.forEach((c) => allowed.add(c));

  const rules: OciSyscallRule[] = [{ names: [...allowed].sort(), action: 'SCMP_ACT_ALLOW' }];
  if (!allowed.has('clone')) {
    // s390 passes clone's flags second.
    const index = i.arch === 's390x' ? 1 : 0;
    rules.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
  }
  if (!allowed.has('clone3')) rules.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  rules.push({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] });
  // One rule per value: runc ORs conditions on the same argument only across separate rules.
  const { PER_LINUX, PER_LINUX32, UNAME26, QUERY } = PERSONALITY;
  for (const value of [PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, QUERY]) {
    const arg: SeccompArg = { index: 0, value, op: 'SCMP_CMP_EQ' };
    rules.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [arg] });
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: [...(FILTER_ARCHES[i.arch] ?? [])],
    syscalls: rules,
  };
}
