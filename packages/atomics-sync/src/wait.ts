/**
 * Waiting on shared memory: bounded spinning, then parking on an eventcount.
 *
 * An eventcount is two shared words: EVENT (a counter that waiters sleep on) and SLEEPERS (how
 * many waiters announced that they are about to sleep). The protocol avoids a notify per publish
 * and never loses a wake-up:
 *
 *   waiter                                   notifier
 *   key = load(EVENT)                        publish (a seq-cst store: the ring stamp)
 *   add(SLEEPERS, 1)            (A)          if load(SLEEPERS) > 0           (B)
 *   re-check the condition; if it holds,         add(EVENT, 1); notify(EVENT)
 *     sub(SLEEPERS, 1) and go on
 *   wait(EVENT, key)
 *   sub(SLEEPERS, 1)
 *
 * All Atomics operations are sequentially consistent, so either (B) observes (A) and bumps EVENT
 * (the wait then returns at once with 'not-equal', or is woken by the notify), or (A) comes after
 * (B), and then the waiter's re-check comes after the publish and sees it.
 *
 * A third word, WAKING, keeps one wake-up in flight at a time. A waiter takes a while to run again
 * after a notify (tens of microseconds; longer for Atomics.waitAsync, which resolves through the
 * event loop), and until it does, SLEEPERS still counts it, so without the token every publish in
 * that window would pay for another notify. The notifier takes the token with a CAS 0 -> 1 before
 * notifying and skips when it is taken; every waiter drops it (stores 0) in prepare() and again
 * when its wait returns, before it looks at the condition. The token can therefore only stay taken
 * while some waiter has yet to pass one of those two points, and that waiter re-checks the
 * condition after dropping it: a publish whose notify was skipped is always seen.
 */

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Word indices of one eventcount inside an Int32Array. */
export interface EventCountFields {
  /** Counter that waiters park on; bumped by notifiers. */
  readonly event: number;
  /** Number of threads between prepare() and the end of their wait. */
  readonly sleepers: number;
  /** Stats word: parks (waits that really slept or tried to). */
  readonly parks: number;
  /** Stats word: wake-ups issued (notify calls made because someone slept). */
  readonly wakes: number;
  /** The wake-up token (see above). */
  readonly waking: number;
}

export class EventCount {
  constructor(
    readonly i32: Int32Array,
    readonly f: EventCountFields,
  ) {}

  /** Waiter, step 1: announce the intent to sleep. Returns the key to pass to wait. */
  prepare(): number {
    const key = Atomics.load(this.i32, this.f.event);
    // (A) pairs with notify()'s load of SLEEPERS (B).
    Atomics.add(this.i32, this.f.sleepers, 1);
    // Drop the token before the caller's re-check (pairs with notify()'s CAS).
    Atomics.store(this.i32, this.f.waking, 0);
    return key;
  }

  /** Waiter: the re-check found work; leave without sleeping. */
  cancel(): void {
    Atomics.sub(this.i32, this.f.sleepers, 1);
  }

