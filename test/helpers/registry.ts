import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before } from 'node:test';
import { sleep } from './daemon.js';

export type RegistryOptions = {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  tls?: { cert: string; key: string; clientCa?: string };
  /** htpasswd file content (bcrypt). */
  htpasswd?: string;
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
};

/**
 * Debian's docker-registry (the CNCF distribution server) on a free port with its own
 * storage, started once per test file and stopped by its PID afterwards.
 */
export class TestRegistry {
  readonly dir: string;
  readonly host: string;
  port = 0;
  proc: ChildProcess | undefined;
  readonly opts: RegistryOptions;

  constructor(opts: RegistryOptions = {}) {
    this.opts = opts;
    this.dir = mkdtempSync('/tmp/bt-reg-');
    this.host = opts.host ?? '127.0.0.1';
  }

  /** `127.0.0.1:5123`: the registry part of image names. */
  get addr(): string {
    return `${this.host}:${this.port}`;
  }

  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://${this.addr}`;
  }

  get logFile(): string {
    return join(this.dir, 'registry.log');
  }

  /** Where the registry keeps a blob's bytes (tests corrupt it there). */
  blobData(digest: string): string {
    const hex = digest.replace(/^sha256:/, '');
    return join(this.dir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  }

  async start(): Promise<void> {
    this.port = await freePort(this.host);
    const o = this.opts;
    const lines = [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(this.dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: ${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`,
    ];
    if (o.tls) {
      writeFileSync(join(this.dir, 'tls.crt'), o.tls.cert);
      writeFileSync(join(this.dir, 'tls.key'), o.tls.key);
      lines.push('  tls:', `    certificate: ${join(this.dir, 'tls.crt')}`, `    key: ${join(this.dir, 'tls.key')}`);
      if (o.tls.clientCa) {
        writeFileSync(join(this.dir, 'client-ca.crt'), o.tls.clientCa);
        lines.push('    clientcas:', `      - ${join(this.dir, 'client-ca.crt')}`);
      }
    }
    if (o.htpasswd) {
      writeFileSync(join(this.dir, 'htpasswd'), o.htpasswd);
      lines.push('auth:', '  htpasswd:', '    realm: test-realm', `    path: ${join(this.dir, 'htpasswd')}`);
    } else if (o.token) {
      writeFileSync(join(this.dir, 'token-ca.crt'), o.token.rootCertBundle);
      lines.push(
        'auth:',
        '  token:',
        `    realm: ${o.token.realm}`,
        `    service: ${o.token.service}`,
        `    issuer: ${o.token.issuer}`,
        `    rootcertbundle: ${join(this.dir, 'token-ca.crt')}`,
      );
    }
    writeFileSync(join(this.dir, 'config.yml'), `${lines.join('\n')}\n`);
    const fd = openSync(this.logFile, 'a');
    const proc = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    this.proc = proc;
    const deadline = Date.now() + 20_000;
    while (!(await this.#answers())) {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${readFileSync(this.logFile, 'utf8').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`docker-registry did not answer: ${readFileSync(this.logFile, 'utf8').slice(-2000)}`);
      await sleep(50);
    }
  }

  /** Listening: a TCP connection is accepted (a registry wanting client certificates answers nothing else). */
  #answers(): Promise<boolean> {
    return new Promise((resolve) => {
      const sock = connect({ host: this.host, port: this.port });
      sock.setTimeout(1000, () => sock.destroy());
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
      sock.once('close', () => resolve(false));
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A raw API call (no auth), for checking what the registry holds. */
  fetch(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    return rawRequest(`${this.url}${path}`, init);
  }
}

export function rawRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const fn = url.startsWith('https:') ? httpsRequest : httpRequest;
    const r = fn(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, rejectUnauthorized: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.end(init.body);
  });
}

/** A port nothing listens on right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * One registry for a test file: started before its tests, stopped after them even on failure.
 * `use` may start what depends on it (node runs a file's top-level hooks concurrently).
 */
export function registryForFile(use: (r: TestRegistry) => void | Promise<void>, opts: RegistryOptions = {}): void {
  let r: TestRegistry | undefined;
  before(async () => {
    r = new TestRegistry(opts);
    try {
      await r.start();
    } catch (err) {
      await r.stop();
      throw err;
    }
    await use(r);
  });
  after(async () => {
    await r?.stop();
  });
}
