// An HTTP fuzzer over every route of the API: malformed and truncated JSON, wrong types and
// out-of-range values in known fields, huge bodies, bad API versions, odd methods, odd path
// parameters and query values, hijack requests, tars that try to write outside their target.
// Bad input must get a 4xx (Docker's error JSON), never a 5xx, never a crash. The daemon under
// fuzz runs with `readOnlyHost` (test/helpers/daemon.ts): a write outside its own tree fails
// with EROFS, which shows as a 5xx or in its log, so an escape fails loudly.
//
//   node dist/test/harness/fuzz.js [--per-route N] [--seed S] [--concurrency C]   (npm run fuzz)
// A bounded run is part of `npm test` (test/e2e/fuzz.test.ts).
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { pack } from 'tar-stream';
import type { Backend } from '../../src/api/backend.js';
import { apiRoutes as routeTable } from '../../src/api/routes/index.js';
import { rng, seedFrom, numberArg, type Rng } from './random.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { onInterrupt } from './interrupt.js';

export type RouteSpec = { method: string; path: string };

/** Every route the daemon serves, read from the route tables themselves (none is forgotten). */
export function apiRoutes(): RouteSpec[] {
  // Building a table only captures the backend in closures; no handler runs here.
  // Some tables pick parts of the backend (b.swarm.secrets) as they are built: any depth answers.
  const anything: object = new Proxy(() => undefined, { get: () => anything });
  const b = anything as unknown as Backend;
  return routeTable(b, () => 'overlay2').map((r) => ({ method: r.method, path: r.path }));
}

export type FuzzRequest = { route: RouteSpec; method: string; path: string; headers: Record<string, string>; body?: Buffer; truncate?: number };
export type FuzzOutcome = { status: number | 'hung' | 'closed'; body: string };
export type FuzzFailure = { request: string; status: number | 'hung' | 'closed'; body: string };
export type FuzzReport = {
  seed: number;
  requests: number;
  routes: number;
  byStatus: Record<string, number>;
  failures: FuzzFailure[];
  /** Requests still without a status line at the deadline, by route (streams that wait). */
  hung: Record<string, number>;
  crashed: boolean;
  ms: number;
};

// Objects the path parameters point at now and then, made before the run and made again when
// a fuzzed request removed them.
const FIXTURE = { container: 'fz-c', running: 'fz-r', volume: 'fz-v', network: 'fz-n', image: 'busybox' };

const QUERY_NAMES = [
  'all', 'author', 'changes', 'comment', 'condition', 'container', 'detachKeys', 'filters', 'follow', 'force',
  'fromImage', 'fromSrc', 'h', 'id', 'limit', 'logs', 'message', 'name', 'names', 'one-shot', 'pause', 'platform',
  'ps_args', 'quiet', 'repo', 'signal', 'since', 'stderr', 'stdin', 'stdout', 'stream', 't', 'tag', 'tail',
  'timestamps', 'type', 'until', 'v', 'w', 'size', 'digests', 'dangling', 'noprune', 'path', 'noOverwriteDirNonDir', 'copyUIDGID', 'x-unknown',
];

const ODD_STRINGS = [
  '', ' ', 'a', '0', '-1', '1', '2147483648', '-2147483649', '99999999999999999999999', '1e3', '0x10', '1.5', 'NaN',
  'true', 'false', 'null', 'none', '{', '}', '[]', '{"a":1}', '{"status":["running"]}', '{"label":{"a":true}}',
  '{"dangling":["maybe"]}', '{"until":["x"]}', '{"status":"running"}', '{"name":[1,{}]}', 'SIGKILL', 'SIGFOO', '99',
  '-9', 'ctrl-', 'ctrl-@,ctrl-[', '/', '/tmp', '/etc/hostname', '/proc/self', '/../../..', 'linux/arm64', 'windows', 'not-running', 'next-exit', 'removed', 'all', '%', '%zz',
  '%00', '../../etc/passwd', '/etc/passwd', 'a:b:c', 'busybox', 'busybox:latest', 'sha256:', 'UPPER', 'ünïcødé', '☃',
  '\u0000', 'x'.repeat(300), 'y'.repeat(70000), FIXTURE.container, FIXTURE.running, FIXTURE.volume, FIXTURE.network,
];

