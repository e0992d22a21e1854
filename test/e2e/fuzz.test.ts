// Bad input against a running daemon: a bounded run of the HTTP fuzzer over every route (the
// long one is `npm run fuzz`), then requests whose answer Docker defines. The daemon runs in a
// read-only mount namespace (only its own tree writable) and a network namespace of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { fuzz, escapesInLog, serverErrorsInLog, apiRoutes } from '../harness/fuzz.js';
import { seedFrom } from '../harness/random.js';

let d: TestDaemon;
before(async () => {
  // swarm: a fuzzed swarm init makes it a manager; cleanup then leaves the swarm and its etcd member.
  d = await startDaemon({ readOnlyHost: true, ownNetns: true, swarm: true });
});
after(async () => {
  const { leftovers } = await d.cleanup();
  assert.deepEqual(leftovers, []);
});

test('about 100 fuzzed requests per route: no 5xx, no crash, no write outside the daemon\'s tree, and docker version still answers', async () => {
  const seed = seedFrom([], 'FUZZ_SEED');
  // Printed first, so that a failure (or a hang) reproduces with FUZZ_SEED=<seed>.
  console.log(`fuzz seed ${seed} (reproduce: FUZZ_SEED=${seed} node scripts/run-tests.mjs e2e --file fuzz)`);
  const report = await fuzz(d, { seed, perRoute: 100, deadlineMs: 1000 });
  console.log(`fuzz: ${report.requests} requests over ${report.routes} routes in ${(report.ms / 1000).toFixed(0)} s, by status ${JSON.stringify(report.byStatus)}`);
  assert.equal(report.routes, apiRoutes().length);
  assert.ok(report.routes >= 50, `every route is fuzzed (${report.routes})`);
  // A crash's stack is in the daemon's log, which cleanup removes: the message keeps its end.
  assert.equal(report.crashed, false, `berthd stopped answering (seed ${seed}); its log ends with:\n${d.log().split('\n').slice(-12).join('\n')}`);
  assert.deepEqual(report.failures, [], `5xx for bad input (seed ${seed})`);
  assert.deepEqual(serverErrorsInLog(d).slice(0, 5), [], `errors the daemon logged (seed ${seed})`);
  assert.deepEqual(escapesInLog(d), [], `writes outside the daemon's tree (seed ${seed})`);
  // Most answers are refusals, and each kind of answer shows up: the fuzzer reaches the handlers.
  assert.ok((report.byStatus['400'] ?? 0) > report.requests / 5, 'many 400s');
  for (const s of ['200', '404', '405']) assert.ok((report.byStatus[s] ?? 0) > 0, `some ${s}s`);
  const v = d.docker(['version', '--format', '{{.Server.Version}}']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
});

test('bad query parameters and body fields get Docker\'s 400 and its message', async () => {
  d.ok(['create', '--name', 'bad-input', 'busybox', 'true']);
  d.ok(['run', '-d', '--name', 'bad-input-r', 'busybox', 'sleep', '600']);
  const cases: [string, string, unknown, RegExp][] = [
    ['POST', '/containers/bad-input/stop?t=abc', undefined, /^invalid value for t: abc$/],
    ['POST', '/containers/bad-input/stop?t=99999999999999999999', undefined, /value out of range/],
    ['POST', '/containers/bad-input/resize?h=-1&w=80', undefined, /invalid value for h: -1: value out of range/],
    ['POST', '/containers/bad-input/kill?signal=SIGFOO', undefined, /^Invalid signal: SIGFOO$/],
    ['POST', '/containers/bad-input/wait?condition=bogus', undefined, /^invalid condition: "bogus"$/],
    ['GET', '/containers/bad-input/logs?stdout=1&tail=abc', undefined, /invalid value for "tail": "abc"/],
    ['GET', '/containers/json?filters=%7B%22status%22%3A%5B%22bogus%22%5D%7D', undefined, /^invalid filter 'status=bogus'$/],
    ['GET', '/containers/json?filters=nojson', undefined, /^invalid filter: nojson$/],
    ['GET', '/containers/json?limit=ten', undefined, /^invalid value for limit: ten$/],
    ['POST', '/containers/bad-input/rename?name=a%2Fb', undefined, /^Invalid container name \(a\/b\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed$/],
    ['POST', '/containers/create?name=-x', { Image: 'busybox' }, /^Invalid container name \(-x\)/],
    ['POST', '/containers/create', { Image: 'busybox', HostConfig: { Memory: -5 } }, /^Minimum memory limit allowed is 6MB$/],
    ['POST', '/containers/create', { Image: 'busybox', HostConfig: { Memory: 'lots' } }, /^json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64$/],
    ['POST', '/containers/create', { Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, /^invalid restart policy: unknown policy 'sometimes'/],
    ['POST', '/containers/create', { Image: 'busybox', HostConfig: { Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] } }, /^invalid ulimit type: bogus$/],
    ['POST', '/containers/create', { Image: 'busybox', Healthcheck: { Test: ['CMD', 'true'], Interval: -1 } }, /^Interval in Healthcheck cannot be less than 1ms$/],
    ['POST', '/containers/create', { Image: 'busybox', Tty: 'yes' }, /^json: cannot unmarshal string into Go struct field Config.Tty of type bool$/],
    ['POST', '/containers/create', '{"Image":', /^invalid JSON/],
    ['POST', '/volumes/create', { Name: 'a/b' }, /includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed/],
    ['POST', '/volumes/create', { Name: 7 }, /^json: cannot unmarshal number into Go struct field CreateOptions.Name of type string$/],
    ['GET', '/containers/%zz/json', undefined, /^invalid URL escape in path/],
    // Found by the long fuzz run: each was a 500.
    ['POST', '/containers/create', `{"Image":"busybox","Labels":${'['.repeat(20000)}${']'.repeat(20000)}}`, /^invalid JSON: nested deeper than 512 levels$/],
    ['POST', '/containers/bad-input/update', '{"MemorySwap":-9223372036854776000}', /^json: cannot unmarshal number into Go struct field UpdateConfig.MemorySwap of type int64$/],
    ['POST', '/volumes/create', { Name: 'v'.repeat(300) }, /volume name is too long$/],
    ['POST', '/containers/bad-input-r/update', { PidsLimit: 2147483648 }, /^Cannot update container [0-9a-f]{64}: runc update failed: .*pids\.max: invalid argument/],
    // A NUL byte reached Node's fs and spawn, which throw on one (500s, some naming host paths).
    ['POST', '/containers/create', { Image: 'busybox', HostConfig: { Mounts: [{ Type: 'bind', Source: '/tm\u0000p', Target: '/x' }] } }, /^invalid value in HostConfig\.Mounts\[0\]\.Source: a NUL byte$/],
    ['POST', '/containers/create', { Image: 'busybox', Volumes: { '/a\u0000b': {} } }, /^invalid key in Volumes: a NUL byte$/],
    ['POST', '/containers/create', { Image: 'busybox', WorkingDir: '/a\u0000b' }, /^invalid value in WorkingDir: a NUL byte$/],
    ['PUT', '/containers/bad-input/archive?path=%2Fa%00b', undefined, /^invalid value for path: a NUL byte$/],
    ['GET', '/containers/bad-input/logs?stdout=1&since=%00', undefined, /^invalid value for since: a NUL byte$/],
    ['POST', '/containers/bad-input-r/update', { CpuShares: 2147483648 }, /^Cannot update container [0-9a-f]{64}: runc update failed: the maximum allowed cpu-shares is 262144$/],
    ['POST', '/containers/bad-input-r/update', { CpuShares: 1 }, /^Cannot update container [0-9a-f]{64}: runc update failed: the minimum allowed cpu-shares is 2$/],
  ];
  for (const [method, path, body, message] of cases) {
    const r = await d.api(method, path, body, typeof body === 'string' ? { 'Content-Type': 'application/json' } : {});
    assert.equal(r.status, 400, `${method} ${path}: ${r.status} ${r.text}`);
    assert.match((r.json() as { message: string }).message, message, `${method} ${path}`);
  }
  d.ok(['rm', '-f', 'bad-input', 'bad-input-r']);
  assert.equal(d.docker(['version']).code, 0);
});

test('swarm init sent four times at once (as the fuzzer did): one succeeds, one etcd member runs, and leave stops it', async () => {
  await d.api('POST', '/swarm/leave?force=1');
  const inits = await Promise.all([1, 2, 3, 4].map(() => d.api('POST', '/swarm/init', {})));
  assert.deepEqual(inits.map((r) => r.status).sort(), [200, 503, 503, 503]);
  assert.equal(d.etcdMembers().length, 1);
  const left = await d.api('POST', '/swarm/leave?force=1');
  assert.equal(left.status, 200, left.text);
  assert.deepEqual(d.etcdMembers(), []);
});
