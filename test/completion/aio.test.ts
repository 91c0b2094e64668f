// Completions through kqueues: EVFILT_AIO events, exactly once, on this thread and on workers.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  EVFILT_AIO,
  EV_DELETE,
  EV_DISABLE,
  EV_ENABLE,
  EV_ONESHOT,
  EV_SET,
  SYSLET_NO_COMPLETE,
  SYSLET_SYNC,
  chain,
  Runtime,
  errno,
  type KEvent,
  type Kqueue,
} from '../../dist/index.js';
import { useRuntime } from '../helpers.js';


const env = useRuntime({ workers: 2 });

async function reap(kq: Kqueue, n: number): Promise<KEvent[]> {
  const out: KEvent[] = [];
  while (out.length < n) out.push(...(await kq.kevent(null, 1024, 10_000)));
  return out;
}

describe('EVFILT_AIO', () => {
  it('delivers a chain completion as { ident: id, filter: EVFILT_AIO, flags: EV_ONESHOT, data: result, udata }', async () => {
    const kq = env.rt.kqueue();
    const u = { tag: 'mine' };
    const sub = env.rt.submit(chain().getpid().build(), { kq, udata: u });
    const [ev] = await reap(kq, 1);
    expect(ev).toEqual({ ident: sub.id, filter: EVFILT_AIO, flags: EV_ONESHOT, fflags: 0, data: process.pid, udata: u });
    // The submission's promise settles too, with the whole completion.
    expect(await sub).toMatchObject({ id: sub.id, status: 'done', result: process.pid, udata: u });
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    kq.close();
  });

  it('settles the promise even when nobody calls kevent, and keeps the event for later', async () => {
    const kq = env.rt.kqueue();
    const c = await env.rt.run(chain().nop(7).build(), { kq });
    expect(c.result).toBe(7);
    expect((await kq.kevent(null, 8, 0)).map((e) => e.data)).toEqual([7]);
    kq.close();
  });

  it('100,000 chains through one kqueue: every id delivered exactly once', async () => {
    const kq = env.rt.kqueue();
    const ids = new Set<number>();
    const n = 100_000;
    let submitted = 0;
    const counts = new Map<number, number>();
    while (submitted < n || counts.size < n) {
      for (let k = 0; k < 5000 && submitted < n; k++, submitted++) {
        ids.add(env.rt.submit({ atoms: [{ op: 'nop', args: [submitted] }] }, { kq, udata: submitted }).id);
      }
      for (const ev of await kq.kevent(null, 1024, 5000)) {
        expect(ev.filter).toBe(EVFILT_AIO);
        expect(ev.data).toBe(ev.udata);
        counts.set(ev.ident as number, (counts.get(ev.ident as number) ?? 0) + 1);
      }
    }
    expect(ids.size).toBe(n);
    expect(counts.size).toBe(n);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect([...ids].every((id) => counts.has(id))).toBe(true);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect(env.rt.stats().outstanding).toBe(0);
    kq.close();
  });

  it('posts no event for a chain that ends at a NO_COMPLETE atom; its promise still settles', async () => {
    const kq = env.rt.kqueue();
    const quiet = env.rt.submit({ atoms: [{ op: 'nop', flags: SYSLET_NO_COMPLETE }] }, { kq });
    const loud = env.rt.submit({ atoms: [{ op: 'nop' }] }, { kq });
    expect((await quiet).noComplete).toBe(true);
    await loud;
    expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([loud.id]);
    kq.close();
  });

  it('delivers a chain that finished inline (SYSLET_SYNC) through the kqueue too', async () => {
    const kq = env.rt.kqueue();
    const sub = env.rt.submit({ atoms: [{ op: 'nop', args: [3], flags: SYSLET_SYNC }] }, { kq });
    const [ev] = await reap(kq, 1);
    expect(ev).toMatchObject({ ident: sub.id, data: 3 });
    kq.close();
  });

  it('a change can disable or delete an AIO knote before its request completes', async () => {
    const kq = env.rt.kqueue();
    const slow = chain().nanosleep(30e6).nop(1).build();
    const a = env.rt.submit(slow, { kq });
    const b = env.rt.submit(slow, { kq });
    expect(await kq.kevent([EV_SET(a.id, EVFILT_AIO, EV_DELETE), EV_SET(b.id, EVFILT_AIO, EV_DISABLE)], 8, 0)).toEqual([]);
    await Promise.all([a.promise, b.promise]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([EV_SET(b.id, EVFILT_AIO, EV_ENABLE)], 8, 0)).map((e) => e.ident)).toEqual([b.id]);
    expect((await kq.kevent([EV_SET(12345678, EVFILT_AIO, EV_DELETE)], 8, 0))[0]!.data).toBe(errno.ENOENT);
    kq.close();
  });

  it('a request cancelled before it reached a slot still posts its one event', async () => {
    await using small = await Runtime.create({ workers: 1, ringSize: 2 });
    const kq = small.kqueue();
    const slow = chain().nanosleep(20e6).build();
    const held = [small.submit(slow, { kq }), small.submit(slow, { kq })];
    const waiting = small.submit(slow, { kq, udata: 'w' }); // no slot: waits in this thread's FIFO
    const aborted = new AbortController();
    aborted.abort();
    const never = small.submit(slow, { kq, signal: aborted.signal, udata: 'a' });
    expect(small.cancel(waiting.id)).toBe(0);
    const evs = await reap(kq, 4);
    const byId = new Map(evs.map((e) => [e.ident, e]));
    expect(byId.get(waiting.id)).toMatchObject({ filter: EVFILT_AIO, data: -errno.ECANCELED, udata: 'w' });
    expect(byId.get(never.id)).toMatchObject({ filter: EVFILT_AIO, data: -errno.ECANCELED, udata: 'a' });
    for (const h of held) expect(byId.get(h.id)!.data).toBe(0);
    kq.close();
  });

  it('a completion ring of 4 delivers 1000 events through its backlog, each once', async () => {
    await using small = await Runtime.create({ workers: 2, completionRingSize: 4 });
    const kq = small.kqueue();
    const ids = [];
    for (let i = 0; i < 1000; i++) ids.push(small.submit({ atoms: [{ op: 'nop' }] }, { kq }).id);
    const got = (await reap(kq, 1000)).map((e) => e.ident as number);
    expect(got.length).toBe(1000);
    expect(new Set(got).size).toBe(1000);
    expect(small.stats().rings.queues.find((q) => q.cq === kq.cq)!.overflow.total).toBeGreaterThan(0);
    kq.close();
  });
});

