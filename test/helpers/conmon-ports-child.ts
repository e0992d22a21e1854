import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeDriver } from '../../src/network/bridge-driver.js';
import { silentLogger } from '../../src/lib/logger.js';
import { newId } from '../../src/lib/ids.js';
import { messageOf } from '../../src/lib/errors.js';
import { buildSpec } from '../../src/runtime/spec.js';
import { launchConmon } from '../../src/runtime/conmon.js';
import { RuncCli } from '../../src/runtime/runc.js';
import { extractTar } from '../../src/storage/tar-extract.js';
import { busyboxTarball } from './paths.js';
import type { NetworkConfig } from '../../src/network/types.js';

// Stands in for berthd starting a container with a published port: reserve the port, hand the
// sockets to conmon at spawn, close its own copies, start the container, then exit. Prints what
// the test needs to look at afterwards.
const [dir = '', netJson = '{}', portText = '0'] = process.argv.slice(2);
const net = JSON.parse(netJson) as NetworkConfig;
const port = Number(portText);

async function main(): Promise<Record<string, unknown>> {
  const execRoot = join(dir, 'exec');
  const driver = new BridgeDriver({ dataRoot: join(dir, 'data'), execRoot, iptables: true, ipForward: false, log: silentLogger() });
  await driver.init();
  await driver.ensureNetwork(net);
  const id = newId();
  const { endpoint, reservation } = await driver.connect(id, {
    network: net.name,
    ports: [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: port, hostPortEnd: port },
      { proto: 'udp', containerPort: 80, hostIp: '', hostPortStart: port, hostPortEnd: port },
    ],
  });
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  await extractTar(createReadStream(busyboxTarball()), rootfs);
  const spec = buildSpec({
    rootfs,
    readonlyRootfs: false,
    hostname: 'c',
    domainname: '',
    args: ['nc', '-ll', '-p', '80', '-e', 'echo', 'hello from the container'],
    env: ['PATH=/bin'],
    cwd: '/',
    uid: 0,
    gid: 0,
    additionalGids: [],
    tty: false,
    capabilities: ['CAP_NET_BIND_SERVICE'],
    rlimits: [],
    noNewPrivileges: false,
    privileged: false,
    mounts: [],
    cgroupsPath: `/berth-net-test/${id}`,
    resources: { memory: 0, memorySwap: 0, nanoCpus: 0, cpuShares: 0, pidsLimit: 0 },
  }) as { linux: { namespaces: { type: string; path?: string }[] } };
  // What the engine will do with the endpoint: join its namespace by path.
  spec.linux.namespaces = spec.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: endpoint.netnsPath } : n));
  const bundle = join(execRoot, 'containers', id);
  for (const d of [join(bundle, 'persist'), join(execRoot, 'exits'), join(execRoot, 's'), join(execRoot, 'runc')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const runcRoot = join(execRoot, 'runc');
  const started = await launchConmon({
    conmonPath: 'conmon',
    id,
    cuuid: id.slice(0, 16),
    runtimePath: '/usr/sbin/runc',
    runtimeArgs: ['--root', runcRoot],
    bundle,
    containerPidFile: join(bundle, 'pidfile'),
    conmonPidFile: join(bundle, 'conmon.pid'),
    logPath: join(dir, 'ctr.log'),
    exitDir: join(execRoot, 'exits'),
    persistDir: join(bundle, 'persist'),
    socketDir: join(execRoot, 's'),
    tty: false,
    stdin: false,
    leaveStdinOpen: false,
    inheritFds: reservation.fds,
  });
  reservation.close();
  await new RuncCli('/usr/sbin/runc', runcRoot).start(id);
  return { id, ...started, runcRoot, endpoint };
}

main()
  .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
  .catch((e: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: messageOf(e) })}\n`);
    process.exitCode = 1;
  });
