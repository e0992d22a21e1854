import { run, type RunResult } from '../lib/exec.js';
import { systemError } from '../lib/errors.js';

export type CommandResult = RunResult & { ok: boolean };

/**
 * The one way the network adapter runs helpers. Everything is batched so an operation costs
 * a few spawns (~10 ms each on a 2-core VM), never one per rule or link. The count is kept
 * for tests and the benchmarks. Helpers inherit the network lock's descriptor (see lock.ts).
 */
export class NetCommands {
  spawns = 0;
  /** Wall time spent waiting for helpers, in ms. */
  spawnMs = 0;
  readonly #lockFd: () => number | undefined;
  readonly #timeoutMs: number;

  constructor(opts: { lockFd?: () => number | undefined; timeoutMs?: number } = {}) {
    this.#lockFd = opts.lockFd ?? (() => undefined);
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async exec(cmd: string, args: string[], input?: string): Promise<CommandResult> {
    const fd = this.#lockFd();
    this.spawns++;
    const started = performance.now();
    const r = await run(cmd, args, {
      timeoutMs: this.#timeoutMs,
      ...(input !== undefined ? { input } : {}),
      ...(fd !== undefined ? { extraFds: [fd] } : {}),
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    });
    this.spawnMs += performance.now() - started;
    return { ...r, ok: r.code === 0 };
  }

  async must(what: string, cmd: string, args: string[], input?: string): Promise<CommandResult> {
    const r = await this.exec(cmd, args, input);
    if (!r.ok) throw systemError(`${what}: ${(r.stderr || r.stdout).trim() || `${cmd} exited with ${r.code ?? r.signal}`}`);
    return r;
  }

  /** One `ip -batch` in berthd's own network namespace. */
  ip(lines: string[]): Promise<CommandResult> {
    return this.exec('ip', ['-batch', '-'], batch(lines));
  }

  /**
   * One `ip -batch` inside a netns file: `create` makes the namespace and bind-mounts it on
   * the file first (util-linux unshare, the file must exist), `enter` joins an existing one.
   * Either way a single spawn: unshare and nsenter exec ip in place.
   */
  ipIn(nsFile: string, mode: 'create' | 'enter', lines: string[]): Promise<CommandResult> {
    const wrapper = mode === 'create' ? 'unshare' : 'nsenter';
    return this.exec(wrapper, [`--net=${nsFile}`, 'ip', '-batch', '-'], batch(lines));
  }

  /** Applied as one transaction (nft backend) / one commit per table (legacy); `-w` waits for the legacy xtables lock. */
  iptablesRestore(text: string): Promise<CommandResult> {
    return this.exec('iptables-restore', ['-w', '5', '--noflush'], text);
  }

  iptablesSave(): Promise<CommandResult> {
    return this.exec('iptables-save', []);
  }
}

function batch(lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** ip's wording when the link is already gone: a removal that finds nothing is done. */
export function isNoSuchDevice(stderr: string): boolean {
  return /Cannot find device|does not exist|No such device/.test(stderr);
}
