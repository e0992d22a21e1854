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
  ];
}
