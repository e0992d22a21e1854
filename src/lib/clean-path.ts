import { posix } from 'node:path';

/** Go's path.Clean for absolute container paths: `/a/b/` → `/a/b`, `/a/../b` → `/b`. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}
