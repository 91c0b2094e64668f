/** Bounded concurrency for benchmark baselines and demos: the way a server keeps N requests going. */

/**
 * Run `fn` on every item with at most `n` in flight: `n` lanes, each taking the next item when its
 * last one settles (not batches of `n`, which would idle on each batch's slowest item).
 * `fn` may return any thenable (a ThreadletHandle as well as a Promise).
 */
export async function withConcurrency<T>(items: readonly T[], n: number, fn: (x: T) => PromiseLike<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
