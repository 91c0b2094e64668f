/**
 * Bounded multi-producer multi-consumer ring over a SharedArrayBuffer.
 *
 * Algorithm: Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net), the design
 * crossbeam's ArrayQueue uses. No locks: a producer claims a slot with one CAS on the enqueue
 * position, writes the payload, then publishes it by storing the slot's stamp; consumers mirror it.
 *
 * Vocabulary:
 *   position  a free-running 32-bit counter (ENQ_POS for producers, DEQ_POS for consumers). It wraps
 *             at 2^32; positions are compared by signed difference, `(a - b) | 0`.
 *   slot      `position & mask`; `capacity` slots of `1 + payloadWords` words: the stamp, then the
 *             payload.
 *   stamp     the slot's sequence word. For a producer at position p the slot is free when
 *             stamp == p; it holds the value pushed at p when stamp == p + 1; a consumer at p frees
 *             it for the producer one lap later by storing stamp = p + capacity.
 *
 * Full and empty are return values (`tryPush` returns false, `tryPop` returns EMPTY); nothing is
 * ever overwritten. The ring counts its own costs in shared memory: pushes and pops are the
 * positions themselves (free), CAS retries, full and empty events, parks and wake-ups are counted
 * only when they happen, so the uncontended fast path pays nothing for statistics.
 */
import { CACHE_LINE_WORDS, WORD_BYTES, isPowerOfTwo } from './layout.js';
import { EventCount } from './wait.js';

/** Header word indices. Hot words written by different sides sit on different cache lines. */
export const RingField = {
  /** Producers' claim counter (line 0). */
  ENQ_POS: 0,
  /** Incremented when ENQ_POS wraps past 2^32, so total pushes stay exact (line 0). */
  ENQ_LAPS: 1,
  /** Consumers' claim counter (line 1). */
  DEQ_POS: 1 * CACHE_LINE_WORDS,
  DEQ_LAPS: 1 * CACHE_LINE_WORDS + 1,
  /** Read-only configuration (line 2). */
  MAGIC: 2 * CACHE_LINE_WORDS,
  CAPACITY: 2 * CACHE_LINE_WORDS + 1,
  PAYLOAD_WORDS: 2 * CACHE_LINE_WORDS + 2,
  /** Consumers park here when the ring is empty (line 3). */
  C_EVENT: 3 * CACHE_LINE_WORDS,
  C_SLEEPERS: 3 * CACHE_LINE_WORDS + 1,
  /** Consumers currently spinning (the submission side uses it to avoid needless wake-ups). */
  C_SPINNERS: 3 * CACHE_LINE_WORDS + 2,
  /** Wake-up token for consumers (wait.ts). */
  C_WAKING: 3 * CACHE_LINE_WORDS + 3,
  /** Producers park here when the ring is full (line 4). */
  P_EVENT: 4 * CACHE_LINE_WORDS,
  P_SLEEPERS: 4 * CACHE_LINE_WORDS + 1,
  P_WAKING: 4 * CACHE_LINE_WORDS + 2,
  /** Statistics written by producers (line 5). */
  S_PUSH_RETRIES: 5 * CACHE_LINE_WORDS,
  S_FULL: 5 * CACHE_LINE_WORDS + 1,
  S_PRODUCER_PARKS: 5 * CACHE_LINE_WORDS + 2,
  /** Wake-ups producers issued to parked consumers. */
  S_CONSUMER_WAKES: 5 * CACHE_LINE_WORDS + 3,
  /** Statistics written by consumers (line 6). */
  S_POP_RETRIES: 6 * CACHE_LINE_WORDS,
  S_EMPTY: 6 * CACHE_LINE_WORDS + 1,
  S_CONSUMER_PARKS: 6 * CACHE_LINE_WORDS + 2,
  /** Wake-ups consumers issued to parked producers. */
  S_PRODUCER_WAKES: 6 * CACHE_LINE_WORDS + 3,
  /** First slot (line 7). */
  SLOTS: 7 * CACHE_LINE_WORDS,
} as const;

const RING_MAGIC = 0x52494e47; // "RING"

/** tryPop's value when the ring is empty. Payload word 0 must therefore be >= 0. */
export const EMPTY = -1;