  #woke(): void {
    Atomics.sub(this.i32, this.f.sleepers, 1);
    // Pairs with notify()'s CAS: the caller re-checks its condition after this.
    Atomics.store(this.i32, this.f.waking, 0);
  }

  /** Waiter, step 2 (threads that may block): sleep until notified or the timeout passes. */
  waitSync(key: number, timeoutMs: number = Infinity): WaitResult {
    Atomics.add(this.i32, this.f.parks, 1);
    const r = Atomics.wait(this.i32, this.f.event, key, timeoutMs);
    this.#woke();
    return r;
  }

  /**
   * Waiter, step 2 (threads that must not block): resolves when notified or timed out.
   * A pending Atomics.waitAsync does not keep Node's event loop alive: the caller holds a ref'd
   * handle while it waits (see Keepalive).
   */
  waitAsync(key: number, timeoutMs: number = Infinity): Promise<WaitResult> {
    Atomics.add(this.i32, this.f.parks, 1);
    const r = Atomics.waitAsync(this.i32, this.f.event, key, timeoutMs);
    if (!r.async) {
      this.#woke();
      return Promise.resolve(r.value);
    }
    return r.value.then((v) => {
      this.#woke();
      return v;
    });
  }

  /** Notifier: call after publishing. Wakes up to `count` sleepers; free when nobody sleeps. */
  notify(count: number = 1): boolean {
    // (B) pairs with prepare()'s add (A).
    if (Atomics.load(this.i32, this.f.sleepers) === 0) return false;
    // One wake-up in flight at a time; pairs with the waiters' stores of 0.
    if (Atomics.compareExchange(this.i32, this.f.waking, 0, 1) !== 0) return false;
    Atomics.add(this.i32, this.f.event, 1);
    Atomics.notify(this.i32, this.f.event, count);
    Atomics.add(this.i32, this.f.wakes, 1);
    return true;
  }

  /**
   * The whole waiting sequence for a thread that may block: spin up to `spinUs` for `ready()`,
   * then prepare, re-check, and wait (or cancel when the re-check found it). Returns whether
   * `ready()` held; false once `timeoutMs` passed. Every synchronous wait on shared memory goes
   * through here, so the lost-wake-up rules of the header live in one place.
   */
  waitUntil(ready: () => boolean, spinUs: number, timeoutMs: number = Infinity): boolean {
    if (spinUntil(ready, spinUs)) return true;
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const key = this.prepare();
      if (ready()) {
        this.cancel();
        return true;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        this.cancel();
        return false;
      }
      this.waitSync(key, left);
      if (ready()) return true;
    }
  }

  /**
   * The asynchronous form, over several eventcounts at once (a thread's completion queue and the
   * kqueues it also reaps): prepare on each, re-check `ready()`, then wait until any of them is
   * notified or `timeoutMs` passes. Resolves without waiting when the re-check holds. The caller
   * re-checks after it resolves (a wake-up says "look", not "it is there"). To wake such a waiter
   * for a reason it cannot see in shared memory, set what `ready()` reads and notifyAll() one of
   * the eventcounts.
   */
  static waitAnyAsync(counts: readonly EventCount[], ready: () => boolean, timeoutMs: number = Infinity): Promise<unknown> | undefined {
    if (counts.length === 1) {
      const c = counts[0]!;
      const key = c.prepare();
      if (ready()) {
        c.cancel();
        return undefined;
      }
      return c.waitAsync(key, timeoutMs);
    }
    const keys = counts.map((c) => c.prepare());
    if (ready()) {
      for (const c of counts) c.cancel();
      return undefined;
    }
    // The losers of the race stay registered (a pending Atomics.waitAsync cannot be withdrawn)
    // until their own notify or timeout. A notify that reaches such a loser first took the one
    // wake-up that word's notifier gave (notify() wakes one waiter, FIFO, and holds the WAKING
    // token until a woken waiter re-checks), and a loser re-checks nothing: it passes the wake-up on
    // to the next waiter on the word (#forward), so the waiter that re-checks still gets it.
    const race = { settled: false };
    return Promise.race(counts.map((c, k) => c.#waitRaced(keys[k]!, timeoutMs, race)));
  }

  /** waitAsync for one eventcount of a waitAnyAsync race: the first to settle wins it. */
  #waitRaced(key: number, timeoutMs: number, race: { settled: boolean }): Promise<WaitResult> {
    Atomics.add(this.i32, this.f.parks, 1);
    const r = Atomics.waitAsync(this.i32, this.f.event, key, timeoutMs);
    if (!r.async) {
      race.settled = true;
      this.#woke();
      return Promise.resolve(r.value);
    }
    return r.value.then((v) => {
      const lost = race.settled;
      race.settled = true;
      if (lost && v === 'ok') this.#forward();
      else this.#woke();
      return v;
    });
  }

  /**
   * A waiter that lost its waitAnyAsync race was notified: leave (SLEEPERS) and hand the wake-up to
   * the next waiter on the word, keeping the WAKING token for it to drop; with nobody left there,
   * drop the token (as #woke does), so the next notify is not skipped.
   */
  #forward(): void {
    Atomics.sub(this.i32, this.f.sleepers, 1);
    if (Atomics.notify(this.i32, this.f.event, 1) === 0) Atomics.store(this.i32, this.f.waking, 0);
  }

  /** Wake everybody (shutdown, close). */
  notifyAll(): void {
    Atomics.add(this.i32, this.f.event, 1);
    Atomics.notify(this.i32, this.f.event);
  }

  sleepers(): number {
    return Atomics.load(this.i32, this.f.sleepers);
  }
}