describe('kqueues on worker threads', () => {
  function runWorker(data: Record<string, unknown>, onReady?: () => void): Promise<{ mine: number[]; events: KEvent[] }> {
    return new Promise((resolve, reject) => {
      const w = new Worker(new URL('../fixtures/kq-worker.mjs', import.meta.url), { workerData: data });
      w.on('message', (m: { ready?: boolean; mine: number[]; events: KEvent[] }) => {
        if (m.ready === true) onReady?.();
        else resolve(m);
      });
      w.once('error', reject);
    });
  }

  it('a worker submits chains and reaps them with keventSync', async () => {
    const r = await runWorker({ handle: env.rt.share(), n: 2000, mode: 'own' });
    expect(r.events.length).toBe(2000);
    expect(new Set(r.events.map((e) => e.ident)).size).toBe(2000);
    expect(r.events.map((e) => e.ident as number).sort((x, y) => x - y)).toEqual([...r.mine].sort((x, y) => x - y));
    for (const e of r.events) expect(e.udata).toBe(1000 + e.data);
  });

  it('a shared kqueue: the worker reaps the main thread submissions too, whose promises settle here', async () => {
    const kq = env.rt.kqueue();
    const handle = kq.share();
    const extra = 500;
    const mine: Promise<unknown>[] = [];
    const r = await runWorker({ handle: env.rt.share(), kqHandle: handle, n: 1000, extra, mode: 'shared' }, () => {
      for (let i = 0; i < extra; i++) mine.push(env.rt.submit({ atoms: [{ op: 'nop', args: [i] }] }, { kq, udata: 7 }).promise);
    });
    const done = await Promise.all(mine);
    expect(done.length).toBe(extra);
    expect(r.events.length).toBe(1000 + extra);
    expect(new Set(r.events.map((e) => e.ident)).size).toBe(1000 + extra);
    // Numeric udata crosses threads; the main thread's events carry it.
    expect(r.events.filter((e) => e.udata === 7).length).toBe(extra);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    kq.close();
  });
});
