import { BerthError, invalidParameter, messageOf, systemError } from '../lib/errors.js';

/**
 * Docker maps runtime start failures to exit codes and to 400 (the docker CLI then exits
 * 127 for a missing command, 126 for one it cannot execute).
 */
export function classifyStartError(err: unknown, cmd: string): { exitCode: number; error: BerthError } {
  if (err instanceof BerthError && err.kind !== 'System') return { exitCode: 128, error: err };
  const msg = messageOf(err);
  const full = `failed to create task for container: ${msg}: unknown`;
  if (cmd && msg.includes(cmd) && /executable file not found|no such file or directory/.test(msg)) {
    return { exitCode: 127, error: invalidParameter(full) };
  }
  if (/permission denied/.test(msg)) return { exitCode: 126, error: invalidParameter(full) };
  if (/not a directory/.test(msg)) {
    return {
      exitCode: 127,
      error: invalidParameter(
        `${full}: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type`,
      ),
    };
  }
  return { exitCode: 128, error: systemError(full, err) };
}
