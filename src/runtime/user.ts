import { readFileInRoot } from '../lib/in-root.js';
import { invalidParameter } from '../lib/errors.js';

export type ResolvedUser = { uid: number; gid: number; additionalGids: number[]; home: string };

const isNumeric = (s: string) => /^\d+$/.test(s);

type PasswdEntry = { name: string; uid: number; gid: number; home: string };
type GroupEntry = { name: string; gid: number; members: string[] };

function parsePasswd(text: string | undefined): PasswdEntry[] {
  if (!text) return [];
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) return [];
    return [{ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' }];
  });
}

function parseGroup(text: string | undefined): GroupEntry[] {
  if (!text) return [];
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) return [];
    return [{ name: f[0] ?? '', gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }];
  });
}

/**
 * Resolve Docker's `--user` forms (name, uid, name:group, uid:gid...) against the
 * container's own /etc/passwd and /etc/group, as runc's user package does for Docker.
 */
export async function resolveUser(rootfs: string, spec: string, extraGroups: string[] = []): Promise<ResolvedUser> {
  const [userPart = '', groupPart] = spec === '' ? ['0'] : spec.split(':', 2);
  const passwd = parsePasswd(await readFileInRoot(rootfs, '/etc/passwd'));
  const groups = parseGroup(await readFileInRoot(rootfs, '/etc/group'));

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isNumeric(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalidParameter(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidParameter(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additional = new Set<number>();
  if (entry && (groupPart === undefined || groupPart === '')) {
    for (const g of groups) if (g.members.includes(entry.name)) additional.add(g.gid);
  }
  for (const eg of extraGroups) {
    if (isNumeric(eg)) additional.add(Number(eg));
    else {
      const g = groups.find((x) => x.name === eg);
      if (!g) throw invalidParameter(`Unable to find group ${eg}: no matching entries in group file`);
      additional.add(g.gid);
    }
  }
  additional.delete(gid);
  return { uid, gid, additionalGids: [...additional].sort((a, b) => a - b), home: entry?.home ?? '/' };
}