const PATH_VALUES = [
  FIXTURE.container, FIXTURE.running, FIXTURE.volume, FIXTURE.network, FIXTURE.image, 'busybox:latest', 'fz-missing',
  '', ' ', '.', '..', '...', '%2e%2e', '%2F', '%', '%zz', '%E0%A4%A', '%00', '%C0%AF', 'a%2Fb', 'ünï', '-', '_x', 'x'.repeat(5000),
  '0', 'sha256:0000', 'localhost:5000/a/b:c', 'UPPER', 'a..b', 'a/../../b', '127.0.0.1:1/x',
];

const WRONG_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, -0.5, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, '', 'x', '-1', 'true', '{}', 'y'.repeat(10000),
  [], [1], [null], ['a', 2], {}, { a: {} }, { '': '' }, '\u0000', '../../x', '/etc', 'busybox', [[[]]],
];

// Bodies close to valid ones, so that mutations reach deep into the parsers.
const TEMPLATES: Record<string, unknown> = {
  '/containers/create': {
    Image: 'busybox', Cmd: ['sleep', '30'], Env: ['A=b'], Labels: { a: 'b' }, WorkingDir: '/', User: '', Tty: false,
    OpenStdin: false, StopSignal: 'SIGTERM', StopTimeout: 1, ExposedPorts: { '80/tcp': {} }, Healthcheck: { Test: ['NONE'] },
    HostConfig: {
      Memory: 0, CpuShares: 0, NanoCpus: 0, PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] }, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: false, Mounts: [{ Type: 'volume', Source: 'fz-vm', Target: '/data' }], Tmpfs: { '/t': 'size=1m' }, CapAdd: [], CapDrop: [],
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }], LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } }, ShmSize: 0,
      PidsLimit: 0, Sysctls: {}, SecurityOpt: [], ExtraHosts: ['h:1.2.3.4'], Dns: [], NetworkMode: 'bridge',
    },
    NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['x'] } } },
  },
  '/containers/{id}/exec': { Cmd: ['true'], AttachStdout: true, AttachStderr: true, Tty: false, Env: ['A=b'], User: '', WorkingDir: '/', DetachKeys: 'ctrl-p,ctrl-q', ConsoleSize: [24, 80] },
  '/exec/{id}/start': { Detach: true, Tty: false, ConsoleSize: [24, 80] },
  '/networks/create': { Name: 'fz-n2', Driver: 'bridge', Internal: false, Attachable: true, Labels: { a: 'b' }, Options: {}, IPAM: { Driver: 'default', Config: [{ Subnet: '10.99.0.0/24', Gateway: '10.99.0.1' }] } },
  '/networks/{id}/connect': { Container: FIXTURE.container, EndpointConfig: { Aliases: ['al'], IPAMConfig: { IPv4Address: '' } } },
  '/networks/{id}/disconnect': { Container: FIXTURE.container, Force: false },
  '/volumes/create': { Name: 'fz-v2', Driver: 'local', Labels: { a: 'b' }, DriverOpts: {} },
  '/commit': { Cmd: ['sh'], Env: ['A=b'], Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} } },
  '/auth': { username: 'u', password: 'p', serveraddress: '127.0.0.1:1' },
  '/containers/{id}/update': { Memory: 0, MemorySwap: 0, CpuShares: 512, NanoCpus: 0, PidsLimit: 0, BlkioWeight: 0, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } },
};

