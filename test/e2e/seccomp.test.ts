import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { repoRoot } from '../helpers/paths.js';

let d: TestDaemon;
daemonForFile((x) => (d = x));

/** The probe (test/fixtures/seccomp-probe.c), built static for this run and bound into containers. */
let probeDir = '';
const NO_MKDIR = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };

before(() => {
  probeDir = mkdtempSync('/tmp/bt-probe-');
  const r = spawnSync('gcc', ['-static', '-O2', '-pthread', '-o', join(probeDir, 'seccomp-probe'), join(repoRoot, 'test', 'fixtures', 'seccomp-probe.c')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `gcc: ${r.stderr}`);
  writeFileSync(join(probeDir, 'no-mkdir.json'), JSON.stringify(NO_MKDIR));
});
after(() => rmSync(probeDir, { recursive: true, force: true }));

/** Runs the probe in a container with these options: syscall → `0` or the errno's name. */
function probe(daemon: TestDaemon, opts: string[] = []): Record<string, string> {
  const out = daemon.ok(['run', '--rm', ...opts, '-v', `${probeDir}:/probe:ro`, 'busybox', '/probe/seccomp-probe']);
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

/** Outcomes under the default profile for default capabilities. */
const DEFAULT_OUTCOMES = {
  clone3: 'ENOSYS', // glibc falls back to clone on ENOSYS only: threads and posix_spawn keep working
  clone_newuser: 'EPERM',
  unshare_newuser: 'EPERM',
  mount: 'EPERM',
  pivot_root: 'EPERM',
  keyctl: 'EPERM',
  add_key: 'EPERM',
  bpf: 'EPERM',
  perf_event_open: 'EPERM',
  userfaultfd: 'EPERM',
  ptrace: '0',
  process_vm_readv: '0',
  personality_query: '0',
  personality_no_aslr: 'EPERM',
  reboot: 'EPERM',
  clock_settime: 'EPERM',
  swapon: 'EPERM',
  kexec_load: 'EPERM',
  finit_module: 'EPERM',
  io_uring_setup: 'EPERM',
  socket_inet: '0',
  socket_vsock: 'EPERM',
  sethostname: 'EPERM',
  chroot: '0',
  pthread_create: '0',
  posix_spawn: '0',
};

test('a default container runs under the default profile: kernel interfaces closed, clone3 ENOSYS, threads and posix_spawn work', () => {
  assert.deepEqual(probe(d), DEFAULT_OUTCOMES);
  assert.match(d.ok(['run', '--rm', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
});

test('unshare -U fails in a default container and works with seccomp=unconfined', () => {
  const r = d.docker(['run', '--rm', 'busybox', 'unshare', '-U', '-r', 'id']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Operation not permitted/);
  assert.match(d.ok(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'unshare', '-U', '-r', 'id']), /^uid=0\(root\)/);
  const p = probe(d, ['--security-opt', 'seccomp=unconfined']);
  // What the kernel itself allows a container root without extra capabilities.
  assert.equal(p['clone3'], '0');
  assert.equal(p['keyctl'], '0');
  assert.equal(p['userfaultfd'], '0');
  assert.notEqual(p['socket_vsock'], 'EPERM');
  assert.equal(p['mount'], 'EPERM', 'mount still needs CAP_SYS_ADMIN in the kernel');
});

test("a custom profile denying mkdir makes mkdir fail; a bad profile is refused at create with dockerd's message", async () => {
  const profile = join(probeDir, 'no-mkdir.json');
  const r = d.docker(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'mkdir', '/made']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /can't create directory '\/made': Operation not permitted/);
  assert.equal(d.ok(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'sh', '-c', 'touch /file && echo ok']), 'ok\n');
  const res = await d.api('POST', '/containers/create', { Image: 'busybox', HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_FOO"}'] } });
  assert.equal(res.status, 400);
  assert.deepEqual(res.json(), { message: 'Decoding seccomp profile failed: string SCMP_ACT_FOO is not a valid action for seccomp' });
  const unknown = d.docker(['create', '--security-opt', 'seccomp-profile=x', 'busybox']);
  assert.match(unknown.stderr, /invalid --security-opt 2: "seccomp-profile=x"/);
});

test('--privileged is unconfined; --cap-add SYS_ADMIN opens what needs it and nothing else', () => {
  const priv = probe(d, ['--privileged']);
  for (const k of ['clone3', 'clone_newuser', 'unshare_newuser', 'mount', 'keyctl', 'userfaultfd', 'sethostname', 'io_uring_setup']) assert.equal(priv[k], '0', k);
  assert.equal(priv['reboot'], 'EINVAL', 'reboot reached the kernel, which refused the wrong magic number');
  assert.match(d.ok(['run', '--rm', '--privileged', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+0/);
  const admin = probe(d, ['--cap-add', 'SYS_ADMIN']);
  assert.deepEqual(admin, {
    ...DEFAULT_OUTCOMES,
    clone3: '0',
    clone_newuser: '0',
    unshare_newuser: '0',
    mount: '0',
    pivot_root: 'ENOENT',
    bpf: 'EINVAL',
    perf_event_open: 'E2BIG',
    sethostname: '0',
  });
});

test('docker info lists seccomp with the builtin profile and no AppArmor', () => {
  assert.equal(d.ok(['info', '--format', '{{json .SecurityOptions}}']).trim(), '["name=seccomp,profile=builtin"]');
  const text = d.ok(['info']);
  assert.match(text, /Security Options:\n\s+seccomp\n\s+Profile: builtin\n/);
  assert.doesNotMatch(text, /apparmor/i);
});

test("the daemon's seccomp-profile and no-new-privileges apply to containers that do not choose", async () => {
  const profile = join(probeDir, 'no-mkdir.json');
  const other = await startDaemon({ config: { 'seccomp-profile': profile, 'no-new-privileges': true } });
  try {
    assert.deepEqual(JSON.parse(other.ok(['info', '--format', '{{json .SecurityOptions}}'])), [`name=seccomp,profile=${profile}`, 'name=no-new-privileges']);
    assert.deepEqual(JSON.parse(other.ok(['info', '--format', '{{json .Warnings}}'])), ['WARNING: daemon is not using the default seccomp profile']);
    const r = other.docker(['run', '--rm', 'busybox', 'mkdir', '/made']);
    assert.match(r.stderr, /Operation not permitted/);
    assert.equal(other.ok(['run', '--rm', '--security-opt', 'seccomp=builtin', 'busybox', 'sh', '-c', 'mkdir /made && echo ok']), 'ok\n');
    assert.match(other.ok(['run', '--rm', 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']), /NoNewPrivs:\s+1/);
    assert.match(other.ok(['run', '--rm', '--security-opt', 'no-new-privileges=false', 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']), /NoNewPrivs:\s+0/);

    writeFileSync(other.configFile, JSON.stringify({ 'seccomp-profile': 'unconfined' }));
    await other.restart();
    assert.equal(other.ok(['info', '--format', '{{json .SecurityOptions}}']).trim(), '["name=seccomp,profile=unconfined"]');
    assert.match(other.ok(['run', '--rm', 'busybox', 'unshare', '-U', '-r', 'id']), /^uid=0\(root\)/);
    assert.match(other.ok(['run', '--rm', 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']), /NoNewPrivs:\s+0/);

    writeFileSync(other.configFile, JSON.stringify({ 'seccomp-profile': join(probeDir, 'missing.json') }));
    await other.stop();
    await assert.rejects(other.start(), /opening seccomp profile \(\/tmp\/bt-probe-\w+\/missing\.json\) failed: open \S+: no such file or directory/);
  } finally {
    const { leftovers } = await other.cleanup();
    assert.deepEqual(leftovers, []);
  }
});
