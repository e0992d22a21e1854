import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from './errors.js';

/** Bytes used by the files under `dir` (hard links counted once), as moby's directory.Size. */
export async function dirSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = await lstat(p);
      if (st.isDirectory()) {
        await walk(p);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
  };
  await walk(dir);
  return total;
}
