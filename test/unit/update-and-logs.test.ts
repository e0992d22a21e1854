import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyUpdate, checkUpdate, hostConfigAfter, limitsOf, parseUintList, RESOURCE_FIELDS, type ResourceUpdate } from '../../src/engine/resource-update.js';
import { deriveSpec, type CreateOptions } from '../../src/engine/create-options.js';
import { logRotation } from '../../src/engine/log-config.js';
import { checkLogDriver, validateLogOpts } from '../../src/config/validate.js';
import { parseBlkio, runcResources } from '../../src/runtime/cgroups.js';
import { parseUpdateBody } from '../../src/api/wire/update-request.js';

const HOST = { numCpu: 2, cpus: '0-1', mems: '0', blkioWeight: false, swapLimit: true };
const NONE: ResourceUpdate = { memory: 0, memorySwap: 0, memoryReservation: 0, nanoCpus: 0, cpuShares: 0, cpuQuota: 0, cpuPeriod: 0, cpusetCpus: '', cpusetMems: '', blkioWeight: 0 };
const MiB = 1024 * 1024;

function spec(o: Partial<CreateOptions> = {}) {
  const base: CreateOptions = {
    image: 'busybox', env: [], tty: false, openStdin: false, stdinOnce: false, labels: {}, autoRemove: false,
    restartPolicy: { name: 'no', maximumRetryCount: 0 }, memory: 0, memorySwap: 0, nanoCpus: 0, cpuShares: 0, pidsLimit: 0,
    readonlyRootfs: false, privileged: false, capAdd: [], capDrop: [], ulimits: [], mounts: [], init: false,
    networkMode: 'none', inheritCmd: true, cmd: ['true'], request: { config: {}, hostConfig: {} }, ...o,
  };
  return deriveSpec(base, {}, 'h', 'none');
}

