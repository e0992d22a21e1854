// A small seeded generator for the harnesses (fuzz, crash, soak): a run is reproduced by its
// seed, printed at its start and with every failure.

export type Rng = {
  readonly seed: number;
  /** [0, 1) */
  next(): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
};

/** mulberry32: tiny, fast, and good enough to choose test inputs. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => {
      if (xs.length === 0) throw new Error('pick from an empty list');
      return xs[Math.floor(next() * xs.length)] as (typeof xs)[number];
    },
    chance: (p) => next() < p,
  };
}

/** The seed a run was asked for (`--seed N` or the environment variable), or a fresh one. */
export function seedFrom(argv: readonly string[], envName: string): number {
  const i = argv.indexOf('--seed');
  const given = i >= 0 ? argv[i + 1] : process.env[envName];
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isInteger(n)) throw new Error(`not a seed: ${given}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

/** `--name N` from argv, else `fallback`. */
export function numberArg(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(argv[i + 1]);
  if (!Number.isFinite(n)) throw new Error(`--${name} wants a number, got ${argv[i + 1]}`);
  return n;
}
