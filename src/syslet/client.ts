/**
 * The submitting and reaping side of one thread: a Client owns a completion queue, takes free
 * request slots, encodes chains into them (running any SYSLET_SYNC prefix inline), queues them for
 * the workers, and reaps its completion queue in batches to settle submissions.
 *
 * Each thread that submits has one Client (the Runtime's thread, and any worker that attached to
 * the runtime). A chain submitted with a kqueue completes into that kqueue's queue instead; the
 * kqueue hands the entry back here (settleOwned) so the submission settles on its own thread.
 *
 * When no slot is free, submit() reaps on the spot, and a submission that still finds none waits in
 * a FIFO here until a slot frees: a full ring is a state, not an error, and nothing is dropped.
 */
import { sharedNow } from '../ring/layout.js';
import { EMPTY, RingField } from '../ring/mpmc.js';
import { HistogramWriter } from '../ring/stats.js';
import { Keepalive, spinUntil } from '../ring/wait.js';
import { errno } from './errno.js';
import { readCompletion, releaseEntry, writeChain, writeHeader, type Completion } from './encode.js';
import { Interpreter, Outcome } from './interp.js';
import { C, type SharedState } from './shared.js';
import { E, EntryState, F, RequestFlag } from './table.js';
import type { Plan, Shape } from './validate.js';

/** Where a submission's completion goes instead of this client's queue (a kqueue). */
export interface CompletionTarget {
  /** The target's completion queue index. */
  readonly cq: number;
  /** A submission for this target started (counts outstanding work, e.g. to keep watching). */
  targetStarted(sub: Submission): void;
  /** A submission for this target settled. */
  targetSettled(sub: Submission): void;
  /**
   * A submission for this target settled without reaching a slot (cancelled while it waited, or
   * refused for want of memory): no record will come through the queue, so the target makes its
   * event from the completion itself.
   */
  targetUnstarted(sub: Submission, c: Completion): void;
}

/**
 * RequestCodec.encode's result for a request that already completed on the submitting thread (a
 * threadlet that finished inline, submitted only so that its kqueue event is delivered): it goes
 * straight to its completion queue, no worker runs it.
 */
export const ENCODED_COMPLETE = 1;

/** A request kind other than a chain (threadlets): how it is written and read back. */
export interface RequestCodec {
  readonly kind: number;
  /**
   * Write the request into entry `idx`'s data area. Returns 0 (queue it for a worker),
   * ENCODED_COMPLETE (it completed already: E.STATUS and F.RESULT are written), or -errno (e.g.
   * -ENOMEM: it fails unstarted).
   */
  encode(s: SharedState, idx: number): number;
  /** Read the completion after the worker ran it. */
  decode(s: SharedState, idx: number, sub: Submission): Completion;
  /** Free what the entry holds in the arena. */
  release(s: SharedState, idx: number): void;
  /**
   * It settled without reaching a worker, so decode() is never called: cancelled while waiting for
   * a slot, refused by encode(), or cancelled by close({ force }).
   */
  unstarted?(c: Completion): void;
}

export interface ValidatedSubmit {
  plan: Plan | undefined;
  codec: RequestCodec | undefined;
  varInit: readonly number[];
  deadline: number;
  stepBudget: number;
  udata: unknown;
  signal: AbortSignal | undefined;
  target: CompletionTarget | undefined;
  /** Policy id (policy.ts), 0 for none. */
  policy: number;
}

type Settle = (c: Completion) => void;

/** A submitted request: its id, and a promise of its one completion. Awaitable. */
export class Submission implements PromiseLike<Completion> {
  readonly id: number;
  /** The completion, once settled (readable synchronously, e.g. after an inline run). */
  completion: Completion | undefined;

