import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, syncDir, writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode, messageOf, systemError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { isAlive, readStatSync, type ProcessIdentity } from '../lib/proc.js';
import { socketInodesOf, socketTable } from './port-reservation.js';

/** Debian's aardvark-dns (Podman's resolver): one process per berthd instance, configured by files. */
export const AARDVARK_PATH = '/usr/lib/podman/aardvark-dns';

/** aardvark-dns writes its pid here, in its config folder, and skips the file when it reads the networks. */
const PID_FILE = 'aardvark.pid';

/** One network as the resolver serves it: where it listens, where other names go, and who is on it. */
export type ResolverNetwork = {
  /** The file's name in the config folder: the network's id (any name would do; an id needs no escaping). */
  key: string;
  /** The address it listens on (UDP port 53): the network's gateway, which every container on it routes to. */
  listen: string;
  /** Where names that are not containers' go (the daemon's `dns`, or the host's resolvers); empty: the host's. */
  upstreams: string[];
  entries: ResolverEntry[];
};

export type ResolverEntry = {
  containerId: string;
  ip: string;
  /** Container name, aliases, short id, hostname: what resolves to `ip` for containers sharing the network. */
  names: string[];
  /** The container's own `--dns`: its lookups of other names go there instead of the network's upstreams. */
  dnsServers: string[];
};

/**
 * Pure: a network's file in aardvark-dns 1.4's format — the listen address (and the network's
 * upstream servers), then one line per container: id, IPv4 addresses, IPv6 addresses (none:
 * an empty field), names, and optionally its own servers. Names are lowercased (aardvark
 * compares them lowercased) and anything it could not parse (a space or a comma in an alias)
 * is left out rather than making it reject the whole file — a file it cannot parse makes it exit.
 */
export function resolverFile(n: ResolverNetwork): string {
  const first = n.upstreams.length > 0 ? `${n.listen} ${n.upstreams.join(',')}` : n.listen;
  const lines = [first];
  const sorted = [...n.entries].sort((a, b) => (a.containerId < b.containerId ? -1 : a.containerId > b.containerId ? 1 : 0));
  for (const e of sorted) {
    const names = [...new Set(e.names.map((x) => x.toLowerCase()).filter(validName))];
    if (names.length === 0) continue;
    const servers = e.dnsServers.length > 0 ? ` ${e.dnsServers.join(',')}` : '';
    lines.push(`${e.containerId} ${e.ip}  ${names.join(',')}${servers}`);
  }
  return `${lines.join('\n')}\n`;
}

function validName(n: string): boolean {
  return n !== '' && !/[\s,]/.test(n);
}

/** Pure: which of a process's arguments say it serves `configDir` (a PID alone may have been reused). */
export function servesConfig(argv: string[], configDir: string): boolean {
  const i = argv.indexOf('--config');
  return argv.some((a) => a.endsWith('aardvark-dns')) && i >= 0 && argv[i + 1] === configDir && argv.includes('run');
}

type ResolverRecord = { schemaVersion: 1; process: ProcessIdentity };

export type ResolverOptions = {
  /** `<exec-root>/dns/<tag>`: the config folder, the staging folder and the record live here. */
  dir: string;
  log: Logger;
  binary?: string;
  /** How long to wait for it to listen after a start or a reload. */
  readyTimeoutMs?: number;
};

export type SyncResult = { action: 'none' | 'adopted' | 'started' | 'reloaded' | 'stopped'; files: number; pid?: number };

/**
 * The resolver of user networks, kept out of berthd so that names keep resolving while berthd
 * is down, restarting or being upgraded: aardvark-dns, a process of its own (it forks, calls
 * setsid and ends up a child of init), serving each network on its gateway, reading one file
 * per network and reloading them on SIGHUP.
 *
 * It is known by PID and start time (recorded here, checked against its command line too), so
 * a restarted berthd adopts it and never starts a second one; one that died is started again
 * at the next sync. Its traps (../shared/research/networking.md): it inherits every inheritable
 * descriptor of whoever spawns it, so it is started through a shell that closes everything but
 * 0–2; a file it cannot parse makes it exit, so files are written in a staging folder and
 * renamed into place; between a SIGHUP and the new sockets (~40 ms here) it does not listen,
 * so a reload is sent only when a file changed, and the next one only once it listens again.
 * It logs only to syslog.
 *
 * Callers serialise syncs (the network lock): the files and the process are this instance's.
 */
