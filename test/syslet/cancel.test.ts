import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, chain, errno, type Completion } from '../../dist/index.js';
import { rng, tempDir, waitUntil } from '../helpers.js';

let rt: Runtime;

beforeAll(async () => {
  // latencySample 1: every start is counted (latency.submitToStart) once a worker claimed the chain.
  rt = await Runtime.create({ workers: 1, latencySample: 1 });
});

afterAll(async () => {
  await rt.close();
});

const SLEEP_10S = chain().nanosleep(10e9).nop(1).build();

describe('cancellation and deadlines', () => {
  it('cancel before start: 0, and the chain ends before its first atom', async () => {
    const started = rt.stats().latency.submitToStart.count;
    const blocker = rt.submit(SLEEP_10S);
    // The only worker is asleep in the blocker (claimed, not only popped: a popped chain not yet
    // claimed is still cancelled as queued), so the next chain stays queued.
    await waitUntil('the worker started the blocker', () => rt.stats().latency.submitToStart.count > started);
    // Claimed; and asleep a moment later (cancelled between its claim and its first atom, it would
    // end there with steps 0).
    await new Promise((r) => setTimeout(r, 50));
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

  it('thousands of chains with random cancels: each id completed exactly once, each cancel answered as its situation says', async () => {
    // One worker that cannot grow (maxWorkers 1), held by a gate chain: every chain submitted
    // meanwhile is queued (in the submission ring, or waiting here for an entry), so the first
    // cancel of each answers 0 and a second one -ENOENT; the gate, running, answers -EALREADY.
    const local = await Runtime.create({ workers: 1, maxWorkers: 1 });
    const tmp = tempDir('syslet-cancel-');
    const marker = path.join(tmp.dir, 'gate-running');
    try {
      // Asleep for up to ten minutes: however slow the submissions below, only the cancel ends it.
      const gate = local.submit(chain().mkdir(marker).nanosleep(600e9).nop(1).build());
      // The mkdir ran: the gate is running on the only worker, and stays asleep until cancelled.
      await waitUntil('the gate chain runs', () => fs.existsSync(marker));
      const rand = rng(42);
      const n = 3000;
      const subs = [];
      const withDeadline = new Set<number>();
      const cancelled = new Set<number>();
      const answers: [number, number, number][] = [];
      const cancel = (id: number): void => {
        answers.push([id, local.cancel(id), cancelled.has(id) ? -errno.ENOENT : 0]);
        cancelled.add(id);
      };
      for (let i = 0; i < n; i++) {
        const sleepNs = Math.floor(rand() * 200_000);
        const timed = rand() < 0.1;
        const s = local.submit(chain().nop(1).nanosleep(sleepNs).nop(2).build(), timed ? { timeoutMs: rand() } : {});
        subs.push(s);
        if (timed) withDeadline.add(s.id);
        if (rand() < 0.3) cancel(s.id);
        if (i % 97 === 0) await new Promise((r) => setImmediate(r));
        if (rand() < 0.05) cancel(subs[Math.floor(rand() * subs.length)]!.id);
      }
      // Each answer as its situation says: [id, answer, expected].
      expect(answers.filter(([, got, want]) => got !== want)).toEqual([]);
      expect(answers.filter(([, got]) => got === -errno.ENOENT).length).toBeGreaterThan(0);
      // Every deadline (under 1 ms after its submission) has passed before any of them can start.
      const last = performance.now();
      await waitUntil('every deadline passed', () => performance.now() > last + 10);
      expect(local.cancel(gate.id)).toBe(-errno.EALREADY);
      expect(await gate).toMatchObject({ status: 'cancelled', atom: 1, result: -errno.ECANCELED, steps: 2 });

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
      const outcome = (c: Completion) => ({ id: c.id, status: c.status, atom: c.atom, result: c.result, steps: c.steps });
      const expected = subs.map((s) =>
        cancelled.has(s.id)
          ? { id: s.id, status: 'cancelled', atom: 0, result: -errno.ECANCELED, steps: 0 }
          : withDeadline.has(s.id)
            ? { id: s.id, status: 'timedout', atom: 0, result: -errno.ETIME, steps: 0 }
            : { id: s.id, status: 'done', atom: 2, result: 2, steps: 3 },
      );
      expect(subs.map((s) => outcome(seen.get(s.id)!))).toEqual(expected);
      // Settled: nothing left to cancel.
      expect(subs.map((s) => local.cancel(s.id)).filter((r) => r !== -errno.ENOENT)).toEqual([]);
      expect(local.stats().outstanding).toBe(0);
    } finally {
      // Forced: a failure above may leave the gate asleep.
      await local.close({ force: true });
      tmp.cleanup();
    }
  });
});


// Issue 11 item 6: a chain blocked in a call that never returns (read on a pipe nobody writes) is
// ended by its deadline, a cancel or a forced close: the runtime terminates and replaces its
// worker, and the chain completes exactly once with -ETIME or -ECANCELED.
describe('chains stuck in a blocking call', () => {
  function fifo(): { path: string; fd: number; dir: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-fifo-'));
    const p = path.join(dir, 'never');
    const r = spawnSync('mkfifo', [p]);
    if (r.status !== 0) throw new Error(`mkfifo failed: ${String(r.stderr)}`);
    // Read and write: it has a writer (itself) that never writes, so a read blocks, never EOF.
    return { path: p, fd: fs.openSync(p, fs.constants.O_RDWR), dir };
  }

  /** Let the terminated threads' reads return (one byte each) so they exit; then check the slots. */
  async function release(rt: Runtime, f: { path: string; fd: number; dir: string }, ringSize: number): Promise<void> {
    const w = fs.openSync(f.path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    for (let i = 0; i < 2000 && rt.stats().stuckThreads > 0; i++) {
      fs.writeSync(w, 'x');
      await new Promise((r) => setTimeout(r, 10));
    }
    fs.closeSync(w);
    expect(rt.stats().stuckThreads).toBe(0);
    // Every slot is free again, each exactly once (a double free would show more).
    expect(rt.stats().rings.free.occupancy).toBe(ringSize);
    fs.closeSync(f.fd);
    fs.rmSync(f.dir, { recursive: true });
  }

  async function stillWorks(rt: Runtime, workers: number): Promise<void> {
    await rt.ready();
    const cs = await Promise.all([1, 2, 3, 4].map((i) => rt.run(chain().nop(i).build())));
    expect(cs.map((c) => c.result)).toEqual([1, 2, 3, 4]);
    expect(rt.stats().workers.filter((w) => w.state === 'running').length).toBe(workers);
  }

  it('timeoutMs: the read is ended with -ETIME at its atom, the worker is replaced, the runtime keeps working', async () => {
    const f = fifo();
    const local = await Runtime.create({ workers: 1, ringSize: 16 });
    const b = local.alloc(16);
    const c = await local.run(chain().getpid({ into: 'p' }).read(f.fd, b, 16, { into: 'n' }).nop(2).build(), {
      timeoutMs: 1000,
      udata: 'u',
    });
    // The variables of the atoms before the stuck one; not the stuck atom's own.
    expect(c).toMatchObject({ status: 'timedout', result: -errno.ETIME, atom: 1, steps: 2, udata: 'u' });
    expect(c.vars).toEqual({ p: process.pid });
    expect(local.stats().stuckWorkersEnded).toBe(1);
    expect(local.stats().outstanding).toBe(0);
    await stillWorks(local, 1);
    await release(local, f, 16);
    await local.close();
  });

  it('cancel: -EALREADY, then the read is ended with -ECANCELED', async () => {
    const f = fifo();
    // latencySample 1: the read's start is counted (latency.submitToStart) once a worker claimed it;
    // popped and not yet claimed, it would still be cancelled as queued (0).
    const local = await Runtime.create({ workers: 2, ringSize: 16, latencySample: 1 });
    const b = local.alloc(16);
    const s = local.submit(chain().read(f.fd, b, 16).build());
    await waitUntil('a worker started the read', () => local.stats().latency.submitToStart.count >= 1);
    // Claimed; and inside its read a moment later (a chain cancelled between its claim and its first
    // atom ends there, with steps 0).
    await new Promise((r) => setTimeout(r, 100));
    expect(local.cancel(s.id)).toBe(-errno.EALREADY);
    expect(await s).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED, atom: 0, steps: 1 });
    expect(local.cancel(s.id)).toBe(-errno.ENOENT);
    await stillWorks(local, 2);
    await release(local, f, 16);
    await local.close();
  });

  it('close({ force: true }) ends it with -ECANCELED and resolves; a kqueue gets exactly one event', async () => {
    const f = fifo();
    const local = await Runtime.create({ workers: 1, ringSize: 16 });
    const kq = local.kqueue();
    const b = local.alloc(16);
    const s = local.submit(chain().read(f.fd, b, 16).build(), { kq, udata: 7 });
    const viaPromise = local.submit(chain().read(f.fd, b, 16).build());
    await new Promise((r) => setTimeout(r, 50));
    const events: { ident: unknown; data: unknown }[] = [];
    const reaping = (async () => {
      // Until close() closes the kqueue (after the submissions settled).
      for (let i = 0; i < 400 && !kq.closed; i++) {
        const evs = await kq.kevent(null, 8, 25).catch((e: { code?: string }) => {
          if (e.code !== 'EBADF') throw e;
          return [];
        });
        for (const ev of evs) events.push({ ident: ev.ident, data: ev.data });
      }
    })();
    await local.close({ force: true });
    await reaping;
    expect(s.completion).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED, atom: 0, udata: 7 });
    expect(viaPromise.completion).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
    expect(events.filter((e) => e.ident === s.id)).toEqual([{ ident: s.id, data: -errno.ECANCELED }]);
    await release(local, f, 16);
  });

  // Regression (found when the growing pool met the stuck-chain handling): the one worker blocked
  // in a read with a second read waiting grows the pool; the extra takes the second read and blocks
  // too. close({ force: true }) used to wait for the extra thread's exit, which a thread inside
  // read() never gives until the call returns: close hung until someone wrote to the pipe.
  it('close({ force: true }) resolves while a pool extra is stuck in a read too', async () => {
    const f = fifo();
    const local = await Runtime.create({ workers: 1, ringSize: 16 });
    const b = local.alloc(16);
    const first = local.submit(chain().read(f.fd, b, 16).build());
    const second = local.submit(chain().read(f.fd, b, 16).build());
    for (let i = 0; i < 3000 && local.stats().pool!.grew === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(local.stats().pool!.grew).toBeGreaterThanOrEqual(1);
    // Both reads are inside read() now, or about to be: either way the close must not wait on them.
    let hung = true;
    const closed = local.close({ force: true }).then(() => {
      hung = false;
    });
    for (let i = 0; i < 600 && hung; i++) await new Promise((r) => setTimeout(r, 50));
    expect(hung).toBe(false);
    await closed;
    expect(first.completion).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
    expect(second.completion).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
    await release(local, f, 16);
  });
});