export interface RingCounters {
  capacity: number;
  pushes: number;
  pops: number;
  /** Items in the ring when the snapshot was taken. */
  occupancy: number;
  pushRetries: number;
  popRetries: number;
  fullEvents: number;
  emptyEvents: number;
  producerParks: number;
  consumerParks: number;
  /** Wake-ups issued to parked consumers / producers. */
  consumerWakes: number;
  producerWakes: number;
  /** Consumers / producers parked (or about to park) when the snapshot was taken. */
  consumerSleepers: number;
  producerSleepers: number;
}

export class Ring {
  /** The whole ring region (header and slots). */
  readonly i32: Int32Array;
  readonly capacity: number;
  readonly mask: number;
  readonly payloadWords: number;
  /** Words per slot: stamp + payload. */
  readonly stride: number;
  /** Consumers wait here for items. */
  readonly consumers: EventCount;
  /** Producers wait here for room. */
  readonly producers: EventCount;
  /** Payload words 1.. of the last successful tryPop (word 0 is its return value). */
  readonly popped: Int32Array;

  /** Bytes a ring of this shape occupies. */
  static bytesFor(capacity: number, payloadWords = 1): number {
    return (RingField.SLOTS + capacity * (1 + payloadWords)) * WORD_BYTES;
  }

  /**
   * Lay out a new ring in `sab` at `byteOffset` (a fresh SharedArrayBuffer when omitted).
   * Call once, before any other thread attaches.
   */
  static create(
    capacity: number,
    payloadWords = 1,
    sab?: SharedArrayBuffer,
    byteOffset = 0,
  ): Ring {
    if (!isPowerOfTwo(capacity) || capacity < 2 || capacity > 2 ** 28) {
      throw new RangeError(
        `ring capacity: expected a power of two between 2 and 2^28, got ${String(capacity)}`,
      );
    }
    if (!Number.isInteger(payloadWords) || payloadWords < 1 || payloadWords > 4) {
      throw new RangeError(`ring payloadWords: expected 1 to 4, got ${String(payloadWords)}`);
    }
    const bytes = Ring.bytesFor(capacity, payloadWords);
    const buf = sab ?? new SharedArrayBuffer(bytes);
    const i32 = new Int32Array(buf, byteOffset, bytes / WORD_BYTES);
    i32.fill(0);
    const stride = 1 + payloadWords;
    for (let i = 0; i < capacity; i++) i32[RingField.SLOTS + i * stride] = i;
    i32[RingField.CAPACITY] = capacity;
    i32[RingField.PAYLOAD_WORDS] = payloadWords;
    // Published last; attach() checks it. Other threads receive the buffer through postMessage,
    // which orders these plain writes before their reads.
    Atomics.store(i32, RingField.MAGIC, RING_MAGIC);
    return new Ring(buf, byteOffset);
  }

  /** Attach to a ring laid out by create() (in this or another thread). */
  constructor(sab: SharedArrayBuffer, byteOffset = 0) {
    const head = new Int32Array(sab, byteOffset, RingField.SLOTS);
    if (Atomics.load(head, RingField.MAGIC) !== RING_MAGIC) {
      throw new Error(`no ring at byte offset ${byteOffset} of this SharedArrayBuffer`);
    }
    this.capacity = head[RingField.CAPACITY]!;
    this.payloadWords = head[RingField.PAYLOAD_WORDS]!;
    this.mask = this.capacity - 1;
    this.stride = 1 + this.payloadWords;
    this.i32 = new Int32Array(
      sab,
      byteOffset,
      Ring.bytesFor(this.capacity, this.payloadWords) / WORD_BYTES,
    );
    this.popped = new Int32Array(4);
    this.consumers = new EventCount(this.i32, {
      event: RingField.C_EVENT,
      sleepers: RingField.C_SLEEPERS,
      parks: RingField.S_CONSUMER_PARKS,
      wakes: RingField.S_CONSUMER_WAKES,
      waking: RingField.C_WAKING,
    });
    this.producers = new EventCount(this.i32, {
      event: RingField.P_EVENT,
      sleepers: RingField.P_SLEEPERS,
      parks: RingField.S_PRODUCER_PARKS,
      wakes: RingField.S_PRODUCER_WAKES,
      waking: RingField.P_WAKING,
    });
  }

