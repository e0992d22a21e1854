/**
 * Seccomp in the engine's terms: which filter a container runs under, and a profile in
 * Docker's format (`--security-opt seccomp=<file>`, the daemon's `seccomp-profile`) once its
 * JSON is decoded and checked. The vocabulary (actions, operators, architectures) is
 * libseccomp's, shared by Docker's format and the OCI spec.
 */

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPERATORS = [
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
] as const;
export type SeccompOperator = (typeof SECCOMP_OPERATORS)[number];

/** The architecture names runc 1.1 accepts. */
export const SECCOMP_ARCHES = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
] as const;

export type SeccompArg = { index: number; value: number; valueTwo?: number; op: SeccompOperator };

/** A rule applies only when its `includes` all hold and none of its `excludes` does. */
export type SeccompCondition = {
  /** Capabilities of the container (`CAP_...`): includes needs all, excludes any. */
  caps?: string[];
  /** Go architecture names (`amd64`, `arm64`) compared with the host's. */
  arches?: string[];
  /** `<kernel>.<major>`, compared with the host's kernel. */
  minKernel?: string;
};

export type SeccompProfileRule = {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[];
  includes?: SeccompCondition;
  excludes?: SeccompCondition;
};

export type SeccompProfile = {
  /** Absent (with no rules) means no filter at all, as in Docker. */
  defaultAction?: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  /** Native architecture (libseccomp name) → the sub-architectures the filter also covers. */
  archMap?: { architecture: string; subArchitectures: string[] }[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: SeccompProfileRule[];
};

/**
 * The filter a container asked for (or the daemon's default): berth's built-in profile, none,
 * or a profile of the user's. `source` names where a custom profile came from (a file path for
 * the daemon's, for `docker info`).
 */
export type SeccompChoice =
  | { mode: 'builtin' }
  | { mode: 'unconfined' }
  | { mode: 'custom'; profile: SeccompProfile; source?: string };
