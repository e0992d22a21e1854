import type { SeccompAction, SeccompArg } from '../../engine/ports.js';

/** The OCI runtime spec's linux.seccomp, as runc 1.1 reads it. */
export type OciSyscallRule = {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[];
};

export type OciSeccomp = {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscallRule[];
};
