import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resolver, type ResolverNetwork } from '../../src/network/resolver.js';
import { silentLogger } from '../../src/lib/logger.js';
import { readStatSync } from '../../src/lib/proc.js';
import { socketInodesOf, socketTable } from '../../src/network/port-reservation.js';
import { dnsQuery, ownLoopbackAddress, startStubDns } from '../helpers/dns.js';
import { testTmpDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/daemon.js';

// The resolver of user networks (aardvark-dns) driven as berthd drives it, on loopback
// addresses of the test's own instead of bridge gateways (it serves any local address), with
// a stub upstream on another one: nothing leaves the machine, and no link is made.

const child = fileURLToPath(new URL('../helpers/resolver-child.js', import.meta.url));
const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

function net(listen: string, upstream: string, entries: ResolverNetwork['entries']): ResolverNetwork {
  return { key: 'f'.repeat(64), listen, upstreams: [upstream], entries };
}

/** Processes serving this config folder (there must never be two). */
function serving(configDir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.includes(configDir) && readStatSync(Number(p))?.state !== 'Z';
      } catch {
        return false;
      }
    })
    .map(Number);
}

function fdTargets(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '';
    }
  });
}

/** Run a sync from a child that holds an inheritable pipe on fd 3. */
async function syncFromChild(dir: string, networks: ResolverNetwork[]): Promise<{ action: string; pid?: number }> {
  const p = spawn(process.execPath, [child, dir, JSON.stringify(networks)], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  let out = '';
  p.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => p.on('exit', resolve));
  (p.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
  assert.equal(code, 0, `resolver child: ${out}`);
  return JSON.parse(out) as { action: string; pid?: number };
}

test('the resolver runs on its own with none of its starter’s descriptors, answers container names, forwards the rest upstream, and reloads a change in place', async () => {
  const dir = testTmpDir('bt-dns-');
  const listen = ownLoopbackAddress();
  // The "container": queries come from its address, as from a container on the bridge (the
  // resolver forwards for known sources only to the network's upstream).
  const me = ownLoopbackAddress();
  const q = (name: string) => dnsQuery(listen, name, { from: me });
  const stub = await startStubDns(ownLoopbackAddress(), '192.0.2.77');
  const r = new Resolver({ dir, log: silentLogger() });
  try {
    const started = await syncFromChild(dir, [net(listen, stub.address, [
      { containerId: 'c'.repeat(64), ip: me, names: ['client'], dnsServers: [] },
      { containerId: ID_A, ip: '10.1.2.3', names: ['Web', 'www', 'aaaaaaaaaaaa'], dnsServers: [] },
    ])]);
    assert.equal(started.action, 'started');
    const pid = started.pid as number;
    // Its own session, a child of init (or a subreaper), holding no pipe its starter had.
    assert.notEqual(readStatSync(pid)?.ppid, process.pid);
    const fds = fdTargets(pid);
    assert.ok(!fds.some((t) => t.startsWith('pipe:')), `no inherited descriptor: ${fds.join(' ')}`);

    assert.deepEqual((await q('web')).addresses, ['10.1.2.3'], 'names are matched lowercased');
    assert.deepEqual((await q('www')).addresses, ['10.1.2.3']);
    assert.deepEqual((await q('aaaaaaaaaaaa')).addresses, ['10.1.2.3']);
    assert.equal((await q('nosuchcontainer')).rcode, 3, 'an unknown single name is NXDOMAIN, not forwarded');
    assert.deepEqual((await q('www.example.test')).addresses, ['192.0.2.77'], 'other names go upstream');
    assert.ok(stub.queries.includes('www.example.test'));
    assert.ok(!stub.queries.includes('nosuchcontainer'));

    // A container joins: one reload, same process, new sockets, the new name resolves.
    const listening = () => socketTable('udp').get(`${listen}:53`) ?? [];
    const before = listening();
    assert.equal(before.length, 1);
    assert.ok(socketInodesOf(pid).has(before[0] as number), 'its own socket');
    const client = { containerId: 'c'.repeat(64), ip: me, names: ['client'], dnsServers: [] };
    const joined = await r.sync([net(listen, stub.address, [
      client,
      { containerId: ID_A, ip: '10.1.2.3', names: ['web'], dnsServers: [] },
      { containerId: ID_B, ip: '10.1.2.4', names: ['db', 'bad alias', 'x,y'], dnsServers: [] },
    ])]);
    assert.deepEqual(joined, { action: 'reloaded', files: 1, pid });
    assert.deepEqual((await q('db')).addresses, ['10.1.2.4']);
    assert.equal((await q('www')).rcode, 3, 'a dropped alias no longer resolves');
    const after = listening();
    assert.equal(after.length, 1);
    assert.notEqual(after[0], before[0], 'a reload reopens its socket');

    // Nothing changed: no signal, the same sockets.
    const same = await r.sync([net(listen, stub.address, [
      { containerId: ID_B, ip: '10.1.2.4', names: ['db', 'bad alias', 'x,y'], dnsServers: [] },
      { containerId: ID_A, ip: '10.1.2.3', names: ['web'], dnsServers: [] },
      client,
    ])]);
    assert.deepEqual(same, { action: 'none', files: 1, pid });
    assert.deepEqual(listening(), after, 'no reload when nothing changed');
  } finally {
    await r.stop();
    await stub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a restarted daemon adopts the resolver by PID and start time, never starts a second one, restarts one that died, and does not take a reused PID for it', async () => {
  const dir = testTmpDir('bt-dns-');
  const listen = ownLoopbackAddress();
  const upstream = ownLoopbackAddress();
  const me = ownLoopbackAddress();
  const nets = [net(listen, upstream, [
    { containerId: 'c'.repeat(64), ip: me, names: ['client'], dnsServers: [] },
    { containerId: ID_A, ip: '10.1.2.3', names: ['web'], dnsServers: [] },
  ])];
  const first = new Resolver({ dir, log: silentLogger() });
  let last: Resolver = first;
  try {
    const s = await first.sync(nets);
    assert.equal(s.action, 'started');
    const configDir = first.configDir;

    // berthd restarted: a new instance finds it from its record, changes nothing.
    const second = new Resolver({ dir, log: silentLogger() });
    last = second;
    assert.equal(second.running()?.pid, s.pid);
    assert.deepEqual(await second.sync(nets), { action: 'none', files: 1, pid: s.pid });
    assert.deepEqual(serving(configDir), [s.pid]);

    // Killed after it started the resolver, before it wrote its record: the pid file aardvark
    // writes is checked against the process (start time and command line), then adopted.
    rmSync(join(dir, 'resolver.json'));
    const third = new Resolver({ dir, log: silentLogger() });
    last = third;
    assert.equal((await third.sync(nets)).action, 'adopted');
    assert.deepEqual(serving(configDir), [s.pid]);

    // It died, and its pid file now names a live process that is not it (a reused PID).
    process.kill(s.pid as number, 'SIGKILL');
    await waitFor('the resolver to die', () => serving(configDir).length === 0);
    writeFileSync(join(configDir, 'aardvark.pid'), String(process.pid));
    const fourth = new Resolver({ dir, log: silentLogger() });
    last = fourth;
    assert.equal(fourth.running(), undefined, 'our own pid is not the resolver');
    const again = await fourth.sync(nets);
    assert.equal(again.action, 'started');
    assert.notEqual(again.pid, process.pid);
    assert.deepEqual(serving(configDir), [again.pid]);
    assert.deepEqual((await dnsQuery(listen, 'web', { from: me })).addresses, ['10.1.2.3'], 'serving the entries it had');

    // No network left: no resolver.
    assert.equal((await fourth.sync([])).action, 'stopped');
    assert.deepEqual(serving(configDir), []);
  } finally {
    await last.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
