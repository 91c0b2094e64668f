/**
 * The submitting and reaping side of one thread: a Client owns a completion queue, takes free
 * request entries, encodes chains into them (running any SYSLET_SYNC prefix inline), queues them for
 * the workers, and reaps its completion queue in batches to settle submissions.
 *
 * Each thread that submits has one Client (the Runtime's thread, and any worker that attached to
 * the runtime). A chain submitted with a kqueue completes into that kqueue's queue instead; the
 * kqueue hands the entry back here (settleOwned) so the submission settles on its own thread.
 *
 * When no entry is free, submit() reaps on the spot, and a submission that still finds none waits in
 * a FIFO here until an entry frees: a full ring is a state, not an error, and nothing is dropped.
 */
import { sharedNow, EMPTY, RingField, HistogramWriter, EventCount, Keepalive, spinUntil } from 'atomics-sync';
import { errno } from './errno.js';
import { entryRelease, readCompletion, writeChain } from './encode.js';
import {
  EntryState,
  RequestFlag,
  RequestKind,
  Status,
  completionUnstarted,
  entryCancel,
  Stamp,
  entryFail,
  entryStamp,
  entryStampSet,
  entryState,
  entryStateMove,
  entryStateSet,
  entryWrite,
  timingRead,
  type Completion,
  type RequestHeader,
} from './entry.js';
import { Interpreter, Outcome } from './interp.js';
import { LazyThenable } from './thenable.js';
import { ControlWord, Lifecycle, type SharedState } from './shared.js';
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
   * A submission for this target settled without reaching an entry (cancelled while it waited, or
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
   * ENCODED_COMPLETE (it completed already: entryStatusSet wrote how), or -errno (e.g.
   * -ENOMEM: it fails unstarted).
   */
  encode(s: SharedState, idx: number): number;
  /** Read the completion after the worker ran it. */
  decode(s: SharedState, idx: number, sub: Submission): Completion;
  /** Free what the entry holds in the arena. */
  release(s: SharedState, idx: number): void;
  /**
   * It settled without reaching a worker, so decode() is never called: cancelled while waiting for
   * an entry, refused by encode(), or cancelled by close({ force }).
   */
  unstarted?(c: Completion): void;
}

/**
 * A call refused because the runtime is closing or closed: `code` is 'ERR_SYSLET_CLOSED', `call`
 * names the refused call (e.g. 'submit', 'kqueue', 'attach').
 */
export class SysletClosedError extends Error {
  readonly code = 'ERR_SYSLET_CLOSED';
  constructor(
    /** The refused call. */
    readonly call: string,
    /** What the runtime was doing. */
    readonly state: 'closing' | 'closed',
  ) {
    super(`${call}: refused, the syslet runtime is ${state} (ERR_SYSLET_CLOSED)`);
    this.name = 'SysletClosedError';
  }
}

/** Entry states in which no worker holds an entry that was queued. */
const UNRUN = [EntryState.QUEUED, EntryState.CANCELLED] as const;

/** A chain to submit: its validated plan (validate.ts), encoded into the entry by encode.ts. */
export interface ChainRequest {
  readonly type: 'chain';
  /**
   * Until it is encoded; then dropped, so that a Submission kept after it settled does not keep
   * the chain (its buffers' initial bytes, its strings) alive.
   */
  plan: Plan | undefined;
  /** Names for reading its completion. */
  readonly shape: Shape;
}

/** A request of another kind (threadlets, syslet/fs's batches): its codec writes and reads it. */
export interface CodecRequest {
  readonly type: 'codec';
  readonly codec: RequestCodec;
}

/** What a submission carries to its entry. */
export type SubmitRequest = ChainRequest | CodecRequest;

export interface ValidatedSubmit {
  request: SubmitRequest;
  varInit: readonly number[];
  deadline: number;
  stepBudget: number;
  udata: unknown;
  signal: AbortSignal | undefined;
  target: CompletionTarget | undefined;
  /** Policy id (policy.ts), 0 for none. */
  policy: number;
  /** The policy was registered for submissions (not the runtime's own): released when they settle. */
  ownPolicy: boolean;
}

/** A submitted request: its id, and a promise of its one completion. Awaitable. */
export class Submission extends LazyThenable<Completion> {
  readonly id: number;
  /** The completion, once settled (readable synchronously, e.g. after an inline run). */
  completion: Completion | undefined;

