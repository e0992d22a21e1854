import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { systemRoutes } from './system.js';
import { containerRoutes } from './containers.js';
import { archiveRoutes } from './archive.js';
import { imageRoutes } from './images.js';
import { volumeRoutes } from './volumes.js';
import { networkRoutes } from './networks.js';
import { diskUsageRoutes } from './disk-usage.js';
import { eventRoutes } from './events.js';
import { execRoutes } from './exec.js';
import { swarmRoutes } from './swarm.js';
import { serviceRoutes } from './services.js';
import { secretRoutes } from './secrets.js';
import { buildRoutes } from './build.js';

/** Every route the API serves, in matching order (the fuzzer walks this same list). */
export function apiRoutes(b: Backend, storageDriver: () => string): Route[] {
  return [
    ...systemRoutes(b),
    ...containerRoutes(b),
    ...archiveRoutes(b),
    ...imageRoutes(b, storageDriver),
    ...volumeRoutes(b),
    ...networkRoutes(b),
    ...diskUsageRoutes(b),
    ...eventRoutes(b),
    ...execRoutes(b),
    ...swarmRoutes(b),
    ...serviceRoutes(b),
    ...secretRoutes(b),
    ...buildRoutes(b),
  ];
}
