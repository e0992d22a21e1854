import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';

/** A CA made with openssl for one test file, and certificates it signs (P-256 keys: quick to make). */
export class TestCa {
  readonly dir = mkdtempSync('/tmp/bt-ca-');

  constructor() {
    this.#openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=berth test CA']);
  }

  get cert(): string {
    return readFileSync(join(this.dir, 'ca.crt'), 'utf8');
  }

  /** A certificate for `name` (its SAN: an IP address or a DNS name), for a server or a client. */
  issue(name: string, usage: 'serverAuth' | 'clientAuth'): { cert: string; key: string } {
    const base = `${usage}-${name.replace(/[^\w.-]/g, '_')}`;
    const san = /^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`;
    writeFileSync(join(this.dir, `${base}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
    this.#openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`]);
    this.#openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', `${base}.ext`]);
    return { cert: readFileSync(join(this.dir, `${base}.crt`), 'utf8'), key: readFileSync(join(this.dir, `${base}.key`), 'utf8') };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  }
}

/** An htpasswd line (bcrypt, what the distribution server accepts), made with Python's crypt. */
export function htpasswdLine(user: string, password: string): string {
  const hash = execFileSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', password], { encoding: 'utf8' }).trim();
  return `${user}:${hash}\n`;
}

/**
 * The token server of the Docker token auth spec, as a registry configured with `auth: token`
 * expects: Basic credentials in, a JWT (ES256, the signing certificate in `x5c`) out, granting
 * the scopes asked for to the one known user and nothing to anyone else.
 */
export class TokenServer {
  readonly #signer: { cert: string; key: string };
  readonly user: string;
  readonly password: string;
  readonly issuer = 'berth-test-issuer';
  readonly service = 'berth-test-registry';
  readonly requests: { scopes: string[]; service: string; user?: string }[] = [];
  #server: Server | undefined;
  port = 0;

  constructor(signer: { cert: string; key: string }, user: string, password: string) {
    this.#signer = signer;
    this.user = user;
    this.password = password;
  }

  get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const scopes = url.searchParams.getAll('scope');
      const auth = req.headers.authorization ?? '';
      const [user, pass] = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':') : [];
      this.requests.push({ scopes, service: url.searchParams.get('service') ?? '', ...(user ? { user } : {}) });
      if (user !== undefined && (user !== this.user || pass !== this.password)) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      const access = user
        ? scopes.map((s) => {
            const [type, name, actions] = s.split(':');
            return { type, name, actions: (actions ?? '').split(',') };
          })
        : [];
      const token = this.#jwt({ sub: user ?? '', access });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const a = this.#server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #jwt(claims: Record<string, unknown>): string {
    const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [new X509Certificate(this.#signer.cert).raw.toString('base64')] };
    const body = { iss: this.issuer, aud: this.service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), ...claims };
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(body))}`;
    const sig = sign('sha256', Buffer.from(input), { key: createPrivateKey(this.#signer.key), dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64(sig)}`;
  }
}