  /** @internal What it carries to its entry. */ readonly _request: SubmitRequest;
  /** @internal */ _entry = -1;
  /** @internal */ _udata: unknown;
  /** @internal */ _varInit: readonly number[];
  /** @internal */ _deadline: number;
  /** @internal */ _stepBudget: number;
  /** @internal */ _unlisten: (() => void) | undefined;
  /** @internal */ _target: CompletionTarget | undefined;
  /** @internal */ _policy: number;
  /** @internal */ _ownPolicy: boolean;

  /** @internal */
  constructor(id: number, v: ValidatedSubmit) {
    super();
    this.id = id;
    this._request = v.request;
    this._varInit = v.varInit;
    this._deadline = v.deadline;
    this._stepBudget = v.stepBudget;
    this._udata = v.udata;
    this._unlisten = undefined;
    this._target = v.target;
    this._policy = v.policy;
    this._ownPolicy = v.ownPolicy;
  }

  // `promise` (a promise of the completion, made on first use: kqueue users may never need one)
  // and `then` come from LazyThenable; a submission never rejects.

  get settled(): boolean {
    return this.completion !== undefined;
  }

  /** The udata given at submission (echoed in its completion and in its kqueue event). */
  get udata(): unknown {
    return this._udata;
  }

  /** What it runs (RequestKind): CHAIN for a chain, else its codec's kind (THREADLET, ...). */
  get kind(): number {
    const r = this._request;
    return r.type === 'chain' ? RequestKind.CHAIN : r.codec.kind;
  }

  /** Where its completion is delivered besides this promise (a kqueue), if anywhere. */
  get target(): CompletionTarget | undefined {
    return this._target;
  }

  /** @internal */
  protected _settledPromise(): Promise<Completion> | undefined {
    return this.completion === undefined ? undefined : Promise.resolve(this.completion);
  }

  /** @internal */
  _settle(c: Completion): void {
    this.completion = c;
    this._resolveLazy(c);
  }
}

export interface ClientOptions {
  /** Microseconds to spin for a completion before parking. */
  spinUs: number;
  /** Most submissions outstanding at once on this thread (a resource bound). */
  maxOutstanding: number;
  /** Latency sampling mask (sample when (tick & mask) === 0). */
  sampleMask: number;
  /**
   * The pool monitor's hook (pool.ts): called at the first submission of each synchronous burst
   * (`saturated` false: work is in flight, the monitor should watch) and at each submission that
   * finds every worker awake, none parked or spinning (`saturated` true: it should look now).
   */
  onSubmit?: (saturated: boolean) => void;
  /** A submission with its own policy (ValidatedSubmit.ownPolicy) settled. */
  releasePolicy?: (policy: number) => void;
  /**
   * The runtime owner's thread: called when this client goes from nothing outstanding to something
   * (its reaper starts), to restart the owner's periodic checks. Without it (a client on an attached
   * thread), the client wakes the owner through ControlWord.BUSY_EPOCH instead when ControlWord.BUSY was 0.
   */
  onBusy?: () => void;
}

const REAP_BATCH = 1024;
/**
 * While submissions are outstanding, a parked reaper is poked to look again at least this often
 * (see #park): by the keepalive's timer, not by a timeout on the wait itself.
 */
const PARK_BOUND_MS = 200;
/** Free entries a thread keeps for itself (see #freeEntry). */
const LOCAL_FREE = 64;

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Watches a client's submissions settle (the recorder, record/recorder.ts). */
export interface SettleObserver {
  /** `sub` was submitted on this thread (it has an id; it may wait for an entry). */
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
  readonly #onSubmit: ((saturated: boolean) => void) | undefined;
  readonly #releasePolicy: ((policy: number) => void) | undefined;
  #sampleTick = 0;
  /**
   * Outstanding submissions per AbortSignal, with the one 'abort' listener this client added to it:
   * a signal shared by many submissions gets one listener, not one each.
   */
  readonly #signals = new Map<AbortSignal, { subs: Set<Submission>; onAbort: () => void }>();

