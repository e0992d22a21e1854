// Sequential DNS A queries, each timed: `node dns-client.mjs SERVER NAME N` prints the
// latencies in ms as a JSON array (run inside a container's network namespace by the bench).
import { createSocket } from 'node:dgram';

const [server, name, count] = process.argv.slice(2);
const n = Number(count);
const labels = name.split('.');

function query(id) {
  return Buffer.concat([
    Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
}

const s = createSocket('udp4');
await new Promise((r) => s.connect(53, server, r));
const out = [];
let failed = 0;
for (let i = 0; i < n; i++) {
  const id = i & 0xffff;
  const t0 = process.hrtime.bigint();
  const ok = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.off('message', on);
      resolve(false);
    }, 2000);
    const on = (m) => {
      if (m.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      s.off('message', on);
      resolve(m.readUInt16BE(6) > 0);
    };
    s.on('message', on);
    s.send(query(id));
  });
  if (ok) out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  else failed++;
}
s.close();
if (failed) process.stderr.write(`${failed} of ${n} lookups failed\n`);
process.stdout.write(JSON.stringify(out.map((x) => Math.round(x * 1000) / 1000)));
