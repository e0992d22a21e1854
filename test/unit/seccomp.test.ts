import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X86_64_SYSCALLS } from '../../src/runtime/seccomp/x86-64-numbers.js';
import { ANY_CONTAINER, ANY_CONTAINER_32BIT, ARCH_ONLY, NEEDS_CAPABILITY, NEVER } from '../../src/runtime/seccomp/policy.js';
import { builtinSeccompProfile } from '../../src/runtime/seccomp/default-profile.js';
import { kernelAtLeast, ociFromProfile, seccompFor } from '../../src/runtime/seccomp/docker-profile.js';
import type { OciSeccomp } from '../../src/runtime/seccomp/oci.js';
import { decodeSeccompProfile } from '../../src/api/wire/seccomp-profile.js';
import { parseCreateBody } from '../../src/api/wire/create-request.js';
import { DEFAULT_CAPABILITIES } from '../../src/runtime/spec.js';
import { ALL_CAPABILITIES } from '../../src/lib/capabilities.js';
import type { SeccompChoice } from '../../src/engine/seccomp.js';

const AMD64 = { arch: 'amd64', kernel: '6.1.0-18-amd64' };
const DEFAULT_CAPS: string[] = [...DEFAULT_CAPABILITIES];

/** Names allowed without condition, and the rules with conditions, of a built profile. */
function unconditional(p: OciSeccomp): Set<string> {
  return new Set(p.syscalls?.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
}
const rulesFor = (p: OciSeccomp, name: string) => p.syscalls?.filter((r) => r.names.includes(name)) ?? [];

test('the default policy decides every x86_64 system call exactly once', () => {
  const decided = new Map<string, string[]>();
  const add = (where: string, names: readonly string[]) => {
    for (const n of new Set(names)) decided.set(n, [...(decided.get(n) ?? []), where]);
  };
  add('any', ANY_CONTAINER);
  add('capability', [...new Set(NEEDS_CAPABILITY.flatMap(([, names]) => names))]);
  add('arch', ARCH_ONLY.filter(([arches]) => arches.includes('amd64')).flatMap(([, names]) => names));
  add('never', NEVER.flatMap(([, names]) => names));
  add('argument rule', ['socket', 'personality']);
  for (const [name, nr] of X86_64_SYSCALLS) {
    assert.deepEqual(decided.get(name)?.length, 1, `${name} (${nr}) is decided ${JSON.stringify(decided.get(name) ?? [])}`);
  }
  // Each list holds real syscall names: x86_64 ones, or the 32-bit spellings (no x86_64 number).
  for (const n of ANY_CONTAINER) assert.ok(X86_64_SYSCALLS.has(n), `${n} is not an x86_64 syscall`);
  for (const n of ANY_CONTAINER_32BIT) assert.ok(!X86_64_SYSCALLS.has(n), `${n} has an x86_64 number: list it with the others`);
  assert.equal(new Set(X86_64_SYSCALLS.values()).size, X86_64_SYSCALLS.size, 'numbers are unique');
  assert.equal(X86_64_SYSCALLS.get('clone3'), 435);
});

test('default profile for default capabilities: EPERM by default, clone3 ENOSYS, no namespaces, mounts or keyrings', () => {
  const p = builtinSeccompProfile({ capabilities: DEFAULT_CAPS, arch: 'amd64' });
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const allowed = unconditional(p);
  for (const n of ['read', 'openat', 'execve', 'futex', 'rseq', 'ptrace', 'chroot', 'arch_prctl', 'socketcall', 'statx']) assert.ok(allowed.has(n), n);
  for (const n of ['mount', 'umount2', 'unshare', 'setns', 'pivot_root', 'keyctl', 'add_key', 'bpf', 'perf_event_open', 'userfaultfd',
    'reboot', 'clock_settime', 'swapon', 'kexec_load', 'init_module', 'io_uring_setup', 'clone', 'clone3', 'socket', 'personality', 'sethostname']) {
    assert.ok(!allowed.has(n), `${n} must not be allowed unconditionally`);
  }
  assert.deepEqual(rulesFor(p, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
  assert.deepEqual(rulesFor(p, 'clone'), [
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
  ]);
  assert.deepEqual(rulesFor(p, 'socket'), [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
  assert.deepEqual(rulesFor(p, 'personality').map((r) => r.args?.[0]?.value), [0, 8, 0x20000, 0x20008, 0xffffffff]);
  // A pure function: the order of the capabilities changes nothing.
  assert.deepEqual(builtinSeccompProfile({ capabilities: [...DEFAULT_CAPS].reverse(), arch: 'amd64' }), p);
});

test('each capability opens exactly its syscalls', () => {
  for (const [cap, names] of NEEDS_CAPABILITY) {
    const without = unconditional(builtinSeccompProfile({ capabilities: DEFAULT_CAPS.filter((c) => c !== cap), arch: 'amd64' }));
    const withCap = unconditional(builtinSeccompProfile({ capabilities: [...DEFAULT_CAPS, cap], arch: 'amd64' }));
    for (const n of names) {
      assert.ok(withCap.has(n), `${n} with ${cap}`);
      const alsoOpenedBy = NEEDS_CAPABILITY.filter(([c, ns]) => c !== cap && ns.includes(n) && DEFAULT_CAPS.includes(c));
      if (alsoOpenedBy.length === 0) assert.ok(!without.has(n), `${n} without ${cap}`);
    }
  }
  const admin = builtinSeccompProfile({ capabilities: [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], arch: 'amd64' });
  // With CAP_SYS_ADMIN clone and clone3 take any flags: no argument rule, no ENOSYS.
  assert.deepEqual(rulesFor(admin, 'clone').map((r) => r.args), [undefined]);
  assert.deepEqual(rulesFor(admin, 'clone3').map((r) => r.action), ['SCMP_ACT_ALLOW']);
  for (const n of ['mount', 'unshare', 'setns', 'pivot_root', 'bpf', 'perf_event_open', 'syslog']) assert.ok(unconditional(admin).has(n), n);
});

test('what no capability opens stays closed with all of them', () => {
  const all = unconditional(builtinSeccompProfile({ capabilities: [...ALL_CAPABILITIES], arch: 'amd64' }));
  for (const [, names] of NEVER) for (const n of names) assert.ok(!all.has(n), n);
  assert.ok(all.has('reboot') && all.has('init_module') && all.has('iopl'));
});

test('architecture-specific syscalls follow the host', () => {
  const arm = builtinSeccompProfile({ capabilities: DEFAULT_CAPS, arch: 'arm64' });
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.ok(unconditional(arm).has('set_tls') && !unconditional(arm).has('arch_prctl'));
  const s390 = builtinSeccompProfile({ capabilities: DEFAULT_CAPS, arch: 's390x' });
  assert.equal(rulesFor(s390, 'clone')[0]?.args?.[0]?.index, 1);
});

test('which filter a container gets: its own choice, the daemon default, privileged', () => {
  const custom: SeccompChoice = { mode: 'custom', profile: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] } };
  const base = { daemon: { mode: 'builtin' } as SeccompChoice, privileged: false, capabilities: DEFAULT_CAPS, host: AMD64 };
  assert.equal(seccompFor(base)?.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(seccompFor({ ...base, container: { mode: 'unconfined' } }), undefined);
  assert.equal(seccompFor({ ...base, daemon: { mode: 'unconfined' } }), undefined);
  assert.equal(seccompFor({ ...base, daemon: { mode: 'unconfined' }, container: { mode: 'builtin' } })?.defaultErrnoRet, 1);
  assert.equal(seccompFor({ ...base, daemon: custom })?.defaultAction, 'SCMP_ACT_ALLOW');
  assert.equal(seccompFor({ ...base, privileged: true }), undefined, '--privileged is unconfined');
  assert.equal(seccompFor({ ...base, privileged: true, daemon: custom }), undefined, "the daemon's profile does not apply to --privileged");
  assert.deepEqual(seccompFor({ ...base, privileged: true, container: custom })?.syscalls, [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }]);
});

test("Docker's profile format: includes, excludes, archMap and minKernel resolve for the container and host", () => {
  const profile = decodeSeccompProfile(JSON.stringify({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    ],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: 'ignored' },
      { name: 'mount', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'] } },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
      { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
      { names: ['futex_waitv'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '7.0' } },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
    ],
  }));
  const names = (p: OciSeccomp | undefined) => p?.syscalls?.flatMap((r) => r.names);
  const plain = ociFromProfile(profile, DEFAULT_CAPS, AMD64);
  assert.deepEqual(plain?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assert.equal(plain?.defaultErrnoRet, 1);
  assert.deepEqual(names(plain), ['read', 'write', 'clone3', 'arch_prctl', 'ptrace', 'socket']);
  assert.deepEqual(plain?.syscalls?.at(-1), { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] });
  const admin = ociFromProfile(profile, [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], AMD64);
  assert.deepEqual(names(admin), ['read', 'write', 'mount', 'arch_prctl', 'ptrace', 'socket'], 'includes needs all its caps, excludes any');
  assert.ok(names(ociFromProfile(profile, [...DEFAULT_CAPS, 'CAP_SYS_ADMIN', 'CAP_BPF'], AMD64))?.includes('bpf'));
  const arm = ociFromProfile(profile, DEFAULT_CAPS, { arch: 'arm64', kernel: '4.4.0' });
  assert.deepEqual(arm?.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.deepEqual(names(arm), ['read', 'write', 'clone3', 'set_tls', 'socket']);
  // No default action and no rules: no filter, as in Docker.
  assert.equal(ociFromProfile(decodeSeccompProfile('{}'), DEFAULT_CAPS, AMD64), undefined);
  assert.ok(kernelAtLeast('6.18.44-fc-v1045', '5.8') && kernelAtLeast('4.8', '4.8') && !kernelAtLeast('4.19.0', '5.0'));
});

test("a bad profile is refused with dockerd's words", () => {
  const bad = (profile: unknown, message: string) =>
    assert.throws(() => decodeSeccompProfile(typeof profile === 'string' ? profile : JSON.stringify(profile)), (e: Error) => {
      assert.equal(e.message, `Decoding seccomp profile failed: ${message}`);
      return true;
    });
  bad({ defaultAction: 'SCMP_ACT_FOO' }, 'string SCMP_ACT_FOO is not a valid action for seccomp');
  bad({ defaultAction: 5 }, 'json: cannot unmarshal number 5 into Go struct field Seccomp.defaultAction of type specs.LinuxSeccompAction');
  bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 'x' }] },
    'json: cannot unmarshal string into Go struct field Syscall.syscalls.errnoRet of type uint');
  bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ERRNO' }] },
    "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
  bad({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64' }] },
    "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  bad({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['x86_64'] }, 'string x86_64 is not a valid arch for seccomp');
  bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'EQ' }] }] },
    'string EQ is not a valid operator for seccomp');
  bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: '4' } }] },
    'invalid kernel version: "4", expected "<kernel>.<major>"');
  bad({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG'] }, 'seccomp flags are not yet supported by runc');
  bad({ syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }, 'string  is not a valid action for seccomp');
  bad('[1]', 'json: cannot unmarshal array into Go value of type seccomp.Seccomp');
  bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["ioctl"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}',
    'syscalls.args.value 18446744073709552000 is larger than berth can pass on exactly (2^53 - 1)');
  // Go matches keys case-insensitively and ignores unknown ones.
  assert.equal(decodeSeccompProfile('{"DefaultAction":"SCMP_ACT_LOG","Syscalls":null,"x":1}').defaultAction, 'SCMP_ACT_LOG');
});

