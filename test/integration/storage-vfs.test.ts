import { join } from 'node:path';
import { VfsDriver } from '../../src/storage/drivers/vfs.js';
import { storageSuite } from './storage-suite.js';

storageSuite('vfs', {
  make: (root) => new VfsDriver(root),
  mounts: false,
  writableDir: (root, id) => join(root, 'containers', id),
});