export class Resolver {
  readonly configDir: string;
  readonly #dir: string;
  readonly #staging: string;
  readonly #recordFile: string;
  readonly #log: Logger;
  readonly #binary: string;
  readonly #readyMs: number;
  #known: ProcessIdentity | undefined;

  constructor(o: ResolverOptions) {
    this.#dir = o.dir;
    this.configDir = join(o.dir, 'config');
    this.#staging = join(o.dir, 'staging');
    this.#recordFile = join(o.dir, 'resolver.json');
    this.#log = o.log;
    this.#binary = o.binary ?? AARDVARK_PATH;
    this.#readyMs = o.readyTimeoutMs ?? 5000;
    this.#known = readRecord(this.#recordFile);
  }

  /** The process serving this instance, if one runs (no spawn: /proc only). */
  running(): ProcessIdentity | undefined {
    const known = this.#known;
    if (known && this.#isOurs(known)) return known;
    // Started by a daemon killed before it wrote its record: aardvark's own pid file, checked.
    const pid = Number(readOr(join(this.configDir, PID_FILE), '').trim());
    if (Number.isInteger(pid) && pid > 0) {
      const st = readStatSync(pid);
      const id = st ? { pid, startTime: st.startTime } : undefined;
      if (id && this.#isOurs(id)) return id;
    }
    return undefined;
  }

  #isOurs(id: ProcessIdentity): boolean {
    const st = readStatSync(id.pid);
    if (!st || st.startTime !== id.startTime || st.state === 'Z' || st.state === 'X') return false;
    return servesConfig(readOr(`/proc/${id.pid}/cmdline`, '').split('\0'), this.configDir);
  }

  /**
   * Make the files say `networks` and the process serve them: nothing is written and no signal
   * sent when the files already agree and it runs (a restart under running containers changes
   * nothing); a changed file means one SIGHUP; no network means no process.
   */
  async sync(networks: ResolverNetwork[]): Promise<SyncResult> {
    const changed = await this.#writeFiles(networks);
    let proc = this.running();
    if (networks.length === 0) {
      if (!proc) return { action: 'none', files: 0 };
      await this.#stopProcess(proc);
      return { action: 'stopped', files: 0 };
    }
    if (proc && (!this.#known || this.#known.pid !== proc.pid || this.#known.startTime !== proc.startTime)) {
      await this.#remember(proc);
      if (!changed) return { action: 'adopted', files: networks.length, pid: proc.pid };
    }
    if (!proc) {
      proc = await this.#start();
      await this.#waitListening(proc, networks, new Set());
      return { action: 'started', files: networks.length, pid: proc.pid };
    }
    if (!changed) return { action: 'none', files: networks.length, pid: proc.pid };
    const before = socketInodesOf(proc.pid);
    process.kill(proc.pid, 'SIGHUP');
    await this.#waitListening(proc, networks, before);
    return { action: 'reloaded', files: networks.length, pid: proc.pid };
  }

  /** Stop the process and remove its files (the admin cleanup; a daemon stopping without live restore). */
  async stop(): Promise<boolean> {
    const proc = this.running();
    if (proc) await this.#stopProcess(proc);
    await rm(this.#dir, { recursive: true, force: true });
    this.#known = undefined;
    return proc !== undefined;
  }

  /** The files as they should be; true if any changed. */
  async #writeFiles(networks: ResolverNetwork[]): Promise<boolean> {
    const want = new Map(networks.map((n) => [n.key, resolverFile(n)]));
    let have: string[] = [];
    try {
      have = readdirSync(this.configDir).filter((f) => f !== PID_FILE);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    let changed = false;
    for (const [key, text] of want) {
      if (readOr(join(this.configDir, key), undefined) === text) continue;
      await ensureDir(this.configDir);
      await ensureDir(this.#staging);
      const tmp = join(this.#staging, key);
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, join(this.configDir, key));
      changed = true;
    }
    for (const f of have) {
      if (want.has(f)) continue;
      await rm(join(this.configDir, f), { force: true });
      changed = true;
    }
    if (changed) await syncDir(this.configDir);
    return changed;
  }

  async #start(): Promise<ProcessIdentity> {
    await ensureDir(this.configDir);
    await rm(join(this.configDir, PID_FILE), { force: true });
    // Every descriptor but 0-2 closed before aardvark-dns runs: whatever berthd has open
    // (port reservations, the network lock, sockets of native modules that are not
    // close-on-exec) would otherwise stay open in a process that lives for days.
    const script = 'for f in /proc/$$/fd/*; do n=${f##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-" ;; esac; done; cd /; exec "$@"';
    const args = ['-c', script, 'berth-resolver', this.#binary, '--config', this.configDir, '-p', '53', 'run'];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('/bin/bash', args, {
        stdio: 'ignore',
        detached: true,
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
        timeout: 15_000,
        killSignal: 'SIGKILL',
      });
      child.on('error', reject);
      // The first process exits once its child (the server, in a session of its own) has written its pid file.
      child.on('exit', (c) => resolve(c));
    });
    const pid = Number(readOr(join(this.configDir, PID_FILE), '').trim());
    if (code !== 0 || !Number.isInteger(pid) || pid <= 0) {
      throw systemError(`cannot start the resolver ${this.#binary} (exit ${code}); is the aardvark-dns package installed?`);
    }
    const st = readStatSync(pid);
    if (!st) throw systemError(`the resolver ${this.#binary} exited at once (pid ${pid})`);
    const id = { pid, startTime: st.startTime };
    await this.#remember(id);
    this.#log.info({ pid }, 'started the name resolver (aardvark-dns)');
    return id;
  }

