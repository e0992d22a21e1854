import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { TestCa, TokenServer, htpasswdLine } from '../helpers/registry-auth.js';

/*
 * Registries that want credentials, over TLS that must be verified: an htpasswd (Basic)
 * registry on an address of a veth made here (its peer in a namespace of ours) (not loopback, which is insecure by
 * default and would skip the checks), requiring a client certificate; and a token-auth
 * registry with the small token server of test/helpers.
 */

let d: TestDaemon;
daemonForFile((x) => (d = x));

const t0 = Date.now();
let ca: TestCa | undefined;
let tlsReg: TestRegistry | undefined;
let tokenReg: TestRegistry | undefined;
let tokens: TokenServer | undefined;
const link = `btr${randomBytes(3).toString('hex')}`;
const netns = `berth-test-${link}`;
const ip = `10.250.${randomInt(0, 256)}.${randomInt(0, 64) * 4 + 1}`;
const USER = 'tester';
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

before(async () => {
  ca = new TestCa();
  // A veth whose other end sits in a namespace of ours; the registry listens on this end's
  // address, which is local to the host (no forwarding involved).
  ipCmd(['netns', 'add', netns]);
  ipCmd(['link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}p`]);
  ipCmd(['link', 'set', `${link}p`, 'netns', netns]);
  ipCmd(['addr', 'add', `${ip}/30`, 'dev', link]);
  ipCmd(['link', 'set', link, 'up']);
  ipCmd(['-n', netns, 'link', 'set', `${link}p`, 'up']);
  const server = ca.issue(ip, 'serverAuth');
  tlsReg = new TestRegistry({ host: ip, tls: { ...server, clientCa: ca.cert }, htpasswd: htpasswdLine(USER, PASSWORD) });
  await tlsReg.start();
  tokens = new TokenServer(ca.issue('token-signer', 'clientAuth'), USER, PASSWORD);
  await tokens.start();
  tokenReg = new TestRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: ca.cert } });
  await tokenReg.start();
});

