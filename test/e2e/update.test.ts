import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

daemonForFile((x) => (d = x), { liveRestore: true });

/** The container's own view of its cgroup limits (runc mounts its cgroups at /sys/fs/cgroup). */
function limitsInside(name: string): string[] {
  const files = ['memory/memory.limit_in_bytes', 'memory/memory.soft_limit_in_bytes', 'cpu/cpu.cfs_quota_us', 'cpu/cpu.shares', 'pids/pids.max', 'cpuset/cpuset.cpus'];
  return d.ok(['exec', name, 'cat', ...files.map((f) => `/sys/fs/cgroup/${f}`)]).trim().split('\n');
}

const MiB = 1024 * 1024;

test('docker update changes a running container\'s cgroup and record; a restart and a live restore keep it', async () => {
  d.ok(['run', '-d', '--name', 'upd', '-m', '50m', '--cpus', '1', 'busybox', 'sleep', '1000']);
  assert.equal(d.ok(['update', '-m', '80m', '--cpus', '0.5', '--pids-limit', '40', '--cpuset-cpus', '0', '--cpu-shares', '512', '--memory-reservation', '20m', '--restart', 'on-failure:3', 'upd']), 'upd\n');
  const expected = [String(80 * MiB), String(20 * MiB), '50000', '512', '40', '0'];
  assert.deepEqual(limitsInside('upd'), expected);
  const inspect = () => d.ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpusetCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.MemoryReservation}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', 'upd']).trim();
  const want = `${80 * MiB} 500000000 40 0 512 ${20 * MiB} on-failure:3`;
  assert.equal(inspect(), want);

  // kill -9 of berthd: the container runs on with its limits, and the record has them.
  const pid = d.ok(['inspect', '-f', '{{.State.Pid}}', 'upd']).trim();
  await d.kill();
  await d.start();
  assert.equal(d.ok(['inspect', '-f', '{{.State.Pid}}', 'upd']).trim(), pid, 'adopted, not restarted');
  assert.equal(inspect(), want);
  assert.deepEqual(limitsInside('upd'), expected);

  // A restart builds the container again from the record.
  d.ok(['restart', '-t', '0', 'upd']);
  assert.notEqual(d.ok(['inspect', '-f', '{{.State.Pid}}', 'upd']).trim(), pid);
  assert.deepEqual(limitsInside('upd'), expected);

  // pids back to unlimited, live.
  d.ok(['update', '--pids-limit', '-1', 'upd']);
  assert.equal(limitsInside('upd')[4], 'max');
  assert.equal(d.ok(['inspect', '-f', '{{.HostConfig.PidsLimit}}', 'upd']).trim(), '<nil>');
  d.ok(['rm', '-f', 'upd']);
});

test('docker update of a stopped container takes effect at its next start', () => {
  d.ok(['create', '--name', 'cold', 'busybox', 'sleep', '1000']);
  d.ok(['update', '--memory', '64m', '--memory-swap', '128m', '--cpu-quota', '30000', 'cold']);
  d.ok(['start', 'cold']);
  const [mem, , quota] = limitsInside('cold');
  assert.equal(mem, String(64 * MiB));
  assert.equal(quota, '30000');
  assert.equal(d.ok(['exec', 'cold', 'cat', '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes']).trim(), String(128 * MiB));
  d.ok(['rm', '-f', 'cold']);
});

test('docker update racing the container\'s exit: every update is answered 200 and the last one is kept for the next start', async () => {
  // Updates sent while the process ends: runc saw it gone before berthd had its exit (a 500).
  const names = ['race-1', 'race-2', 'race-3'];
  for (const n of names) d.ok(['run', '-d', '--name', n, 'busybox', 'sleep', '1']);
  const statuses = new Map<number, number>();
  const hammer = async (n: string) => {
    for (let i = 0; ; i++) {
      const r = await d.api('POST', `/containers/${n}/update`, { CpuShares: 600 + (i % 2) });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.equal(r.status, 200, `${n}: ${r.status} ${r.text}`);
      if (!((await d.api('GET', `/containers/${n}/json`)).json() as { State: { Running: boolean } }).State.Running) break;
    }
    const last = await d.api('POST', `/containers/${n}/update`, { CpuShares: 700 });
    assert.equal(last.status, 200, last.text);
  };
  await Promise.all(names.flatMap((n) => [hammer(n), hammer(n)]));
  assert.ok((statuses.get(200) ?? 0) > 10, `updates sent while running: ${JSON.stringify([...statuses])}`);
  for (const n of names) {
    d.ok(['start', n]);
    assert.equal(d.ok(['exec', n, 'cat', '/sys/fs/cgroup/cpu/cpu.shares']).trim(), '700');
  }
  d.ok(['rm', '-f', ...names]);
});

