// rt.record(): a program's own runtime recorded, in the shape syslet profile reports.
import path from 'node:path';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Runtime, type ProfileResult, type Submission } from '../../dist/index.js';
import { Span } from '../../dist/record/result.js';
import { useRuntime } from '../helpers.js';

const env = useRuntime({ workers: 2 });

const nop = (i: number) => ({ atoms: [{ op: 'nop' as const, args: [i] }] });

async function storm(rt: Runtime, n: number, file?: string): Promise<Submission[]> {
  const subs: Submission[] = [];
  for (let i = 0; i < n; i++) subs.push(rt.submit(file === undefined ? nop(i) : { atoms: [{ op: 'stat', args: [file] }] }));
  await Promise.all(subs.map((s) => s.promise));
  return subs;
}

/** How many of `subs` were timed (their completions carry timing). */
function timed(subs: Submission[]): number {
  return subs.filter((s) => s.completion!.timing !== undefined).length;
}

describe('rt.record()', () => {
  it("counts syslet/fs's batches as the chains they are: every call one atom, none failed, no threadlet", async () => {
    const { createFs } = await import('../../dist/fs/index.js');
    const sfs = await createFs(env.rt);
    const file = path.join(env.dir, 'fs-rec');
    fs.writeFileSync(file, 'x');
    const rec = env.rt.record({ intervalMs: 5, traceSpans: 1000 });
    const got = await Promise.all(Array.from({ length: 300 }, () => sfs.stat(file)));
    const r: ProfileResult = await rec.stop();
    expect(got.every((st) => st.size === 1)).toBe(true);
    const p = r.points[0]!;
    // However the calls were batched: each batch one chain, done; each call one atom.
    expect(p.chains.submitted).toBeGreaterThanOrEqual(1);
    expect(p.chains.submitted).toBeLessThanOrEqual(300);
    expect(p.chains).toMatchObject({ completed: p.chains.submitted, failed: 0 });
    expect(p.atoms.executed).toBe(300);
    expect(rec.trace!.producers[0]!.threadlets ?? []).toHaveLength(0);
    expect(rec.trace!.producers[0]!.spans.length / Span.FIELDS).toBe(p.chains.submitted);
  });

  it('covers exactly the chains submitted while recording: counts, spans, histograms, ring counters', async () => {
    const file = path.join(env.dir, 'f');
    fs.writeFileSync(file, 'x');
    await storm(env.rt, 100); // before: not in the recording
    const rec = env.rt.record({ intervalMs: 5, traceSpans: 1000 });
    expect(rec.recording).toBe(true);
    await storm(env.rt, 300, file);
    const r: ProfileResult = await rec.stop();
    expect(rec.recording).toBe(false);
    expect(r.tool).toBe('syslet record');
    expect(r.points).toHaveLength(1);
    const p = r.points[0]!;
    expect(p.chains).toMatchObject({ submitted: 300, completed: 300, failed: 0 });
    expect(p.producers).toEqual([{ producer: 1, thread: 'main thread', cq: p.producers[0]!.cq, submitted: 300, completed: 300, failed: 0, bursts: 0 }]);
    expect(p.latency.submitToStart.count).toBe(300);
    expect(p.latency.startToComplete.count).toBe(300);
    expect(p.latency.completeToReap.count).toBe(300);
    expect(p.rings.submission.pushes).toBe(300);
    expect(p.rings.submission.pops).toBe(300);
    expect(p.workers.reduce((a, w) => a + w.chains, 0)).toBe(300);
    expect(p.atoms.executed).toBe(300);
    expect(p.samples.t.length).toBeGreaterThanOrEqual(1);
    expect(p.runtime).toMatchObject({ index: expect.any(Number), attached: false, stoppedBy: 'stop', latencySample: 1, latencySampleBefore: 8 });
    // One span per chain, each in order: submitted <= started <= completed <= reaped, on a worker slot.
    const spans = rec.trace!.producers[0]!.spans;
    expect(spans.length / Span.FIELDS).toBe(300);
    const slots = new Set(p.workers.map((w) => w.slot));
    for (let o = 0; o < spans.length; o += Span.FIELDS) {
      expect(spans[o + Span.SUBMITTED]!).toBeLessThanOrEqual(spans[o + Span.STARTED]!);
      expect(spans[o + Span.STARTED]!).toBeLessThanOrEqual(spans[o + Span.COMPLETED]!);
      expect(spans[o + Span.COMPLETED]!).toBeLessThanOrEqual(spans[o + Span.REAPED]!);
      expect(slots.has(spans[o + Span.WORKER]!)).toBe(true);
    }
    // Stopping again gives the same result.
    expect(await rec.stop()).toBe(r);
  });

  it('times every chain while recording and puts the runtime latencySample (8) back after', async () => {
    const rec = env.rt.record();
    expect(timed(await storm(env.rt, 64))).toBe(64);
    await rec.stop();
    // One in 8 consecutive submissions is timed again.
    expect(timed(await storm(env.rt, 64))).toBe(8);
  });

  it('records twice in one runtime, one after the other and overlapping', async () => {
    const a = env.rt.record();
    await storm(env.rt, 20);
    const ra = await a.stop();
    const b = env.rt.record();
    await storm(env.rt, 30);
    const c = env.rt.record();
    await storm(env.rt, 40);
    const rb = await b.stop();
    // c still records: every chain is still timed.
    expect(timed(await storm(env.rt, 16))).toBe(16);
    const rc = await c.stop();
    expect(ra.points[0]!.chains.submitted).toBe(20);
    expect(rb.points[0]!.chains.submitted).toBe(70);
    expect(rc.points[0]!.chains.submitted).toBe(56);
    expect(rb.points[0]!.latency.startToComplete.count).toBe(70);
    expect(rc.points[0]!.latency.startToComplete.count).toBe(56);
    expect(ra.points[0]!.runtime!.index).toBe(rc.points[0]!.runtime!.index);
    expect(timed(await storm(env.rt, 64))).toBe(8);
  });

  it('stops when the runtime closes, after its submissions settled', async () => {
    const rt = await Runtime.create({ workers: 1, latencySample: 4 });
    const rec = rt.record({ intervalMs: 5 });
    for (let i = 0; i < 10; i++) rt.submit(nop(i));
    await rt.close();
    expect(rec.recording).toBe(false);
    const r = await rec.stop();
    expect(r.points[0]!.chains).toMatchObject({ submitted: 10, completed: 10, failed: 0 });
    expect(r.points[0]!.runtime).toMatchObject({ stoppedBy: 'close', latencySampleBefore: 4 });
    expect(rec.trace!.producers[0]!.spans.length / Span.FIELDS).toBe(10);
    expect(() => rt.record()).toThrow(/runtime is closed/);
  });

  it("records an attached thread's runtime: that thread's chains, the shared rings", async () => {
    const w = new Worker(new URL('../fixtures/record/attached-recorder.mjs', import.meta.url), {
      workerData: { handle: env.rt.share(), chains: 25 },
    });
    const threadId = w.threadId; // -1 once it exited
    const got = new Promise<{ result: ProfileResult; spans: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      // A thread that exits before it answers (its event loop emptied with work pending) fails
      // the test at once instead of leaving it waiting.
      w.once('exit', (code) => reject(new Error(`the attached thread exited (code ${code}) before it answered`)));
    });
    // This thread's chains meanwhile are not the worker's.
    await storm(env.rt, 10);
    const exited = new Promise((r) => w.once('exit', r));
    const { result, spans } = await got;
    await exited;
    const p = result.points[0]!;
    expect(p.runtime).toMatchObject({ attached: true, stoppedBy: 'stop' });
    expect(p.chains).toMatchObject({ submitted: 25, completed: 25, failed: 0 });
    expect(p.producers[0]!.thread).toBe(`thread ${threadId}`);
    expect(p.label).toBe(`runtime 1 (attached on thread ${threadId})`);
    expect(spans).toBe(25);
    expect(p.rings.submission.pushes).toBeGreaterThanOrEqual(25);
    expect(p.config.workers).toBe(2);
  });

  it('keeps threadlet calls as spans: inline, moved (with the journal replay), on a worker', async () => {
    const { sizeOf, readAfterStats } = (await import('../fixtures/record/fns.mjs')) as typeof import('../fixtures/record/fns.mjs');
    const file = path.join(env.dir, 'g');
    fs.writeFileSync(file, 'hello');
    const rec = env.rt.record();
    const inline = sizeOf.run(env.rt, file);
    const moved = readAfterStats.submit(env.rt, [file], { migrateAt: 3 });
    const onWorker = sizeOf.submit(env.rt, [file], { start: 'worker' });
    expect([await inline, await moved, await onWorker]).toEqual([5, 5, 5]);
    expect([inline.placement, moved.placement, onWorker.placement]).toEqual(['inline', 'migrated', 'worker']);
    const r = await rec.stop();
    const t = rec.trace!.producers[0]!;
    expect(t.spans.length).toBe(0);
    expect(r.points[0]!.chains.submitted).toBe(0);
    const byPlacement = new Map(t.threadlets!.map((s) => [s.placement, s]));
    expect(t.threadlets).toHaveLength(3);
    const i = byPlacement.get('inline')!;
    expect(i).toMatchObject({ name: 'sizeOf', worker: -1, outcome: 'fulfilled', journaled: 1 });
    expect(i.end).toBeGreaterThanOrEqual(i.start);
    const m = byPlacement.get('migrated')!;
    expect(m).toMatchObject({ name: 'readAfterStats', movedAt: 'fs.readFileSync', journaled: 2, outcome: 'fulfilled' });
    expect(m.end).toBeLessThanOrEqual(m.submitted);
    expect(m.started).toBeLessThanOrEqual(m.replayed);
    expect(m.replayed).toBeLessThanOrEqual(m.completed);
    expect(m.completed).toBeLessThanOrEqual(m.reaped);
    expect(m.worker).toBeGreaterThanOrEqual(0);
    const k = byPlacement.get('worker')!;
    expect(k).toMatchObject({ name: 'sizeOf', journaled: 0, replayed: 0, outcome: 'fulfilled' });
    expect(k.worker).toBeGreaterThanOrEqual(0);
    expect(k.started).toBeGreaterThan(0);
  });

  it('refuses bad options, naming them', () => {
    expect(() => env.rt.record({ intervalMs: 0 })).toThrow('record: options.intervalMs: expected an integer from 1 to 60000, got 0');
    expect(() => env.rt.record({ traceSpans: -1 })).toThrow(/options\.traceSpans: expected an integer from 0/);
    expect(() => env.rt.record({ bogus: 1 } as never)).toThrow('record: options.bogus: unknown option');
  });
});

