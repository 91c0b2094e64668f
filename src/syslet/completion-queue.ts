/**
 * A completion queue: a ring of finished entry indices plus an overflow backlog, so that a full
 * ring never overwrites and never drops (io_uring's IORING_FEAT_NODROP, in user space).
 *
 * Producers (workers, or a submitter whose chain finished inline) call post(). While the backlog is
 * empty they push to the ring; when the ring is full, or while the backlog holds anything, they
 * append to the backlog instead, so records keep their order: everything in the ring was posted
 * before everything in the backlog. The backlog is an intrusive FIFO through the entries' OVF_NEXT
 * words (an entry is in at most one queue), guarded by a SharedMutex; it needs no memory of its own.
 *
 * Consumers call reap(): the ring first, then, once it is empty, the backlog.
 */
import { SharedMutex, EMPTY, type Ring, CACHE_LINE_WORDS } from 'atomics-sync';
import { entryOverflowNext, entryOverflowNextSet } from './entry.js';
import type { TableLayout } from './table.js';

/** Per-queue control words (in the runtime's control block), relative to the queue's base. */
export const CqField = {
  /** 0 free, 1 claimed by a client or a kqueue. */
  STATE: 0,
  OVF_LOCK: 1,
  OVF_HEAD: 2,
  OVF_TAIL: 3,
  /** Entries in the backlog; read without the lock by post()'s fast path. */
  OVF_COUNT: 4,
  /** Entries that ever went through the backlog. */
  OVF_TOTAL: 5,
  OVF_PEAK: 6,
  /** Contended backlog lock acquisitions. */
  OVF_CONTENDED: 7,
  WORDS: CACHE_LINE_WORDS,
} as const;

export interface OverflowStats {
  /** Records waiting in the backlog now. */
  backlog: number;
  /** Records that ever waited there. */
  total: number;
  peak: number;
}

export class CompletionQueue {
  readonly #mutex: SharedMutex;

  constructor(
    readonly ring: Ring,
    /** The runtime's control words. */
    readonly ctl: Int32Array,
    /** Index of this queue's CqField block in `ctl`. */
    readonly base: number,
    /** The request table's words (OVF_NEXT links). */
    readonly table: Int32Array,
    readonly layout: TableLayout,
  ) {
    this.#mutex = new SharedMutex(ctl, base + CqField.OVF_LOCK, base + CqField.OVF_CONTENDED);
  }

  /** Producer: publish finished entry `idx` and wake the consumers if they sleep. */
  post(idx: number): void {
    const ctl = this.ctl;
    const count = this.base + CqField.OVF_COUNT;
    // Fast path. Pairs with the locked path's Atomics.store of OVF_COUNT: while anything waits in
    // the backlog, new records must queue behind it.
    if (Atomics.load(ctl, count) !== 0 || !this.ring.tryPush(idx)) {
      this.#mutex.lock();
      try {
        if (ctl[count] !== 0 || !this.ring.tryPush(idx)) this.#append(idx);
      } finally {
        this.#mutex.unlock();
      }
    }
    this.ring.consumers.notify(Infinity);
  }

  #append(idx: number): void {
    const ctl = this.ctl;
    const b = this.base;
    const t = this.table;
    entryOverflowNextSet(t, this.layout, idx, -1);
    const tail = ctl[b + CqField.OVF_TAIL]!;
    if (ctl[b + CqField.OVF_COUNT] === 0) ctl[b + CqField.OVF_HEAD] = idx;
    else entryOverflowNextSet(t, this.layout, tail, idx);
    ctl[b + CqField.OVF_TAIL] = idx;
    const n = ctl[b + CqField.OVF_COUNT]! + 1;
    Atomics.store(ctl, b + CqField.OVF_COUNT, n);
    ctl[b + CqField.OVF_TOTAL]!++;
    if (n > ctl[b + CqField.OVF_PEAK]!) ctl[b + CqField.OVF_PEAK] = n;
  }

  /** Consumer: move up to `max` finished entry indices into `out`. Returns how many. */
  reap(out: Int32Array | number[], max: number): number {
    let n = 0;
    const ring = this.ring;
    while (n < max) {
      const v = ring.tryPop();
      if (v === EMPTY) break;
      out[n++] = v;
    }
    if (n < max && Atomics.load(this.ctl, this.base + CqField.OVF_COUNT) !== 0) {
      n = this.#takeBacklog(out, n, max);
    }
    return n;
  }

  #takeBacklog(out: Int32Array | number[], n: number, max: number): number {
    const ctl = this.ctl;
    const b = this.base;
    this.#mutex.lock();
    try {
      // Only once the ring is empty: ring records are older than backlog records.
      if (!this.ring.isEmpty()) return n;
      let head = ctl[b + CqField.OVF_HEAD]!;
      let count = ctl[b + CqField.OVF_COUNT]!;
      while (n < max && count > 0) {
        out[n++] = head;
        head = entryOverflowNext(this.table, this.layout, head);
        count--;
      }
      ctl[b + CqField.OVF_HEAD] = count === 0 ? -1 : head;
      if (count === 0) ctl[b + CqField.OVF_TAIL] = -1;
      Atomics.store(ctl, b + CqField.OVF_COUNT, count);
    } finally {
      this.#mutex.unlock();
    }
    return n;
  }

  /** Anything to reap? Cheap: ring emptiness and one backlog word. */
  ready(): boolean {
    return !this.ring.isEmpty() || Atomics.load(this.ctl, this.base + CqField.OVF_COUNT) !== 0;
  }

  overflow(): OverflowStats {
    const ctl = this.ctl;
    const b = this.base;
    return {
      backlog: Atomics.load(ctl, b + CqField.OVF_COUNT),
      total: Atomics.load(ctl, b + CqField.OVF_TOTAL),
      peak: Atomics.load(ctl, b + CqField.OVF_PEAK),
    };
  }
}
