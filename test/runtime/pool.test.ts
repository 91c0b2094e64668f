// The pool grows when every worker is blocked while work waits (Go's hand-off), never beyond
// maxWorkers, retires extras when idle, and never grows for CPU-bound work. The situations are
// forced with gates, not with the clock: a nanosleep of ten minutes (cut short by cancel(): the
// chain ends cancelled at that atom, -ECANCELED) and an endless nop loop (ends cancelled at its
// next atom boundary), a threadlet reading a FIFO (ends when the test writes to it). Nothing here
// asserts a duration.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { Runtime, errno, type Completion, type Submission } from '../../dist/index.js';
import { gzipLarge, readFifo } from '../fixtures/threadlet/pool.mjs';
import { tempDir } from '../helpers.js';

const TEN_MINUTES_NS = 600e9;
const sleepChain = { atoms: [{ op: 'nanosleep' as const, args: [TEN_MINUTES_NS] }] };
const spinChain = { atoms: [{ op: 'nop' as const, next: 0 }] };
const statChain = { atoms: [{ op: 'stat' as const, args: ['/'] }] };

const tmp = tempDir('syslet-pool-');
afterAll(() => tmp.cleanup());

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every submission settles exactly once, with its own id. */
async function settleAll(subs: Submission[]): Promise<Completion[]> {
  let settled = 0;
  const done = await Promise.all(
    subs.map((s) =>
      s.promise.then((c) => {
        settled++;
        return c;
      }),
    ),
  );
  expect(settled).toBe(subs.length);
  expect(done.map((c) => c.id)).toEqual(subs.map((s) => s.id));
  return done;
}

/** Threads the pool has (base, extras and spares), from its slots. */
function threads(rt: Runtime): number {
  return rt.stats().workers.filter((w) => w.state !== 'exited').length;
}

