/**
 * EventCount.waitAnyAsync: a waiter that lost a race stays registered on its word (a pending
 * Atomics.waitAsync cannot be withdrawn). A later notify() wakes one waiter, oldest first, and holds
 * the WAKING token until a woken waiter re-checks; when that one is the stale loser, it must pass
 * the wake-up on, or the live waiter behind it sleeps through a publish (a lost wake-up).
 */
import { describe, expect, it } from 'vitest';
import { EventCount } from '../dist/index.js';

function eventCount(): EventCount {
  return new EventCount(new Int32Array(new SharedArrayBuffer(5 * 4)), { event: 0, sleepers: 1, parks: 2, wakes: 3, waking: 4 });
}

/** Resolves with what `p` gave, or 'pending' if it has not settled within `ms` (a liveness bound). */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

describe('EventCount.waitAnyAsync', () => {
  it("a notify that reaches a race's stale loser still wakes the live waiter behind it", async () => {
    const a = eventCount();
    const b = eventCount();
    let published = false;
    // Race 1 over a and b: a's notify wins it; the wait on b stays registered, abandoned.
    const first = EventCount.waitAnyAsync([a, b], () => false);
    expect(first).toBeDefined();
    expect(a.notify()).toBe(true);
    await first;
    // The live waiter: race 2 over b alone (prepare, re-check, wait), behind the stale one.
    const live = EventCount.waitAnyAsync([b, eventCount()], () => published);
    expect(live).toBeDefined();
    // Publish, then notify b once: one wake-up, given to the oldest waiter on b (the stale one).
    published = true;
    expect(b.notify()).toBe(true);
    expect(await within(live!, 5_000)).toBe('ok');
    // Every waiter of b is counted out, and the token is free for the next notify.
    expect(b.sleepers()).toBe(0);
    expect(Atomics.load(b.i32, 4)).toBe(0);
  });

  it('a loser that was never notified does not swallow a later single notify either (control: one race, one live)', async () => {
    const b = eventCount();
    let published = false;
    const live = EventCount.waitAnyAsync([b, eventCount()], () => published);
    published = true;
    expect(b.notify()).toBe(true);
    expect(await within(live!, 5_000)).toBe('ok');
    expect(b.sleepers()).toBe(0);
  });
});
