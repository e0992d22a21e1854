import { NetLock } from '../../src/network/lock.js';
import { NetCommands } from '../../src/network/commands.js';

// Takes the network lock of `tag` and, holding it, runs a helper the way the adapter runs ip
// and iptables-restore (inheriting the lock's descriptor). The helper writes its pid to
// `pidFile` and sleeps; the test kills this process with SIGKILL meanwhile.
const [tag = '', pidFile = ''] = process.argv.slice(2);
const lock = new NetLock(tag);
const cmds = new NetCommands({ lockFd: () => lock.fd });
await lock.run(async () => {
  process.stdout.write('locked\n');
  await cmds.exec('sh', ['-c', 'echo $$ > "$1"; exec sleep 3600', 'sh', pidFile]);
});
