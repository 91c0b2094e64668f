import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { EMPTY, Ring, RingField } from '../dist/index.js';

const FIXTURE = new URL('./fixtures/ring-worker.mjs', import.meta.url);

function runThread(data: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(FIXTURE, { workerData: data });
    w.once('message', () => resolve());
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`thread exited with ${code}`))));
  });
}

/** Producers × consumers threads through a ring of `capacity`: every value exactly once. */
async function mpmc(capacity: number, producers: number, consumers: number, perProducer: number) {
  const ring = Ring.create(capacity);
  const total = producers * perProducer;
  const seen = new SharedArrayBuffer(total * 4);
  const consumed = new SharedArrayBuffer(4);
  const threads: Promise<void>[] = [];
  for (let c = 0; c < consumers; c++) {
    threads.push(runThread({ ring: ring.i32.buffer, role: 'consumer', total, seen, consumed }));
  }
  for (let p = 0; p < producers; p++) {
    threads.push(
      runThread({ ring: ring.i32.buffer, role: 'producer', base: p * perProducer, count: perProducer, total, seen, consumed }),
    );
  }
  await Promise.all(threads);
  const counts = new Int32Array(seen);
  let once = 0;
  let other = 0;
  for (const n of counts) {
    if (n === 1) once++;
    else other++;
  }
  return { once, other, counters: ring.counters(), consumed: new Int32Array(consumed)[0] };
}

describe('Ring (Vyukov bounded MPMC)', () => {
  it('keeps exact ring arithmetic: queue 4, full, pop 1, room for 1', () => {
    const r = Ring.create(4);
    expect(r.size()).toBe(0);
    expect(r.isEmpty()).toBe(true);
    expect(r.tryPop()).toBe(EMPTY);
    for (let i = 0; i < 4; i++) expect(r.tryPush(10 + i)).toBe(true);
    expect(r.size()).toBe(4);
    expect(r.tryPush(99)).toBe(false);
    expect(r.counters().fullEvents).toBe(1);
    expect(r.tryPop()).toBe(10);
    expect(r.size()).toBe(3);
    expect(r.tryPush(14)).toBe(true);
    expect(r.tryPush(15)).toBe(false);
    expect([r.tryPop(), r.tryPop(), r.tryPop(), r.tryPop(), r.tryPop()]).toEqual([11, 12, 13, 14, EMPTY]);
    const c = r.counters();
    expect(c.pushes).toBe(5);
    expect(c.pops).toBe(5);
    expect(c.occupancy).toBe(0);
    expect(c.fullEvents).toBe(2);
  });

  it('carries multi-word payloads', () => {
    const r = Ring.create(2, 3);
    expect(r.tryPush(1, 2, 3)).toBe(true);
    expect(r.tryPop()).toBe(1);
    expect([...r.popped.subarray(0, 3)]).toEqual([1, 2, 3]);
  });

  it('wraps its slot index: capacity 2, 10,000 values in order', () => {
    const r = Ring.create(2);
    for (let i = 0; i < 10_000; i++) {
      expect(r.tryPush(i)).toBe(true);
      expect(r.tryPop()).toBe(i);
    }
    expect(r.counters().pushes).toBe(10_000);
  });

  it('wraps its 32-bit positions past 2^32 and counts the laps', () => {
    const r = Ring.create(4);
    // Start both positions 6 short of 2^32, with the stamps a ring at that position would have.
    const start = -6;
    r.i32[RingField.ENQ_POS] = start;
    r.i32[RingField.DEQ_POS] = start;
    for (let i = 0; i < 4; i++) {
      const pos = (start + i) | 0;
      r.i32[RingField.SLOTS + (pos & 3) * 2] = pos;
    }
    for (let i = 0; i < 20; i++) {
      expect(r.tryPush(i)).toBe(true);
      expect(r.tryPush(100 + i)).toBe(true);
      expect(r.tryPop()).toBe(i);
      expect(r.tryPop()).toBe(100 + i);
    }
    expect(r.tryPop()).toBe(EMPTY);
    const c = r.counters();
    // 40 pushes from 2^32 - 6: the position is now 34 and one lap was counted.
    expect(Atomics.load(r.i32, RingField.ENQ_POS)).toBe(34);
    expect(Atomics.load(r.i32, RingField.ENQ_LAPS)).toBe(1);
    expect(c.pushes - c.pops).toBe(0);
  });

  // Regression: the runtime assumed a push to a ring with a slot per entry could not fail. It can:
  // a consumer that claimed a slot (CAS on DEQ_POS) but has not stored its release stamp yet (a
  // worker preempted between the two) leaves that slot unusable for the producer one lap later,
  // so tryPush reports "full" with fewer than `capacity` items queued. The runtime lost entries
  // this way under load; it now keeps such entries and pushes them again.
  it('reports full while a consumer sits between its claim and its release', () => {
    const r = Ring.create(2);
    expect(r.tryPush(1)).toBe(true);
    // A consumer claims position 0 and stalls before releasing the slot.
    expect(Atomics.compareExchange(r.i32, RingField.DEQ_POS, 0, 1)).toBe(0);
    expect(r.tryPush(2)).toBe(true); // slot 1 is free
    expect(r.size()).toBe(1); // one item queued...
    expect(r.tryPush(3)).toBe(false); // ...yet slot 0 is not released: "full"
    // The consumer finishes: stamp = pos + capacity.
    Atomics.store(r.i32, RingField.SLOTS, 2);
    expect(r.tryPush(3)).toBe(true);
    expect([r.tryPop(), r.tryPop(), r.tryPop()]).toEqual([2, 3, EMPTY]);
  });

  it('delivers 4 x 25,000 values through a capacity-4 ring to 4 consumers, each exactly once', async () => {
    const res = await mpmc(4, 4, 4, 25_000);
    expect(res.other).toBe(0);
    expect(res.once).toBe(100_000);
    expect(res.consumed).toBe(100_000);
    expect(res.counters.pushes).toBe(100_000);
    expect(res.counters.pops).toBe(100_000);
    expect(res.counters.occupancy).toBe(0);
  });

  it('delivers through a capacity-2 ring with 3 producers and 2 consumers, each exactly once', async () => {
    const res = await mpmc(2, 3, 2, 10_000);
    expect(res.other).toBe(0);
    expect(res.once).toBe(30_000);
    expect(res.counters.pops).toBe(30_000);
  });

  it('refuses shapes it cannot hold', () => {
    expect(() => Ring.create(3)).toThrow('ring capacity: expected a power of two between 2 and 2^28, got 3');
    expect(() => Ring.create(4, 5)).toThrow('ring payloadWords: expected 1 to 4, got 5');
    expect(() => new Ring(new SharedArrayBuffer(1024))).toThrow('no ring at byte offset 0');
  });
});
