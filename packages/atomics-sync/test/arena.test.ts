import { describe, expect, it } from 'vitest';
import { Arena, HistogramSnapshot, HistogramWriter, HISTOGRAM_WORDS, bucketLow, bucketOf } from '../dist/index.js';

describe('Arena (buddy allocator)', () => {
  it('allocates power-of-two blocks, reuses and coalesces them', () => {
    const a = Arena.create(1 << 16);
    const x = a.allocate(4096);
    const y = a.allocate(100);
    expect(a.blockSize(x)).toBe(4096);
    expect(a.blockSize(y)).toBe(128);
    expect(a.stats().inUse).toBe(4096 + 128);
    a.free(x);
    a.free(y);
    expect(a.stats().inUse).toBe(0);
    // Everything coalesced back: the whole heap is one block again.
    const all = a.allocate(1 << 16);
    expect(all).toBe(a.dataOffset);
    expect(a.allocate(64)).toBe(-1);
    expect(a.stats().failures).toBe(1);
    a.free(all);
    expect(a.stats()).toMatchObject({ allocs: 3, frees: 3, inUse: 0, peakInUse: 1 << 16 });
  });

  it('finds the live block around an address and refuses bad frees', () => {
    const a = Arena.create(1 << 16);
    const x = a.allocate(1000);
    expect(a.blockContaining(x + 10)).toEqual({ start: x, end: x + 1024 });
    expect(a.blockContaining(x + 1024)).toBeUndefined();
    expect(() => a.free(x + 8)).toThrow('is not the start of an arena block');
    a.free(x);
    expect(() => a.free(x)).toThrow('is not allocated (double free?)');
    expect(a.blockContaining(x)).toBeUndefined();
  });

  it('returns -1 when full and succeeds again once blocks come back', () => {
    const a = Arena.create(4096);
    const blocks: number[] = [];
    for (;;) {
      const b = a.allocate(64);
      if (b < 0) break;
      blocks.push(b);
    }
    expect(blocks.length).toBe(64);
    for (const b of blocks) a.free(b);
    expect(a.allocate(4096)).toBe(a.dataOffset);
  });

  it('refuses a heap size that is not a power of two', () => {
    expect(() => Arena.create(5000)).toThrow('arenaBytes: expected a power of two from 4096 to 2^30, got 5000');
  });
});

describe('latency histograms', () => {
  it('puts each value in a bucket whose range holds it (within 12.5%)', () => {
    for (const v of [0, 1, 3, 4, 7, 8, 15, 16, 100, 1000, 123_456, 2 ** 33 + 5]) {
      const b = bucketOf(v);
      expect(bucketLow(b)).toBeLessThanOrEqual(v);
      expect(bucketLow(b + 1)).toBeGreaterThan(v);
      if (v >= 8) expect((bucketLow(b + 1) - bucketLow(b)) / bucketLow(b)).toBeLessThanOrEqual(0.25);
    }
  });

  it('merges writers and reads quantiles', () => {
    const f64 = new Float64Array(new SharedArrayBuffer(HISTOGRAM_WORDS * 2 * 8));
    const w1 = new HistogramWriter(f64, 0);
    const w2 = new HistogramWriter(f64, HISTOGRAM_WORDS);
    for (let i = 1; i <= 900; i++) w1.record(1000);
    for (let i = 1; i <= 100; i++) w2.record(1_000_000);
    const s = new HistogramSnapshot().add(f64, 0).add(f64, HISTOGRAM_WORDS).summary();
    expect(s.count).toBe(1000);
    expect(s.max).toBe(1_000_000);
    expect(s.p50).toBeGreaterThan(900);
    expect(s.p50).toBeLessThan(1150);
    expect(s.p99).toBeGreaterThan(900_000);
    expect(s.p99).toBeLessThanOrEqual(1_000_000);
    expect(s.mean).toBe((900 * 1000 + 100 * 1_000_000) / 1000);
  });
});