test('docker update refuses what Docker refuses, and warns that blkio weight is discarded here', () => {
  d.ok(['run', '-d', '--name', 'bad', '-m', '50m', '--cpus', '0.5', 'busybox', 'sleep', '1000']);
  const id = d.ok(['inspect', '-f', '{{.Id}}', 'bad']).trim();
  const err = (args: string[]) => d.fails(['update', ...args, 'bad']).trim();
  assert.equal(err(['-m', '100m', '--memory-swap', '60m']), 'Error response from daemon: Minimum memoryswap limit should be larger than memory limit, see usage');
  assert.equal(err(['-m', '4m']), 'Error response from daemon: Minimum memory limit allowed is 6MB');
  assert.equal(err(['--cpu-shares', '-1']), 'Error response from daemon: shares: invalid argument');
  assert.equal(err(['-m', '200m']), `Error response from daemon: Cannot update container ${id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`);
  assert.equal(err(['--cpu-period', '50000']), `Error response from daemon: Cannot update container ${id}: Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set`);
  assert.equal(err(['--cpus', '3']), 'Error response from daemon: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  assert.equal(err(['--cpuset-cpus', '7']), 'Error response from daemon: Requested CPUs are not available - requested 7, available: 0-1');
  assert.equal(err(['--cpuset-cpus', 'x']), 'Error response from daemon: Invalid value x for cpuset cpus');
  assert.equal(err(['--restart', 'sometimes']), "Error response from daemon: invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
  // Nothing of the refused updates landed.
  assert.equal(d.ok(['inspect', '-f', '{{.HostConfig.Memory}}', 'bad']).trim(), String(50 * MiB));
  assert.equal(limitsInside('bad')[0], String(50 * MiB));

  const r = d.docker(['update', '--blkio-weight', '300', 'bad']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'bad\nYour kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.\n');
  assert.equal(d.ok(['inspect', '-f', '{{.HostConfig.BlkioWeight}}', 'bad']).trim(), '0');
  // At create the same: a warning, the weight dropped, the container made.
  const created = d.docker(['create', '--name', 'weighted', '--blkio-weight', '300', 'busybox', 'true']);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stderr, /^WARNING: Your kernel does not support Block I\/O weight or the cgroup is not mounted\. Weight discarded\.$/m);
  d.ok(['rm', 'weighted']);

  d.ok(['run', '-d', '--rm', '--name', 'auto', 'busybox', 'sleep', '1000']);
  const autoId = d.ok(['inspect', '-f', '{{.Id}}', 'auto']).trim();
  assert.equal(d.fails(['update', '--restart', 'always', 'auto']).trim(), `Error response from daemon: Cannot update container ${autoId}: Restart policy cannot be updated because AutoRemove is enabled for the container`);
  assert.match(d.fails(['update', '-m', '64m', 'nosuch']), /No such container: nosuch/);
  d.ok(['rm', '-f', 'bad', 'auto']);
});

test('docker update --restart: the new policy decides what happens at the next exit', async () => {
  // Exits with 3 once /go exists (it stays in its layer: the restarted one exits at once too).
  d.ok(['run', '-d', '--name', 'pol', 'busybox', 'sh', '-c', 'while [ ! -f /go ]; do sleep 0.1; done; exit 3']);
  d.ok(['update', '--restart', 'on-failure:1', 'pol']);
  d.ok(['exec', 'pol', 'touch', '/go']);
  const settled = () => d.ok(['inspect', '-f', '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}', 'pol']).trim();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && settled() !== 'exited 1 3') await new Promise((r) => setTimeout(r, 200));
  assert.equal(settled(), 'exited 1 3', 'restarted once by on-failure:1, then left exited');
  d.ok(['rm', '-f', 'pol']);
});

test('log drivers: local and none work, Docker\'s others are refused by name, options checked per driver', () => {
  d.ok(['run', '-d', '--name', 'loc', '--log-driver', 'local', 'busybox', 'sh', '-c', 'echo from-local; sleep 1000']);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !d.docker(['logs', 'loc']).stdout.includes('from-local')) d.docker(['version', '-f', '{{.Server.Version}}']);
  assert.equal(d.ok(['logs', 'loc']), 'from-local\n');
  assert.equal(d.ok(['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'loc']).trim(), 'local');

  // none: no file at all, `docker logs` says so; an attached run still shows the output.
  assert.equal(d.ok(['run', '--rm', '--log-driver', 'none', 'busybox', 'echo', 'attached']), 'attached\n');
  d.ok(['run', '-d', '--name', 'quiet', '--log-driver', 'none', 'busybox', 'sh', '-c', 'echo lost; sleep 1000']);
  assert.equal(d.ok(['inspect', '-f', '{{.LogPath}}', 'quiet']).trim(), '');
  assert.equal(d.fails(['logs', 'quiet']).trim(), 'Error response from daemon: configured logging driver does not support reading');

  const refused = (args: string[]) => d.fails(['run', '--rm', ...args, 'busybox', 'true']).split('\n')[0];
  assert.equal(refused(['--log-driver', 'journald']), 'docker: Error response from daemon: the journald log driver is not supported by berth: use json-file, local or none');
  assert.equal(refused(['--log-driver', 'syslog']), 'docker: Error response from daemon: the syslog log driver is not supported by berth: use json-file, local or none');
  assert.equal(refused(['--log-driver', 'nosuch']), "docker: Error response from daemon: logger: no log driver named 'nosuch' is registered");
  assert.equal(refused(['--log-driver', 'local', '--log-opt', 'labels-regex=x', '--log-opt', 'color=red']), "docker: Error response from daemon: unknown log opt 'color' for log driver local");
  assert.equal(refused(['--log-driver', 'json-file', '--log-opt', 'color=red']), "docker: Error response from daemon: unknown log opt 'color' for json-file log driver");
  assert.equal(refused(['--log-driver', 'local', '--log-opt', 'max-file=1']), 'docker: Error response from daemon: compression cannot be enabled when max file count is 1');
  assert.equal(refused(['--log-driver', 'local', '--log-opt', 'max-size=big']), "docker: Error response from daemon: invalid value for max-size: big: invalid size: 'big'");
  d.ok(['rm', '-f', 'loc', 'quiet']);
});
