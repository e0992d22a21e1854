import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { SeccompChoice } from '../engine/seccomp.js';
import { decodeSeccompProfile } from '../api/wire/seccomp-profile.js';
import { errnoCode, messageOf, systemError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

let seccompKernel: boolean | undefined;

/** Whether this kernel filters system calls (`Seccomp:` in /proc/self/status); read once. */
function kernelHasSeccomp(): boolean {
  if (seccompKernel === undefined) {
    try {
      seccompKernel = /^Seccomp:/m.test(readFileSync('/proc/self/status', 'utf8'));
    } catch {
      // no /proc: nothing to go by, and runc would fail the same way
      seccompKernel = false;
    }
  }
  return seccompKernel;
}

/**
 * The daemon's `seccomp-profile`: `builtin` (or empty), `unconfined`, or a profile file in
 * Docker's format, read and checked once at start (dockerd reads it at start too, but checks
 * it only when a container starts). A kernel without seccomp runs the built-in default
 * unconfined, with a warning, as dockerd does; a custom profile there is an error.
 */
export async function loadSeccompChoice(option: string, log: Logger): Promise<SeccompChoice> {
  const supported = kernelHasSeccomp();
  if (option === '' || option === 'builtin') {
    if (supported) return { mode: 'builtin' };
    log.warn('seccomp is not enabled in your kernel, running containers without default profile');
    return { mode: 'unconfined' };
  }
  if (option === 'unconfined') return { mode: 'unconfined' };
  let text: string;
  try {
    text = await readFile(option, 'utf8');
  } catch (err) {
    const why = errnoCode(err) === 'ENOENT' ? `open ${option}: no such file or directory` : messageOf(err);
    throw systemError(`opening seccomp profile (${option}) failed: ${why}`, err);
  }
  if (!supported) throw systemError('seccomp is not enabled in your kernel, cannot run a custom seccomp profile');
  let profile;
  try {
    profile = decodeSeccompProfile(text);
  } catch (err) {
    throw systemError(`seccomp profile ${option}: ${messageOf(err)}`, err);
  }
  return { mode: 'custom', profile, source: option };
}

/** What `docker info` says of it: dockerd's SecurityOptions entries and warning. */
export function seccompInfo(choice: SeccompChoice, noNewPrivileges: boolean): { securityOptions: string[]; warnings: string[] } {
  const securityOptions: string[] = [];
  const warnings: string[] = [];
  if (kernelHasSeccomp()) {
    const profile = choice.mode === 'custom' ? (choice.source ?? 'custom') : choice.mode;
    if (profile !== 'builtin') warnings.push('WARNING: daemon is not using the default seccomp profile');
    securityOptions.push(`name=seccomp,profile=${profile}`);
  }
  // berth applies no AppArmor profile, so none is listed even on a kernel that has AppArmor.
  if (noNewPrivileges) securityOptions.push('name=no-new-privileges');
  return { securityOptions, warnings };
}
