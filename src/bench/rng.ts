/** Seeded randomness for workload generators: a run (a soak, a profile, a test) can be repeated. */

/** xorshift32 from `seed` (0 counts as 1): the next unsigned 32-bit value on each call. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** A seeded generator of numbers in [0, 1). */
export function rng(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 2 ** 32;
}
