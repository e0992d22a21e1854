import { spawn } from 'node:child_process';

export type RunResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** Run a short-lived helper command and collect its output; it never outlives `timeoutMs`. */
export function run(
  cmd: string,
  args: string[],
  opts: {
    timeoutMs?: number;
    signal?: AbortSignal;
    env?: NodeJS.ProcessEnv;
    input?: string;
    cwd?: string;
    /** Open descriptors the child inherits as fds 3, 4, ... (everything else is close-on-exec). */
    extraFds?: number[];
  } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(opts.extraFds ?? [])],
      env: opts.env ?? process.env,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      signal: opts.signal,
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
