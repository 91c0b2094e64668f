// The pool grows when every worker is blocked while work waits (Go's hand-off), never beyond
// maxWorkers, retires extras when idle, and never grows for CPU-bound work. The situations are
// forced with gates, not with the clock: a nanosleep of ten minutes (cut short by cancel(): the
// chain ends cancelled at that atom, -ECANCELED) and an endless nop loop (ends cancelled at its
// next atom boundary), a threadlet reading a FIFO (ends when the test writes to it). Nothing here
// asserts a duration.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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

  it('validates its options', async () => {
    await expect(Runtime.create({ workers: 2, maxWorkers: 1 })).rejects.toThrow(
      'options.maxWorkers: expected an integer from 2 to 512, got 1',
    );
    await expect(Runtime.create({ maxWorkers: 1.5 })).rejects.toThrow(/options\.maxWorkers: expected an integer/);
    await expect(Runtime.create({ extraWorkerIdleMs: 0 })).rejects.toThrow(
      'options.extraWorkerIdleMs: expected an integer from 1 to 2147483647, got 0',
    );
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
