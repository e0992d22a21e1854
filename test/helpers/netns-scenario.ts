import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeDriver } from '../../src/network/bridge-driver.js';
import { silentLogger } from '../../src/lib/logger.js';
import { newId } from '../../src/lib/ids.js';
import { messageOf } from '../../src/lib/errors.js';
import { holdFds, iptablesSave, kill, linkNames } from './net-fixture.js';
import { inNetnsSync, serveInNetns, tcpGet } from './net-tools.js';
import type { ChildProcess } from 'node:child_process';

// Run by test/integration/network-netns.test.ts under `unshare --net`: this process stands in
// for a berthd living in a network namespace of its own (as the swarm harness will run them),
// where the FORWARD policy is DROP with a DROP rule below, as dockerd leaves a host — that
// namespace's firewall is this test's to set. Prints one JSON object with what it observed.

const dir = process.argv[2] ?? '';
const results: Record<string, unknown> = {};
const children: ChildProcess[] = [];

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function fromNs(netns: string, host: string, port: number, timeoutMs = 5000): string {
  const r = inNetnsSync(netns, ['tcp-get', host, String(port), String(timeoutMs)], timeoutMs + 10_000);
  return r.status === 0 ? r.stdout : `failed: ${r.stderr.trim()}`;
}

async function main(): Promise<void> {
  sh('ip', ['link', 'set', 'lo', 'up']);
  sh('iptables', ['-P', 'FORWARD', 'DROP']);
  sh('iptables', ['-A', 'FORWARD', '-j', 'DROP']);
  results['ipForwardBefore'] = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

  const driver = new BridgeDriver({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec'), iptables: true, ipForward: true, log: silentLogger() });
  await driver.init();
  const base = { external: false, mtu: 1500, ipMasq: true };
  await driver.ensureNetwork({ ...base, name: 'bridge', id: newId(), bridge: 'bn0', subnet: '10.99.0.0/24', gateway: '10.99.0.1', icc: true });
  await driver.ensureNetwork({ ...base, name: 'isolated', id: newId(), bridge: 'bn1', subnet: '10.99.1.0/24', gateway: '10.99.1.1', icc: false });
  results['ipForwardAfter'] = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

  const [a, b, c, d] = [newId(), newId(), newId(), newId()];
  const pa = await driver.connect(a, { network: 'bridge', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: 18080, hostPortEnd: 18080 }] });
  const pb = await driver.connect(b, { network: 'bridge', ports: [] });
  const pc = await driver.connect(c, { network: 'isolated', ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: 18081, hostPortEnd: 18081 }] });
  const pd = await driver.connect(d, { network: 'isolated', ports: [] });
  for (const x of [pa, pb, pc, pd]) {
    children.push(holdFds(x.reservation.fds));
    x.reservation.close();
  }
  children.push(await serveInNetns(pa.endpoint.netnsPath, 'tcp-serve', 80, 'a'));
  children.push(await serveInNetns(pc.endpoint.netnsPath, 'tcp-serve', 80, 'c'));

  results['hostLoopback'] = await tcpGet('127.0.0.1', 18080).catch((e: Error) => `failed: ${e.message}`);
  results['containerToContainer'] = fromNs(pb.endpoint.netnsPath, pa.endpoint.ip, 80);
  results['hairpinOther'] = fromNs(pb.endpoint.netnsPath, '10.99.0.1', 18080);
  results['hairpinSelf'] = fromNs(pa.endpoint.netnsPath, '10.99.0.1', 18080);
  results['iccOffDirect'] = fromNs(pd.endpoint.netnsPath, pc.endpoint.ip, 80, 2000);
  results['iccOffPublished'] = fromNs(pd.endpoint.netnsPath, '10.99.1.1', 18081);
  results['otherBridgeGateway'] = fromNs(pd.endpoint.netnsPath, '10.99.0.1', 18080);
  results['forwardPolicy'] = /-P FORWARD (\w+)/.exec(sh('iptables', ['-S', 'FORWARD']))?.[1];

  for (const ch of children) kill(ch);
  await driver.removeAll();
  results['linksLeft'] = linkNames().filter((l) => l !== 'lo');
  results['rulesLeft'] = iptablesSave()
    .split('\n')
    .filter((l) => l.includes('BERTH-'));
  results['forwardRulesLeft'] = sh('iptables', ['-S', 'FORWARD']).trim().split('\n');
}

main()
  .then(() => process.stdout.write(`${JSON.stringify(results)}\n`))
  .catch((e: unknown) => {
    for (const ch of children) kill(ch);
    process.stdout.write(`${JSON.stringify({ ...results, error: messageOf(e) })}\n`);
    process.exitCode = 1;
  });
