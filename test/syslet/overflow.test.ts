import { describe, expect, it } from 'vitest';
import { Runtime, chain } from '../../dist/index.js';

describe('completion overflow', () => {
  it('a completion ring of 4 with 1000 chains loses nothing and keeps order', async () => {
    // One worker completes chains in submission order; the reaper cannot run while this test
    // submits synchronously, so completions pile up far past the ring's 4 slots.
    await using rt = await Runtime.create({ workers: 1, completionRingSize: 4 });
    const subs = [];
    for (let i = 0; i < 1000; i++) subs.push(rt.submit(chain().nop(i).build()));
    const order: number[] = [];
    await Promise.all(subs.map((s) => s.promise.then((c) => order.push(c.result))));
    expect(order).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const st = rt.stats();
    expect(st.rings.completion.capacity).toBe(4);
    expect(st.rings.completion.overflow.total).toBeGreaterThan(0);
    expect(st.rings.completion.overflow.backlog).toBe(0);
    expect(st.rings.completion.overflow.total + st.rings.completion.pushes).toBe(1000);
    expect(st.outstanding).toBe(0);
  });

  it('a submission ring of 4 with 1000 chains: submissions wait for slots, nothing is dropped', async () => {
    await using rt = await Runtime.create({ workers: 2, ringSize: 4 });
    const subs = [];
    for (let i = 0; i < 1000; i++) subs.push(rt.submit(chain().nop(i).build()));
    const results = await Promise.all(subs.map((s) => s.promise));
    expect(results.map((c) => c.result)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(rt.stats().rings.submission.pushes).toBe(1000);
  });
});