/** Tars that try to leave their target: `..`, absolute names, links out, then writes through them. */
async function evilTars(): Promise<Buffer[]> {
  const make = async (entries: { name: string; type?: 'file' | 'symlink' | 'link' | 'directory'; linkname?: string; body?: string }[]) => {
    const p = pack();
    const chunks: Buffer[] = [];
    p.on('data', (c: unknown) => chunks.push(c as Buffer));
    const done = new Promise<void>((r) => p.on('end', () => r()));
    for (const e of entries) {
      const { body, ...header } = e;
      p.entry({ ...header, mode: 0o644 }, body ?? '');
    }
    p.finalize();
    await done;
    return Buffer.concat(chunks);
  };
  return [
    await make([{ name: '../../../../fuzz-escape', body: 'x' }]),
    await make([{ name: '/fuzz-escape-abs', body: 'x' }]),
    await make([{ name: 'out', type: 'symlink', linkname: '/' }, { name: 'out/fuzz-escape-link', body: 'x' }]),
    await make([{ name: 'up', type: 'symlink', linkname: '../../../../../../' }, { name: 'up/fuzz-escape-up', body: 'x' }]),
    await make([{ name: 'hard', type: 'link', linkname: '/etc/passwd' }]),
    await make([{ name: 'd', type: 'directory' }, { name: 'd/../../fuzz-escape-dir', body: 'x' }]),
    await make([{ name: 'manifest.json', body: '[{"Config":"../../../etc/passwd","RepoTags":["x:y"],"Layers":["../../x"]}]' }]),
  ];
}

/** A value of a JSON tree at a random place replaced, removed, or a field added. */
function mutate(r: Rng, v: unknown, depth = 0): unknown {
  if (depth > 0 && r.chance(0.3)) return r.pick(WRONG_VALUES);
  if (Array.isArray(v)) {
    if (v.length === 0 || r.chance(0.2)) return [...v, r.pick(WRONG_VALUES)];
    const i = r.int(v.length);
    return v.map((x, j) => (j === i ? mutate(r, x, depth + 1) : x));
  }
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    const o = { ...(v as Record<string, unknown>) };
    if (keys.length === 0 || r.chance(0.1)) o[r.pick(['Unknown', 'a', '', 'Image', 'HostConfig', 'Name'])] = r.pick(WRONG_VALUES);
    else {
      const k = r.pick(keys);
      if (r.chance(0.1)) delete o[k];
      else o[k] = mutate(r, o[k], depth + 1);
    }
    return o;
  }
  return r.pick(WRONG_VALUES);
}

function fillPath(r: Rng, path: string): string {
  return path.replace(/\{(\w+)(:\*)?\}/g, (_m, key: string) => {
    let v: string;
    if (r.chance(0.5)) v = key === 'name' && path.startsWith('/volumes') ? FIXTURE.volume : key === 'name' ? FIXTURE.image : path.startsWith('/networks') ? FIXTURE.network : r.chance(0.5) ? FIXTURE.running : FIXTURE.container;
    else v = r.pick(PATH_VALUES);
    // Most values are sent as a client would encode them; some raw, to reach the decoder.
    return r.chance(0.8) ? encodeURIComponent(v).replace(/%25/g, r.chance(0.5) ? '%' : '%25') : v;
  });
}