/** Where a WaiterSet's words live. */
export interface WaiterSetFields {
  /** Holds the bitmap and the waiters' park words. */
  readonly words: Int32Array;
  /** First bitmap word: bit (i & 31) of word (i >> 5) is set while waiter i is parked. */
  readonly bitmap: number;
  /** Number of waiters (indices 0 .. waiters-1). */
  readonly waiters: number;
  /** Waiter i parks on words[first + i * stride]. */
  readonly first: number;
  readonly stride: number;
  /** Holds the counters (may be another array than `words`). */
  readonly counts: Int32Array;
  /** Waiters parked and not yet woken: the set bits of the bitmap, as a count. */
  readonly sleepers: number;
  /** Stats: parks (waits that slept or tried to). */
  readonly parks: number;
  /** Stats: wake-ups issued. */
  readonly wakes: number;
}

/**
 * An eventcount per waiter, with a bitmap of the parked ones, so that a notifier wakes a chosen
 * waiter: the lowest-numbered one parked. Used for worker pools: a trickle of work keeps going to
 * the same worker (its code stays optimized and its caches warm, where a single futex word would
 * wake the workers in turn, FIFO), and the higher-numbered workers stay parked, so that a pool that
 * grew can see which workers it no longer needs.
 *
 *   waiter i                                 notifier
 *   key = load(PARK_i)                       publish (seq-cst)
 *   or(BITMAP, bit i)            (A)         v = load(BITMAP)                     (B)
 *   re-check the condition; if it holds,     pick the lowest bit b of v; CAS it clear
 *     and(BITMAP, ~bit i), go on               (retry on a lost CAS)
 *   wait(PARK_i, key)                        add(PARK_b, 1); notify(PARK_b)
 *   and(BITMAP, ~bit i)
 *
 * As with EventCount: either (B) sees (A) and the waiter is woken (its wait returns at once when
 * PARK_i moved after its key), or the re-check comes after the publish and sees it. Only the
 * notifier that cleared a waiter's bit wakes it, so concurrent notifiers wake distinct waiters, and
 * a woken waiter needs no token to keep others from waking it again: whoever clears the bit counts
 * the waiter out of SLEEPERS, so SLEEPERS says how many are parked and not yet woken, and a
 * submitter can compare the work queued with the workers awake.
 */
export class WaiterSet {
  constructor(readonly f: WaiterSetFields) {}

  /** Waiter i, step 1. Returns the key for waitSync. */
  prepare(i: number): number {
    const f = this.f;
    const key = Atomics.load(f.words, f.first + i * f.stride);
    Atomics.add(f.counts, f.sleepers, 1);
    // (A): pairs with wakeOne()'s load of the bitmap (B).
    Atomics.or(f.words, f.bitmap + (i >> 5), 1 << (i & 31));
    return key;
  }

  /** Waiter i: the re-check found work. Counts it out of SLEEPERS unless a notifier did. */
  cancel(i: number): void {
    const f = this.f;
    const bit = 1 << (i & 31);
    if ((Atomics.and(f.words, f.bitmap + (i >> 5), ~bit) & bit) !== 0) Atomics.sub(f.counts, f.sleepers, 1);
  }

  /** Waiter i, step 2: sleep until woken or the timeout passes. */
  waitSync(i: number, key: number, timeoutMs: number = Infinity): WaitResult {
    const f = this.f;
    Atomics.add(f.counts, f.parks, 1);
    const r = Atomics.wait(f.words, f.first + i * f.stride, key, timeoutMs);
    // Timed out (or never slept): leave the set. A notifier may have cleared the bit already.
    this.cancel(i);
    return r;
  }

