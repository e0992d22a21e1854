import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';
import { registryForFile, type TestRegistry } from '../helpers/registry.js';
import { htpasswdLine } from '../helpers/registry-auth.js';
import { testTmpDir } from '../helpers/paths.js';
import { makeContext } from '../helpers/build-context.js';

/*
 * docker build and registries: the credentials the CLI sends for a build (X-Registry-Config,
 * after `docker login`) used for every pull the build makes, against a loopback registry with
 * htpasswd auth; and --cache-from an image pulled by a daemon that does not have its build.
 */

let d: TestDaemon;
daemonForFile((x) => (d = x));
let reg: TestRegistry;
const USER = 'builder';
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
registryForFile((r) => {
  reg = r;
}, { htpasswd: htpasswdLine(USER, PASSWORD) });

const t0 = Date.now();
let scratch = '';

function context(name: string, files: Record<string, string>): string {
  if (!scratch) scratch = testTmpDir('bt-buildreg-');
  return makeContext(scratch, name, files);
}

/** The CLI in the background: the registry is another process, but the CLI may prompt. */
const cli = (args: string[], input = '') => d.dockerAsync(args, { timeoutMs: 180_000, input }).done;
const login = async () => {
  const r = await cli(['login', '-u', USER, '--password-stdin', reg.addr], `${PASSWORD}\n`);
  assert.equal(r.code, 0, r.stderr);
};
const logout = async () => assert.equal((await cli(['logout', reg.addr])).code, 0);
const allImages = () => d.ok(['images', '-aq', '--no-trunc']).split('\n').filter(Boolean).sort();