describe('pool growth', () => {
  it('grows when every worker is blocked in a chain and work waits, then retires the extra when idle', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3, extraWorkerIdleMs: 100 });
    try {
      // No spare before anything blocked.
      expect(rt.stats().pool).toMatchObject({ base: 1, max: 3, size: 1, spares: 0, started: 0, grew: 0 });
      const gate = rt.submit(sleepChain);
      // The one base worker sleeps for ten minutes: these complete only if the pool grows.
      const stats = Array.from({ length: 50 }, () => rt.submit(statChain));
      const done = await settleAll(stats);
      for (const c of done) expect(c).toMatchObject({ status: 'done', result: 0 });
      const grown = rt.stats().pool!;
      expect(grown.grew).toBeGreaterThanOrEqual(1);
      expect(grown.history[0]).toMatchObject({ change: 'grew' });
      expect(grown.history[0]!.reason).toMatch(/blocked/);
      expect(grown.history[0]!.size).toBe(2);
      expect(threads(rt)).toBeLessThanOrEqual(3);
      expect(rt.cancel(gate.id)).toBe(-errno.EALREADY);
      expect(await gate).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      // Idle now: the extra retires, the pool is back to its base.
      await waitUntil('the extra retired', () => rt.stats().pool!.retired >= 1 && rt.stats().pool!.size === 1);
      const after = rt.stats().pool!;
      expect(after.history.some((e) => e.change === 'retired')).toBe(true);
      expect(threads(rt)).toBeLessThanOrEqual(3);
      expect(rt.stats().outstanding).toBe(0);
    } finally {
      await rt.close();
    }
  });

  it('never grows beyond maxWorkers, and says so', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 2, extraWorkerIdleMs: 60_000 });
    try {
      const gates = [rt.submit(sleepChain), rt.submit(sleepChain)];
      // The base worker takes one sleep, a spare starts, joins and takes the other; a third would
      // need a third thread.
      const third = rt.submit(sleepChain);
      await waitUntil('growth refused at the bound', () => rt.stats().pool!.atBound >= 1);
      const p = rt.stats().pool!;
      expect(p.grew).toBe(1);
      expect(p.started).toBe(1);
      expect(p.size).toBe(2);
      expect(threads(rt)).toBe(2);
      expect(p.history.map((e) => e.change)).toEqual(['grew', 'at bound']);
      expect(p.history[1]!.reason).toMatch(/maxWorkers \(2\) reached/);
      // Both workers sleep, so the third is still queued: it will end before it starts (once a
      // worker takes it off the queue).
      expect(rt.cancel(third.id)).toBe(0);
      for (const g of gates) expect(rt.cancel(g.id)).toBe(-errno.EALREADY);
      const stats = Array.from({ length: 20 }, () => rt.submit(statChain));
      const done = await settleAll([...gates, third, ...stats]);
      for (const c of done.slice(0, 2)) expect(c).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      expect(done[2]).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      for (const c of done.slice(3)) expect(c).toMatchObject({ status: 'done', result: 0 });
      expect(threads(rt)).toBe(2);
    } finally {
      await rt.close();
    }
  });

  it('does not grow for CPU-bound work, and grows for the same queue once the worker blocks', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3, stepBudget: 2 ** 31 - 1 });
    try {
      const spin = rt.submit(spinChain);
      await waitUntil('the spin runs', () => rt.stats().rings.submission.occupancy === 0);
      const queued = Array.from({ length: 20 }, () => rt.submit(statChain));
      // Work waits behind a computing worker. Give the monitor many looks (it looks every
      // millisecond while work is in flight); however slow the machine, it must not grow.
      await new Promise((r) => setTimeout(r, 300));
      // Not even a spare: the worker was never seen blocked.
      expect(rt.stats().pool).toMatchObject({ grew: 0, size: 1, started: 0 });
      expect(queued.every((s) => !s.settled)).toBe(true);
      expect(rt.cancel(spin.id)).toBe(-errno.EALREADY);
      expect(await spin).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      for (const c of await settleAll(queued)) expect(c).toMatchObject({ status: 'done', result: 0 });
      expect(rt.stats().pool!.grew).toBe(0);
      // The positive control: the same queue behind a blocked worker makes it grow.
      const gate = rt.submit(sleepChain);
      await settleAll(Array.from({ length: 20 }, () => rt.submit(statChain)));
      expect(rt.stats().pool!.grew).toBeGreaterThanOrEqual(1);
      rt.cancel(gate.id);
      expect(await gate).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
    } finally {
      await rt.close();
    }
  });

  it('counts a threadlet blocked in an intercepted call as blocked', async () => {
    const fifo = path.join(tmp.dir, 'gate');
    execFileSync('mkfifo', [fifo]);
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3 });
    try {
      const blocked = readFifo.submit(rt, [fifo], { start: 'worker' });
      const stats = Array.from({ length: 20 }, () => rt.submit(statChain));
      for (const c of await settleAll(stats)) expect(c).toMatchObject({ status: 'done', result: 0 });
      expect(rt.stats().pool!.grew).toBeGreaterThanOrEqual(1);
      // Open the gate: a non-blocking open for writing succeeds only while the threadlet reads.
      const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      fs.writeSync(fd, 'open');
      fs.closeSync(fd);
      expect(await blocked).toBe('open');
    } finally {
      await rt.close();
    }
  });

  it('does not count a threadlet computing inside an intercepted zlib call as blocked', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3 });
    try {
      const gzip = gzipLarge.submit(rt, [16 << 20], { start: 'worker' });
      await waitUntil('the gzip runs', () => rt.stats().rings.submission.occupancy === 0);
      const queued = Array.from({ length: 20 }, () => rt.submit(statChain));
      expect(await gzip).toBeGreaterThan(16 << 20);
      for (const c of await settleAll(queued)) expect(c).toMatchObject({ status: 'done', result: 0 });
      expect(rt.stats().pool).toMatchObject({ grew: 0, size: 1 });
    } finally {
      await rt.close();
    }
  });

  it('has no timer while nothing is in flight, and watches from the first submission on', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3 });
    try {
      const idle = rt.stats().pool!;
      expect(idle.watching).toBe(false);
      // Idle: nothing looks at the workers, however long it stays so.
      await new Promise((r) => setTimeout(r, 200));
      expect(rt.stats().pool).toMatchObject({ watching: false, looks: idle.looks });
      // A submission arms the tick at once (synchronously, in the submitting call).
      const done = rt.run(statChain);
      expect(rt.stats().pool!.watching).toBe(true);
      expect(await done).toMatchObject({ status: 'done', result: 0 });
      // Once nothing is in flight the tick stops again, and stays stopped.
      await waitUntil('the monitor went idle', () => !rt.stats().pool!.watching);
      const looks = rt.stats().pool!.looks;
      expect(looks).toBeGreaterThan(idle.looks);
      await new Promise((r) => setTimeout(r, 200));
      expect(rt.stats().pool).toMatchObject({ watching: false, looks });
    } finally {
      await rt.close();
    }
  });

  it('grows while the caller is still submitting in one synchronous loop (the tick cannot run then)', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3, ringSize: 65536 });
    try {
      // A spare is parked once a worker was seen blocked: block (until the spare is there: a short
      // sleep may end before a late tick on a loaded machine sees it), and wait for it.
      const first = rt.submit(sleepChain);
      await waitUntil('a spare is parked', () => rt.stats().pool!.spares === 1);
      rt.cancel(first.id);
      expect(await first).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      // It warmed up before it parked: 4,000 stats on a private table, every one done, none of them
      // in this runtime's counters.
      expect(rt.stats().pool).toMatchObject({ started: 1, warmed: 4000 });
      expect(rt.stats().workers.reduce((a, w) => a + w.chains, 0)).toBe(1);
      const gate = rt.submit(sleepChain);
      await waitUntil('the sleep runs', () => rt.stats().rings.submission.occupancy === 0);
      // Past the 1 ms a worker must have been blocked for (a wait, not an assertion).
      await new Promise((r) => setTimeout(r, 20));
      // From here on the event loop does not turn until the pool grew: only a look made by the
      // submissions themselves can grow it. Each takes a slot (trySubmit: never the FIFO, which
      // does not reach the ring); 64k slots are far more than the looks, every 1/4 ms, need.
      const subs: Submission[] = [];
      while (rt.stats().pool!.grew === 0) {
        const sub = rt.trySubmit(statChain);
        if (sub === 'full') throw new Error(`the pool did not grow during the synchronous loop (${subs.length} submissions)`);
        subs.push(sub);
      }
      const p = rt.stats().pool!;
      expect(p.history[p.history.length - 1]).toMatchObject({ change: 'grew', size: 2 });
      expect(p.history[p.history.length - 1]!.reason).toMatch(/the only worker blocked for 1 ms or more .* while \d+ requests? waited/);
      for (const c of await settleAll(subs)) expect(c).toMatchObject({ status: 'done', result: 0 });
      expect(rt.cancel(gate.id)).toBe(-errno.EALREADY);
      expect(await gate).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
    } finally {
      await rt.close();
    }
  });

  it('grows for work submitted from an attached thread while the owner submits nothing', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3 });
    try {
      expect(rt.stats().pool!.watching).toBe(false);
      const w = new Worker(new URL('../fixtures/pool-attached.mjs', import.meta.url), {
        workerData: { handle: rt.share(), sleeps: 1, stats: 20 },
      });
      const messages: { stats?: { status: string; result: number }[]; cancels?: number[]; gates?: { status: string; result: number }[] }[] = [];
      await new Promise<void>((resolve, reject) => {
        w.on('message', (m: (typeof messages)[number]) => {
          messages.push(m);
          if (m.gates !== undefined) resolve();
        });
        w.once('error', reject);
      });
      await w.terminate();
      expect(messages[0]!.stats).toEqual(Array.from({ length: 20 }, () => ({ status: 'done', result: 0 })));
      expect(messages[1]).toEqual({ cancels: [-errno.EALREADY], gates: [{ status: 'cancelled', result: -errno.ECANCELED }] });
      const p = rt.stats().pool!;
      expect(p.grew).toBeGreaterThanOrEqual(1);
      expect(p.history[0]).toMatchObject({ change: 'grew', size: 2 });
    } finally {
      await rt.close();
    }
  });

  it('a burst that queues behind a worker busy in a long call wakes a parked worker for the rest', async () => {
    // A fixed pool: no growth can hide it; no spinning worker: the other is parked. Two sleeps in
    // one synchronous burst, the first taken by a worker before the second is queued (the burst
    // waits for it): the count of awake workers says one is awake, and one is queued, so no wake-up
    // looked needed; but the awake one is asleep in nanosleep for ten minutes.
    // latencySample 1: every request's start is counted (latency.submitToStart), after its claim.
    const rt = await Runtime.create({ workers: 2, maxWorkers: 2, workerSpinUs: 0, latencySample: 1 });
    const gates: Submission[] = [];
    try {
      // Both workers parked (nothing was submitted: each parks once when it starts).
      await waitUntil('both workers parked', () => rt.stats().rings.submission.consumerParks >= 2);
      gates.push(rt.submit(sleepChain));
      const end = Date.now() + 60_000;
      while (rt.stats().rings.submission.occupancy !== 0) {
        if (Date.now() > end) throw new Error('the first sleep was never taken');
      }
      const wakes = rt.stats().rings.submission.consumerWakes;
      gates.push(rt.submit(sleepChain));
      // The burst's doorbell (a microtask queued by its first submission) ran before this one.
      await Promise.resolve();
      expect(rt.stats().rings.submission.consumerWakes).toBeGreaterThan(wakes);
      // Started, not only popped: a popped entry not yet claimed is still cancelled as queued (0).
      await waitUntil('every sleep started', () => rt.stats().latency.submitToStart.count >= 2);
      for (const g of gates) expect(rt.cancel(g.id)).toBe(-errno.EALREADY);
      for (const c of await settleAll(gates)) expect(c).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
    } finally {
      // Also when an expectation failed: a queued ten-minute sleep would hold close() up.
      for (const g of gates) rt.cancel(g.id);
      await rt.close();
    }
  });

  it.runIf(fs.existsSync('/proc/self/task'))('reads the workers\' kernel state without leaving a descriptor open', async () => {
    // The monitor reads each blocked worker's state (proc(5): R or not) at its looks; growing needs
    // that read. A descriptor it kept would show in the program's own count of its descriptors.
    const procFds = (): number =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return /^\/proc\/\d+\/task\/\d+\/stat$/.test(fs.readlinkSync(`/proc/self/fd/${fd}`));
        } catch {
          return false;
        }
      }).length;
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3 });
    const gate = rt.submit(sleepChain);
    try {
      for (const c of await settleAll(Array.from({ length: 50 }, () => rt.submit(statChain)))) expect(c).toMatchObject({ status: 'done', result: 0 });
      expect(rt.stats().pool!.grew).toBeGreaterThanOrEqual(1);
      expect(procFds()).toBe(0);
    } finally {
      rt.cancel(gate.id);
      await rt.close();
    }
  });

  it('a lone request wakes one parked worker, not a second one for the same entry', async () => {
    // A server's pace: each request arrives with every worker parked. The burst's doorbell (a
    // microtask right after the submission) runs before the woken worker reaches the ring; it must
    // count that worker as on its way, not wake another for the entry it will take.
    const rt = await Runtime.create({ workers: 2, maxWorkers: 2, workerSpinUs: 0 });
    try {
      // Every wake-up, and those by the owner's 50 ms tick, which also wakes a parked worker when a
      // woken one has not reached the ring by then (a loaded machine) and says so (_stallWakes).
      const sub = (): { parks: number; wakes: number; stall: number } => {
        const r = rt.stats().rings.submission;
        return { parks: r.consumerParks, wakes: r.consumerWakes, stall: rt._stallWakes() };
      };
      await waitUntil('both workers parked', () => sub().parks >= 2);
      for (let i = 0; i < 20; i++) {
        const before = sub();
        expect(await rt.run(statChain)).toMatchObject({ status: 'done', result: 0 });
        // Every worker woken parks again (no spinning), so the next request finds both parked.
        await waitUntil('the woken workers parked again', () => sub().parks - before.parks >= sub().wakes - before.wakes);
        const after = sub();
        expect(after.wakes - before.wakes - (after.stall - before.stall)).toBe(1);
      }
    } finally {
      await rt.close();
    }
  });

  it('an extra takes no new work while as many workers compute as the base pool has', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3, extraWorkerIdleMs: 60_000, stepBudget: 2 ** 31 - 1 });
    // Cancelled in `finally` too: a failed expectation must not leave close() waiting for a loop.
    const held: Submission[] = [];
    const extraChains = (): number => rt.stats().workers.filter((w) => w.role === 'extra').reduce((a, w) => a + w.chains, 0);
    try {
      // The base worker sleeps: the pool grows, the extra runs the stats.
      const s1 = rt.submit(sleepChain);
      held.push(s1);
      for (const c of await settleAll(Array.from({ length: 20 }, () => rt.submit(statChain)))) expect(c).toMatchObject({ status: 'done', result: 0 });
      expect(rt.stats().pool!.grew).toBe(1);
      // The extra takes a sleep of its own (the base worker is blocked, not parked).
      const s2 = rt.submit(sleepChain);
      held.push(s2);
      await waitUntil('the extra sleeps', () => rt.stats().rings.submission.occupancy === 0);
      // The base worker wakes up and computes (an endless nop loop); the extra is still asleep, so
      // the loop can only be the base worker's.
      rt.cancel(s1.id);
      expect(await s1).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      const spin = rt.submit(spinChain);
      held.push(spin);
      await waitUntil('the loop runs', () => rt.stats().rings.submission.occupancy === 0);
      // The extra wakes up: one worker computes, as many as the base pool has. It takes nothing.
      rt.cancel(s2.id);
      expect(await s2).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      const before = extraChains();
      const queued = Array.from({ length: 20 }, () => rt.submit(statChain));
      await new Promise((r) => setTimeout(r, 300));
      expect(queued.every((q) => !q.settled)).toBe(true);
      expect(extraChains()).toBe(before);
      expect(rt.stats().pool!.size).toBe(2);
      // The loop ends: the stats run (on whichever worker).
      rt.cancel(spin.id);
      expect(await spin).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      for (const c of await settleAll(queued)) expect(c).toMatchObject({ status: 'done', result: 0 });
    } finally {
      for (const h of held) rt.cancel(h.id);
      await rt.close();
    }
  });

  it('validates its options', async () => {
    await expect(Runtime.create({ workers: 2, maxWorkers: 1 })).rejects.toThrow(
      'options.maxWorkers: expected an integer from 2 (workers) to 512, got 1',
    );
    await expect(Runtime.create({ maxWorkers: 1.5 })).rejects.toThrow(/options\.maxWorkers: expected an integer/);
    await expect(Runtime.create({ extraWorkerIdleMs: 0 })).rejects.toThrow(
      'options.extraWorkerIdleMs: expected an integer from 1 to 2147483647, got 0',
    );
  });

  it('bounds the pool by default at max(workers, 4, 2 x availableParallelism)', async () => {
    const ap = os.availableParallelism();
    for (const workers of [1, 2]) {
      const rt = await Runtime.create({ workers });
      try {
        expect(rt.stats().pool).toMatchObject({ base: workers, max: Math.min(512, Math.max(workers, 4, 2 * ap)) });
      } finally {
        await rt.close();
      }
    }
  });

  it('a fixed pool (maxWorkers = workers) starts no spare and never grows', async () => {
    const rt = await Runtime.create({ workers: 1, maxWorkers: 1 });
    try {
      const gate = rt.submit(sleepChain);
      const queued = rt.submit(statChain);
      await new Promise((r) => setTimeout(r, 100));
      expect(rt.stats().pool).toMatchObject({ spares: 0, started: 0, grew: 0, size: 1 });
      expect(threads(rt)).toBe(1);
      expect(queued.settled).toBe(false);
      rt.cancel(gate.id);
      const [g, q] = await settleAll([gate, queued]);
      expect(g).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
      expect(q).toMatchObject({ status: 'done', result: 0 });
    } finally {
      await rt.close();
    }
  });
});