function query(r: Rng): string {
  const n = r.pick([0, 0, 1, 1, 2, 3, 5]);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = r.pick(ODD_STRINGS);
    parts.push(`${r.pick(QUERY_NAMES)}=${r.chance(0.85) ? encodeURIComponent(v) : v.replace(/[\s#]/g, '')}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

function version(r: Rng): string {
  return r.chance(0.7) ? '' : r.pick(['/v1.47', '/v1.24', '/v1.12', '/v1.99', '/v2.0', '/v0', '/vabc', '/v1.47.1', '/v-1', '/v', '/v1.', '/v1.4x']);
}

/** The request number `i` of a run: everything about it comes from the generator. */
export function generate(r: Rng, route: RouteSpec, tars: Buffer[]): FuzzRequest {
  const method = r.chance(0.88) ? route.method : r.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'FOO']);
  const path = `${version(r)}${fillPath(r, route.path)}${query(r)}`;
  const headers: Record<string, string> = { Host: 'berth', Connection: 'close' };
  const template = TEMPLATES[route.path] ?? {};
  let body: Buffer | undefined;
  let truncate: number | undefined;
  const mode = r.int(100);
  if (mode < 15) body = undefined;
  else if (mode < 50) body = Buffer.from(JSON.stringify(mutate(r, template)));
  else if (mode < 56) body = Buffer.from(JSON.stringify(template));
  else if (mode < 64) body = Buffer.from(JSON.stringify(r.pick(WRONG_VALUES)));
  else if (mode < 74) {
    const text = JSON.stringify(template);
    body = Buffer.from(text.slice(0, r.int(text.length + 1)) + r.pick(['', '}', ',', '"', '\\', '\u0000', 'garbage']));
  } else if (mode < 78) {
    // Nesting deep enough to overflow a recursive walk: cut short, or whole (valid JSON).
    const n = 20_000 + r.int(100_000);
    const field = r.pick(['Labels', 'Cmd', 'HostConfig', 'Env', 'Name', 'Container', 'EndpointConfig', 'IPAM']);
    body = Buffer.from(r.chance(0.5) ? r.pick(['[', '{"a":']).repeat(n) : `{"Image":"busybox","${field}":${'['.repeat(n)}${']'.repeat(n)}}`);
  } else if (mode < 84) body = r.pick(tars);
  else if (mode < 89) {
    body = Buffer.from(JSON.stringify(template));
    truncate = r.int(body.length);
  } else if (mode < 93) body = Buffer.from(Array.from({ length: r.int(4096) }, () => r.int(256)));
  else body = Buffer.from(JSON.stringify(mutate(r, mutate(r, template))));
  if (body !== undefined) {
    headers['Content-Type'] = r.chance(0.9) ? 'application/json' : r.pick(['text/plain', 'application/x-tar', 'application/json; charset=utf-8', '', 'a/b/c']);
    headers['Content-Length'] = String(body.length);
  }
  const odd = r.int(100);
  if (odd < 3) headers['Content-Length'] = r.pick(['abc', '-1', '99999999999999', '1, 2']);
  else if (odd < 5) {
    delete headers['Content-Length'];
    headers['Transfer-Encoding'] = 'chunked';
    if (body) body = Buffer.concat([Buffer.from(`${r.pick([body.length.toString(16), 'zz', 'ffffffffff'])}\r\n`), body, Buffer.from(r.pick(['\r\n0\r\n\r\n', '\r\n', '']))]);
  } else if (odd < 9 && /attach|exec\/\{id\}\/start/.test(route.path)) {
    headers['Upgrade'] = 'tcp';
    headers['Connection'] = 'Upgrade';
  } else if (odd < 10) headers['X-Registry-Auth'] = r.pick(['!!!', 'e30=', 'x'.repeat(20000), 'eyJ1c2VybmFtZSI6MX0=']);
  else if (odd < 11) headers['X-Long'] = 'x'.repeat(70_000);
  return { route, method, path, headers, ...(body !== undefined ? { body } : {}), ...(truncate !== undefined ? { truncate } : {}) };
}

/** A one-line account of a request, enough to send it again by hand. */
export function describe(q: FuzzRequest): string {
  const h = Object.entries(q.headers).filter(([k]) => !['Host', 'Connection'].includes(k)).map(([k, v]) => `${k}: ${v.length > 60 ? `${v.slice(0, 60)}…(${v.length})` : v}`);
  const b = q.body === undefined ? '' : ` body(${q.body.length}${q.truncate !== undefined ? `, cut at ${q.truncate}` : ''}) ${JSON.stringify(q.body.subarray(0, 200).toString('latin1'))}`;
  const p = q.path.length > 200 ? `${q.path.slice(0, 200)}…(${q.path.length})` : q.path;
  return `${q.method} ${p} [${h.join('; ')}]${b}`;
}

/** Raw bytes on the socket (the client library would refuse to send most of these). */
export function send(sock: string, q: FuzzRequest, deadlineMs: number): Promise<FuzzOutcome> {
  return new Promise((resolve) => {
    const s = connect(sock);
    let got = Buffer.alloc(0);
    let settled = false;
    const finish = (status: FuzzOutcome['status']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ status, body: got.toString('utf8').split('\r\n\r\n').slice(1).join('\r\n\r\n').slice(0, 500) });
    };
    const statusOf = () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got.subarray(0, 20).toString('latin1'));
      return m ? Number(m[1]) : undefined;
    };
    const timer = setTimeout(() => finish(statusOf() ?? 'hung'), deadlineMs);
    s.on('connect', () => {
      const head = `${q.method} ${q.path} HTTP/1.1\r\n${Object.entries(q.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
      s.write(head, 'latin1');
      if (q.body) s.write(q.truncate !== undefined ? q.body.subarray(0, q.truncate) : q.body);
      // A cut-short body: the client goes away half-way, as a killed client does.
      if (q.truncate !== undefined) s.end();
    });
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      // A streaming answer's status is all we judge; it may never end by itself.
      const st = statusOf();
      // A 5xx is read on (up to its end or the deadline) for its message.
      if (st !== undefined && got.includes('\r\n\r\n') && st < 500) finish(st);
    });
    s.on('error', () => finish(statusOf() ?? 'closed'));
    s.on('close', () => finish(statusOf() ?? 'closed'));
  });
}

