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
