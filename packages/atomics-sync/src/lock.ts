/**
 * A mutex in one shared word, for the rare slow paths (arena allocation, the completion overflow
 * backlog). Ulrich Drepper's "Futexes Are Tricky", mutex 2: 0 = unlocked, 1 = locked,
 * 2 = locked with (possible) waiters. Spins briefly before parking with Atomics.wait.
 *
 * Critical sections guarded by it are a few hundred nanoseconds long, so the caller thread may
 * take it too: Node allows Atomics.wait on the main thread, and the wait is bounded by another
 * thread's short critical section.
 */

const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;
const SPINS = 200;

export class SharedMutex {
  constructor(
    readonly i32: Int32Array,
    /** Index of the lock word. */
    readonly word: number,
    /** Index of a stats word counting contended acquisitions, or -1. */
    readonly contentionStat = -1,
  ) {}

  lock(): void {
    const i32 = this.i32;
    const w = this.word;
    let c = Atomics.compareExchange(i32, w, UNLOCKED, LOCKED);
    if (c === UNLOCKED) return;
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(i32, w) === UNLOCKED) {
        c = Atomics.compareExchange(i32, w, UNLOCKED, LOCKED);
        if (c === UNLOCKED) return;
      }
    }
    if (this.contentionStat >= 0) Atomics.add(i32, this.contentionStat, 1);
    // Mark contended; whoever unlocks will notify. Pairs with unlock()'s sub/notify.
    if (c !== CONTENDED) c = Atomics.exchange(i32, w, CONTENDED);
    while (c !== UNLOCKED) {
      Atomics.wait(i32, w, CONTENDED);
      c = Atomics.exchange(i32, w, CONTENDED);
    }
  }

  unlock(): void {
    // Pairs with lock()'s exchange: a previous value of CONTENDED means somebody may sleep.
    if (Atomics.sub(this.i32, this.word, 1) !== LOCKED) {
      Atomics.store(this.i32, this.word, UNLOCKED);
      Atomics.notify(this.i32, this.word, 1);
    }
  }

  /** Run `fn` holding the lock. */
  with<T>(fn: () => T): T {
    this.lock();
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }
}
