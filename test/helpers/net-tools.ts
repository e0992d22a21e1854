import { createConnection, createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

// Small TCP/UDP servers and clients for the network tests, usable in-process or as a script
// run inside a namespace (`nsenter --net=<file> node net-tools.js tcp-serve 80 hello`).

/** Connect, read everything the server sends until it closes. Rejects on refusal or after `timeoutMs`. */
export function tcpGet(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const s = createConnection({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (d: string) => (buf += d));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('end', () => {
      clearTimeout(timer);
      resolve(buf);
    });
  });
}

/** An HTTP GET: the body of a 2xx answer; rejects on any other status, a refusal or after `timeoutMs`. */
export function httpGetBody(host: string, port: number, path = '/', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
    req.end();
  });
}

export function udpAsk(host: string, port: number, msg: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no UDP answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.send(msg, port, host);
  });
}

const self = fileURLToPath(import.meta.url);

/** Run one of this file's commands inside a network namespace file. */
export function inNetns(netns: string, args: string[]): ChildProcess {
  return spawn('nsenter', [`--net=${netns}`, process.execPath, self, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function inNetnsSync(netns: string, args: string[], timeoutMs = 15_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('nsenter', [`--net=${netns}`, process.execPath, self, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start a server inside the namespace; resolves once it listens (it prints "ready"). */
export async function serveInNetns(netns: string, kind: 'tcp-serve' | 'udp-serve', port: number, text: string): Promise<ChildProcess> {
  const child = inNetns(netns, [kind, String(port), text]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`${kind} exited with ${code}: ${out}`)));
  });
  return child;
}

/** The first IPv4 address of a non-loopback interface of this namespace (from `ip`, not os.networkInterfaces filtering quirks). */
export function hostAddress(): string | undefined {
  const r = spawnSync('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global'], { encoding: 'utf8' });
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout);
  return m?.[1];
}

export function procMounts(): string {
  return readFileSync('/proc/mounts', 'utf8');
}

async function main(argv: string[]): Promise<void> {
  const [cmd, a, b, c] = argv;
  if (cmd === 'tcp-serve') {
    const server = createServer((s) => s.end(`${b}\n`));
    server.listen(Number(a), '0.0.0.0', () => process.stdout.write('ready\n'));
  } else if (cmd === 'udp-serve') {
    const s = createSocket('udp4');
    s.on('message', (m, from) => s.send(`${b}:${m.toString()}`, from.port, from.address));
    s.bind(Number(a), '0.0.0.0', () => process.stdout.write('ready\n'));
  } else if (cmd === 'tcp-get') {
    process.stdout.write(await tcpGet(a ?? '', Number(b), c ? Number(c) : undefined));
  } else if (cmd === 'http-get') {
    const [path, ms] = argv.slice(3);
    process.stdout.write(await httpGetBody(a ?? '', Number(b), path, ms ? Number(ms) : undefined));
  } else if (cmd === 'udp-ask') {
    process.stdout.write(await udpAsk(a ?? '', Number(b), c ?? ''));
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

if (process.argv[1] === self) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
