import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode, messageOf, systemError } from '../lib/errors.js';
import { isAlive, readStatSync, type ProcessIdentity } from '../lib/proc.js';
import type { Logger } from '../lib/logger.js';

type MemberRecord = { schemaVersion: 1; process: ProcessIdentity; name: string; dataDir: string; peer?: PeerConfig };

/**
 * A member that has peers on other nodes: its peer URL (`https://<advertise ip>:<port>`) with
 * mutual TLS — certificates issued by the cluster CA; only a certificate with the peer CN
 * (given to managers only) is accepted — and, when it joins, the cluster it joins.
 */
export type PeerConfig = {
  url: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  allowedCn: string;
  /** `name=url,...` of every member, this one included (ignored once the data exists). */
  initialCluster?: string;
  initialState?: 'new' | 'existing';
};

export type EtcdMemberOptions = {
  /** Where the member's record and log live (`<data-root>/swarm`). */
  stateDir: string;
  /** The member's data (WAL and snapshots); tmpfs in tests. */
  dataDir: string;
  /** Where its unix sockets live (`<exec-root>/swarm`): short paths, mode 0700. */
  socketDir: string;
  binary?: string;
  log: Logger;
};

/**
 * This manager's etcd member, a process of its own like conmon: started detached (its own
 * session, no descriptor of berthd's), it keeps running while berthd is down or restarting,
 * and a later berthd re-adopts it by PID and start time instead of starting a second one.
 * Client traffic goes over a unix socket in a 0700 directory (each manager talks to its own
 * member only); peers too while the swarm is a loopback one-node swarm, else TLS on the
 * node's address (PeerConfig).
 */
export class EtcdMember {
  readonly #o: EtcdMemberOptions;
  #proc: ProcessIdentity | undefined;

  constructor(o: EtcdMemberOptions) {
    this.#o = o;
  }

  /** grpc-js target for the client socket (etcd names the file `<host>:<port>` of its URL). */
  get endpoint(): string {
    return `unix:${join(this.#o.socketDir, 'client.sock:0')}`;
  }