async function ensureFixtures(d: TestDaemon): Promise<void> {
  const has = async (path: string) => (await d.api('GET', path)).status === 200;
  if (!(await has(`/containers/${FIXTURE.container}/json`))) await d.api('POST', `/containers/create?name=${FIXTURE.container}`, { Image: 'busybox', Cmd: ['sleep', '600'] });
  if (!(await has(`/containers/${FIXTURE.running}/json`))) await d.api('POST', `/containers/create?name=${FIXTURE.running}`, { Image: 'busybox', Cmd: ['sleep', '600'] });
  const r = await d.api('GET', `/containers/${FIXTURE.running}/json`);
  if (r.status === 200 && !(r.json() as { State: { Running: boolean } }).State.Running) await d.api('POST', `/containers/${FIXTURE.running}/start`);
  if (!(await has(`/volumes/${FIXTURE.volume}`))) await d.api('POST', '/volumes/create', { Name: FIXTURE.volume });
  if (!(await has(`/networks/${FIXTURE.network}`))) await d.api('POST', '/networks/create', { Name: FIXTURE.network });
  if (!(await has(`/images/${FIXTURE.image}/json`))) {
    d.docker(['import', '-c', 'CMD ["sh"]', (await import('../helpers/paths.js')).busyboxTarball(), 'busybox:latest']);
  }
}

/**
 * A 500 is a failure: the daemon did not know what to do with the input. 503 and 501 are the
 * daemon's state, answered as Docker answers it whatever the input: a registry it cannot
 * reach, not (or already) a swarm manager, joining a swarm (not built yet).
 */
function failed(_q: FuzzRequest, o: FuzzOutcome): boolean {
  return typeof o.status === 'number' && o.status >= 500 && o.status !== 501 && o.status !== 503;
}