after(async () => {
  await tlsReg?.stop();
  await tokenReg?.stop();
  await tokens?.stop();
  spawnSync('ip', ['link', 'del', link], { timeout: 10_000 });
  spawnSync('ip', ['netns', 'del', netns], { timeout: 10_000 });
  ca?.remove();
  console.log(`registry-auth.test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

function ipCmd(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/**
 * The CLI, not blocking this process (the token server answers from it); stdin is closed, so
 * the CLI's "Login prior to pull" prompt after a 401 ends at once.
 */
function cli(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return d.dockerAsync(args, { timeoutMs: 60_000, input }).done;
}

function certsFor(addr: string, files: Record<string, string>): string {
  const dir = join(d.certsDir, addr);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

test('a TLS registry off loopback: its CA and a client certificate from certs.d, Basic auth through docker login', async () => {
  const reg = tlsReg as TestRegistry;
  const c = ca as TestCa;
  const name = `${reg.addr}/secure/app:1`;
  d.ok(['tag', 'busybox', name]);
  // No CA for it yet: the certificate is not trusted, and berth does not fall back to HTTP.
  let r = await cli(['push', name]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /certificate signed by unknown authority/);
  // Its CA, but no client certificate: the registry ends the handshake.
  certsFor(reg.addr, { 'ca.crt': c.cert });
  r = await cli(['push', name]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach the registry at https:\/\/[\d.:]+|certificate required|handshake/i);
  // With a client certificate: TLS is fine, and the registry wants credentials.
  const client = c.issue('berth-client', 'clientAuth');
  certsFor(reg.addr, { 'ca.crt': c.cert, 'client.cert': client.cert, 'client.key': client.key });
  r = await cli(['push', name]);
  assert.equal(r.code, 1);
  // As dockerd: a Basic challenge and no credentials is refused before anything is sent.
  assert.match(r.stderr, /no basic auth credentials/);
  // docker login checks the credentials against the registry; a wrong password is refused.
  r = await cli(['login', '-u', USER, '--password-stdin', reg.addr], 'wrong-password\n');
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`login attempt to https://${reg.addr}/v2/ failed with status: 401 Unauthorized`));
  r = await cli(['login', '-u', USER, '--password-stdin', reg.addr], `${PASSWORD}\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Login Succeeded/);
  // The CLI now sends the credentials (X-Registry-Auth) with push and pull.
  r = await cli(['push', name]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1: digest: sha256:/);
  d.ok(['rmi', name]);
  r = await cli(['pull', name]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name, 'echo', 'over TLS']), 'over TLS\n');
  // After logout the registry refuses again.
  assert.equal((await cli(['logout', reg.addr])).code, 0);
  d.ok(['rmi', name]);
  // Through the API: dockerd's 500 and words, which name the manifest request.
  const api = await d.api('POST', `/images/create?fromImage=${encodeURIComponent(name)}`);
  assert.equal(api.status, 500);
  assert.match(api.text, new RegExp(`"message":"Get \\\\"https://${reg.addr.replace(/\./g, '\\.')}/v2/secure/app/manifests/1\\\\": no basic auth credentials"`));
  // Listed in insecure-registries (reloaded with SIGHUP), the server's certificate is not checked.
  certsFor(reg.addr, { 'client.cert': client.cert, 'client.key': client.key });
  r = await cli(['login', '-u', USER, '--password-stdin', reg.addr], `${PASSWORD}\n`);
  assert.equal(r.code, 1);
  writeFileSync(d.configFile, JSON.stringify({ 'insecure-registries': [`${ip}/32`] }));
  process.kill(d.proc?.pid as number, 'SIGHUP');
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    r = await cli(['login', '-u', USER, '--password-stdin', reg.addr], `${PASSWORD}\n`);
    ok = r.code === 0;
    if (!ok) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(ok, r.stderr);
  assert.ok((JSON.parse(d.ok(['info', '--format', '{{json .RegistryConfig.InsecureRegistryCIDRs}}'])) as string[]).includes(`${ip}/32`));
  r = await cli(['pull', name]);
  assert.equal(r.code, 0, r.stderr);
  d.ok(['rmi', name]);
  await cli(['logout', reg.addr]);
});

test('a token-auth registry: the bearer challenge is answered with a token for the repository scope', async () => {
  const reg = tokenReg as TestRegistry;
  const ts = tokens as TokenServer;
  const name = `${reg.addr}/tok/app:1`;
  d.ok(['tag', 'busybox', name]);
  let r = await cli(['push', name]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unauthorized: authentication required/);
  r = await cli(['login', '-u', USER, '--password-stdin', reg.addr], 'nope\n');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unauthorized: incorrect username or password/);
  r = await cli(['login', '-u', USER, '--password-stdin', reg.addr], `${PASSWORD}\n`);
  assert.equal(r.code, 0, r.stderr);
  ts.requests.length = 0;
  r = await cli(['push', name]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    ts.requests.some((q) => q.user === USER && q.service === ts.service && q.scopes.includes('repository:tok/app:pull,push')),
    JSON.stringify(ts.requests),
  );
  d.ok(['rmi', name]);
  r = await cli(['pull', name]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(ts.requests.some((q) => q.scopes.includes('repository:tok/app:pull')));
  assert.equal(d.ok(['run', '--rm', '--network', 'none', name, 'echo', 'with a token']), 'with a token\n');
  d.ok(['rmi', name]);
  await cli(['logout', reg.addr]);
  // Without credentials the token server grants nothing: the pull is refused (through the
  // API: on a 401 the CLI would prompt for a login).
  const api = await d.api('POST', `/images/create?fromImage=${encodeURIComponent(name)}`);
  assert.equal(api.status, 401);
  assert.match(api.text, /unauthorized: authentication required/);
});
