/**
 * Log-bucket latency histograms in shared memory.
 *
 * Each histogram has exactly one writer thread (a worker records submit-to-start and
 * start-to-complete, a reaping thread records complete-to-reap), so recording is a plain
 * increment of a Float64 word (exact to 2^53) with no atomic read-modify-write on the hot path.
 * Readers (a stats snapshot on any thread) see slightly stale counts, never torn ones: aligned
 * 64-bit typed-array accesses do not tear on the platforms Node runs on.
 *
 * Buckets are log-linear: 4 sub-buckets per power of two of nanoseconds, so a percentile read
 * from a bucket is within 12.5% of the true value.
 */

export const SUB_BUCKET_BITS = 2;
const SUBS = 1 << SUB_BUCKET_BITS;
/** Buckets per histogram: values up to 2^49 ns (about 6.5 days); larger ones land in the last. */
export const HISTOGRAM_BUCKETS = 48 * SUBS;
/** Float64 words per histogram: buckets, then count, sum (ns), max (ns). */
export const HISTOGRAM_WORDS = HISTOGRAM_BUCKETS + 3;
const H_COUNT = HISTOGRAM_BUCKETS;
const H_SUM = HISTOGRAM_BUCKETS + 1;
const H_MAX = HISTOGRAM_BUCKETS + 2;

/** Bucket index of a value in nanoseconds. */
export function bucketOf(ns: number): number {
  if (ns < SUBS) return ns <= 0 ? 0 : Math.floor(ns);
  let exp = Math.floor(Math.log2(ns));
  // log2 may round across a power of two for large values; correct it exactly.
  if (2 ** exp > ns) exp--;
  else if (2 ** (exp + 1) <= ns) exp++;
  const sub = Math.floor(ns / 2 ** (exp - SUB_BUCKET_BITS)) - SUBS;
  const b = (exp - SUB_BUCKET_BITS + 1) * SUBS + sub;
  return b >= HISTOGRAM_BUCKETS ? HISTOGRAM_BUCKETS - 1 : b;
}

/** Lowest value (ns) that falls into bucket `b`. */
export function bucketLow(b: number): number {
  if (b < SUBS) return b;
  const exp = Math.floor(b / SUBS) - 1 + SUB_BUCKET_BITS;
  const sub = b % SUBS;
  return (SUBS + sub) * 2 ** (exp - SUB_BUCKET_BITS);
}

/** One writer's view of a histogram region. */
export class HistogramWriter {
  constructor(
    readonly f64: Float64Array,
    /** Float64 index of the histogram's first word. */
    readonly base: number,
  ) {}

  record(ns: number): void {
    const f = this.f64;
    const b = this.base;
    f[b + bucketOf(ns)]! += 1;
    f[b + H_COUNT]! += 1;
    f[b + H_SUM]! += ns;
    if (ns > f[b + H_MAX]!) f[b + H_MAX] = ns;
  }
}

export interface LatencySummary {
  count: number;
  /** Nanoseconds. */
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Counts per bucket plus totals, merged from any number of writers' regions. */
export class HistogramSnapshot {
  readonly buckets = new Float64Array(HISTOGRAM_BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  add(f64: Float64Array, base: number): this {
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) this.buckets[i]! += f64[base + i]!;
    this.count += f64[base + H_COUNT]!;
    this.sum += f64[base + H_SUM]!;
    this.max = Math.max(this.max, f64[base + H_MAX]!);
    return this;
  }

  /** Value (ns) at quantile q in [0, 1]: the midpoint of the bucket holding it, capped by max. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      seen += this.buckets[b]!;
      if (seen >= rank) {
        const lo = bucketLow(b);
        const hi = bucketLow(b + 1);
        return Math.min(this.max, (lo + hi) / 2);
      }
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      mean: this.count === 0 ? 0 : this.sum / this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      p999: this.quantile(0.999),
      max: this.max,
    };
  }
}
