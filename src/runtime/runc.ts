import { run } from '../lib/exec.js';
import { systemError } from '../lib/errors.js';

/**
 * The runc command line. runc reports failures as text on stderr (or JSON lines with
 * --log-format json); the last line is the useful one.
 */
export class RuncCli {
  readonly path: string;
  readonly root: string;
  readonly #extraArgs: string[];

  constructor(path: string, root: string, extraArgs: string[] = []) {
    this.path = path;
    this.root = root;
    this.#extraArgs = extraArgs;
  }

  async #run(args: string[], timeoutMs = 30_000, input?: string): Promise<string> {
    const r = await run(this.path, ['--root', this.root, ...this.#extraArgs, ...args], { timeoutMs, ...(input !== undefined ? { input } : {}) });
    if (r.code !== 0) {
      throw systemError(`runc ${args[0]} failed: ${lastLine(r.stderr) || `exit ${String(r.code ?? r.signal)}`}`);
    }
    return r.stdout;
  }

  start(id: string): Promise<string> {
    return this.#run(['start', id]);
  }

  kill(id: string, signal: number, all = false): Promise<string> {
    return this.#run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  pause(id: string): Promise<string> {
    return this.#run(['pause', id]);
  }

  /** `runc update -r -`: the resources JSON on stdin (unchanged values omitted or 0). */
  update(id: string, resources: Record<string, unknown>): Promise<string> {
    return this.#run(['update', '-r', '-', id], 30_000, JSON.stringify(resources));
  }

  resume(id: string): Promise<string> {
    return this.#run(['resume', id]);
  }

  async delete(id: string, force = false): Promise<void> {
    try {
      await this.#run(['delete', ...(force ? ['--force'] : []), id]);
    } catch (err) {
      // Deleting what is already gone is success: cleanup must be idempotent.
      if (/does not exist|not found|no such file/i.test(String((err as Error).message))) return;
      throw err;
    }
  }

  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    const r = await run(this.path, ['--root', this.root, 'state', id], { timeoutMs: 30_000 });
    if (r.code !== 0) return undefined;
    const s = JSON.parse(r.stdout) as { status: string; pid: number };
    return { status: s.status, pid: s.pid };
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '');
  const last = lines[lines.length - 1] ?? '';
  try {
    const j = JSON.parse(last) as { msg?: string };
    if (typeof j.msg === 'string') return j.msg;
  } catch {
    // plain-text line: return it as is
  }
  return last.replace(/^time="[^"]*" level=\w+ msg="(.*)"$/, '$1');
}
