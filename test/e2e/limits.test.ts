import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
});

after(async () => {
  const { leftovers } = await d.cleanup();
  assert.deepEqual(leftovers, []);
});

function cgroupFile(pid: number, controller: string, file: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  assert.ok(line, `no ${controller} cgroup for ${pid}`);
  const path = line.split(':')[2] as string;
  return readFileSync(join('/sys/fs/cgroup', controller, path, file), 'utf8').trim();
}

test('memory, cpu and pids limits land in the container cgroup', () => {
  d.docker(['run', '-d', '--name', 'lim', '-m', '64m', '--cpus', '0.5', '--pids-limit', '50', 'busybox', 'sleep', '1000']);
  const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', 'lim']).stdout.trim());
  assert.equal(cgroupFile(pid, 'memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  assert.equal(cgroupFile(pid, 'cpu', 'cpu.cfs_quota_us'), '50000');
  assert.equal(cgroupFile(pid, 'cpu', 'cpu.cfs_period_us'), '100000');
  assert.equal(cgroupFile(pid, 'pids', 'pids.max'), '50');
  const hc = JSON.parse(d.docker(['inspect', 'lim']).stdout)[0].HostConfig;
  assert.equal(hc.Memory, 64 * 1024 * 1024);
  assert.equal(hc.NanoCpus, 500_000_000);
  assert.equal(hc.PidsLimit, 50);
  d.docker(['rm', '-f', 'lim']);
});

test('ulimits apply, and one above the daemon hard limit is refused', () => {
  let r = d.docker(['run', '--rm', '--ulimit', 'nofile=1000:2000', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '1000\n2000\n');
  const hard = Number(/Max open files\s+\d+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);
  r = d.docker(['run', '--rm', '--ulimit', `nofile=${hard + 1}:${hard + 1}`, 'busybox', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /exceeds the daemon's own hard limit/);
});

test('read-only root refuses writes; bind mounts read-write and read-only', () => {
  let r = d.docker(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'touch /x']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Read-only file system/);
  const host = mkdtempSync('/tmp/bt-bind-');
  try {
    writeFileSync(join(host, 'in.txt'), 'from host');
    r = d.docker(['run', '--rm', '-v', `${host}:/data`, 'busybox', 'sh', '-c', 'cat /data/in.txt; echo from-ctr > /data/out.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from host');
    assert.equal(readFileSync(join(host, 'out.txt'), 'utf8'), 'from-ctr\n');
    r = d.docker(['run', '--rm', '-v', `${host}:/data:ro`, 'busybox', 'sh', '-c', 'echo x > /data/y']);
    assert.notEqual(r.code, 0);
  } finally {
    rmSync(host, { recursive: true, force: true });
  }
});

test('--cap-add/--cap-drop and --privileged change the effective set', () => {
  const caps = (args: string[]) => d.docker(['run', '--rm', ...args, 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status']).stdout.split(/\s+/)[1];
  const def = BigInt(`0x${caps([])}`);
  const noRaw = BigInt(`0x${caps(['--cap-drop', 'NET_RAW'])}`);
  assert.equal(def & (1n << 13n), 1n << 13n);
  assert.equal(noRaw & (1n << 13n), 0n);
  const admin = BigInt(`0x${caps(['--cap-add', 'SYS_ADMIN'])}`);
  assert.equal(admin & (1n << 21n), 1n << 21n);
  const priv = BigInt(`0x${caps(['--privileged'])}`);
  assert.ok(priv > admin);
});
