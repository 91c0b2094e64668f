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

  /** Wake everybody (shutdown, close). */
  notifyAll(): void {
    Atomics.add(this.i32, this.f.event, 1);
    Atomics.notify(this.i32, this.f.event);
  }

  sleepers(): number {
    return Atomics.load(this.i32, this.f.sleepers);
  }
}

/**
 * A ref'd libuv handle held while a thread has something outstanding, so that the process stays
 * alive while a pending Atomics.waitAsync (which holds no handle of its own) waits for a worker.
 * Released when nothing is outstanding, so an idle process exits.
 */
export class Keepalive {
  #timer: ReturnType<typeof setInterval> | undefined;
  #held = false;

  hold(): void {
    if (this.#held) return;
    this.#held = true;
    if (this.#timer === undefined) this.#timer = setInterval(noop, 2 ** 30);
    else this.#timer.ref();
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#timer?.unref();
  }

  get held(): boolean {
    return this.#held;
  }

  dispose(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#held = false;
  }
}

function noop(): void {}

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