test('update checks: Docker\'s messages, and the blkio weight this kernel lacks is dropped with a warning', () => {
  const bad = (u: Partial<ResourceUpdate>, msg: string) => assert.throws(() => checkUpdate({ ...NONE, ...u }, HOST), (e: Error) => e.message === msg);
  bad({ memory: MiB }, 'Minimum memory limit allowed is 6MB');
  bad({ memory: 100 * MiB, memorySwap: 50 * MiB }, 'Minimum memoryswap limit should be larger than memory limit, see usage');
  bad({ memory: 10 * MiB, memoryReservation: 20 * MiB }, 'Minimum memory limit can not be less than memory reservation limit, see usage');
  bad({ nanoCpus: 1e9, cpuPeriod: 100_000 }, 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  bad({ nanoCpus: 3e9 }, 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  bad({ cpuPeriod: 500 }, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  bad({ cpuQuota: 10 }, 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  bad({ cpusetCpus: '0-3' }, 'Requested CPUs are not available - requested 0-3, available: 0-1');
  bad({ cpusetMems: 'a' }, 'Invalid value a for cpuset mems');
  const { update, warnings } = checkUpdate({ ...NONE, blkioWeight: 500 }, HOST);
  assert.equal(update.blkioWeight, 0);
  assert.deepEqual(warnings, ['Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.']);
  // Where the kernel has weights, the range is checked.
  assert.throws(() => checkUpdate({ ...NONE, blkioWeight: 5 }, { ...HOST, blkioWeight: true }), /Range of blkio weight is from 10 to 1000/);
  assert.deepEqual([...(parseUintList('0-2,5') ?? [])], [0, 1, 2, 5]);
  assert.equal(parseUintList('2-1'), undefined);
});

test('update applied to a spec: conflicts with what is set, memory against the swap already in place', () => {
  const cpus = spec({ nanoCpus: 5e8 });
  assert.throws(() => applyUpdate(cpus, { ...NONE, cpuQuota: 20_000 }), /CPU Quota cannot be updated as NanoCPUs has already been set/);
  const quota = spec({ tuning: { cpuQuota: 20_000 } });
  assert.throws(() => applyUpdate(quota, { ...NONE, nanoCpus: 1e9 }), /Nano CPUs cannot be updated as CPU Quota has already been set/);
  // -m 50m without swap: Docker keeps swap at twice the memory, so 100m fits and 120m does not.
  const mem = spec({ memory: 50 * MiB });
  assert.equal(applyUpdate(mem, { ...NONE, memory: 100 * MiB }).memory, 100 * MiB);
  assert.throws(() => applyUpdate(mem, { ...NONE, memory: 120 * MiB }), /update the memoryswap at the same time/);
  assert.equal(applyUpdate(mem, { ...NONE, memory: 120 * MiB, memorySwap: 240 * MiB }).memorySwap, 240 * MiB);
  assert.throws(() => applyUpdate(spec({ autoRemove: true }), { ...NONE, restartPolicy: { name: 'always', maximumRetryCount: 0 } }), /AutoRemove is enabled/);

  const next = applyUpdate(spec(), { ...NONE, cpusetCpus: '1', pidsLimit: -1, cpuShares: 256 });
  assert.equal(next.tuning?.cpusetCpus, '1');
  assert.equal(next.pidsLimit, 0);
  assert.deepEqual(hostConfigAfter(next, { ...NONE, cpusetCpus: '1', pidsLimit: -1, cpuShares: 256 }), { CpuShares: 256, CpusetCpus: '1', PidsLimit: null });
  // runc gets every limit; -1 for unlimited pids (0 would mean "leave as is").
  const r = runcResources(limitsOf(applyUpdate(spec({ memory: 64 * MiB }), { ...NONE, nanoCpus: 5e8, pidsLimit: 0 })));
  assert.deepEqual(r, {
    memory: { limit: 64 * MiB, reservation: 0, swap: 0 },
    cpu: { shares: 0, quota: 50_000, period: 100_000, cpus: '', mems: '' },
    pids: { limit: -1 },
  });
});

test('every resource docker update sends reaches the record, the cgroup limits and inspect under its own name', () => {
  const values: Record<string, number | string> = {
    memory: 64 * MiB, memorySwap: 128 * MiB, memoryReservation: 32 * MiB, nanoCpus: 0, cpuShares: 512, cpuQuota: 30_000,
    cpuPeriod: 60_000, cpusetCpus: '0', cpusetMems: '0', pidsLimit: 77, blkioWeight: 300,
  };
  assert.deepEqual(RESOURCE_FIELDS.map((f) => f.key).sort(), Object.keys(values).sort());
  for (const f of RESOURCE_FIELDS) {
    if (f.key === 'nanoCpus') continue;
    const body = { [f.wire]: values[f.key] };
    const u = parseUpdateBody(body);
    assert.equal(u[f.key], values[f.key], f.wire);
    const next = applyUpdate(spec({ memory: 64 * MiB, memorySwap: 256 * MiB }), u);
    assert.equal(limitsOf(next)[f.key], values[f.key], f.key);
    assert.deepEqual(hostConfigAfter(next, u), body, f.wire);
    // Nothing else moved.
    for (const g of RESOURCE_FIELDS) if (g.key !== f.key) assert.equal(limitsOf(next)[g.key], limitsOf(spec({ memory: 64 * MiB, memorySwap: 256 * MiB }))[g.key], `${f.key} moved ${g.key}`);
  }
  const cpus = applyUpdate(spec(), parseUpdateBody({ NanoCpus: 1.5e9 }));
  assert.equal(limitsOf(cpus).nanoCpus, 1.5e9);
  assert.deepEqual(hostConfigAfter(cpus, parseUpdateBody({ NanoCpus: 1.5e9 })), { NanoCpus: 1.5e9 });
});

test('the update body: zero means unchanged, PidsLimit null means unchanged, unsupported fields refused by flag', () => {
  const u = parseUpdateBody({ Memory: 0, PidsLimit: null, CpusetCpus: '', RestartPolicy: { Name: '', MaximumRetryCount: 0 }, BlkioWeightDevice: [], Devices: null });
  assert.deepEqual(u, NONE);
  assert.equal(parseUpdateBody({ PidsLimit: 0 }).pidsLimit, 0);
  assert.deepEqual(parseUpdateBody({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } }).restartPolicy, { name: 'on-failure', maximumRetryCount: 2 });
  assert.throws(() => parseUpdateBody({ CpuRealtimePeriod: 1000 }), /--cpu-rt-period is not supported by this version of berth/);
  assert.throws(() => parseUpdateBody({ Memory: '1g' }), /cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64/);
});

test('log drivers and their options, checked per driver', () => {
  for (const ok of ['json-file', 'local', 'none', 'k8s-file']) checkLogDriver(ok);
  assert.throws(() => checkLogDriver('gelf'), /the gelf log driver is not supported by berth: use json-file, local or none/);
  assert.throws(() => checkLogDriver('x'), (e: Error) => e.message === "logger: no log driver named 'x' is registered");
  validateLogOpts('none', { anything: 'goes' });
  validateLogOpts('local', { 'max-size': '10m', 'max-file': '3', compress: 'false', mode: 'non-blocking', 'max-buffer-size': '1m' });
  validateLogOpts('local', { 'max-file': '1', compress: 'false' });
  assert.throws(() => validateLogOpts('local', { 'max-file': '1' }), /compression cannot be enabled when max file count is 1/);
  assert.throws(() => validateLogOpts('local', { 'max-file': 'x' }), (e: Error) => e.message === 'invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax');
  assert.throws(() => validateLogOpts('local', { 'max-file': '-1' }), /max file count cannot be less than 0/);
  assert.throws(() => validateLogOpts('local', { zzz: '1' }), (e: Error) => e.message === "unknown log opt 'zzz' for log driver local");
  // The generic options are checked before the driver's own keys, as dockerd does.
  assert.throws(() => validateLogOpts('json-file', { zzz: '1', mode: 'lossy' }), /logging mode not supported: lossy/);
});

test('log rotation: json-file only with max-size, local always with its defaults, none never', () => {
  assert.equal(logRotation({ driver: 'json-file', opts: {} }), undefined);
  assert.deepEqual(logRotation({ driver: 'json-file', opts: { 'max-size': '1m', 'max-file': '3' } }), { maxSize: MiB, maxFile: 3 });
  assert.deepEqual(logRotation({ driver: 'local', opts: {} }), { maxSize: 20 * MiB, maxFile: 5 });
  assert.deepEqual(logRotation({ driver: 'local', opts: { 'max-size': '2m' } }), { maxSize: 2 * MiB, maxFile: 5 });
  assert.equal(logRotation({ driver: 'none', opts: { 'max-size': '1m' } }), undefined);
  assert.equal(logRotation(undefined), undefined);
});

test('blkio counter files parse into per-device entries', () => {
  assert.deepEqual(parseBlkio('8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n'), [
    { major: 8, minor: 0, op: 'Read', value: 4096 },
    { major: 8, minor: 0, op: 'Write', value: 8192 },
    { major: 8, minor: 0, op: 'Total', value: 12288 },
  ]);
  assert.deepEqual(parseBlkio('Total 0\n'), []);
});
