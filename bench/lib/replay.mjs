// A stand-in daemon that answers from memory, instantly, what a real one answered: `docker ps`
// against it costs only the CLI's own work (start-up, ping, parsing, formatting the table).
// That is the floor no daemon can go under, and it says how far a `docker ps` goal can go.
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';
import { API, oneShot } from './http.mjs';

/** Record what `e` answers to the requests `docker ps` makes. */
export async function recordPs(e, all = false) {
  const ping = await oneShot(e.sock, 'GET', '/_ping');
  const list = await oneShot(e.sock, 'GET', `${API}/containers/json${all ? '?all=1' : ''}`, undefined, 60_000);
  if (ping.status !== 200 || list.status !== 200) throw new Error(`${e.name}: cannot record ps answers (${ping.status}, ${list.status})`);
  const keep = (h) => Object.fromEntries(Object.entries(h).filter(([k]) => ['api-version', 'ostype', 'server', 'docker-experimental', 'content-type'].includes(k)));
  return { ping: { headers: keep(ping.headers), body: ping.body }, list: { headers: keep(list.headers), body: list.body } };
}

/** Serve recorded answers on a unix socket; resolves { close() }. */
export async function replayServer(socketPath, rec) {
  rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const a = path === '/_ping' ? rec.ping : /\/containers\/json$/.test(path) ? rec.list : undefined;
    if (!a) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"message":"not recorded"}');
      return;
    }
    res.writeHead(200, { ...a.headers, 'Content-Length': a.body.length });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Record what `e` answers to the requests `docker logs <id>` makes: the ping, the inspect (the
 * CLI reads Tty there to know whether to demultiplex) and the whole log stream, byte for byte.
 */
export async function recordLogs(e, id) {
  const ping = await oneShot(e.sock, 'GET', '/_ping');
  const inspect = await oneShot(e.sock, 'GET', `${API}/containers/${id}/json`);
  const logs = await oneShot(e.sock, 'GET', `${API}/containers/${id}/logs?stderr=1&stdout=1&tail=all`, undefined, 600_000);
  if (ping.status !== 200 || inspect.status !== 200 || logs.status !== 200) {
    throw new Error(`${e.name}: cannot record logs answers (${ping.status}, ${inspect.status}, ${logs.status})`);
  }
  const keep = (h) => Object.fromEntries(Object.entries(h).filter(([k]) => ['api-version', 'ostype', 'server', 'docker-experimental', 'content-type'].includes(k)));
  return {
    ping: { headers: keep(ping.headers), body: ping.body },
    inspect: { headers: keep(inspect.headers), body: inspect.body },
    logs: { headers: keep(logs.headers), body: logs.body },
  };
}

/**
 * Serve recorded `docker logs` answers; the log stream goes out in 1 MiB chunked writes, the
 * cheapest way for the CLI to take it (so this is the floor under any daemon's framing).
 */
export async function replayLogsServer(socketPath, rec) {
  rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/_ping' || /\/containers\/[^/]+\/json$/.test(path)) {
      const a = path === '/_ping' ? rec.ping : rec.inspect;
      res.writeHead(200, { ...a.headers, 'Content-Length': a.body.length });
      res.end(req.method === 'HEAD' ? undefined : a.body);
      return;
    }
    if (/\/containers\/[^/]+\/logs$/.test(path)) {
      res.writeHead(200, rec.logs.headers);
      const body = rec.logs.body;
      let off = 0;
      const more = () => {
        while (off < body.length) {
          const chunk = body.subarray(off, off + 1024 * 1024);
          off += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"message":"not recorded"}');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
