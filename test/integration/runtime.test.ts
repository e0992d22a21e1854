import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdirSync, readFileSync, existsSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConmonRuntime } from '../../src/runtime/conmon-runtime.js';
import { buildSpec } from '../../src/runtime/spec.js';
import { extractTar } from '../../src/storage/tar-extract.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { RuntimeHandle, StartRequest } from '../../src/engine/ports.js';
import { busyboxTarball, testTmpDir } from '../helpers/paths.js';
import { isAlive } from '../../src/lib/proc.js';
import { parseRecord } from '../../src/logs/k8s-file.js';

// conmon + runc exercised directly, without the daemon: the trials the design rests on.
let dir: string;
let rootfs: string;
let rt: ConmonRuntime;
const started: string[] = [];

before(async () => {
  dir = testTmpDir('bt-rt-');
  rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  await extractTar(createReadStream(busyboxTarball()), rootfs);
  rt = new ConmonRuntime({ execRoot: join(dir, 'x'), dataRoot: dir, conmonPath: 'conmon', log: silentLogger() });
  await rt.init();
});

after(async () => {
  for (const id of started) await rt.cleanup(id, undefined).catch(() => undefined);
  rt.close();
  rmSync(dir, { recursive: true, force: true });
  for (const c of readdirSync('/sys/fs/cgroup')) {
    try {
      rmdirSync(join('/sys/fs/cgroup', c, 'berth-rt-test'));
    } catch {
      // not created for this controller, or already gone
    }
  }
});

let seq = 0;
function request(args: string[], o: { stdin?: boolean; rlimits?: { type: string; soft: number; hard: number }[] } = {}): StartRequest {
  const id = `rt${process.pid}x${seq++}`.padEnd(20, '0');
  started.push(id);
  return {
    id,
    tty: false,
    stdin: o.stdin ?? false,
    stdinOnce: true,
    logPath: join(dir, `${id}.log`),
    runtime: { name: 'runc', path: '/usr/sbin/runc', args: [] },
    ociSpec: buildSpec({
      rootfs,
      readonlyRootfs: false,
      hostname: 'rt',
      domainname: '',
      args,
      env: ['PATH=/bin'],
      cwd: '/',
      uid: 0,
      gid: 0,
      additionalGids: [],
      tty: false,
      capabilities: ['CAP_KILL'],
      rlimits: o.rlimits ?? [],
      noNewPrivileges: false,
      privileged: false,
      mounts: [],
      cgroupsPath: `/berth-rt-test/${id}`,
      resources: { memory: 0, memorySwap: 0, nanoCpus: 0, cpuShares: 0, pidsLimit: 0 },
    }),
  };
}

function logLines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const r = parseRecord(Buffer.from(l));
      assert.ok(r, `malformed log line: ${l}`);
      return `${r.stream}:${r.data.toString()}`;
    });
}

test('conmon runs a container, writes the log and the exit code', async () => {
  const req = request(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  const h = await rt.start(req, async () => undefined);
  assert.ok(h.container.pid > 0 && h.conmon.pid > 0);
  const exit = await rt.waitExit(h, AbortSignal.timeout(20_000));
  assert.equal(exit.exitCode, 3);
  assert.ok(Date.parse(exit.finishedAt) > Date.now() - 60_000);
  assert.deepEqual(logLines(req.logPath), ['stdout:out', 'stderr:err']);
  assert.equal(readFileSync(join(h.persistDir, 'exit'), 'utf8').trim(), '3');
  await rt.cleanup(req.id, h);
  assert.equal(existsSync(h.bundle), false);
  assert.deepEqual(readdirSync(rt.runcRoot), []);
});

test('rlimits within the daemon hard limits apply; a failing create reports runc error', async () => {
  const req = request(['sh', '-c', 'ulimit -n'], { rlimits: [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }] });
  const h = await rt.start(req, async () => undefined);
  await rt.waitExit(h, AbortSignal.timeout(20_000));
  assert.deepEqual(logLines(req.logPath), ['stdout:512']);
  await rt.cleanup(req.id, h);
  const bad = request(['/no/such/binary']);
  await assert.rejects(rt.start(bad, async () => undefined), /OCI runtime create failed: .*no such file or directory/);
  assert.deepEqual(readdirSync(rt.runcRoot), []);
});

test('a new runtime instance recovers a running container from its handle alone', async () => {
  const req = request(['sleep', '1000']);
  const h = await rt.start(req, async () => undefined);
  // Drop the in-memory state: a fresh adapter, as after a daemon restart.
  const again = new ConmonRuntime({ execRoot: join(dir, 'x'), dataRoot: dir, conmonPath: 'conmon', log: silentLogger() });
  await again.init();
  try {
    const handle: RuntimeHandle = JSON.parse(JSON.stringify(h));
    assert.deepEqual(await again.probe(handle), { state: 'running' });
    assert.equal(await again.kill(handle, 9), true);
    const exit = await again.waitExit(handle, AbortSignal.timeout(20_000));
    assert.equal(exit.exitCode, 137);
    const probe = await again.probe(handle);
    assert.equal(probe.state, 'exited');
    await again.cleanup(req.id, handle);
    assert.equal(await isAlive(h.conmon), false);
  } finally {
    again.close();
  }
});

test('attach: stdin reaches the container, output comes back framed by stream, EOF closes stdin', async () => {
  const req = request(['sh', '-c', 'while read l; do echo "got $l"; echo "e $l" >&2; done; echo bye'], { stdin: true });
  const received: string[] = [];
  let session: import('../../src/engine/ports.js').AttachSession | undefined;
  let closed!: Promise<void>;
  const h = await rt.start(req, async (handle) => {
    session = await rt.attach(handle, { stdin: true, stdout: true, stderr: true });
    session.onData((stream, data) => received.push(`${stream}:${data.toString()}`));
    const s = session;
    closed = new Promise((resolve) => s.onClose(resolve));
  });
  assert.ok(session);
  session.write(Buffer.from('one\ntwo\n'));
  session.closeStdin();
  const exit = await rt.waitExit(h, AbortSignal.timeout(20_000));
  assert.equal(exit.exitCode, 0);
  // The exit file can be there before the last output is read off the socket: the session
  // ends once conmon has sent everything (what an attached client waits for too).
  await closed;
  const out = received.filter((r) => r.startsWith('stdout:')).map((r) => r.slice(7)).join('');
  const err = received.filter((r) => r.startsWith('stderr:')).map((r) => r.slice(7)).join('');
  assert.equal(out, 'got one\ngot two\nbye\n');
  assert.equal(err, 'e one\ne two\n');
  session.close();
  await rt.cleanup(req.id, h);
});

test('a killed monitor is detected: monitor-lost with the container still alive', async () => {
  const req = request(['sleep', '1000']);
  const h = await rt.start(req, async () => undefined);
  process.kill(h.conmon.pid, 'SIGKILL');
  for (let i = 0; i < 100 && (await isAlive(h.conmon)); i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await rt.probe(h), { state: 'monitor-lost', containerAlive: true });
  await rt.cleanup(req.id, h);
  assert.equal(await isAlive(h.container), false, 'cleanup takes the orphaned container down');
});