  readonly #byEntry: (Submission | undefined)[];
  /** Submissions waiting for a free entry, FIFO (head index into the array). */
  #waiting: Submission[] = [];
  #waitingHead = 0;
  #outstanding = 0;
  #reaping = false;
  readonly #keepalive = new Keepalive({ ms: PARK_BOUND_MS, fn: () => this.#wakeReaper() });
  readonly #onBusy: (() => void) | undefined;
  readonly #reapBuf = new Int32Array(REAP_BATCH);
  /** A synchronous burst of submissions is under way (its doorbell microtask is queued). */
  #burst = false;
  /** The submission ring's dequeue position when this burst began (its doorbell counts pops since). */
  #burstDequeued = 0;
  /** Parked workers this burst woke (#wake). */
  #burstWakes = 0;
  /** The next #kick is the burst's first (it wakes a worker unless one spins). */
  #burstFirst = false;
  /** Entries this thread freed and keeps for its next submissions (LIFO: cache-warm). */
  readonly #localFree: number[] = [];
  /** Encoded entries the submission ring refused for a moment (see #push). */
  readonly #unpushed: number[] = [];
  /** Resolvers waiting for outstanding to reach zero. */
  #drainWaiters: (() => void)[] = [];
  /** Resolvers waiting for a free entry (room()). */
  #roomWaiters: (() => void)[] = [];
  /** The reaper is parked (#park); #poked: something it cannot see in its queues happened. */
  #parked = false;
  #poked = false;
  /** Ends the current park from this thread (a poke whose notify did not end it: #wakeReaper). */
  #unpark: (() => void) | undefined;
  /** Parks ended that way: a wake-up lost in shared memory (for tests and the next investigation). */
  #forcedUnparks = 0;
  /** The parked reaper also waits for a free slot (all it has waits for one). */
  #parkForSlot = false;
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
    this.#onSubmit = opts.onSubmit;
    this.#releasePolicy = opts.releasePolicy;
    this.#onBusy = opts.onBusy;
  }

  /** Latency sampling: submissions are timed when (tick & mask) === 0 (0: every one). */
  get sampleMask(): number {
    return this.#sampleMask;
  }

  set sampleMask(mask: number) {
    this.#sampleMask = mask;
  }

  /** @internal Whether the reaper's look-again timer exists (see Keepalive); false when idle. */
  /** Reaper parks ended by the keepalive's second tick, not by a notify (#wakeReaper): lost wake-ups. */
  get forcedUnparks(): number {
    return this.#forcedUnparks;
  }

  get timerArmed(): boolean {
    return this.#keepalive.armed;
  }

  get outstanding(): number {
    return this.#outstanding;
  }

  get waitingForSlot(): number {
    return this.#waiting.length - this.#waitingHead;
  }

  /**
   * Submit a validated request. With `onlyIfRoom`, return undefined instead when no entry is free
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
      this.#listen(signal, sub);
    }
    if (idx === EMPTY && this.#waitingHead === this.#waiting.length) idx = this.#takeEntry();
    if (idx === EMPTY) {
      // No free entry: reap what finished right here instead of waiting for the reaper's turn. A
      // long synchronous burst of submissions keeps the workers fed this way, and its entries
      // recycle through this thread's cache.
      this.#drain();
      if (this.#waitingHead === this.#waiting.length) idx = this.#takeEntry();
    }
    if (idx === EMPTY) {
      // Counted on the free ring as an empty event: a submission found no free entry.
      this.#s.fq.noteEmpty();
      this.#waiting.push(sub);
      // Read by close() on the owning thread: it waits until no thread has a submission waiting.
      Atomics.add(this.#s.ctl, ControlWord.WAITING, 1);
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
    // Running ones last: cancelling one frees its worker, which would otherwise start a queued one
    // before this loop reached it.
    const running: Submission[] = [];
    for (const sub of all) {
      if (sub === undefined) continue;
      if (sub._entry >= 0 && entryState(this.#s, sub._entry) === EntryState.RUNNING) running.push(sub);
      else this.#cancel(sub);
    }
    for (const sub of running) this.#cancel(sub);
  }

  /**
   * Resolves when a submission would find a free entry at once (backpressure for producers that
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

  /** Wake this thread's reaper (e.g. the runtime's lifecycle changed). */
  poke(): void {
    this.#wakeReaper();
  }

  // ---- submission ----------------------------------------------------------------------------

  /** Cancel `sub` when `signal` aborts: one listener per signal, however many submissions share it. */
  #listen(signal: AbortSignal, sub: Submission): void {
    let l = this.#signals.get(signal);
    if (l === undefined) {
      const subs = new Set<Submission>();
      const onAbort = (): void => {
        this.#signals.delete(signal);
        for (const s of subs) {
          s._unlisten = undefined;
          this.#cancel(s);
        }
      };
      l = { subs, onAbort };
      this.#signals.set(signal, l);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const entry = l;
    entry.subs.add(sub);
    sub._unlisten = () => {
      entry.subs.delete(sub);
      if (entry.subs.size === 0 && this.#signals.get(signal) === entry) {
        this.#signals.delete(signal);
        signal.removeEventListener('abort', entry.onAbort);
      }
    };
  }

  #cancel(sub: Submission): number {
    if (sub.completion !== undefined) return -errno.ENOENT;
    if (sub._entry < 0) {
      // Still waiting for an entry here: it never reached shared memory.
      const at = this.#waiting.indexOf(sub, this.#waitingHead);
      if (at >= 0) {
        this.#waiting.splice(at, 1);
        Atomics.sub(this.#s.ctl, ControlWord.WAITING, 1);
      }
      this.#settleUnstarted(sub, 'cancelled', -errno.ECANCELED);
      return 0;
    }
    // Pairs with the pump's entryClaim: exactly one of the two wins. A running one ends at its next
    // atom boundary (a nanosleep is woken).
    const prev = entryCancel(this.#s, sub._entry, sub.id);
    if (prev === EntryState.QUEUED) return 0;
    return prev === EntryState.RUNNING ? -errno.EALREADY : -errno.ENOENT;
  }

  /** Encode `sub` into entry `idx`, run its inline prefix, and queue it for a worker. */
  #start(sub: Submission, idx: number): void {
    const s = this.#s;
    const target = sub._target;
    const stamp = (this.#sampleTick++ & this.#sampleMask) === 0 ? sharedNow() : 0;
    const numeric = typeof sub._udata === 'number';
    const header: RequestHeader = {
      id: sub.id,
      cq: target === undefined ? this.cq : target.cq,
      owner: this.cq,
      deadline: sub._deadline,
      stepBudget: sub._stepBudget,
      submittedAt: stamp,
      udata: numeric ? (sub._udata as number) : 0,
      policy: sub._policy,
      flags: numeric ? RequestFlag.UDATA_NUMBER : 0,
    };
    let rc: number;
    const req = sub._request;
    let inline = false;
    if (req.type === 'chain') {
      const plan = req.plan;
      if (plan === undefined) throw new Error(`syslet: internal error: submission ${sub.id} started twice`);
      req.plan = undefined;
      inline = plan.startsInline;
      rc = writeChain(s, idx, plan, header, sub._varInit);
    } else {
      entryWrite(s, idx, header, req.codec.kind, 0);
      rc = req.codec.encode(s, idx);
    }
    if (rc < 0) {
      // The arena has no room for the request: it fails, the entry goes back.
      this.#freeEntry(idx);
      this.#settleUnstarted(sub, 'failed', rc);
      return;
    }
    sub._entry = idx;
    this.#byEntry[idx] = sub;
    if (inline || rc === ENCODED_COMPLETE) {
      entryStateSet(s, idx, EntryState.RUNNING);
      if (rc === ENCODED_COMPLETE || this.#interp.run(idx, true) === Outcome.ENDED) {
        entryStampSet(s, idx, Stamp.DONE, 0);
        entryStateSet(s, idx, EntryState.DONE);
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
    entryStateSet(s, idx, EntryState.QUEUED);
    // Before the push: a pop of this entry counts among the burst's pops (see #doorbell).
    this.#beginBurst();
    this.#push(idx);
    // The doorbell (a microtask after this burst) also checks that the workers are still there.
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
    if (this.#burstFirst) {
      this.#burstFirst = false;
      this.#onSubmit?.(false);
      this.#wake(true);
    } else {
      this.#wake(false);
    }
  }

  /** Before a push: the first of a synchronous burst notes the ring's dequeue position and queues the doorbell. */
  #beginBurst(): void {
    if (this.#burst) return;
    this.#burst = true;
    this.#burstFirst = true;
    this.#burstDequeued = this.#s.sq.dequeuePosition();
    this.#burstWakes = 0;
    queueMicrotask(this.#doorbell);
  }

  readonly #doorbell = (): void => {
    this.#burst = false;
    // Something this burst queued is still there: wake a parked worker for it unless a worker this
    // burst woke is still on its way to the ring. Not #wake(false)'s count of awake workers: an
    // awake worker may be busy in a long call (the burst's first request, a 200 ms nanosleep), and
    // the entries behind it would wait for it while another worker stays parked. Workers on their
    // way: the burst's wake-ups less the pops since it began. Every pop counts, also one by a
    // worker the burst did not wake, so the count errs low (an extra wake-up), never high: a lone
    // request whose worker has not reached the ring yet wakes nobody else, and the second of two
    // sleeps queued behind the first (whose worker popped it) wakes a parked worker.
    const sq = this.#s.sq;
    if (!sq.isEmpty()) {
      const onTheirWay = this.#burstWakes - ((sq.dequeuePosition() - this.#burstDequeued) | 0);
      if (sq.size() > onTheirWay) this.#wake(true);
    }
    // Pairs with the owner's close(): it stores Lifecycle.CLOSED once the workers are gone, then
    // sweeps the table for queued entries. Either it sees an entry this burst queued, or this load
    // (after the burst's pushes) sees CLOSED (both seq-cst); entryFail's CAS lets exactly one of
    // the two complete it. Once per burst, not per push.
    if (Atomics.load(this.#s.ctl, ControlWord.LIFECYCLE) === Lifecycle.CLOSED) this.#completeStranded();
  };

  /** The workers are gone: complete this thread's requests still queued with -ECANCELED. */
  #completeStranded(): void {
    const by = this.#byEntry;
    for (let idx = 0; idx < by.length; idx++) {
      if (by[idx] !== undefined) entryFail(this.#s, idx, UNRUN, Status.CANCELLED, -errno.ECANCELED);
    }
    this.#wakeReaper();
  }

  #wake(first: boolean): void {
    const sq = this.#s.sq;
    // Pairs with the pump's spinner protocol: a spinning worker re-checks the ring after it stops
    // spinning, so it will see this push.
    if (Atomics.load(sq.i32, RingField.C_SPINNERS) !== 0) return;
    const park = this.#s.workerPark;
    const sleepers = park.sleepers();
    if (sleepers === 0) {
      this.#onSubmit?.(true);
      return;
    }
    if ((first || sq.size() > Atomics.load(this.#s.ctl, ControlWord.WORKERS_LIVE) - sleepers) && park.wakeOne() >= 0) this.#burstWakes++;
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
    entryStateSet(s, idx, EntryState.FREE);
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
    // Read by the owner's periodic checks (slots.ts StuckCheck, pool.ts): they stop once no client
    // is busy. Pairs with the owner's load of ControlWord.BUSY before it stops them, and its wait on
    // ControlWord.BUSY_EPOCH (workers.ts).
    const ctl = this.#s.ctl;
    const was = Atomics.add(ctl, ControlWord.BUSY, 1);
    if (this.#onBusy !== undefined) this.#onBusy();
    else if (was === 0) {
      Atomics.add(ctl, ControlWord.BUSY_EPOCH, 1);
      Atomics.notify(ctl, ControlWord.BUSY_EPOCH);
    }
    void this.#reapLoop();
  }

  #wakeReaper(): void {
    if (!this.#parked) return;
    if (this.#poked) {
      // Poked one tick ago and still parked: the notify did not end the wait (#parkReady holds
      // since the poke, so any re-check would have). End the park here, so that a wake-up lost
      // anywhere costs at most two ticks, never a hang (one was seen under load in CI, twice, and
      // not reproduced alone).
      this.#forcedUnparks++;
      this.#unpark?.();
      return;
    }
    this.#poked = true;
    // Pairs with #parkReady's read of #poked (same thread) and the parked waitAsync on this queue.
    this.#s.cqs[this.cq]!.ring.consumers.notifyAll();
  }

  async #reapLoop(): Promise<void> {
    try {
      for (;;) {
        const n = this.#drain();
        if (this.#outstanding === 0) return;
        if (this.#unpushed.length > 0) {
          // A worker is between claiming and releasing a submission slot: retry shortly.
          this.#beginBurst();
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
      Atomics.sub(this.#s.ctl, ControlWord.BUSY, 1);
      this.#keepalive.release();
      this.#returnCachedEntries();
    }
  }

  readonly #ready = (): boolean => {
    if (this.#s.cqs[this.cq]!.ready()) return true;
    for (const q of this.#extraQueues.keys()) if (this.#s.cqs[q]!.ready()) return true;
    return false;
  };

  /**
   * Park until a watched completion queue has something, a slot frees for a waiter, or a poke
   * (#wakeReaper). One EventCount.waitAnyAsync over this thread's queue (and the kqueues' queues
   * it reaps, and the free ring when all it has waits for a slot); a poke sets #poked and notifies
   * this thread's own queue, which nobody else waits on.
   */
  async #park(): Promise<void> {
    const s = this.#s;
    this.#parkForSlot = this.#outstanding === this.#waiting.length - this.#waitingHead;
    const counts = [s.cqs[this.cq]!.ring.consumers];
    for (const q of this.#extraQueues.keys()) counts.push(s.cqs[q]!.ring.consumers);
    // Everything of ours waits for a slot that other threads hold: wait for a freed entry too.
    if (this.#parkForSlot) counts.push(s.fq.consumers);
    this.#parked = true;
    try {
      // No timeout on the wait: a finite one makes V8 post a delayed task per park (a write to the
      // loop's eventfd and one more turn of the event loop per call, measured with strace at one
      // call every 2 ms; issue 14). The bound against a wake-up lost anywhere (a once-in-many-runs
      // hang was seen under load and not yet explained) is the keepalive's tick instead: every
      // PARK_BOUND_MS while anything is outstanding it pokes this park (#wakeReaper), which
      // re-drains and parks again. Waiting for a slot other threads hold looks every 100 ms.
      const woken = EventCount.waitAnyAsync(counts, this.#parkReady, this.#parkForSlot ? 100 : Infinity);
      if (woken !== undefined) {
        await new Promise<void>((resolve) => {
          this.#unpark = resolve;
          void woken.then(() => resolve());
        });
      }
    } finally {
      this.#unpark = undefined;
      this.#parked = false;
      this.#poked = false;
    }
  }

  readonly #parkReady = (): boolean => this.#poked || this.#ready() || (this.#parkForSlot && !this.#s.fq.isEmpty());

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
    // A forced close (or workers already gone) cancels what still waits for a slot here.
    const cancelWaiting = Atomics.load(this.#s.ctl, ControlWord.LIFECYCLE) >= Lifecycle.FORCED;
    while (this.#waitingHead < this.#waiting.length) {
      const idx = cancelWaiting ? EMPTY : this.#takeEntry();
      if (idx === EMPTY && !cancelWaiting) return;
      const sub = this.#waiting[this.#waitingHead]!;
      this.#waiting[this.#waitingHead++] = undefined as unknown as Submission;
      Atomics.sub(this.#s.ctl, ControlWord.WAITING, 1);
      if (cancelWaiting) this.#settleUnstarted(sub, 'cancelled', -errno.ECANCELED);
      else this.#start(sub, idx);
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
    const done = entryStamp(s, idx, Stamp.DONE);
    let reaped = 0;
    if (done !== 0) {
      reaped = sharedNow();
      this.#reapHist.record((reaped - done) * 1e6);
    }
    if (sub === undefined) {
      // Not ours (cannot happen while each thread reaps its own queue); never leak the entry.
      entryRelease(s, idx);
      this.#freeEntry(idx);
      return undefined;
    }
    let c: Completion;
    const req = sub._request;
    if (req.type === 'codec') {
      c = req.codec.decode(s, idx, sub);
      req.codec.release(s, idx);
    } else {
      const state = entryState(s, idx);
      c = readCompletion(s, idx, req.shape, sub.id, state);
      // Ended while its worker was stuck: the worker's thread may still hold the entry. Pairs with
      // the runtime's CAS to STUCK_GONE_* when that thread exits: whoever comes second frees it.
      if (
        (state === EntryState.STUCK_TIMEDOUT || state === EntryState.STUCK_CANCELLED) &&
        entryStateMove(s, idx, state, EntryState.STUCK_REAPED)
      ) {
        this.#settle(sub, c);
        return sub;
      }
      entryRelease(s, idx);
    }
    if (reaped !== 0) c.timing = timingRead(s, idx, done, reaped, req.type === 'codec');
    this.#freeEntry(idx);
    this.#settle(sub, c);
    return sub;
  }

  #settleUnstarted(sub: Submission, status: 'cancelled' | 'failed', result: number): void {
    const c = completionUnstarted(sub.id, status, result);
    const req = sub._request;
    if (req.type === 'codec' && req.codec.unstarted !== undefined) req.codec.unstarted(c);
    if (sub._target !== undefined) sub._target.targetUnstarted(sub, c);
    this.#settle(sub, c);
  }

  #settle(sub: Submission, c: Completion): void {
    c.udata = sub._udata;
    this.#outstanding--;
    if (this.observer !== undefined) this.observer.settled(sub, c);
    if (sub._unlisten !== undefined) sub._unlisten();
    if (sub._ownPolicy) this.#releasePolicy?.(sub._policy);
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
