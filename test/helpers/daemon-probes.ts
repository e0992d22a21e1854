// Probes for tests that kill berthd under load: a call that tells "answered" from "the daemon
// died first", and the resolver processes serving one daemon.
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { TestDaemon } from './daemon.js';

export type Reply = { status: number; body: string } | 'killed';

/** An API call that reports whether the daemon answered before it died. */
export function call(d: TestDaemon, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request(
      { socketPath: d.sock, method, path, headers: body ? { 'Content-Type': 'application/json' } : {}, timeout: 30_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', () => resolve('killed'));
        res.on('aborted', () => resolve('killed'));
      },
    );
    req.on('error', () => resolve('killed'));
    req.on('timeout', () => req.destroy());
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

/** The resolver (aardvark-dns) processes serving this daemon: their command lines name its exec-root. */
export function resolverProcesses(execRoot: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return cmd.includes('aardvark-dns') && cmd.includes(`${execRoot}/`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ');
      } catch {
        return false;
      }
    })
    .map(Number);
}
