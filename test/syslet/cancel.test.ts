import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, chain, errno, type Completion } from '../../dist/index.js';
import { rng } from '../helpers.js';

let rt: Runtime;

beforeAll(async () => {
  rt = await Runtime.create({ workers: 1 });
});

afterAll(async () => {
  await rt.close();
});

const SLEEP_10S = chain().nanosleep(10e9).nop(1).build();

describe('cancellation and deadlines', () => {
  it('cancel before start: 0, and the chain ends before its first atom', async () => {
    const blocker = rt.submit(SLEEP_10S);
    // The only worker is asleep in the blocker, so the next chain stays queued.
    await waitUntil(() => rt.stats().workers[0]!.chains === 0 && rt.stats().rings.submission.pops === rt.stats().rings.submission.pushes);
    const queued = rt.submit(chain().getpid().build());
    expect(rt.cancel(queued.id)).toBe(0);
    expect(rt.cancel(blocker.id)).toBe(-errno.EALREADY);
    const [b, q] = await Promise.all([blocker.promise, queued.promise]);
    // The cancel cut the blocker's sleep short: the chain ended at the sleeping atom.
    expect(b).toMatchObject({ status: 'cancelled', atom: 0, result: -errno.ECANCELED, steps: 1 });
    expect(q).toMatchObject({ status: 'cancelled', atom: 0, result: -errno.ECANCELED, steps: 0 });
  });

  it('cancel after completion: -ENOENT, and still exactly one completion', async () => {
    const s = rt.submit(chain().nop(5).build());
    const c = await s;
    expect(rt.cancel(s.id)).toBe(-errno.ENOENT);
    expect(rt.cancel(123_456_789)).toBe(-errno.ENOENT);
    expect(c).toMatchObject({ status: 'done', result: 5 });
  });

  it('an AbortSignal cancels like rt.cancel', async () => {
    const ac = new AbortController();
    const s = rt.submit(SLEEP_10S, { signal: ac.signal, udata: 'u' });
    setTimeout(() => ac.abort(), 20);
    expect(await s).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED, udata: 'u' });
    const pre = new AbortController();
    pre.abort();
    expect(await rt.run(SLEEP_10S, { signal: pre.signal })).toMatchObject({ status: 'cancelled', steps: 0 });
  });

  it('a deadline ends the chain with -ETIME (during a sleep: at the sleeping atom)', async () => {
    const t = performance.now();
    const c = await rt.run(SLEEP_10S, { timeoutMs: 50 });
    expect(c).toMatchObject({ status: 'timedout', atom: 0, result: -errno.ETIME, steps: 1 });
    expect(performance.now() - t).toBeLessThan(5000);
    expect(await rt.run(chain().nop(1).build(), { timeoutMs: 0 })).toMatchObject({ status: 'timedout', steps: 0 });
  });

  it('thousands of chains with random cancels: each id completed exactly once', async () => {
    const rand = rng(42);
    const n = 3000;
    const subs = [];
    const cancelResults = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const sleepNs = Math.floor(rand() * 200_000);
      const s = rt.submit(chain().nop(1).nanosleep(sleepNs).nop(2).build(), rand() < 0.1 ? { timeoutMs: rand() } : {});
      subs.push(s);
      if (rand() < 0.3) cancelResults.set(s.id, rt.cancel(s.id));
      if (i % 97 === 0) await new Promise((r) => setImmediate(r));
      if (rand() < 0.05) {
        const victim = subs[Math.floor(rand() * subs.length)]!;
        cancelResults.set(victim.id, rt.cancel(victim.id));
      }
    }
    const seen = new Map<number, Completion>();
    let duplicates = 0;
    await Promise.all(
      subs.map((s) =>
        s.promise.then((c) => {
          if (seen.has(c.id)) duplicates++;
          seen.set(c.id, c);
        }),
      ),
    );
    expect(duplicates).toBe(0);
    expect(seen.size).toBe(n);
    for (const s of subs) {
      const c = seen.get(s.id)!;
      expect(c.id).toBe(s.id);
      expect(['done', 'cancelled', 'timedout']).toContain(c.status);
      if (c.status === 'done') expect(c.result).toBe(2);
      if (c.status === 'cancelled') expect(c.result).toBe(-errno.ECANCELED);
      const r = cancelResults.get(s.id);
      // A cancel that answered 0 found the chain queued: none of its atoms ran.
      if (r === 0) expect(c).toMatchObject({ status: 'cancelled', steps: 0 });
      if (r !== undefined) expect([0, -errno.EALREADY, -errno.ENOENT]).toContain(r);
    }
    expect(rt.stats().outstanding).toBe(0);
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
}
