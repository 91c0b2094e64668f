// Tiny rings, many chains, random cancellations: counting proves nothing is lost or duplicated.
import { describe, expect, it } from 'vitest';
import { Runtime, chain, errno, type Submission } from '../../dist/index.js';
import { rng } from '../helpers.js';

describe('stress', () => {
  it('200,000 chains through submission and completion rings of 4, 2 workers, random cancels', async () => {
    await using rt = await Runtime.create({ workers: 2, ringSize: 4, completionRingSize: 4 });
    const rand = rng(2026);
    const n = 200_000;
    const seen = new Uint8Array(n);
    const byId = new Map<number, number>();
    let cancelled = 0;
    let cancelCalls = 0;
    const chains = [chain().nop(1).build(), chain().nop(1).nop(2).build(), chain().nanosleep(5_000).nop(3).build()];
    let settled = 0;
    let submitted = 0;
    let window: Submission[] = [];
    while (submitted < n) {
      const batch = Math.min(2000, n - submitted);
      for (let k = 0; k < batch; k++, submitted++) {
        const s = rt.submit(chains[submitted % 3]!);
        byId.set(s.id, submitted);
        window.push(s);
        if (rand() < 0.05) {
          const victim = window[Math.floor(rand() * window.length)]!;
          const r = rt.cancel(victim.id);
          cancelCalls++;
          expect([0, -errno.EALREADY, -errno.ENOENT]).toContain(r);
        }
      }
      await Promise.all(
        window.map((s) =>
          s.promise.then((c) => {
            const i = byId.get(c.id)!;
            seen[i]!++;
            settled++;
            if (c.status === 'cancelled') cancelled++;
            else expect(c.status).toBe('done');
          }),
        ),
      );
      window = [];
    }
    expect(settled).toBe(n);
    expect(seen.every((x) => x === 1)).toBe(true);
    expect(cancelCalls).toBeGreaterThan(1000);
    expect(cancelled).toBeGreaterThan(0);
    const st = rt.stats();
    expect(st.outstanding).toBe(0);
    expect(st.rings.submission.pushes).toBe(st.rings.submission.pops);
    expect(st.rings.free.occupancy).toBe(4);
    // The completion ring of 4 overflowed into its backlog, which is empty again.
    expect(st.rings.completion.overflow.backlog).toBe(0);
  });
});
