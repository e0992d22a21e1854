import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';

/** A /24 in 10.200-249.x.0 that no route of this namespace overlaps. */
export function freeSubnet(): { subnet: string; gateway: string; prefix: string } {
  const routes = spawnSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout;
  for (let i = 0; i < 200; i++) {
    const a = 200 + Math.floor(Math.random() * 50);
    const b = Math.floor(Math.random() * 256);
    const prefix = `10.${a}.${b}`;
    if (!routes.includes(`10.${a}.`)) {
      return { subnet: `${prefix}.0/24`, gateway: `${prefix}.1`, prefix };
    }
  }
  throw new Error('no free 10.x subnet for the test bridge');
}

let seq = 0;
/** `bt` + pid + a counter: unique per test process, within 15 bytes. */
export function uniqueBridge(): string {
  return `bt${process.pid.toString(36)}x${(seq++).toString(36)}`.slice(0, 15);
}

/** A TCP port free right now on all addresses. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Stands in for conmon: a process that inherits descriptors and keeps them while it lives. */
export function holdFds(fds: readonly number[]): ChildProcess {
  return spawn('sleep', ['3600'], { stdio: ['ignore', 'ignore', 'ignore', ...fds] });
}

export function linkNames(): string[] {
  return spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    .filter(Boolean);
}

export function iptablesSave(): string {
  return spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout;
}

export function ifindex(name: string): string {
  const r = spawnSync('ip', ['-o', 'link', 'show', 'dev', name], { encoding: 'utf8' });
  return /^(\d+):/.exec(r.stdout)?.[1] ?? '';
}

export function linkMac(name: string): string {
  const r = spawnSync('ip', ['-o', 'link', 'show', 'dev', name], { encoding: 'utf8' });
  return /link\/ether ([0-9a-f:]+)/.exec(r.stdout)?.[1] ?? '';
}

/** What a test's network objects left behind: must be empty after teardown. */
export function leftovers(o: { bridge: string; vethPrefixes: string[]; chainPrefix: string; execRoot: string }): string[] {
  const found: string[] = [];
  for (const l of linkNames()) if (l === o.bridge || o.vethPrefixes.some((p) => l.startsWith(p))) found.push(`link ${l}`);
  for (const line of iptablesSave().split('\n')) if (line.includes(o.chainPrefix)) found.push(`rule ${line}`);
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) if (line.includes(o.execRoot)) found.push(`mount ${line}`);
  return found;
}

export function kill(child: ChildProcess | undefined): void {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** GET http://host:port/ from the host; resolves to the body, or undefined if nothing answers. */
export function httpGet(port: number, host = '127.0.0.1', timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.end();
  });
}