  /**
   * Push one value (payload words from the arguments). Returns false when the ring is full.
   * Does not wake consumers: call `consumers.notify()` after a push or a batch of pushes.
   */
  tryPush(v0: number, v1 = 0, v2 = 0, v3 = 0): boolean {
    const i32 = this.i32;
    let pos = Atomics.load(i32, RingField.ENQ_POS);
    for (;;) {
      const slot = RingField.SLOTS + (pos & this.mask) * this.stride;
      // Acquire: pairs with the consumer's release store of this stamp in tryPop (step 4).
      const stamp = Atomics.load(i32, slot);
      const dif = (stamp - pos) | 0;
      if (dif === 0) {
        // Step 1: the slot is free for position `pos`; claim the position.
        const seen = Atomics.compareExchange(i32, RingField.ENQ_POS, pos, (pos + 1) | 0);
        if (seen === pos) {
          if (pos === -1) Atomics.add(i32, RingField.ENQ_LAPS, 1);
          // Step 2: we own the slot until the stamp is published; plain writes suffice.
          i32[slot + 1] = v0;
          if (this.payloadWords > 1) {
            i32[slot + 2] = v1;
            if (this.payloadWords > 2) {
              i32[slot + 3] = v2;
              if (this.payloadWords > 3) i32[slot + 4] = v3;
            }
          }
          // Step 3, release: publishes the payload; pairs with the consumer's load of the stamp.
          Atomics.store(i32, slot, (pos + 1) | 0);
          return true;
        }
        // Another producer claimed `pos` first: retry from what it left.
        Atomics.add(i32, RingField.S_PUSH_RETRIES, 1);
        pos = seen;
      } else if (dif < 0) {
        // The slot still holds the value pushed one lap ago: full. Re-read the position once, as
        // crossbeam does, so a producer that lagged behind does not report a stale "full".
        const now = Atomics.load(i32, RingField.ENQ_POS);
        if (now === pos) {
          Atomics.add(i32, RingField.S_FULL, 1);
          return false;
        }
        pos = now;
      } else {
        // Another producer moved past `pos`: catch up.
        pos = Atomics.load(i32, RingField.ENQ_POS);
      }
    }
  }

  /**
   * Pop one value: returns payload word 0 (>= 0), or EMPTY. Further payload words are left in
   * `popped[1..]`. Does not wake producers: call `producers.notify()` when they may be waiting.
   */
  tryPop(): number {
    const i32 = this.i32;
    let pos = Atomics.load(i32, RingField.DEQ_POS);
    for (;;) {
      const slot = RingField.SLOTS + (pos & this.mask) * this.stride;
      // Acquire: pairs with the producer's release store of the stamp (tryPush step 3).
      const stamp = Atomics.load(i32, slot);
      const dif = (stamp - ((pos + 1) | 0)) | 0;
      if (dif === 0) {
        // Step 1: the slot holds the value pushed at `pos`; claim it.
        const seen = Atomics.compareExchange(i32, RingField.DEQ_POS, pos, (pos + 1) | 0);
        if (seen === pos) {
          if (pos === -1) Atomics.add(i32, RingField.DEQ_LAPS, 1);
          // Step 2: read the payload (published by the stamp we loaded).
          const v0 = i32[slot + 1]!;
          if (this.payloadWords > 1) {
            const out = this.popped;
            out[0] = v0;
            for (let k = 1; k < this.payloadWords; k++) out[k] = i32[slot + 1 + k]!;
          }
          // Step 4, release: hand the slot to the producer one lap later; pairs with tryPush's
          // load of the stamp.
          Atomics.store(i32, slot, (pos + this.capacity) | 0);
          return v0;
        }
        Atomics.add(i32, RingField.S_POP_RETRIES, 1);
        pos = seen;
      } else if (dif < 0) {
        // Nothing published at `pos` yet: empty (after confirming the position did not move).
        const now = Atomics.load(i32, RingField.DEQ_POS);
        if (now === pos) return EMPTY;
        pos = now;
      } else {
        pos = Atomics.load(i32, RingField.DEQ_POS);
      }
    }
  }

  /** Items pushed and not yet popped (a snapshot; exact only when nobody is racing). */
  size(): number {
    const deq = Atomics.load(this.i32, RingField.DEQ_POS);
    const enq = Atomics.load(this.i32, RingField.ENQ_POS);
    const n = (enq - deq) | 0;
    return n < 0 ? 0 : n > this.capacity ? this.capacity : n;
  }

