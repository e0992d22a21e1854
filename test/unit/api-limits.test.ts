// The API server's own defences against clients that send too much or too slowly, or hold too
// many hijacked connections: a real ApiServer on a unix socket with small limits, raw bytes
// from the client side.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { testTmpDir } from '../helpers/paths.js';
import { ApiServer } from '../../src/api/server.js';
import { readJson, sendJson, intParam, boolParam } from '../../src/api/body.js';
import { hijack, RAW_STREAM } from '../../src/api/streams/hijack.js';
import { silentLogger } from '../../src/lib/logger.js';

const dir = testTmpDir('bt-limits-');
const sock = join(dir, 'api.sock');
const server = new ApiServer({
  log: silentLogger(),
  serverHeader: 'berth/test',
  limits: { maxJsonBytes: 1024, jsonTimeoutMs: 300, headersTimeoutMs: 400, maxHijacked: 3 },
  routes: [
    { method: 'POST', path: '/echo', handler: async ({ req, res }) => sendJson(res, 200, { got: await readJson(req) }) },
    { method: 'GET', path: '/int', handler: ({ res, query }) => sendJson(res, 200, { t: intParam(query, 't') ?? null, b: boolParam(query, 'b') }) },
    {
      method: 'POST',
      path: '/attach',
      handler: (ctx) => {
        // An attach that stays open until its client goes, echoing what it gets.
        const s = hijack(ctx, RAW_STREAM);
        s.on('data', (d: Buffer) => s.write(d));
        // The server holds a hijacked socket's bytes until a reader takes them.
        s.resume();
        s.on('end', () => s.end());
      },
    },
  ],
});
await server.listenUnix(sock);
server.open();
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Raw bytes in, everything the server sent until it closed (or `waitMs` passed) out. */
function raw(bytes: string | Buffer, waitMs = 5000, keep?: (s: Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(sock);
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(got);
    }, waitMs);
    s.on('connect', () => {
      s.write(bytes);
      keep?.(s);
    });
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('error', () => undefined);
  });
}

const post = (body: string, extra = '') => `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

test('a JSON body under the limit is read; one over it is refused with a 400 and the connection closed', async () => {
  const ok = await raw(post('{"a":1}', 'Connection: close\r\n'));
  assert.match(ok, /^HTTP\/1\.1 200/);
  assert.match(ok, /\{"got":\{"a":1\}\}/);
  // Declared too large: answered at once, before any of the body is sent.
  const declared = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n');
  assert.match(declared, /^HTTP\/1\.1 400/);
  assert.match(declared, /request body too large: a JSON body is at most 1024 bytes/);
  assert.match(declared, /Connection: close/i);
  // Chunked, with no length to go by: refused once the limit is passed, the rest never read.
  const chunk = `${(2000).toString(16)}\r\n${' '.repeat(2000)}\r\n`;
  const chunked = await raw(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`);
  assert.match(chunked, /^HTTP\/1\.1 400/);
  assert.match(chunked, /request body too large/);
});

test('a client that sends its JSON body too slowly gets a 400 instead of holding the request open', async () => {
  const t0 = Date.now();
  const out = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"a":', 5000);
  assert.match(out, /^HTTP\/1\.1 400/);
  assert.match(out, /request body not received within 0.3 s/);
  assert.ok(Date.now() - t0 < 4000, 'answered well before the client gave up');
});

test('a client that never finishes its headers is disconnected', async () => {
  const t0 = Date.now();
  // Headers trickle in and never end: the connection is closed by the server.
  const out = await raw('GET /int HTTP/1.1\r\nHost: x\r\n', 8000, (s) => {
    const i = setInterval(() => (s.destroyed ? clearInterval(i) : s.write('X-Slow: 1\r\n')), 50);
    s.on('close', () => clearInterval(i));
  });
  assert.ok(Date.now() - t0 < 7000, `closed by the server (after ${Date.now() - t0} ms)`);
  assert.match(out, /^HTTP\/1\.1 408 Request Timeout/, `no request was served: ${out.slice(0, 80)}`);
});

test('query integers out of range and bad booleans: 400 for the first, dockerd reading for the second', async () => {
  const get = (q: string) => raw(`GET /int${q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.match(await get('?t=12&b=%20None%20'), /\{"t":12,"b":false\}/);
  assert.match(await get('?t=-3&b=yes'), /\{"t":-3,"b":true\}/);
  const big = await get('?t=99999999999999999999');
  assert.match(big, /^HTTP\/1\.1 400/);
  assert.match(big, /invalid value for t: 99999999999999999999: value out of range/);
  assert.match(await get('?t=1e3'), /invalid value for t: 1e3/);
});

test('hijacked connections are bounded across clients: one over the bound gets a 503, and a slot frees when a client leaves', async () => {
  const upgrade = 'POST /attach HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n';
  const open: Socket[] = [];
  const opened = (): Promise<Socket> =>
    new Promise((resolve) => {
      const s = connect(sock);
      s.on('connect', () => s.write(upgrade));
      s.once('data', (d: Buffer) => {
        assert.match(d.toString(), /^HTTP\/1\.1 101 UPGRADED/);
        resolve(s);
      });
    });
  for (let i = 0; i < 3; i++) open.push(await opened());
  assert.equal(server.hijackedCount, 3);
  const refused = await raw(upgrade);
  assert.match(refused, /^HTTP\/1\.1 503/);
  assert.match(refused, /too many attached connections \(3 open, at most 3\)/);
  // The sessions still work.
  const echoed = await new Promise<string>((resolve) => {
    open[0]?.once('data', (d: Buffer) => resolve(d.toString()));
    open[0]?.write('ping');
  });
  assert.equal(echoed, 'ping');
  open.pop()?.destroy();
  for (let i = 0; i < 50 && server.hijackedCount > 2; i++) await new Promise((r) => setTimeout(r, 20));
  const again = await opened();
  assert.equal(server.hijackedCount, 3);
  for (const s of [...open, again]) s.destroy();
});
