import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';
import { testTmpDir } from '../helpers/paths.js';

let d: TestDaemon;

daemonForFile((x) => (d = x));

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
  const host = testTmpDir('bt-bind-');
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

test('an unknown --cap-add or --cap-drop is refused at create with Docker\'s 400, and no container is left', () => {
  const before = d.docker(['ps', '-aq']).stdout;
  const add = d.docker(['create', '--name', 'badcap', '--cap-add', 'FOO', 'busybox', 'true']);
  assert.equal(add.code, 1);
  assert.match(add.stderr, /^Error response from daemon: invalid CapAdd: unknown capability: "CAP_FOO"$/m);
  const drop = d.docker(['create', '--cap-drop', 'cap_nope', 'busybox', 'true']);
  assert.equal(drop.code, 1);
  assert.match(drop.stderr, /^Error response from daemon: invalid CapDrop: unknown capability: "CAP_NOPE"$/m);
  // `docker run` stops at the create: nothing ran.
  const run = d.docker(['run', '--rm', '--cap-add', 'ALL', '--cap-add', 'sys_bogus', 'busybox', 'true']);
  assert.equal(run.code, 125);
  assert.match(run.stderr, /invalid CapAdd: unknown capability: "CAP_SYS_BOGUS"/);
  assert.equal(d.docker(['ps', '-aq']).stdout, before);
  assert.notEqual(d.docker(['inspect', 'badcap']).code, 0);
  // Lower case, without CAP_, and ALL still pass.
  const ok = d.docker(['create', '--cap-add', 'net_admin', '--cap-drop', 'ALL', 'busybox', 'true']);
  assert.equal(ok.code, 0, ok.stderr);
  d.docker(['rm', ok.stdout.trim()]);
});

test('--tmpfs mounts a tmpfs with the given options; bad paths are refused', () => {
  const r = d.docker(['run', '--rm', '--tmpfs', '/scratch:rw,size=4m,mode=1770', 'busybox', 'sh', '-c', 'grep " /scratch " /proc/mounts; stat -c %a /scratch']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tmpfs \/scratch tmpfs rw,.*size=4096k.*mode=1770/m);
  assert.match(r.stdout, /\n1770\n$/);
  const bad = d.docker(['run', '--rm', '--tmpfs', 'relative', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
});

test('less common settings take effect: group-add, shm-size, cpuset, cpu quota, memory reservation, oom, sysctl, host pid, devices, no-new-privileges', () => {
  d.docker([
    'run', '-d', '--name', 'tuned',
    '--group-add', 'wheel', '--group-add', '4242',
    '--shm-size', '8m', '--cpuset-cpus', '0', '--cpu-quota', '20000', '--cpu-period', '100000',
    '--memory-reservation', '16m', '-m', '64m', '--oom-kill-disable', '--oom-score-adj', '500',
    '--sysctl', 'net.ipv4.ip_forward=1', '--device', '/dev/null:/dev/mynull:rw',
    '--security-opt', 'no-new-privileges',
    'busybox', 'sleep', '1000',
  ]);
  const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', 'tuned']).stdout.trim());
  assert.ok(pid > 0, d.log().slice(-2000));
  assert.equal(cgroupFile(pid, 'cpuset', 'cpuset.cpus'), '0');
  assert.equal(cgroupFile(pid, 'cpu', 'cpu.cfs_quota_us'), '20000');
  assert.equal(cgroupFile(pid, 'memory', 'memory.soft_limit_in_bytes'), String(16 * 1024 * 1024));
  assert.match(cgroupFile(pid, 'memory', 'memory.oom_control'), /oom_kill_disable 1/);
  const inside = d.docker(['exec', 'tuned', 'sh', '-c', 'id -G; df -k /dev/shm | tail -1; cat /proc/self/oom_score_adj; cat /proc/sys/net/ipv4/ip_forward; echo x > /dev/mynull && echo dev-ok; grep NoNewPrivs /proc/self/status']);
  assert.equal(inside.code, 0, inside.stderr);
  const [groups, shm, oom, fwd, dev, nnp] = inside.stdout.trim().split('\n');
  assert.deepEqual(groups?.split(' ').sort(), ['0', '10', '4242']);
  assert.match(shm ?? '', /^shm\s+8192\s/);
  assert.equal(oom, '500');
  assert.equal(fwd, '1');
  assert.equal(dev, 'dev-ok');
  assert.match(nnp ?? '', /NoNewPrivs:\s+1/);
  d.docker(['rm', '-f', 'tuned']);
  const host = d.docker(['run', '--rm', '--pid', 'host', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | head -c 200']);
  assert.equal(host.code, 0, host.stderr);
  assert.doesNotMatch(host.stdout, /^sh/, 'PID 1 is the host init, not the container');
  // Settings berth does not implement are refused, never silently ignored.
  const link = d.docker(['run', '--rm', '--link', 'other:alias', 'busybox', 'true']);
  assert.notEqual(link.code, 0);
  assert.match(link.stderr, /--link is not supported by this version of berth/);
  const readBps = d.docker(['run', '--rm', '--device-read-bps', '/dev/null:1mb', 'busybox', 'true']);
  assert.notEqual(readBps.code, 0);
  assert.match(readBps.stderr, /--device-read-bps is not supported by this version of berth/);
});
