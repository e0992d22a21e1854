import { existsSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/helpers → the repository root. */
export const repoRoot = process.env['BERTH_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));

/** The busybox rootfs tarball, built once by the project's script if missing. */
export function busyboxTarball(): string {
  const tar = join(repoRoot, 'build', 'busybox-rootfs.tar');
  if (!existsSync(tar)) {
    const r = spawnSync(join(repoRoot, 'scripts', 'build-busybox-rootfs.sh'), [tar], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot build the busybox rootfs: ${r.stderr}`);
  }
  return tar;
}

/**
 * A fresh temporary directory for a test, inside the test run's own tree when the runner gave
 * one (BERTH_TEST_TMP: its leak check then sees exactly this run's leftovers), else in /tmp.
 */
export function testTmpDir(prefix = 'bt-'): string {
  return mkdtempSync(join(process.env['BERTH_TEST_TMP'] ?? '/tmp', prefix));
}
