import { Resolver, type ResolverNetwork } from '../../src/network/resolver.js';
import { silentLogger } from '../../src/lib/logger.js';

// Syncs a resolver from a process that holds an inheritable descriptor (fd 3: a pipe its
// parent set up, not close-on-exec here), as berthd holds port reservations and sockets of
// native modules: the resolver it starts must not keep it. Prints the sync's result as JSON.
const [dir = '', json = '[]'] = process.argv.slice(2);
const r = await new Resolver({ dir, log: silentLogger() }).sync(JSON.parse(json) as ResolverNetwork[]);
process.stdout.write(`${JSON.stringify(r)}\n`);