describe('rt.record() and the pool', () => {
  it("plots the pool's size over time and lists why it grew, in the result, the reports and the trace", async () => {
    const { renderTerminal } = await import('../../dist/cli/report/terminal.js');
    const { renderHtml } = await import('../../dist/cli/report/html.js');
    const { traceEvents } = await import('../../dist/cli/report/trace.js');
    // One base worker; the extra stays (a minute's idle time) until the recording stops.
    const rt = await Runtime.create({ workers: 1, maxWorkers: 3, extraWorkerIdleMs: 60_000 });
    try {
      const rec = rt.record({ intervalMs: 5 });
      // The worker sleeps for ten minutes: these stats complete only if the pool grows.
      const gate = rt.submit({ atoms: [{ op: 'nanosleep', args: [600e9] }] });
      const stats = await Promise.all(Array.from({ length: 50 }, () => rt.run({ atoms: [{ op: 'stat', args: ['/'] }] })));
      expect(stats.every((c) => c.status === 'done' && c.result === 0)).toBe(true);
      // stop() takes a last sample: the extra is still in the pool then.
      const r = await rec.stop();
      const p = r.points[0]!;
      const size = p.samples.poolSize!;
      expect(size).toHaveLength(p.samples.t.length);
      expect(size[0]).toBe(1);
      expect(size[size.length - 1]).toBe(2);
      expect(p.pool).toMatchObject({ base: 1, max: 3, grew: 1, retired: 0, atBound: 0 });
      expect(p.pool!.changes).toHaveLength(1);
      const c = p.pool!.changes[0]!;
      expect(c).toMatchObject({ change: 'grew', size: 2 });
      expect(c.reason).toMatch(/^the only worker blocked for 1 ms or more in a system call or intercepted call while \d+ requests? waited$/);
      // Within the recording, on the samples' clock.
      expect(c.t).toBeGreaterThanOrEqual(0);
      expect(c.t).toBeLessThanOrEqual(p.samples.t[p.samples.t.length - 1]!);

      const text = renderTerminal(r, { color: false, columns: 200 });
      expect(text).toMatch(/pool size \(workers\)\s+1(\.\d+)?\s+2\b/);
      expect(text).toContain('pool: base 1, bound 3; grew 1, extras retired 0, refused at the bound 0');
      expect(text).toContain(`grew → 2 workers: ${c.reason}`);
      const html = renderHtml(r);
      expect(html).toContain('Pool size over time');
      expect(html).toContain('<h3>Pool changes</h3>');
      expect(html).toContain(`<td>${c.reason}</td>`);
      const trace = traceEvents(r, [rec.trace!]);
      const counters = trace.traceEvents.filter((e) => e.ph === 'C' && e.name === 'pool size');
      expect(counters.map((e) => (e.args as { workers: number }).workers)).toEqual(size);
      const instants = trace.traceEvents.filter((e) => e.ph === 'i' && e.name === 'pool grew → 2');
      expect(instants).toHaveLength(1);
      expect(instants[0]!.args).toEqual({ size: 2, reason: c.reason });

      rt.cancel(gate.id);
      expect(await gate).toMatchObject({ status: 'cancelled' });
    } finally {
      await rt.close();
    }
  });

  it('a fixed pool records its size and no pool changes', async () => {
    const rt = await Runtime.create({ workers: 2, maxWorkers: 2 });
    try {
      const rec = rt.record({ intervalMs: 5 });
      await storm(rt, 100);
      const p = (await rec.stop()).points[0]!;
      expect(new Set(p.samples.poolSize)).toEqual(new Set([2]));
      expect(p.pool).toEqual({ base: 2, max: 2, grew: 0, retired: 0, atBound: 0, changes: [] });
    } finally {
      await rt.close();
    }
  });
});
