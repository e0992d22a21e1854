import { join } from 'node:path';
import { BridgeDriver } from '../../src/network/bridge-driver.js';
import { silentLogger } from '../../src/lib/logger.js';
import { newId } from '../../src/lib/ids.js';
import type { NetworkConfig } from '../../src/network/types.js';

// A daemon connecting containers (with a published port each) one after another, printing each
// id once connect() has returned; the test kills it with SIGKILL, most likely mid-connect.
const [dir = '', netJson = '{}'] = process.argv.slice(2);
const net = JSON.parse(netJson) as NetworkConfig;
const driver = new BridgeDriver({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec'), iptables: true, ipForward: false, log: silentLogger() });
await driver.init();
await driver.ensureNetwork(net);
for (;;) {
  const id = newId();
  const c = await driver.connect(id, { network: net.name, ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortStart: 0, hostPortEnd: 0 }] });
  c.reservation.close();
  process.stdout.write(`${id}\n`);
}
