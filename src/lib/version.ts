import { readFileSync } from 'node:fs';

/**
 * berth's own version, from package.json. `BERTH_TEST_ENGINE_VERSION` overrides it so tests
 * can run a daemon "as" another release (upgrade and live-restore tests); it is meant for
 * tests only and is logged loudly when set.
 */
export function engineVersion(): string {
  const override = process.env['BERTH_TEST_ENGINE_VERSION'];
  if (override) return override;
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function gitCommit(): string {
  return process.env['BERTH_GIT_COMMIT'] ?? '';
}