  /**
   * The dequeue position: a free-running 32-bit count of pops that wraps. Compare two readings with
   * `(later - earlier) | 0` (pops in between, exact while fewer than 2^31). Atomics.load, seq-cst.
   */
  dequeuePosition(): number {
    return Atomics.load(this.i32, RingField.DEQ_POS);
  }

  /** True when no published item waits at the dequeue position. Cheap: two loads. */
  isEmpty(): boolean {
    const pos = Atomics.load(this.i32, RingField.DEQ_POS);
    const stamp = Atomics.load(this.i32, RingField.SLOTS + (pos & this.mask) * this.stride);
    return stamp !== ((pos + 1) | 0);
  }

  /** Count an empty event (a consumer found nothing and is about to wait). */
  noteEmpty(): void {
    Atomics.add(this.i32, RingField.S_EMPTY, 1);
  }

  /**
   * Pop, waiting when empty: spin up to `spinUs`, then park with Atomics.wait. For threads that
   * may block (workers). Wakes a producer parked in pushWait. Returns EMPTY only when `timeoutMs`
   * passes.
   */
  popWait(spinUs: number, timeoutMs = Infinity): number {
    const v = this.#popWait(spinUs, timeoutMs);
    if (v !== EMPTY) this.producers.notify(1);
    return v;
  }

  #popWait(spinUs: number, timeoutMs: number): number {
    let v = this.tryPop();
    if (v !== EMPTY) return v;
    this.noteEmpty();
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const woke = this.consumers.waitUntil(this.#hasItem, spinUs, deadline - performance.now());
      v = this.tryPop();
      if (v !== EMPTY || !woke || performance.now() >= deadline) return v;
    }
  }

  readonly #hasItem = (): boolean => !this.isEmpty();
  readonly #hasRoom = (): boolean => this.size() < this.capacity;

  /**
   * Push, waiting when full (spin, then park). For threads that may block. Wakes a consumer
   * parked in popWait.
   */
  pushWait(spinUs: number, v0: number, v1 = 0, v2 = 0, v3 = 0, timeoutMs = Infinity): boolean {
    const ok = this.#pushWait(spinUs, v0, v1, v2, v3, timeoutMs);
    if (ok) this.consumers.notify(1);
    return ok;
  }

  #pushWait(spinUs: number, v0: number, v1: number, v2: number, v3: number, timeoutMs: number): boolean {
    if (this.tryPush(v0, v1, v2, v3)) return true;
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const woke = this.producers.waitUntil(this.#hasRoom, spinUs, deadline - performance.now());
      if (this.tryPush(v0, v1, v2, v3)) return true;
      if (!woke || performance.now() >= deadline) return false;
    }
  }

  counters(): RingCounters {
    const i32 = this.i32;
    const enq = Atomics.load(i32, RingField.ENQ_POS) >>> 0;
    const deq = Atomics.load(i32, RingField.DEQ_POS) >>> 0;
    const pushes = Atomics.load(i32, RingField.ENQ_LAPS) * 2 ** 32 + enq;
    const pops = Atomics.load(i32, RingField.DEQ_LAPS) * 2 ** 32 + deq;
    return {
      capacity: this.capacity,
      pushes,
      pops,
      occupancy: Math.max(0, Math.min(this.capacity, pushes - pops)),
      pushRetries: Atomics.load(i32, RingField.S_PUSH_RETRIES) >>> 0,
      popRetries: Atomics.load(i32, RingField.S_POP_RETRIES) >>> 0,
      fullEvents: Atomics.load(i32, RingField.S_FULL) >>> 0,
      emptyEvents: Atomics.load(i32, RingField.S_EMPTY) >>> 0,
      producerParks: Atomics.load(i32, RingField.S_PRODUCER_PARKS) >>> 0,
      consumerParks: Atomics.load(i32, RingField.S_CONSUMER_PARKS) >>> 0,
      consumerWakes: Atomics.load(i32, RingField.S_CONSUMER_WAKES) >>> 0,
      producerWakes: Atomics.load(i32, RingField.S_PRODUCER_WAKES) >>> 0,
      consumerSleepers: Math.max(0, Atomics.load(i32, RingField.C_SLEEPERS)),
      producerSleepers: Math.max(0, Atomics.load(i32, RingField.P_SLEEPERS)),
    };
  }
}
