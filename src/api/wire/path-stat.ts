import type { PathStat } from '../backend.js';

/** Go's os.FileMode for an st_mode: the bits the CLI tests (directory, symlink...). */
export function goFileMode(mode: number): number {
  const t = mode & 0o170000;
  let m = mode & 0o777;
  if (t === 0o040000) m += 2 ** 31;
  else if (t === 0o120000) m += 2 ** 27;
  else if (t === 0o010000) m += 2 ** 25;
  else if (t === 0o140000) m += 2 ** 24;
  else if (t === 0o020000) m += 2 ** 26 + 2 ** 21;
  else if (t === 0o060000) m += 2 ** 26;
  if (mode & 0o4000) m += 2 ** 23;
  if (mode & 0o2000) m += 2 ** 22;
  if (mode & 0o1000) m += 2 ** 20;
  return m;
}

/** The X-Docker-Container-Path-Stat header: Docker's ContainerPathStat as base64 JSON. */
export function pathStatHeader(s: PathStat): string {
  const json = { name: s.name, size: s.size, mode: goFileMode(s.mode), mtime: s.mtime, linkTarget: s.linkTarget };
  return Buffer.from(JSON.stringify(json)).toString('base64');
}
