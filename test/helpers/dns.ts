import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';

// A minimal DNS client and a stub upstream server for the resolver tests: plain RFC 1035
// messages over UDP, A records only. The stub answers on an address the test owns (a loopback
// address of its own), so no query a test makes ever leaves the machine.

export type DnsAnswer = { rcode: number; addresses: string[] };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])), Buffer.from([0])]);
}

/** Skip a (possibly compressed) name; returns the offset after it. */
function skipName(m: Buffer, off: number): number {
  for (;;) {
    const len = m[off] ?? 0;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2;
    off += len + 1;
  }
}

function readName(m: Buffer, off: number): string {
  const labels: string[] = [];
  for (;;) {
    const len = m[off] ?? 0;
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      labels.push(readName(m, ((len & 0x3f) << 8) | (m[off + 1] ?? 0)));
      break;
    }
    labels.push(m.subarray(off + 1, off + 1 + len).toString());
    off += len + 1;
  }
  return labels.join('.');
}

/** One A query to `server:port` (from the address `from`, if given); rejects if nothing answers within `timeoutMs`. */
export function dnsQuery(server: string, name: string, o: { port?: number; timeoutMs?: number; from?: string } = {}): Promise<DnsAnswer> {
  return new Promise((resolve, reject) => {
    const id = randomInt(0, 0xffff);
    const header = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const q = Buffer.concat([header, encodeName(name), Buffer.from([0, 1, 0, 1])]);
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no DNS answer from ${server} for ${name} within ${o.timeoutMs ?? 3000} ms`));
    }, o.timeoutMs ?? 3000);
    s.on('error', (err) => {
      clearTimeout(timer);
      s.close();
      reject(err);
    });
    s.on('message', (m) => {
      if (m.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      s.close();
      const rcode = (m[3] ?? 0) & 0x0f;
      const an = m.readUInt16BE(6);
      let off = skipName(m, 12) + 4;
      const addresses: string[] = [];
      for (let i = 0; i < an; i++) {
        off = skipName(m, off);
        const type = m.readUInt16BE(off);
        const rdlen = m.readUInt16BE(off + 8);
        if (type === 1 && rdlen === 4) addresses.push([...m.subarray(off + 10, off + 14)].join('.'));
        off += 10 + rdlen;
      }
      resolve({ rcode, addresses });
    });
    // The resolver knows a container by the source address of its query.
    if (o.from) s.bind(0, o.from, () => s.send(q, o.port ?? 53, server));
    else s.send(q, o.port ?? 53, server);
  });
}

export type StubDns = { address: string; queries: string[]; close(): Promise<void> };

/**
 * An upstream DNS server on `address`:53 answering every A query with `answer` (and nothing
 * for other types), recording the names asked. For the resolver's forwarding.
 */
export function startStubDns(address: string, answer: string): Promise<StubDns> {
  return new Promise((resolve, reject) => {
    const s: Socket = createSocket('udp4');
    const queries: string[] = [];
    s.on('message', (m, from) => {
      const name = readName(m, 12);
      const end = skipName(m, 12);
      const qtype = m.readUInt16BE(end);
      queries.push(name);
      const header = Buffer.alloc(12);
      m.copy(header, 0, 0, 2);
      header.writeUInt16BE(0x8180, 2);
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
      const parts = [header, m.subarray(12, end + 4)];
      if (qtype === 1) {
        const rr = Buffer.alloc(16);
        rr.writeUInt16BE(0xc00c, 0);
        rr.writeUInt16BE(1, 2);
        rr.writeUInt16BE(1, 4);
        rr.writeUInt32BE(60, 6);
        rr.writeUInt16BE(4, 10);
        answer.split('.').forEach((x, i) => (rr[12 + i] = Number(x)));
        parts.push(rr);
      }
      s.send(Buffer.concat(parts), from.port, from.address);
    });
    s.once('error', reject);
    s.bind(53, address, () =>
      resolve({
        address,
        queries,
        close: () => new Promise<void>((r) => s.close(() => r())),
      }),
    );
  });
}

/** A loopback address of the test's own (127.x.y.z is all local on Linux; nothing else binds a random one). */
export function ownLoopbackAddress(): string {
  return `127.${randomInt(100, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
}