test('FROM, COPY --from and --pull of images only in a registry that wants a login: refused with dockerd\'s words without one, built after docker login; the password is nowhere in logs, history or config', async () => {
  const base = `${reg.addr}/private/base:1`;
  const other = `${reg.addr}/private/other:1`;
  await login();
  for (const [ref, file] of [[base, '/private.txt'], [other, '/other.txt']] as const) {
    const r = await cli(['build', '-t', ref, '-'], `FROM busybox\nRUN echo ${ref} > ${file}\n`);
    assert.equal(r.code, 0, r.stderr);
    const p = await cli(['push', ref]);
    assert.equal(p.code, 0, p.stderr);
  }
  d.ok(['rmi', base, other]);
  await logout();

  const df = `FROM ${base}\nCOPY --from=${other} /other.txt /other.txt\nRUN cat /private.txt /other.txt > /both.txt\n`;
  const dir = context('private', { Dockerfile: df });
  const denied = await cli(['build', '-t', 'from-private', dir]);
  assert.equal(denied.code, 1, denied.stdout);
  assert.match(denied.stdout, new RegExp(`Step 1/3 : FROM ${base.replace(/\./g, '\\.')}\n`));
  assert.match(denied.stderr, new RegExp(`Get "http://${reg.addr.replace(/\./g, '\\.')}/v2/private/base/manifests/1": no basic auth credentials`));
  assert.match(d.fails(['image', 'inspect', 'from-private']), /No such image/);

  await login();
  const built = await cli(['build', '-t', 'from-private', dir]);
  assert.equal(built.code, 0, built.stderr + built.stdout);
  assert.equal(d.ok(['run', '--rm', '--network', 'none', 'from-private', 'cat', '/both.txt']), `${base}\n${other}\n`);
  // --pull pulls both again, with the credentials; once logged out, it fails as dockerd's
  // does rather than falling back on the images it has.
  const pulled = await cli(['build', '--pull', '-t', 'from-private', dir]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, /Digest: sha256:[0-9a-f]{64}/);
  await logout();
  const stale = await cli(['build', '--pull', '-t', 'from-private', dir]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /no basic auth credentials/);

  // The credentials were used, never kept: not in berthd's (debug) log, nor in the image.
  const inspect = d.ok(['image', 'inspect', 'from-private']);
  const history = d.ok(['history', '--no-trunc', 'from-private']);
  for (const [what, text] of [['log', readFileSync(d.logFile, 'utf8')], ['inspect', inspect], ['history', history]] as const) {
    assert.ok(!text.includes(PASSWORD), `the password is in the ${what}`);
    assert.ok(!text.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64')), `the encoded credentials are in the ${what}`);
  }
  const grep = spawnSync('grep', ['-rlF', PASSWORD, d.dataRoot], { encoding: 'utf8' });
  assert.equal(grep.stdout, '', `files of the data root holding the password: ${grep.stdout}`);
  d.ok(['rmi', 'from-private', base, other]);
});

test('--cache-from an image pulled by a daemon without its build: every step from the cache, the same image id; a changed file rebuilds from its step', async () => {
  const name = `${reg.addr}/cache/app:1`;
  const df = 'FROM busybox\nENV A=1\nRUN echo one > /one\nCOPY f.txt /f.txt\nCMD ["cat", "/f.txt"]\n';
  const dir = context('cache', { 'f.txt': 'first\n', Dockerfile: df });
  const before = allImages();
  await login();
  const first = await cli(['build', '-t', name, dir]);
  assert.equal(first.code, 0, first.stderr);
  const id = d.ok(['image', 'inspect', '-f', '{{.Id}}', name]).trim();
  assert.equal((await cli(['push', name])).code, 0);

  // A machine that has only the base image: the build's images are gone.
  d.ok(['image', 'rm', name]);
  assert.match(d.ok(['builder', 'prune', '-f']), /Total reclaimed space: 0B/);
  assert.deepEqual(allImages(), before);
  const pull = await cli(['pull', name]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}}|{{.Parent}}', name]).trim(), `${id}|`, 'pulled: the same id, no parent here');

  // Without --cache-from the pulled image is no cache: every step runs.
  const plain = await cli(['build', '-t', 'plain', dir]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(!plain.stdout.includes('Using cache'), plain.stdout);
  d.ok(['rmi', 'plain']);

  const cached = await cli(['build', '--cache-from', name, '-t', 'again', dir]);
  assert.equal(cached.code, 0, cached.stderr);
  const steps = cached.stdout.split(/Step \d\/5 : /).slice(1);
  assert.deepEqual(steps.map((s) => s.includes(' ---> Using cache\n')), [false, true, true, true, true], cached.stdout);
  assert.ok(!cached.stdout.includes('Running in'), cached.stdout);
  assert.match(cached.stdout, new RegExp(`Successfully built ${id.slice(7, 19)}\n`));
  assert.equal(d.ok(['image', 'inspect', '-f', '{{.Id}}', 'again']).trim(), id);
  // As dockerd: the image is now built on the chain the cache restored (history names it).
  const parent = d.ok(['image', 'inspect', '-f', '{{.Parent}}', 'again']).trim();
  assert.match(parent, /^sha256:[0-9a-f]{64}$/);
  assert.match(d.ok(['history', '-q', 'again']).split('\n')[1] ?? '', new RegExp(`^${parent.slice(7, 19)}$`));
  assert.equal(d.ok(['run', '--rm', '--network', 'none', 'again']), 'first\n');

  writeFileSync(join(dir, 'f.txt'), 'second\n');
  const changed = await cli(['build', '--cache-from', name, '-t', 'changed', dir]);
  assert.equal(changed.code, 0, changed.stderr);
  assert.deepEqual(
    changed.stdout.split(/Step \d\/5 : /).slice(1).map((s) => s.includes('Using cache')),
    [false, true, true, false, false],
    changed.stdout,
  );
  assert.equal(d.ok(['run', '--rm', '--network', 'none', 'changed']), 'second\n');
  await logout();

  // Removing the images takes the restored steps with them.
  d.ok(['rmi', 'again', name, 'changed']);
  assert.deepEqual(allImages(), before, d.ok(['images', '-a']));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  console.log(`build-registry.test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
