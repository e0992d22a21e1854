import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';

// testcontainers-node against berthd, as its users run it: it finds the daemon through
// DOCKER_HOST, inspects the `bridge` network for its gateway, starts a container with an
// exposed port and reaches it through the mapped port. Ryuk (its reaper image) is off: no
// image may be pulled from outside.
let d: TestDaemon;

daemonForFile((x) => {
  d = x;
});

function get(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

test('testcontainers-node starts a container with an exposed port and reaches it through getMappedPort', async () => {
  process.env['DOCKER_HOST'] = d.host;
  process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('busybox:latest')
    .withExposedPorts(80)
    .withCommand(['sh', '-c', 'mkdir -p /www && echo from-testcontainers > /www/index.html && exec httpd -f -p 80 -h /www'])
    .withWaitStrategy(Wait.forListeningPorts())
    .withStartupTimeout(60_000)
    .start();
  try {
    const port = container.getMappedPort(80);
    assert.ok(port > 0);
    assert.equal(await get(port, container.getHost()), 'from-testcontainers\n');
    const ps = d.ok(['ps', '--format', '{{.Ports}}']);
    assert.match(ps, new RegExp(`:${port}->80/tcp`));
  } finally {
    await container.stop();
  }
  assert.equal(d.ok(['ps', '-aq']).trim(), '', 'stop() removes the container');
});