  /** @internal Until the chain is encoded. */ _plan: Plan | undefined;
  /** @internal Names for decoding the completion. */ _shape: Shape | undefined;
  /** @internal Non-chain requests. */ _codec: RequestCodec | undefined;
  /** @internal */ _entry = -1;
  /** @internal */ _udata: unknown;
  /** @internal */ _varInit: readonly number[];
  /** @internal */ _deadline: number;
  /** @internal */ _stepBudget: number;
  /** @internal */ _unlisten: (() => void) | undefined;
  /** @internal */ _target: CompletionTarget | undefined;
  /** @internal */ _policy: number;
  #promise: Promise<Completion> | undefined;
  #resolve: Settle | undefined;

  /** @internal */
  constructor(id: number, v: ValidatedSubmit) {
    this.id = id;
    this._plan = v.plan;
    this._shape = v.plan?.shape;
    this._codec = v.codec;
    this._varInit = v.varInit;
    this._deadline = v.deadline;
    this._stepBudget = v.stepBudget;
    this._udata = v.udata;
    this._unlisten = undefined;
    this._target = v.target;
    this._policy = v.policy;
  }

  /** A promise of the completion, created on first use (kqueue users may never need one). */
  get promise(): Promise<Completion> {
    if (this.#promise === undefined) {
      if (this.completion !== undefined) this.#promise = Promise.resolve(this.completion);
      else {
        this.#promise = new Promise<Completion>((resolve) => {
          this.#resolve = resolve;
        });
      }
    }
    return this.#promise;
  }

  get settled(): boolean {
    return this.completion !== undefined;
  }

  then<R1 = Completion, R2 = never>(
    onfulfilled?: ((c: Completion) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((e: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.promise.then(onfulfilled, onrejected);
  }

  /** @internal */
  _settle(c: Completion): void {
    this.completion = c;
    if (this.#resolve !== undefined) this.#resolve(c);
  }
}

export interface ClientOptions {
  /** Microseconds to spin for a completion before parking. */
  spinUs: number;
  /** Most submissions outstanding at once on this thread (a resource bound). */
  maxOutstanding: number;
  /** Latency sampling mask (sample when (tick & mask) === 0). */
  sampleMask: number;
}

const REAP_BATCH = 1024;
/** Free entries a thread keeps for itself (see #freeEntry). */
const LOCAL_FREE = 64;

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Completion for a request that never reached a worker (cancelled while waiting, no memory). */
export function unstartedCompletion(id: number, status: 'cancelled' | 'failed', result: number): Completion {
  return {
    id,
    status,
    atom: 0,
    result,
    value: undefined,
    vars: {},
    values: {},
    buffers: undefined,
    steps: 0,
    noComplete: false,
    valuesLost: false,
    udata: undefined,
  };
}

/** Watches a client's submissions settle (the recorder, record/recorder.ts). */
export interface SettleObserver {
  /** `sub` was submitted on this thread (it has an id; it may wait for a slot). */
  submitted(sub: Submission): void;
  /** `sub` settled with `c` (c.timing set when it was sampled and ran on a worker). */
  settled(sub: Submission, c: Completion): void;
}

export class Client {
  /** This client's completion queue. */
  readonly cq: number;
  /** @internal Set while a recording watches this thread: told of every settled submission. */
  observer: SettleObserver | undefined = undefined;
  readonly #s: SharedState;
  readonly #interp: Interpreter;
  readonly #reapHist: HistogramWriter;
  readonly #maxSpinUs: number;
  #spinUs: number;
  readonly #maxOutstanding: number;
  #sampleMask: number;
  #sampleTick = 0;

  readonly #byEntry: (Submission | undefined)[];
  /** Submissions waiting for a free entry, FIFO (head index into the array). */
  #waiting: Submission[] = [];
  #waitingHead = 0;
  #outstanding = 0;
  #reaping = false;
  readonly #keepalive = new Keepalive();
  readonly #reapBuf = new Int32Array(REAP_BATCH);
  /** A synchronous burst of submissions is under way (its doorbell microtask is queued). */
  #burst = false;
  /** Entries this thread freed and keeps for its next submissions (LIFO: cache-warm). */
  readonly #localFree: number[] = [];
  /** Encoded entries the submission ring refused for a moment (see #push). */
  readonly #unpushed: number[] = [];
  /** Resolvers waiting for outstanding to reach zero. */
  #drainWaiters: (() => void)[] = [];
  /** Resolvers waiting for a free slot (room()). */
  #roomWaiters: (() => void)[] = [];
  /** Wakes a parked reaper (something it cannot see in its queue happened). */
  #poke: (() => void) | undefined;
  /** Queues (kqueues' completion queues) this thread's reaper also drains, with their drain. */
  readonly #extraQueues = new Map<number, () => number>();

  constructor(s: SharedState, opts: ClientOptions) {
    this.#s = s;
    const cq = s.claimCq();
    if (cq < 0) throw new RangeError('syslet: no free completion queue (option maxQueues)');
    this.cq = cq;
    this.#byEntry = new Array<Submission | undefined>(s.layout.capacity).fill(undefined);
    this.#interp = new Interpreter(s, -1);
    this.#reapHist = new HistogramWriter(s.ctl64, s.cqHist(cq));
    this.#maxSpinUs = opts.spinUs;
    this.#spinUs = opts.spinUs;
    this.#sampleMask = opts.sampleMask;
    this.#maxOutstanding = opts.maxOutstanding;
  }

  /** Latency sampling: submissions are timed when (tick & mask) === 0 (0: every one). */
  get sampleMask(): number {
    return this.#sampleMask;
  }

  set sampleMask(mask: number) {
    this.#sampleMask = mask;
  }

  get outstanding(): number {
    return this.#outstanding;
  }

  get waitingForSlot(): number {
    return this.#waiting.length - this.#waitingHead;
  }

  /**
   * Submit a validated request. With `onlyIfRoom`, return undefined instead when no slot is free
   * (after reaping what finished): the request is not taken.
   */
  submit(v: ValidatedSubmit, onlyIfRoom = false): Submission | undefined {
    if (this.#outstanding >= this.#maxOutstanding) {
      throw new RangeError(
        `submit: ${this.#outstanding} requests are outstanding on this thread, the limit (option maxOutstanding); await rt.room() or completions first`,
      );
    }
    let idx = EMPTY;
    if (onlyIfRoom) {
      if (this.#waitingHead < this.#waiting.length) return undefined;
      idx = this.#takeEntry();
      if (idx === EMPTY) {
        this.#drain();
        idx = this.#takeEntry();
        if (idx === EMPTY) return undefined;
      }
    }
    const sub = new Submission(this.#s.nextId(), v);
    this.#outstanding++;
    if (this.observer !== undefined) this.observer.submitted(sub);
    if (v.target !== undefined) v.target.targetStarted(sub);
    const signal = v.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        if (idx !== EMPTY) this.#freeEntry(idx);
        this.#settleUnstarted(sub, 'cancelled', -errno.ECANCELED);
        return sub;
      }
      const onAbort = (): void => {
        this.#cancel(sub);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      sub._unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    if (idx === EMPTY && this.#waitingHead === this.#waiting.length) idx = this.#takeEntry();
    if (idx === EMPTY) {
      // No free slot: reap what finished right here instead of waiting for the reaper's turn. A
      // long synchronous burst of submissions keeps the workers fed this way, and its entries
      // recycle through this thread's cache.
      this.#drain();
      if (this.#waitingHead === this.#waiting.length) idx = this.#takeEntry();
    }
    if (idx === EMPTY) {
      // Counted on the free ring as an empty event: a submission found no free slot.
      this.#s.fq.noteEmpty();
      this.#waiting.push(sub);
    } else this.#start(sub, idx);
    if (this.#outstanding > 0) this.#ensureReaper();
    return sub;
  }

  /**
   * Cancel a submission of this thread. Returns 0 when it will end before running any atom,
   * -EALREADY when it is running (it ends at its next atom boundary unless it finishes first), and
   * -ENOENT when no such submission is outstanding. It still completes exactly once.
   */
  cancel(id: number): number {
    const sub = this.find(id);
    return sub === undefined ? -errno.ENOENT : this.#cancel(sub);
  }

  /**
   * The outstanding submission with this id. A scan, not a map: cancelling is rare, and a map
   * would cost every submission an insert and a delete.
   */
  find(id: number): Submission | undefined {
    for (const sub of this.#byEntry) if (sub !== undefined && sub.id === id) return sub;
    for (let k = this.#waitingHead; k < this.#waiting.length; k++) {
      if (this.#waiting[k]!.id === id) return this.#waiting[k];
    }
    return undefined;
  }

  /** Cancel everything outstanding (close({ force: true })). */
  cancelAll(): void {
    const all = [...this.#byEntry, ...this.#waiting.slice(this.#waitingHead)];
    for (const sub of all) if (sub !== undefined) this.#cancel(sub);
  }

  /**
   * Resolves when a submission would find a free slot at once (backpressure for producers that
   * must not queue without bound).
   */
  async room(): Promise<void> {
    for (;;) {
      if (this.#waitingHead === this.#waiting.length) {
        if (this.#localFree.length > 0 || !this.#s.fq.isEmpty()) return;
        this.#drain();
        if (this.#localFree.length > 0 || !this.#s.fq.isEmpty()) return;
      }
      // Slots free up when completions are reaped: wait for this thread's reaper to make progress.
      await new Promise<void>((r) => this.#roomWaiters.push(r));
    }
  }

  /** Resolves when nothing submitted by this thread is outstanding. */
  drained(): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  /** Also drain `cq` (a kqueue's queue) in this thread's reaper until unwatchQueue(). */
  watchQueue(cq: number, drain: () => number): void {
    this.#extraQueues.set(cq, drain);
    this.#wakeReaper();
  }

  unwatchQueue(cq: number): void {
    this.#extraQueues.delete(cq);
  }

  /** Return resources: cached entries, the completion queue. */
  dispose(): void {
    this.#returnCachedEntries();
    this.#keepalive.dispose();
    this.#s.releaseCq(this.cq);
  }

  // ---- kqueue hand-back ---------------------------------------------------------------------

  /**
   * A kqueue on this thread reaped entry `idx`, submitted by this client: settle the submission
   * and free the entry. Returns the submission (for udata), or undefined if it is not ours.
   */
  settleOwned(idx: number): Submission | undefined {
    return this.#complete(idx);
  }

  // ---- submission ----------------------------------------------------------------------------

  #cancel(sub: Submission): number {
    if (sub.completion !== undefined) return -errno.ENOENT;
    if (sub._entry < 0) {
      // Still waiting for a slot here: it never reached shared memory.
      const at = this.#waiting.indexOf(sub, this.#waitingHead);
      if (at >= 0) this.#waiting.splice(at, 1);
      this.#settleUnstarted(sub, 'cancelled', -errno.ECANCELED);
      return 0;
    }
    const i32 = this.#s.i32;
    const eb = this.#s.layout.base(sub._entry);
    // Pairs with the pump's compareExchange QUEUED -> RUNNING: exactly one of the two wins.
    const prev = Atomics.compareExchange(i32, eb + E.STATE, EntryState.QUEUED, EntryState.CANCELLED);
    if (prev === EntryState.QUEUED) return 0;
    if (prev === EntryState.RUNNING) {
      // Read at the next atom boundary; wakes a nanosleep parked on this word.
      Atomics.store(i32, eb + E.CANCEL, sub.id);
      Atomics.notify(i32, eb + E.CANCEL);
      return -errno.EALREADY;
    }
    return -errno.ENOENT;
  }

  /** Encode `sub` into entry `idx`, run its inline prefix, and queue it for a worker. */
  #start(sub: Submission, idx: number): void {
    const s = this.#s;
    const eb = s.layout.base(idx);
    const target = sub._target;
    const stamp = (this.#sampleTick++ & this.#sampleMask) === 0 ? sharedNow() : 0;
    const udata = typeof sub._udata === 'number' ? sub._udata : 0;
    const header = {
      id: sub.id,
      cq: target === undefined ? this.cq : target.cq,
      deadline: sub._deadline,
      stepBudget: sub._stepBudget,
      submittedAt: stamp,
      udata,
      policy: sub._policy,
    };
    let rc: number;
    const plan = sub._plan;
    if (plan !== undefined) {
      sub._plan = undefined;
      rc = writeChain(s, idx, plan, header, sub._varInit);
    } else {
      const codec = sub._codec!;
      writeHeader(s, idx, header, codec.kind, 0);
      rc = codec.encode(s, idx);
    }
    s.i32[eb + E.OWNER] = this.cq;
    if (typeof sub._udata === 'number') s.i32[eb + E.FLAGS]! |= RequestFlag.UDATA_NUMBER;
    if (rc < 0) {
      // The arena has no room for the request: it fails, the slot goes back.
      this.#freeEntry(idx);
      this.#settleUnstarted(sub, 'failed', rc);
      return;
    }
    sub._entry = idx;
    this.#byEntry[idx] = sub;
    if ((plan !== undefined && plan.startsInline) || rc === ENCODED_COMPLETE) {
      Atomics.store(s.i32, eb + E.STATE, EntryState.RUNNING);
      if (rc === ENCODED_COMPLETE || this.#interp.run(idx, true) === Outcome.ENDED) {
        s.f64[s.layout.base64(idx) + F.T_DONE] = 0;
        Atomics.store(s.i32, eb + E.STATE, EntryState.DONE);
        // A request that ended inline (a chain of SYNC atoms, a threadlet that finished inline)
        // still completes through its queue when a kqueue waits for it (its event must reach the
        // kqueue); otherwise it settles right here.
        if (target === undefined) this.#complete(idx);
        else s.cqs[target.cq]!.post(idx);
        return;
      }
    }
    // Release: the entry's contents are published by the ring push (a seq-cst stamp store) that
    // the worker's tryPop acquires.
    Atomics.store(s.i32, eb + E.STATE, EntryState.QUEUED);
    this.#push(idx);
    this.#kick();
  }

  /**
   * Push an entry to the submission ring. The ring has a slot per entry, so it is never logically
   * full, but a Vyukov ring reports "full" while a consumer that claimed the slot one lap back has
   * not yet stored its release stamp (a worker preempted between its CAS and that store). Such an
   * entry waits here and is pushed again on the next submission or reaper turn: never dropped.
   */
  #push(idx: number): void {
    if (this.#unpushed.length > 0) this.#pushUnpushed();
    if (this.#unpushed.length > 0 || !this.#s.sq.tryPush(idx)) this.#unpushed.push(idx);
  }

  #pushUnpushed(): void {
    const u = this.#unpushed;
    let k = 0;
    while (k < u.length && this.#s.sq.tryPush(u[k]!)) k++;
    if (k > 0) u.splice(0, k);
  }

  /**
   * Wake a parked worker when the running ones will not get to the new entry soon. The first
   * submission of a synchronous burst wakes one (unless a worker spins); later ones only when the
   * queue is deeper than the workers that are awake; workers that find more queued wake the next
   * (pump.ts), and a doorbell at the end of the burst checks once more. So a burst of thousands of
   * submissions costs a handful of futex wake-ups, not one each.
   */
  #kick(): void {
    if (!this.#burst) {
      this.#burst = true;
      queueMicrotask(this.#doorbell);
      this.#wake(true);
    } else {
      this.#wake(false);
    }
  }

  readonly #doorbell = (): void => {
    this.#burst = false;
    if (!this.#s.sq.isEmpty()) this.#wake(true);
  };

  #wake(first: boolean): void {
    const sq = this.#s.sq;
    // Pairs with the pump's spinner protocol: a spinning worker re-checks the ring after it stops
    // spinning, so it will see this push.
    if (Atomics.load(sq.i32, RingField.C_SPINNERS) !== 0) return;
    const sleepers = sq.consumers.sleepers();
    if (sleepers === 0) return;
    if (first || sq.size() > Atomics.load(this.#s.ctl, C.WORKERS_LIVE) - sleepers) sq.consumers.notify(1);
  }

  /** A free entry: this thread's cache first (warm in this core's cache), then the free ring. */
  #takeEntry(): number {
    const local = this.#localFree;
    return local.length > 0 ? local.pop()! : this.#s.fq.tryPop();
  }

  /**
   * Give an entry back. Up to LOCAL_FREE entries stay with this thread for its next submissions;
   * the rest go to the free ring for every thread (or stay here if the ring reports a transient
   * "full", see #push: an entry is never dropped).
   */
  #freeEntry(idx: number): void {
    const s = this.#s;
    Atomics.store(s.i32, s.layout.base(idx) + E.STATE, EntryState.FREE);
    if (this.#localFree.length < LOCAL_FREE || !s.fq.tryPush(idx)) {
      this.#localFree.push(idx);
      return;
    }
    // Pairs with #park(): a thread whose submissions all wait for a slot sleeps on the free ring.
    s.fq.consumers.notify(Infinity);
  }

  /** Idle: hand cached entries back to the free ring so other threads can use them. */
  #returnCachedEntries(): void {
    const local = this.#localFree;
    while (local.length > 0 && this.#s.fq.tryPush(local[local.length - 1]!)) local.pop();
    this.#s.fq.consumers.notify(Infinity);
  }

  // ---- reaping -------------------------------------------------------------------------------

  #ensureReaper(): void {
    if (this.#reaping) return;
    this.#reaping = true;
    this.#keepalive.hold();
    void this.#reapLoop();
  }

  #wakeReaper(): void {
    const poke = this.#poke;
    if (poke !== undefined) {
      this.#poke = undefined;
      poke();
    }
  }

  async #reapLoop(): Promise<void> {
    try {
      for (;;) {
        const n = this.#drain();
        if (this.#outstanding === 0) return;
        if (this.#unpushed.length > 0) {
          // A worker is between claiming and releasing a submission slot: retry shortly.
          this.#pushUnpushed();
          this.#kick();
          await yieldToEventLoop();
          continue;
        }
        if (n > 0) {
          // Let the continuations of what just settled run (they often submit more) before
          // deciding to spin or park.
          await yieldToEventLoop();
          continue;
        }
        if (spinUntil(this.#ready, this.#spinUs)) {
          this.#spinUs = Math.min(this.#maxSpinUs, this.#spinUs * 2 + 1);
          continue;
        }
        // Spinning did not pay: spin less next time (more again when it does pay).
        this.#spinUs = Math.floor(this.#spinUs / 2);
        await this.#park();
      }
    } finally {
      this.#reaping = false;
      this.#keepalive.release();
      this.#returnCachedEntries();
    }
  }

  readonly #ready = (): boolean => {
    if (this.#s.cqs[this.cq]!.ready()) return true;
    for (const q of this.#extraQueues.keys()) if (this.#s.cqs[q]!.ready()) return true;
    return false;
  };

  /** Park until a watched completion queue has something, a slot frees for a waiter, or a poke. */
  async #park(): Promise<void> {
    const s = this.#s;
    const waits: Promise<unknown>[] = [];
    const prepared: { cq: number; key: number }[] = [];
    for (const q of [this.cq, ...this.#extraQueues.keys()]) {
      prepared.push({ cq: q, key: s.cqs[q]!.ring.consumers.prepare() });
    }
    const cancelAll = (): void => {
      for (const p of prepared) s.cqs[p.cq]!.ring.consumers.cancel();
    };
    if (this.#ready()) {
      cancelAll();
      return;
    }
    const waitingOnly = this.#outstanding === this.#waiting.length - this.#waitingHead;
    let fkey = 0;
    if (waitingOnly) {
      // Everything of ours waits for a slot that other threads hold: wait for a freed entry too.
      fkey = s.fq.consumers.prepare();
      if (!s.fq.isEmpty()) {
        s.fq.consumers.cancel();
        cancelAll();
        return;
      }
    }
    const timeout = waitingOnly ? 100 : Infinity;
    for (const p of prepared) waits.push(s.cqs[p.cq]!.ring.consumers.waitAsync(p.key, timeout));
    if (waitingOnly) waits.push(s.fq.consumers.waitAsync(fkey, timeout));
    waits.push(
      new Promise<void>((r) => {
        this.#poke = r;
      }),
    );
    await Promise.race(waits);
    this.#poke = undefined;
  }

  /** Reap everything ready, then admit waiting submissions into freed entries. */
  #drain(): number {
    const cq = this.#s.cqs[this.cq]!;
    const buf = this.#reapBuf;
    let total = 0;
    for (;;) {
      const n = cq.reap(buf, REAP_BATCH);
      for (let k = 0; k < n; k++) this.#complete(buf[k]!);
      total += n;
      this.#admitWaiting();
      if (n < REAP_BATCH) break;
    }
    for (const drain of this.#extraQueues.values()) total += drain();
    if (total > 0) this.#admitWaiting();
    return total;
  }

  #admitWaiting(): void {
    if (this.#roomWaiters.length > 0) {
      const w = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const r of w) r();
    }
    while (this.#waitingHead < this.#waiting.length) {
      const idx = this.#takeEntry();
      if (idx === EMPTY) return;
      const sub = this.#waiting[this.#waitingHead]!;
      this.#waiting[this.#waitingHead++] = undefined as unknown as Submission;
      this.#start(sub, idx);
    }
    if (this.#waitingHead > 0) {
      this.#waiting = [];
      this.#waitingHead = 0;
    }
  }

  /** Entry `idx` ended: read it, free it, settle its submission. Returns the submission. */
  #complete(idx: number): Submission | undefined {
    const s = this.#s;
    const sub = this.#byEntry[idx];
    this.#byEntry[idx] = undefined;
    const e64 = s.layout.base64(idx);
    const done = s.f64[e64 + F.T_DONE]!;
    let reaped = 0;
    if (done !== 0) {
      reaped = sharedNow();
      this.#reapHist.record((reaped - done) * 1e6);
    }
    if (sub === undefined) {
      // Not ours (cannot happen while each thread reaps its own queue); never leak the slot.
      releaseEntry(s, idx);
      this.#freeEntry(idx);
      return undefined;
    }
    let c: Completion;
    if (sub._codec !== undefined) {
      c = sub._codec.decode(s, idx, sub);
      sub._codec.release(s, idx);
    } else {
      c = readCompletion(s, idx, sub._shape!, sub.id);
      releaseEntry(s, idx);
    }
    if (reaped !== 0) {
      c.timing = {
        submitted: s.f64[e64 + F.T_SUBMIT]!,
        started: s.f64[e64 + F.T_START]!,
        completed: done,
        reaped,
        worker: s.i32[s.layout.base(idx) + E.WORKER]!,
      };
      if (sub._codec !== undefined) c.timing.replayed = s.f64[e64 + F.T_REPLAYED]!;
    }
    this.#freeEntry(idx);
    this.#settle(sub, c);
    return sub;
  }

  #settleUnstarted(sub: Submission, status: 'cancelled' | 'failed', result: number): void {
    const c = unstartedCompletion(sub.id, status, result);
    if (sub._codec?.unstarted !== undefined) sub._codec.unstarted(c);
    if (sub._target !== undefined) sub._target.targetUnstarted(sub, c);
    this.#settle(sub, c);
  }

  #settle(sub: Submission, c: Completion): void {
    c.udata = sub._udata;
    this.#outstanding--;
    if (this.observer !== undefined) this.observer.settled(sub, c);
    if (sub._unlisten !== undefined) sub._unlisten();
    if (sub._target !== undefined) sub._target.targetSettled(sub);
    sub._settle(c);
    if (this.#outstanding === 0) {
      this.#wakeReaper();
      const waiters = this.#drainWaiters;
      if (waiters.length > 0) {
        this.#drainWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}