test('--security-opt: seccomp choices, no-new-privileges, and dockerd refusals', () => {
  const tuning = (...opts: string[]) => parseCreateBody({ Image: 'busybox', HostConfig: { SecurityOpt: opts } }, undefined, undefined).tuning;
  assert.deepEqual(tuning('seccomp=unconfined')?.seccomp, { mode: 'unconfined' });
  assert.deepEqual(tuning('seccomp:builtin')?.seccomp, { mode: 'builtin' });
  assert.deepEqual(tuning('seccomp={}')?.seccomp, { mode: 'unconfined' });
  assert.deepEqual(tuning('seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"}]}')?.seccomp, {
    mode: 'custom', profile: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] },
  });
  assert.equal(tuning('no-new-privileges')?.noNewPrivileges, true);
  assert.equal(tuning('no-new-privileges=false')?.noNewPrivileges, false, 'an explicit false overrides the daemon default');
  assert.equal(tuning('no-new-privileges:1')?.noNewPrivileges, true);
  const refused = (opt: string, message: string) => assert.throws(() => tuning(opt), (e: Error) => e.message === message);
  refused('foo', 'invalid --security-opt 1: "foo"');
  refused('foo=bar', 'invalid --security-opt 2: "foo=bar"');
  refused('no-new-privileges=maybe', 'invalid --security-opt 2: "no-new-privileges=maybe"');
  refused('seccomp={"defaultAction":1}', 'Decoding seccomp profile failed: json: cannot unmarshal number 1 into Go struct field Seccomp.defaultAction of type specs.LinuxSeccompAction');
  refused('apparmor=docker-default', 'security option apparmor=docker-default is not supported by this version of berth');
});
