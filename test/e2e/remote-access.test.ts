import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:tls';
import { startDaemon, TestDaemon, type DaemonOptions } from '../helpers/daemon.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { testTmpDir } from '../helpers/paths.js';
import { freePort } from '../helpers/net-fixture.js';

/** The real docker CLI against a TCP host, with the given TLS flags. */
function dockerTcp(host: string, tlsArgs: string[], args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('docker', ['-H', host, ...tlsArgs, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, DOCKER_CONFIG: '/nonexistent-berth-test' } });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function groupId(name: string): number | undefined {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name) return Number(gid);
  }
  return undefined;
}

async function withDaemon(opts: DaemonOptions, fn: (d: TestDaemon) => Promise<void>): Promise<void> {
  const d = await startDaemon({ busybox: false, ...opts });
  try {
    await fn(d);
  } finally {
    const { leftovers } = await d.cleanup();
    assert.deepEqual(leftovers, []);
  }
}

test('the API socket is mode 0660, owned by root and the group named by --group (root when berth has none)', async () => {
  await withDaemon({}, async (d) => {
    const st = statSync(d.sock);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, groupId('berth') ?? 0);
  });
  await withDaemon({ extraArgs: ['--group', 'daemon'] }, async (d) => {
    const st = statSync(d.sock);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, groupId('daemon'));
  });
});

test('TCP with mutual TLS serves a client with a certificate from the CA and refuses others at the handshake', async () => {
  const dir = testTmpDir('bt-tls-');
  try {
    makeCa(dir, 'good');
    makeCa(dir, 'rogue');
    const server = makeCert(dir, 'good', 'server', { server: { ips: ['127.0.0.1'], dns: ['localhost'] } });
    const client = makeCert(dir, 'good', 'client');
    const stranger = makeCert(dir, 'rogue', 'stranger');
    const port = await freePort();
    const host = `tcp://127.0.0.1:${port}`;
    await withDaemon({ extraArgs: ['-H', host, '--tlsverify', '--tlscacert', server.ca, '--tlscert', server.cert, '--tlskey', server.key] }, async () => {
      const ok = dockerTcp(host, ['--tlsverify', '--tlscacert', server.ca, '--tlscert', client.cert, '--tlskey', client.key], ['version', '--format', '{{.Server.APIVersion}}']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.trim(), '1.47');
      const noCert = dockerTcp(host, ['--tlsverify', '--tlscacert', server.ca], ['version', '--format', '{{.Server.APIVersion}}']);
      assert.notEqual(noCert.code, 0);
      assert.match(noCert.stderr, /certificate required|bad certificate|handshake/i);
      const rogue = dockerTcp(host, ['--tlsverify', '--tlscacert', server.ca, '--tlscert', stranger.cert, '--tlskey', stranger.key], ['version', '--format', '{{.Server.APIVersion}}']);
      assert.notEqual(rogue.code, 0);
      assert.match(rogue.stderr, /unknown certificate authority|bad certificate|certificate/i);
      // A client that does not speak TLS at all gets nothing out of it either.
      const plain = dockerTcp(host, [], ['version', '--format', '{{.Server.APIVersion}}']);
      assert.notEqual(plain.code, 0);
      // The refusal is at the handshake: no HTTP is ever answered to a certificate-less client.
      const refused = await new Promise<string>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, ca: readFileSync(server.ca), servername: 'localhost' }, () => {
          s.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        let got = '';
        s.on('data', (b: Buffer) => (got += b.toString()));
        s.on('error', (e) => resolve(`error: ${e.message}`));
        s.on('close', () => resolve(got === '' ? 'closed' : got));
      });
      assert.doesNotMatch(refused, /HTTP\/1\.1 200/);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plain TCP is refused at start-up unless --tls=false is given, which starts with a warning', async () => {
  const port = await freePort();
  const host = `tcp://127.0.0.1:${port}`;
  const d = new TestDaemon({ busybox: false, extraArgs: ['-H', host] });
  try {
    await assert.rejects(d.start(), /refusing to listen on tcp:\/\/127\.0\.0\.1:\d+ without TLS: anyone who can reach it gets root on this machine/);
  } finally {
    await d.cleanup();
  }
  await withDaemon({ extraArgs: ['-H', host, '--tls=false'] }, async (ok) => {
    const r = dockerTcp(host, [], ['version', '--format', '{{.Server.APIVersion}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1.47');
    assert.match(ok.log(), /Binding to IP address without --tlsverify is insecure/);
  });
});
