/**
 * A failed file system call as Go's os.PathError reads (`lstat /etc/passwd/x: not a
 * directory`), with its path shown as the user knows it (`show`: a host path under an image's
 * root becomes the path in the image) instead of where berthd keeps it. Undefined for
 * anything that is not a failed system call.
 */
export function fsErrorText(err: unknown, show: (hostPath: string) => string): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; syscall?: unknown; path?: unknown; dest?: unknown; message?: unknown };
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string') return undefined;
  // Node's text is `ENOTDIR: not a directory, lstat '/x'`: the middle part is strerror's.
  const reason = (typeof e.message === 'string' ? /^[A-Z0-9_]+: (.*?), [a-z_]+\b/.exec(e.message)?.[1] : undefined) ?? e.code;
  const op = GO_OP[e.syscall] ?? e.syscall;
  // copyfile names both files; what fails in a copy is nearly always the destination.
  const path = e.syscall === 'copyfile' && typeof e.dest === 'string' ? e.dest : e.path;
  if (typeof path !== 'string') return `${op}: ${reason}`;
  if (e.syscall === 'link' && typeof e.dest === 'string') return `${op} ${show(path)} ${show(e.dest)}: ${reason}`;
  return `${op} ${show(path)}: ${reason}`;
}

/** The calls Go names differently from libuv. */
const GO_OP: Record<string, string> = { scandir: 'open', copyfile: 'open', utime: 'utimes', lutime: 'lutimes', futime: 'utimes' };

/** `show` for one root: paths under it as absolute paths inside it (`/` for the root). */
export function underRoot(root: string, outside: (hostPath: string) => string = (p) => p): (hostPath: string) => string {
  const base = root.replace(/\/+$/, '');
  return (p) => (p === base ? '/' : p.startsWith(`${base}/`) ? p.slice(base.length) : outside(p));
}
