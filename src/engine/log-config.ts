import { ramInBytes } from '../lib/units.js';

export type LogConfig = { driver: string; opts: Record<string, string> };

/** dockerd's defaults for the local driver: 20 MiB files, five of them. */
const LOCAL_DEFAULTS = { 'max-size': '20m', 'max-file': '5' };

/** Whether a driver keeps a file `docker logs` can read (none keeps nothing). */
export function keepsLogFile(log: LogConfig | undefined): boolean {
  return log?.driver !== 'none';
}

/**
 * How a container's log file rotates: json-file (and k8s-file) only when `max-size` is set,
 * local always, with its defaults for what is not set; none has no file to rotate.
 */
export function logRotation(log: LogConfig | undefined): { maxSize: number; maxFile: number } | undefined {
  if (!keepsLogFile(log)) return undefined;
  const opts = log?.driver === 'local' ? { ...LOCAL_DEFAULTS, ...log.opts } : (log?.opts ?? {});
  const size = opts['max-size'];
  if (!size) return undefined;
  const maxSize = ramInBytes(size) ?? 0;
  if (maxSize <= 0) return undefined;
  return { maxSize, maxFile: Number(opts['max-file'] ?? '1') };
}
