// Tiny rings, many chains, random cancellations: counting proves nothing is lost or duplicated.
import { describe, expect, it } from 'vitest';
import { Runtime, chain, errno, type Completion, type Submission } from '../../dist/index.js';
import { rng } from '../helpers.js';

/**
 * Where a submission's cancel answers (in order) and its completion contradict each other, in words;
 * undefined when they agree. Cancels race with the workers here, so no answer is known in advance,
 * but each one says something the completion must bear out: 0, the chain never ran (cancelled,
 * no step); -ENOENT to the first cancel, it had ended already (done); -EALREADY, it was running.
 * After a 0 or -ENOENT every later cancel is -ENOENT; after -EALREADY, -EALREADY or -ENOENT.
 */
function contradiction(answers: readonly number[], c: Completion): string | undefined {
  const at = `#${c.id} answers ${answers.join(',')} completion ${c.status} steps ${c.steps}`;
  const first = answers[0]!;
  if (first === 0 && !(c.status === 'cancelled' && c.steps === 0 && c.result === -errno.ECANCELED)) return at;
  if (first === -errno.ENOENT && c.status !== 'done') return at;
  if (first !== 0 && first !== -errno.ENOENT && first !== -errno.EALREADY) return at;
  for (let k = 1; k < answers.length; k++) {
    const prev = answers[k - 1]!;
    const ok = answers[k] === -errno.ENOENT || (prev === -errno.EALREADY && answers[k] === -errno.EALREADY);
    if (!ok) return at;
  }
  return undefined;
}

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
    const answers = new Map<number, number[]>();
    const contradictions: string[] = [];
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
          const a = answers.get(victim.id);
          if (a === undefined) answers.set(victim.id, [r]);
          else a.push(r);
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
            const a = answers.get(c.id);
            const wrong = a === undefined ? (c.status === 'done' ? undefined : `#${c.id} ${c.status} uncancelled`) : contradiction(a, c);
            if (wrong !== undefined) contradictions.push(wrong);
          }),
        ),
      );
      window = [];
    }
    expect(contradictions).toEqual([]);
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
