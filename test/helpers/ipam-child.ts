import { IpamStore } from '../../src/network/ipam.js';

// Allocates addresses for owners `<prefix>-0`, `<prefix>-1`, ... as fast as it can and prints
// each one only once allocate() has returned: what a caller could have been told. The test
// kills it with SIGKILL at some point, most likely in the middle of a write.
const [dir = '', prefix = 'x'] = process.argv.slice(2);
const store = IpamStore.open(dir, 'crash', { subnet: '10.77.0.0/22', gateway: '10.77.0.1' });
for (let i = 0; ; i++) {
  const owner = `${prefix}-${i}`;
  const address = await store.allocate(owner);
  process.stdout.write(`${owner} ${address}\n`);
}
