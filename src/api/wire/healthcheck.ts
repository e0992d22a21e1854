import type { HealthConfig } from '../backend.js';
import { invalidParameter } from '../../lib/errors.js';

type Json = Record<string, unknown>;

/** Config.Healthcheck (`--health-*`, `--no-healthcheck`) in the engine's terms; durations stay in nanoseconds. */
export function parseHealthcheck(config: Json): { healthcheck?: HealthConfig } {
  const v = config['Healthcheck'];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidParameter('json: cannot unmarshal into Go struct field Config.Healthcheck of type container.HealthConfig');
  const h = v as Json;
  const test = h['Test'] ?? [];
  if (!Array.isArray(test) || !test.every((t) => typeof t === 'string')) {
    throw invalidParameter('json: cannot unmarshal into Go struct field HealthConfig.Healthcheck.Test of type []string');
  }
  const num = (key: string): number => {
    const n = h[key] ?? 0;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw invalidParameter(`json: cannot unmarshal ${typeof n} into Go struct field HealthConfig.Healthcheck.${key} of type time.Duration`);
    return n;
  };
  return {
    healthcheck: {
      test: test as string[],
      interval: num('Interval'),
      timeout: num('Timeout'),
      startPeriod: num('StartPeriod'),
      startInterval: num('StartInterval'),
      retries: num('Retries'),
    },
  };
}