  get recordFile(): string {
    return join(this.#o.stateDir, 'etcd-member.json');
  }

  get process(): ProcessIdentity | undefined {
    return this.#proc;
  }

  /** The member recorded and still alive, if any (no spawn: /proc only). */
  async running(): Promise<ProcessIdentity | undefined> {
    const rec = readRecord(this.recordFile);
    if (rec && (await isAlive(rec.process))) return rec.process;
    return undefined;
  }

  /** Adopt the running member, or start one on the data directory. */
  async ensure(name: string, clusterToken: string, peer?: PeerConfig): Promise<{ adopted: boolean; process: ProcessIdentity }> {
    const alive = await this.running();
    if (alive) {
      this.#proc = alive;
      this.#o.log.info({ pid: alive.pid }, 'swarm: adopted the running etcd member');
      return { adopted: true, process: alive };
    }
    const started = await this.#start(name, clusterToken, peer ?? readRecord(this.recordFile)?.peer);
    return { adopted: false, process: started };
  }

  /** Whether the member's data exists (a member that joined once never bootstraps again). */
  hasData(): boolean {
    try {
      readFileSync(join(this.#o.dataDir, 'member-data', 'member', 'snap', 'db'));
      return true;
    } catch {
      return false;
    }
  }

  async #start(name: string, token: string, peer: PeerConfig | undefined): Promise<ProcessIdentity> {
    const o = this.#o;
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(o.socketDir, { recursive: true, mode: 0o700 });
    await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
    for (const s of ['client.sock:0', 'peer.sock:0']) await rm(join(o.socketDir, s), { force: true });
    const client = 'unix://client.sock:0';
    // One manager: peers over a unix socket, no TCP port. Several: TLS on the node's address.
    const peerUrl = peer?.url ?? 'unix://peer.sock:0';
    const peerArgs = peer
      ? ['--peer-cert-file', peer.certFile, '--peer-key-file', peer.keyFile, '--peer-trusted-ca-file', peer.caFile, '--peer-client-cert-auth', '--peer-cert-allowed-cn', peer.allowedCn]
      : [];
    const etcdArgs = [
      '--name', name,
      '--data-dir', join(o.dataDir, 'member-data'),
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', peer?.initialCluster ?? `${name}=${peerUrl}`,
      '--initial-cluster-state', peer?.initialState ?? 'new',
      '--initial-cluster-token', token,
      ...peerArgs,
      // research/swarm-etcd.md: 100/1000 ms, pre-vote (no forced election when members return).
      '--heartbeat-interval', '100',
      '--election-timeout', '1000',
      '--pre-vote=true',
      // etcd 3.4 never compacts by itself; keep an hour of history for watches.
      '--auto-compaction-mode', 'periodic',
      '--auto-compaction-retention', '1h',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
    ];
    // Every descriptor but 0-2 closed first (see network/resolver.ts: the member lives for days).
    const script = 'for f in /proc/$$/fd/*; do n=${f##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-" ;; esac; done; exec "$@"';
    const logFd = openSync(join(o.stateDir, 'etcd.log'), 'a', 0o600);
    let pid: number | undefined;
    try {
      const child = spawn('/bin/bash', ['-c', script, 'berth-etcd', o.binary ?? 'etcd', ...etcdArgs], {
        cwd: o.socketDir,
        stdio: ['ignore', logFd, logFd],
        detached: true,
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ETCD_UNSUPPORTED_ARCH: process.env['ETCD_UNSUPPORTED_ARCH'] ?? '' },
      });
      child.unref();
      pid = await new Promise<number>((resolve, reject) => {
        child.once('error', (err) => reject(systemError(`cannot start etcd (${o.binary ?? 'etcd'}): ${messageOf(err)}; is the etcd-server package installed?`, err)));
        child.once('spawn', () => resolve(child.pid as number));
      });
    } finally {
      closeSync(logFd);
    }
    // bash execs etcd in place: the PID is etcd's once the exec is done (its comm changes).
    const deadline = Date.now() + 5000;
    for (;;) {
      const comm = readComm(pid);
      if (comm === 'etcd') break;
      if (comm === undefined) throw systemError(`etcd exited at once; see ${join(o.stateDir, 'etcd.log')}`);
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const st = readStatSync(pid);
    if (!st) throw systemError(`etcd exited at once; see ${join(o.stateDir, 'etcd.log')}`);
    const id = { pid, startTime: st.startTime };
    const rec: MemberRecord = { schemaVersion: 1, process: id, name, dataDir: o.dataDir, ...(peer ? { peer } : {}) };
    await writeFileAtomic(this.recordFile, JSON.stringify(rec));
    this.#proc = id;
    o.log.info({ pid }, 'swarm: started the etcd member');
    return id;
  }

  /** Stop the member, keeping its data (a daemon shutdown without live restore). */
  async stop(): Promise<void> {
    const proc = this.#proc ?? (await this.running());
    if (proc) await stopProcess(proc);
    this.#proc = undefined;
  }

  /** Stop the member and remove its data (swarm leave). */
  async destroy(): Promise<void> {
    const proc = this.#proc ?? (await this.running());
    if (proc) await stopProcess(proc);
    this.#proc = undefined;
    await rm(this.recordFile, { force: true });
    await rm(join(this.#o.dataDir, 'member-data'), { recursive: true, force: true });
    await rm(this.#o.socketDir, { recursive: true, force: true });
  }
}

async function stopProcess(proc: ProcessIdentity): Promise<void> {
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH') throw err;
  }
  const deadline = Date.now() + 5000;
  while (await isAlive(proc)) {
    if (Date.now() > deadline) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function readRecord(file: string): MemberRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as MemberRecord;
    return rec.schemaVersion === 1 ? rec : undefined;
  } catch {
    return undefined;
  }
}