  async #remember(id: ProcessIdentity): Promise<void> {
    await ensureDir(this.#dir);
    const rec: ResolverRecord = { schemaVersion: 1, process: id };
    await writeFileAtomic(this.#recordFile, JSON.stringify(rec));
    this.#known = id;
  }

  /**
   * Until it listens on every network's address with sockets other than `before` (a reload
   * closes and reopens them all). Bounded: an address it cannot bind (a bridge gone) is
   * logged, never waited for forever.
   */
  async #waitListening(proc: ProcessIdentity, networks: ResolverNetwork[], before: Set<number>): Promise<void> {
    const deadline = Date.now() + this.#readyMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      const mine = socketInodesOf(proc.pid);
      const table = socketTable('udp');
      const missing = networks.filter((n) => !(table.get(`${n.listen}:53`) ?? []).some((i) => mine.has(i) && !before.has(i)));
      if (missing.length === 0) return;
      if (!(await isAlive(proc))) throw systemError('the resolver (aardvark-dns) exited; its reason went to syslog');
      if (Date.now() > deadline) {
        this.#log.warn({ pid: proc.pid, addresses: missing.map((n) => n.listen) }, 'the resolver does not listen on every network address');
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  async #stopProcess(proc: ProcessIdentity): Promise<void> {
    try {
      process.kill(proc.pid, 'SIGTERM');
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') throw err;
    }
    const deadline = Date.now() + 3000;
    while (await isAlive(proc)) {
      if (Date.now() > deadline) {
        try {
          process.kill(proc.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await rm(this.#recordFile, { force: true });
    this.#known = undefined;
    this.#log.info({ pid: proc.pid }, 'stopped the name resolver');
  }
}

function readRecord(file: string): ProcessIdentity | undefined {
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as ResolverRecord;
    return rec.schemaVersion === 1 ? rec.process : undefined;
  } catch {
    return undefined;
  }
}

function readOr<T extends string | undefined>(path: string, fallback: T): string | T {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ESRCH') throw systemError(`cannot read ${path}: ${messageOf(err)}`, err);
    return fallback;
  }
}
