// Workers die mid-request (an uncaught error in the pump, process.exit(), exhausted resource
// limits): every request completes exactly once, the ones a dead worker held with -EOWNERDEAD,
// piscina replaces the worker, every request slot comes back, and later requests run normally.
import { describe, expect, it } from 'vitest';
import { Runtime, ThreadletError, chain, errno, type Completion } from '../../dist/index.js';
import { exitsOnWorker } from '../fixtures/threadlet/fns.mjs';

async function survive(rt: Runtime, n: number): Promise<Completion[]> {
  const subs = [];
  for (let i = 0; i < n; i++) subs.push(rt.submit(chain().nop(i + 1).build()));
  const done = await Promise.all(subs.map((s) => s.promise));
  // Exactly one completion each, in the submission's own id.
  expect(done.map((c) => c.id)).toEqual(subs.map((s) => s.id));
  for (const [i, c] of done.entries()) {
    if (c.status === 'failed') expect(c.result).toBe(-errno.EOWNERDEAD);
    else expect(c).toMatchObject({ status: 'done', result: i + 1 });
  }
  return done;
}

async function healthy(rt: Runtime, workers: number, ringSize: number): Promise<void> {
  rt.injectFaults({});
  await rt.ready();
  const after = await survive(rt, 500);
  expect(after.every((c) => c.status === 'done')).toBe(true);
  const st = rt.stats();
  expect(st.workers.filter((w) => w.state === 'running').length).toBe(workers);
  // Every request slot is free again once nothing is outstanding.
  expect(st.outstanding).toBe(0);
  expect(st.rings.free.occupancy).toBe(ringSize);
}

describe('worker faults', () => {
  for (const [name, faults] of [
    ['an uncaught error in the pump', { pumpError: 0.05 }],
    ['process.exit() in the worker', { workerExit: 0.05 }],
  ] as const) {
    it(`${name}: held requests fail with -EOWNERDEAD, nothing is lost, the pool heals`, async () => {
      await using rt = await Runtime.create({ workers: 2, ringSize: 64, faults: { ...faults, seed: 7 } });
      const done = await survive(rt, 400);
      const failed = done.filter((c) => c.status === 'failed').length;
      expect(failed).toBeGreaterThan(0);
      expect(rt.stats().ownerDeadCompletions).toBe(failed);
      expect(rt.stats().workerDeaths).toBe(failed);
      await healthy(rt, 2, 64);
    });
  }

  it('exhausted resource limits: the worker is stopped, its request fails, the pool heals', async () => {
    await using rt = await Runtime.create({
      workers: 1,
      ringSize: 16,
      resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 },
      faults: { oom: 1, seed: 1 },
    });
    const c = await rt.run(chain().nop(1).build());
    expect(c).toMatchObject({ status: 'failed', result: -errno.EOWNERDEAD });
    await healthy(rt, 1, 16);
    expect(rt.stats().workerDeaths).toBe(1);
  });

  it('a threadlet that calls process.exit() in its worker: it fails with EOWNERDEAD, the pool heals', async () => {
    await using rt = await Runtime.create({ workers: 2, ringSize: 64 });
    const h = exitsOnWorker.run(rt, 3);
    const err = await h.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ThreadletError);
    expect((err as { code?: string }).code).toBe('EOWNERDEAD');
    expect(rt.stats().workerDeaths).toBe(1);
    await healthy(rt, 2, 64);
  });
});