  /**
   * Waiter i: prepare, re-check `ready()`, and sleep unless it holds (up to `timeoutMs`). Returns
   * whether it slept. The caller looks again either way.
   */
  park(i: number, ready: () => boolean, timeoutMs: number = Infinity): boolean {
    const key = this.prepare(i);
    if (ready()) {
      this.cancel(i);
      return false;
    }
    this.waitSync(i, key, timeoutMs);
    return true;
  }

  /** Whether waiter i is parked (its bit is set). */
  parked(i: number): boolean {
    return (Atomics.load(this.f.words, this.f.bitmap + (i >> 5)) & (1 << (i & 31))) !== 0;
  }

  /** Notifier: wake the lowest-numbered parked waiter. Returns its index, or -1 if none is parked. */
  wakeOne(): number {
    const f = this.f;
    const n = (f.waiters + 31) >> 5;
    for (let w = 0; w < n; w++) {
      // (B): pairs with prepare()'s or (A).
      let v = Atomics.load(f.words, f.bitmap + w);
      while (v !== 0) {
        const bit = v & -v;
        const seen = Atomics.compareExchange(f.words, f.bitmap + w, v, v & ~bit);
        if (seen !== v) {
          v = seen;
          continue;
        }
        const i = w * 32 + (31 - Math.clz32(bit));
        // The waiter is awake from here on, for whoever counts sleepers to decide on wake-ups.
        Atomics.sub(f.counts, f.sleepers, 1);
        const word = f.first + i * f.stride;
        Atomics.add(f.words, word, 1);
        Atomics.notify(f.words, word, 1);
        Atomics.add(f.counts, f.wakes, 1);
        return i;
      }
    }
    return -1;
  }

  /** Wake every waiter, parked or about to park (shutdown). */
  wakeAll(): void {
    const f = this.f;
    for (let i = 0; i < f.waiters; i++) {
      const word = f.first + i * f.stride;
      Atomics.add(f.words, word, 1);
      Atomics.notify(f.words, word);
    }
  }

  sleepers(): number {
    return Atomics.load(this.f.counts, this.f.sleepers);
  }
}

/**
 * A ref'd libuv handle held while a thread has something outstanding, so that the process stays
 * alive while a pending Atomics.waitAsync (which holds no handle of its own) waits for a worker.
 * Released when nothing is outstanding, so an idle process exits.
 *
 * With a `tick`, the handle is also a periodic timer: `tick.fn` runs every `tick.ms` while held
 * (the reaper's look-again bound, client.ts). Once released it stops by itself at its next firing
 * (at most `tick.ms` later), so an idle thread has no timer at all, and a thread that goes idle
 * and busy again every few milliseconds reuses one timer instead of making one per busy spell.
 */
export class Keepalive {
  #timer: ReturnType<typeof setInterval> | undefined;
  #held = false;
  readonly #tick: { readonly ms: number; readonly fn: () => void } | undefined;

  constructor(tick?: { readonly ms: number; readonly fn: () => void }) {
    this.#tick = tick;
  }

  hold(): void {
    if (this.#held) return;
    this.#held = true;
    if (this.#timer === undefined) this.#timer = setInterval(this.#fire, this.#tick?.ms ?? 2 ** 30);
    else this.#timer.ref();
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#timer?.unref();
  }

  /** Whether a timer exists (held, or released less than one tick ago). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  readonly #fire = (): void => {
    if (this.#held) {
      this.#tick?.fn();
      return;
    }
    // Released since the last firing: stop (hold() makes a new timer).
    if (this.#tick !== undefined) this.dispose();
  };

  dispose(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#held = false;
  }
}

/**
 * Busy-wait until `ready()` holds or `budgetUs` microseconds pass. Returns whether it held.
 * Reads the clock every 64 polls to keep the loop cheap.
 */
export function spinUntil(ready: () => boolean, budgetUs: number): boolean {
  if (ready()) return true;
  if (budgetUs <= 0) return false;
  const end = performance.now() + budgetUs / 1000;
  for (let i = 1; ; i++) {
    if (ready()) return true;
    if ((i & 63) === 0 && performance.now() >= end) return false;
  }
}
