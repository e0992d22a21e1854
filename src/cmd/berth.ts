#!/usr/bin/env node
import { request } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { BridgeDriver } from '../network/bridge-driver.js';

const USAGE = `Usage:  berth [-H HOST] COMMAND

berth's administration commands (for everything else, use the docker CLI).

Commands:
  unadopted                      List running containers berthd refused to adopt, and why
  stop-unadopted [-t N] [NAME...]  Stop them cleanly: stop signal, SIGKILL after N seconds
                                 (default 10), then record the exit (all of them without names)
  network-cleanup [--data-root D] [--exec-root E] [--force]
                                 With berthd stopped and no container left: remove its
                                 bridges (user networks' too), endpoints, firewall chains and
                                 name resolver, and put ip_forward back as it was (defaults
                                 /var/lib/berth, /run/berth)

Options:
  -H, --host string   Daemon socket (default: $DOCKER_HOST or unix:///run/berth/berth.sock)
  -h, --help          Print usage
`;

type Reply = { status: number; body: unknown };

function call(socketPath: string, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: 10 * 60_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', (err) => reject(new Error(`Cannot connect to berthd at unix://${socketPath}: ${err.message}`)));
    req.end();
  });
}

function fail(r: Reply): never {
  const msg = typeof r.body === 'object' && r.body !== null && 'message' in r.body ? String((r.body as { message: unknown }).message) : String(r.body);
  throw new Error(`Error response from daemon: ${msg}`);
}

async function main(argv: string[]): Promise<number> {
  let host = process.env['DOCKER_HOST'] || 'unix:///run/berth/berth.sock';
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-H' || a === '--host') host = argv[++i] ?? '';
    else if (a.startsWith('--host=')) host = a.slice(7);
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else args.push(a);
  }
  if (args[0] === 'network-cleanup') return networkCleanup(args.slice(1));
  if (!host.startsWith('unix://')) throw new Error(`only unix sockets are supported: ${host}`);
  const sock = host.slice('unix://'.length);
  const [cmd, ...rest] = args;
  switch (cmd) {
    case 'unadopted': {
      const r = await call(sock, 'GET', '/berth/unadopted');
      if (r.status !== 200) fail(r);
      const list = r.body as { Id: string; Name: string; Reason: string }[];
      if (list.length === 0) process.stdout.write('every running container is adopted\n');
      for (const c of list) process.stdout.write(`${c.Id.slice(0, 12)}  ${c.Name}  ${c.Reason}\n`);
      return 0;
    }
    case 'stop-unadopted': {
      let t = 10;
      const names: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i] as string;
        if (a === '-t' || a === '--time') t = Number(rest[++i]);
        else names.push(a);
      }
      if (!Number.isInteger(t) || t < 0) throw new Error('invalid -t: a number of seconds is expected');
      const q = new URLSearchParams([['t', String(t)], ...names.map((n) => ['id', n] as [string, string])]);
      const r = await call(sock, 'POST', `/berth/unadopted/stop?${q}`);
      if (r.status !== 200) fail(r);
      for (const id of (r.body as { Stopped: string[] }).Stopped) process.stdout.write(`${id}\n`);
      return 0;
    }
    case 'network-cleanup':
      return networkCleanup(rest);
    default:
      process.stderr.write(cmd ? `berth: unknown command "${cmd}"\n\n${USAGE}` : USAGE);
      return cmd ? 1 : 0;
  }
}

/**
 * Offline: what berthd set up for networking, once it is stopped and has no container. A
 * daemon still running (its pidfile names a live process) or containers still recorded stop
 * it, unless --force (the test harness's last resort after a failure).
 */
async function networkCleanup(argv: string[]): Promise<number> {
  let dataRoot = '/var/lib/berth';
  let execRoot = '/run/berth';
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--data-root') dataRoot = argv[++i] ?? '';
    else if (a === '--exec-root') execRoot = argv[++i] ?? '';
    else if (a === '--force') force = true;
    else throw new Error(`network-cleanup: unknown option ${a}`);
  }
  if (!force) {
    const left = containersRecorded(dataRoot);
    if (left.length > 0) throw new Error(`${left.length} container(s) are still recorded in ${dataRoot}: remove them first (docker rm -f), or give --force`);
    if (daemonRunning(execRoot)) throw new Error(`berthd is running (pidfile ${join(execRoot, 'berthd.pid')}): stop it first`);
  }
  const driver = new BridgeDriver({ dataRoot, execRoot, iptables: true, ipForward: true, log: silentLogger() });
  await driver.init();
  const r = await driver.removeAll();
  process.stdout.write(`removed: ${r.bridges.length} bridge(s)${r.bridges.length ? ` (${r.bridges.join(', ')})` : ''}, ${r.endpoints.length} endpoint(s)${r.rules ? ', firewall chains' : ''}${r.resolver ? ', the name resolver' : ''}${r.ipForward !== undefined ? `; ip_forward back to ${r.ipForward}` : ''}\n`);
  return 0;
}

function containersRecorded(dataRoot: string): string[] {
  try {
    return readdirSync(join(dataRoot, 'containers')).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return [];
  }
}

function daemonRunning(execRoot: string): boolean {
  try {
    const [pid, start] = readFileSync(join(execRoot, 'berthd.pid'), 'utf8').trim().split(' ');
    if (!pid || !start) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] === start;
  } catch {
    return false;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${messageOf(err)}\n`);
    process.exit(1);
  },
);
