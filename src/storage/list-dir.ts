import { readdir } from 'node:fs/promises';
import { errnoCode } from '../lib/errors.js';

/** The entries of a driver's folder, hidden ones (probes, markers) left out; none if it is absent. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}
