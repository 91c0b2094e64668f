/**
 * Shared-memory vocabulary used by every region of this package.
 *
 * Every shared word lives in an Int32Array (Atomics.wait/notify need one) and is addressed by a
 * named index. Words that different threads write at high rates are kept CACHE_LINE_WORDS apart so
 * that a producer's CAS does not invalidate the line a consumer is spinning on.
 */

/** Bytes per shared word. */
export const WORD_BYTES = 4;
/** 64-byte cache lines, in words. */
export const CACHE_LINE_WORDS = 16;

/** Round `n` up to a multiple of `to` (a power of two). */
export function alignUp(n: number, to: number): number {
  return (n + to - 1) & ~(to - 1);
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Current time in milliseconds on a clock that all threads of the process share. */
export function sharedNow(): number {
  // performance.now() is relative to each thread's own timeOrigin; adding the origin makes the
  // value comparable across worker threads (deadlines and latency stamps cross threads).
  return TIME_ORIGIN + performance.now();
}

/** Read once: the getter costs as much as performance.now() itself. */
const TIME_ORIGIN = performance.timeOrigin;