export async function fuzz(d: TestDaemon, o: { seed: number; perRoute: number; concurrency?: number; deadlineMs?: number; log?: (s: string) => void }): Promise<FuzzReport> {
  const log = o.log ?? ((s: string) => console.log(s));
  const r = rng(o.seed);
  const routes = apiRoutes();
  const tars = await evilTars();
  const started = Date.now();
  const report: FuzzReport = { seed: o.seed, requests: 0, routes: routes.length, byStatus: {}, failures: [], hung: {}, crashed: false, ms: 0 };
  log(`fuzz: seed ${o.seed}, ${routes.length} routes, ${o.perRoute} requests each (reproduce with --seed ${o.seed})`);
  for (const route of routes) {
    await ensureFixtures(d);
    const batch: FuzzRequest[] = Array.from({ length: o.perRoute }, () => generate(r, route, tars));
    // One huge body per route with a body: the size limit, not memory, must answer it.
    if (route.method === 'POST') batch.push({ route, method: 'POST', path: route.path.replace(/\{\w+(:\*)?\}/g, FIXTURE.container), headers: { Host: 'berth', Connection: 'close', 'Content-Type': 'application/json', 'Content-Length': String(17 * 1024 * 1024) }, body: Buffer.alloc(17 * 1024 * 1024, 0x20) });
    const queue = [...batch];
    const worker = async () => {
      for (let q = queue.shift(); q !== undefined; q = queue.shift()) {
        const out = await send(d.sock, q, o.deadlineMs ?? 2000);
        report.requests++;
        report.byStatus[String(out.status)] = (report.byStatus[String(out.status)] ?? 0) + 1;
        if (out.status === 'hung') report.hung[`${route.method} ${route.path}`] = (report.hung[`${route.method} ${route.path}`] ?? 0) + 1;
        if (failed(q, out)) {
          report.failures.push({ request: describe(q), status: out.status, body: out.body });
          log(`fuzz: ${out.status} for ${describe(q)}: ${out.body.slice(0, 300)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency ?? 12 }, worker));
    if (!(await answers(d))) {
      report.crashed = true;
      log(`fuzz: berthd stopped answering after the requests to ${route.method} ${route.path} (seed ${o.seed})`);
      break;
    }
  }
  report.ms = Date.now() - started;
  return report;
}

/**
 * Whether berthd is up: its process alive and a ping answered within about 15 s. One ping of
 * 2 s is not enough on a loaded 2-core machine (a false "crash" was seen in a full run).
 */
async function answers(d: TestDaemon): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const p = d.proc;
    if (p && (p.exitCode !== null || p.signalCode !== null)) return false;
    if (await d.ping()) return true;
    if (Date.now() > deadline) return false;
  }
}

/**
 * 5xx the daemon logged (`request failed`, with the stack): also those of requests whose
 * client had gone (a cut-short body) and so never saw the answer.
 */
export function serverErrorsInLog(d: TestDaemon): string[] {
  return readFileSync(d.logFile, 'utf8').split('\n').filter((l) => l.includes('"level":50'));
}

/** Lines of the daemon's log that show a write outside its tree refused. */
export function escapesInLog(d: TestDaemon): string[] {
  return readFileSync(d.logFile, 'utf8').split('\n').filter((l) => /EROFS|read-only file system/i.test(l));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const seed = seedFrom(argv, 'FUZZ_SEED');
  // No test lock: the fuzzed daemon changes nothing of the host's network (a netns of its own)
  // and cannot write outside its tree (a read-only mount namespace).
  const d = await startDaemon({ readOnlyHost: true, ownNetns: true, swarm: true });
  onInterrupt(async () => {
    await d.cleanup();
  });
  let ok = false;
  try {
    const report = await fuzz(d, { seed, perRoute: numberArg(argv, 'per-route', 1000), concurrency: numberArg(argv, 'concurrency', 12) });
    const escapes = escapesInLog(d);
    const errors = serverErrorsInLog(d);
    for (const e of errors.slice(0, 30)) console.log(`logged error: ${e.slice(0, 600)}`);
    const version = d.docker(['version', '--format', '{{.Server.Version}}']);
    console.log(JSON.stringify({ ...report, failures: report.failures.length, loggedErrors: errors.length, escapes: escapes.length, versionAfter: version.stdout.trim() || version.stderr.trim() }, null, 1));
    for (const e of escapes.slice(0, 20)) console.log(`escape refused: ${e.slice(0, 400)}`);
    ok = !report.crashed && report.failures.length === 0 && errors.length === 0 && escapes.length === 0 && version.code === 0;
  } finally {
    const { leftovers } = await d.cleanup();
    if (leftovers.length > 0) {
      console.log(`left behind: ${leftovers.join(', ')}`);
      ok = false;
    }
  }
  console.log(ok ? `fuzz: passed (seed ${seed})` : `fuzz: FAILED (seed ${seed})`);
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
