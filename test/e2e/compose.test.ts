import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, waitFor, type TestDaemon } from '../helpers/daemon.js';
import { testTmpDir } from '../helpers/paths.js';
import { freePort, httpGet as get } from '../helpers/net-fixture.js';

// docker-compose v1 (Debian's docker-compose 1.29, on docker-py) driving berth: a project
// network made for it, an extra network, a named volume and a published port; services find
// each other by name; `down` takes it all away again.
let d: TestDaemon;
daemonForFile((x) => {
  d = x;
});

const app = (port: number) => `version: "3.7"
services:
  web:
    image: busybox
    command: sh -c 'echo kept > /data/marker && mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www'
    ports:
      - "127.0.0.1:${port}:80"
    volumes:
      - data:/data
    networks: [default, back]
  client:
    image: busybox
    command: sh -c 'while true; do wget -q -O - http://web/; sleep 0.5; done'
    depends_on: [web]
  db:
    image: busybox
    command: sleep 100000
    networks: [back]
volumes:
  data: {}
networks:
  back: {}
`;

test('docker-compose up -d, ps, logs and down of a multi-service app: project and extra networks, a volume, a published port, services found by name', async () => {
  const dir = testTmpDir('bt-compose-');
  const port = await freePort();
  writeFileSync(join(dir, 'docker-compose.yml'), app(port));
  const compose = (args: string[]) => {
    const r = spawnSync('docker-compose', ['-p', 'demo', ...args], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 180_000,
      env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(d.dir, 'docker-config'), COMPOSE_INTERACTIVE_NO_CLI: '1' },
    });
    return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  };
  let up = false;
  try {
    const u = compose(['up', '-d']);
    up = true;
    assert.equal(u.code, 0, u.out);
    assert.match(u.out, /Creating network "demo_default" with the default driver/);
    assert.match(u.out, /Creating network "demo_back" with the default driver/);
    const nets = d.ok(['network', 'ls', '--filter', 'label=com.docker.compose.project=demo', '--format', '{{.Name}}']).trim().split('\n').sort();
    assert.deepEqual(nets, ['demo_back', 'demo_default']);

    const ps = compose(['ps']);
    assert.equal(ps.code, 0, ps.out);
    for (const s of ['demo_web_1', 'demo_client_1', 'demo_db_1']) assert.match(ps.out, new RegExp(`${s}\\s.*\\sUp`), ps.out);
    assert.match(ps.out, new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp`));
    assert.equal(await waitFor('the published port', () => get(port)), 'hello-from-web\n');

    // The client finds web by its service name on the project network.
    await waitFor('the client to reach web by name', () => /hello-from-web/.test(d.docker(['logs', 'demo_client_1']).stdout), 30_000, 300);
    const logs = compose(['logs', '--no-color', 'client']);
    assert.equal(logs.code, 0, logs.out);
    assert.match(logs.out, /client_1\s+\| hello-from-web/);
    // db shares only `back` with web: it finds web there; the client shares no network with db.
    const seen = d.ok(['exec', 'demo_db_1', 'nslookup', 'web']);
    assert.match(seen, new RegExp(`Name:\\s+web\\s*\\nAddress: ${d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.demo_back.IPAddress}}', 'demo_web_1']).trim().replace(/\./g, '\\.')}`));
    const none = d.docker(['exec', 'demo_client_1', 'nslookup', 'db']);
    assert.match(none.stdout + none.stderr, /can't find db/);
    assert.equal(d.ok(['run', '--rm', '-v', 'demo_data:/data', 'busybox', 'cat', '/data/marker']).trim(), 'kept');

    const down = compose(['down', '-v', '-t', '1']);
    up = false;
    assert.equal(down.code, 0, down.out);
    assert.match(down.out, /Removing network demo_default/);
    assert.match(down.out, /Removing network demo_back/);
    assert.equal(d.ok(['network', 'ls', '--filter', 'type=custom', '-q']).trim(), '', 'the networks are gone');
    assert.equal(d.ok(['ps', '-aq']).trim(), '');
    assert.doesNotMatch(d.ok(['volume', 'ls', '-q']), /demo_data/);
  } finally {
    if (up) compose(['down', '-v', '-t', '1']);
    rmSync(dir, { recursive: true, force: true });
  }
});

const healthApp = `version: "2.4"
services:
  db:
    image: busybox
    command: sh -c 'sleep 3 && touch /tmp/ready && exec sleep 100000'
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 30
  app:
    image: busybox
    command: sleep 100000
    depends_on:
      db:
        condition: service_healthy
  broken:
    image: busybox
    command: sleep 100000
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1
    profiles: [broken]
  waiter:
    image: busybox
    command: sleep 100000
    depends_on:
      broken:
        condition: service_healthy
    profiles: [broken]
`;

test('docker-compose depends_on service_healthy: a service starts only once its dependency is healthy, and up fails on an unhealthy one', async () => {
  const dir = testTmpDir('bt-compose-health-');
  writeFileSync(join(dir, 'docker-compose.yml'), healthApp);
  const compose = (args: string[]) => {
    const r = spawnSync('docker-compose', ['-p', 'hc', ...args], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 180_000,
      env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(d.dir, 'docker-config'), COMPOSE_INTERACTIVE_NO_CLI: '1' },
    });
    return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  };
  try {
    const u = compose(['up', '-d', 'app']);
    assert.equal(u.code, 0, u.out);
    const health = JSON.parse(d.ok(['inspect', '-f', '{{json .State.Health}}', 'hc_db_1'])) as { Status: string; Log: { ExitCode: number; End: string }[] };
    assert.equal(health.Status, 'healthy');
    const firstHealthy = health.Log.find((l) => l.ExitCode === 0);
    assert.ok(firstHealthy, JSON.stringify(health));
    const appStarted = d.ok(['inspect', '-f', '{{.State.StartedAt}}', 'hc_app_1']).trim();
    assert.ok(Date.parse(appStarted) >= Date.parse(firstHealthy.End), `app started ${appStarted}, db first healthy ${firstHealthy.End}`);
    assert.match(d.ok(['ps', '--filter', 'name=hc_db_1', '--format', '{{.Status}}']), /\(healthy\)/);

    // A dependency that never gets healthy: compose gives up on the dependent service.
    const b = compose(['--profile', 'broken', 'up', '-d', 'waiter']);
    assert.notEqual(b.code, 0, b.out);
    assert.match(b.out, /is unhealthy/);
    assert.equal(d.ok(['inspect', '-f', '{{.State.Health.Status}}', 'hc_broken_1']).trim(), 'unhealthy');
    assert.equal(d.docker(['inspect', 'hc_waiter_1']).code === 0 ? d.ok(['inspect', '-f', '{{.State.Running}}', 'hc_waiter_1']).trim() : 'false', 'false');
  } finally {
    compose(['--profile', 'broken', 'down', '-v', '-t', '1']);
    rmSync(dir, { recursive: true, force: true });
  }
});
