/**
 * Runtime: wires the worker pool, the shared rings, the request table and the arena, and is the
 * submitting and reaping side of syslet chains on the thread that created it.
 *
 * Life of a chain: submit() validates it, takes a free entry, encodes the chain into it (running
 * any SYSLET_SYNC prefix inline), pushes the entry index to the submission ring and wakes a worker
 * if none is spinning. The reaper, an async loop alive while anything is outstanding, pops finished
 * indices from this thread's completion queue in batches, decodes the completions, frees the
 * entries and settles the promises. When no entry is free, submissions wait in a local FIFO and are
 * admitted as entries free up: a full ring is a state, not an error, and nothing is dropped.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { sharedNow, isPowerOfTwo } from './ring/layout.js';
import { EMPTY, RingField, type RingCounters } from './ring/mpmc.js';
import { HistogramSnapshot, HistogramWriter, type LatencySummary } from './ring/stats.js';
import { Keepalive, spinUntil } from './ring/wait.js';
import type { ArenaStats } from './ring/arena.js';
import type { OverflowStats } from './completion/queue.js';
import type { Chain } from './syslet/chain.js';
import { errno } from './syslet/errno.js';
import { readCompletion, releaseEntry, writeChain, type Completion } from './syslet/encode.js';
import { Interpreter, Outcome } from './syslet/interp.js';
import type { PumpData } from './syslet/pump.js';
import {
  C,
  H_START_TO_COMPLETE,
  H_SUBMIT_TO_START,
  SharedState,
  W,
  WorkerState,
} from './syslet/shared.js';
import { E, EntryState, F } from './syslet/table.js';
import { validate, type Plan, type Shape } from './syslet/validate.js';

export interface RuntimeOptions {
  /** Worker threads. @default os.availableParallelism() */
  workers?: number;
  /** Request slots: the submission ring's capacity (a power of two). @default 4096 */
  ringSize?: number;
  /** Capacity of each completion ring (a power of two); overflow waits in a backlog. @default ringSize */
  completionRingSize?: number;
  /** Bytes per request slot for the encoded chain (a multiple of 8). @default 4096 */
  slotBytes?: number;
  /** Bytes of the shared arena (a power of two). @default 64 MiB */
  arenaBytes?: number;
  /** Atoms a chain may execute before it ends with -ELOOP. @default 1_000_000 */
  stepBudget?: number;
  /** Microseconds the reaping thread spins for a completion before parking. @default 50 */
  spinUs?: number;
  /** Microseconds an idle worker spins for a submission before parking. @default 50 */
  workerSpinUs?: number;
  /** Completion queues (one per thread that submits, one per kqueue). @default 64 */
  maxQueues?: number;
  /**
   * Record latency (submit-to-start, start-to-complete, complete-to-reap) for one chain in this
   * many (a power of two; 1 records every chain). Each sample costs four clock reads.
   * @default 8
   */
  latencySample?: number;
}

export interface SubmitOptions {
  /** Returned in the completion. */
  udata?: unknown;
  /** Aborting it cancels the chain (as rt.cancel(id)). */
  signal?: AbortSignal;
  /** Deadline from now, in milliseconds: the chain ends with -ETIME at the next atom boundary. */
  timeoutMs?: number;
  /** Initial values for variables the chain declares or assigns. */
  vars?: Record<string, number>;
  /** Step budget for this chain. @default the runtime's stepBudget */
  stepBudget?: number;
}

export interface RuntimeStats {
  rings: {
    submission: RingCounters;
    free: RingCounters;
    completion: RingCounters & { overflow: OverflowStats };
  };
  /** Nanoseconds. */
  latency: {
    submitToStart: LatencySummary;
    startToComplete: LatencySummary;
    completeToReap: LatencySummary;
  };
  workers: WorkerStats[];
  arena: ArenaStats;
  /** Submitted by this thread and not yet completed (including those waiting for a slot). */
  outstanding: number;
  /** Waiting for a free slot in this thread. */
  waitingForSlot: number;
}

export interface WorkerStats {
  slot: number;
  threadId: number;
  state: 'running' | 'exited';
  chains: number;
  atoms: number;
  parks: number;
  spinHits: number;
  /** postMessage calls the worker made; counted only when SYSLET_COUNT_MESSAGES=1 (diagnostic). */
  messages: number;
}

type Settle = (c: Completion) => void;

/** A submitted chain: its id, and a promise of its one completion. Awaitable. */
export class Submission implements PromiseLike<Completion> {
  readonly id: number;
  readonly promise: Promise<Completion>;
  /** The completion, once settled (readable synchronously, e.g. after an inline run). */
  completion: Completion | undefined;

  /** @internal Until the chain is encoded. */ _plan: Plan | undefined;
  /** @internal Names for decoding the completion. */ _shape: Shape;
  /** @internal */ _resolve!: Settle;
  /** @internal */ _entry = -1;
  /** @internal */ _udata: unknown;
  /** @internal */ _varInit: readonly number[];
  /** @internal */ _deadline: number;
  /** @internal */ _stepBudget: number;
  /** @internal */ _unlisten: (() => void) | undefined;

  /** @internal */
  constructor(id: number, plan: Plan, varInit: readonly number[], deadline: number, stepBudget: number, udata: unknown) {
    this.id = id;
    this._plan = plan;
    this._shape = plan.shape;
    this._varInit = varInit;
    this._deadline = deadline;
    this._stepBudget = stepBudget;
    this._udata = udata;
    this.promise = new Promise<Completion>((resolve) => {
      this._resolve = resolve;
    });
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
}

/** A chain validated once by rt.prepare(), submitted many times without validation. */
export class PreparedChain {
  /** @internal */
  constructor(
    /** @internal */ readonly _runtime: Runtime,
    /** @internal */ readonly _plan: Plan,
  ) {}

  /** Variable names, for SubmitOptions.vars. */
  get vars(): readonly string[] {
    return this._plan.shape.varNames;
  }
}

const REAP_BATCH = 1024;
/** Free entries a thread keeps for itself (see #freeEntry). */
const LOCAL_FREE = 64;
const DEFAULTS = {
  ringSize: 4096,
  slotBytes: 4096,
  arenaBytes: 64 * 1024 * 1024,
  stepBudget: 1_000_000,
  spinUs: 50,
  workerSpinUs: 50,
  maxQueues: 64,
  latencySample: 8,
};

function optInt(opts: Record<string, unknown>, name: string, min: number, max: number, fallback: number): number {
  const v = opts[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`options.${name}: expected an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function optPow2(opts: Record<string, unknown>, name: string, min: number, max: number, fallback: number): number {
  const v = optInt(opts, name, min, max, fallback);
  if (!isPowerOfTwo(v)) throw new TypeError(`options.${name}: expected a power of two, got ${v}`);
  return v;
}

const PUMP_FILE = fileURLToPath(new URL('./syslet/pump.js', import.meta.url));

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export class Runtime {
  readonly workers: number;
  readonly #s: SharedState;
  readonly #pool: Piscina;
  readonly #cqIndex: number;
  readonly #interp: Interpreter;
  readonly #reapHist: HistogramWriter;
  readonly #stepBudget: number;
  readonly #maxSpinUs: number;
  #spinUs: number;
  readonly #sampleMask: number;
  #sampleTick = 0;

  readonly #byEntry: (Submission | undefined)[];
  /** Submissions waiting for a free entry, FIFO (head index into the array). */
  #waiting: Submission[] = [];
  #waitingHead = 0;
  #outstanding = 0;
  #reaping = false;
  readonly #keepalive = new Keepalive();
  readonly #reapBuf = new Int32Array(REAP_BATCH);
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** A synchronous burst of submissions is under way (its doorbell microtask is queued). */
  #burst = false;
  /** Entries this thread freed and keeps for its next submissions (LIFO: cache-warm). */
  readonly #localFree: number[] = [];
  /** Encoded entries the submission ring refused for a moment (see #push). */
  readonly #unpushed: number[] = [];
  #drained: (() => void) | undefined;

  /** Start a runtime and wait until its workers are running. */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const rt = new Runtime(options);
    await rt.ready();
    return rt;
  }

  constructor(options: RuntimeOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`options: expected an object, got ${String(options)}`);
    }
    const o = options as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!(k in DEFAULTS) && k !== 'workers' && k !== 'completionRingSize') {
        throw new TypeError(`options.${k}: unknown option`);
      }
    }
    this.workers = optInt(o, 'workers', 1, 256, os.availableParallelism());
    const ringSize = optPow2(o, 'ringSize', 2, 1 << 20, DEFAULTS.ringSize);
    const cqSize = optPow2(o, 'completionRingSize', 2, 1 << 20, ringSize);
    const slotBytes = optInt(o, 'slotBytes', 256, 1 << 20, DEFAULTS.slotBytes);
    if (slotBytes % 8 !== 0) throw new TypeError(`options.slotBytes: expected a multiple of 8, got ${slotBytes}`);
    const arenaBytes = optPow2(o, 'arenaBytes', 4096, 2 ** 30, DEFAULTS.arenaBytes);
    this.#stepBudget = optInt(o, 'stepBudget', 1, 2 ** 31 - 1, DEFAULTS.stepBudget);
    this.#maxSpinUs = optInt(o, 'spinUs', 0, 1_000_000, DEFAULTS.spinUs);
    this.#spinUs = this.#maxSpinUs;
    const workerSpinUs = optInt(o, 'workerSpinUs', 0, 1_000_000, DEFAULTS.workerSpinUs);
    const maxQueues = optInt(o, 'maxQueues', 1, 1024, DEFAULTS.maxQueues);
    this.#sampleMask = optPow2(o, 'latencySample', 1, 1 << 20, DEFAULTS.latencySample) - 1;

    this.#s = SharedState.create({
      tableCapacity: ringSize,
      slotBytes,
      numCqs: maxQueues,
      cqCapacity: cqSize,
      maxWorkers: Math.max(64, this.workers * 4),
      arenaBytes,
      workerSpinUs,
    });
    this.#cqIndex = this.#s.claimCq();
    this.#byEntry = new Array<Submission | undefined>(ringSize).fill(undefined);
    this.#interp = new Interpreter(this.#s, -1);
    this.#reapHist = new HistogramWriter(this.#s.ctl64, this.#s.cqHist(this.#cqIndex));
    const data: PumpData = { handles: this.#s.handles };
    this.#pool = new Piscina({
      filename: PUMP_FILE,
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      // The pump parks with its own Atomics.wait; piscina's wait loop would block it.
      atomics: 'disabled',
      workerData: { syslet: data },
    });
  }

  /** Resolves when every worker's pump is running. */
  async ready(): Promise<void> {
    const ctl = this.#s.ctl;
    for (;;) {
      const live = Atomics.load(ctl, C.WORKERS_LIVE);
      if (live >= this.workers) return;
      const r = Atomics.waitAsync(ctl, C.WORKERS_LIVE, live, 50);
      if (r.async) await r.value;
    }
  }

  /**
   * Submit a chain. Returns at once with the submission (its id, a promise of its completion).
   * Bad input throws a ChainError here; everything after this gets exactly one completion.
   */
  submit(chain: Chain | PreparedChain, opts: SubmitOptions = {}): Submission {
    if (this.#state !== 'open') {
      throw new Error(`syslet runtime is ${this.#state}: submit refused`);
    }
    const plan = this.#plan(chain);
    let varInit = plan.varInit;
    if (opts.vars !== undefined) {
      const init = plan.varInit.slice();
      varInit = init;
      for (const [name, value] of Object.entries(opts.vars)) {
        const k = plan.varIndex.get(name);
        if (k === undefined) {
          throw new TypeError(`submit: vars.${name}: the chain has no variable "${name}"`);
        }
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          throw new TypeError(`submit: vars.${name}: expected a finite number, got ${String(value)}`);
        }
        init[k] = value;
      }
    }
    let deadline = 0;
    if (opts.timeoutMs !== undefined) {
      if (typeof opts.timeoutMs !== 'number' || !(opts.timeoutMs >= 0)) {
        throw new TypeError(`submit: timeoutMs: expected a non-negative number, got ${String(opts.timeoutMs)}`);
      }
      deadline = sharedNow() + opts.timeoutMs;
    }
    let stepBudget = this.#stepBudget;
    if (opts.stepBudget !== undefined) {
      const b = opts.stepBudget;
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 1 || b > 2 ** 31 - 1) {
        throw new TypeError(`submit: stepBudget: expected a positive integer, got ${String(b)}`);
      }
      stepBudget = b;
    }
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`submit: signal: expected an AbortSignal, got ${String(signal)}`);
    }

    const sub = new Submission(this.#s.nextId(), plan, varInit, deadline, stepBudget, opts.udata);
    this.#outstanding++;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#settleUnstarted(sub, 'cancelled', -errno.ECANCELED);
        return sub;
      }
      const onAbort = (): void => {
        this.#cancel(sub);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      sub._unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    let idx = this.#waitingHead < this.#waiting.length ? EMPTY : this.#takeEntry();
    if (idx === EMPTY) {
      // No free slot: reap what finished right here instead of waiting for the reaper's turn. A
      // long synchronous burst of submissions keeps the workers fed this way, and its entries
      // recycle through this thread's cache.
      this.#drain();
      if (this.#waitingHead === this.#waiting.length) idx = this.#takeEntry();
    }
    if (idx === EMPTY) this.#waiting.push(sub);
    else this.#start(sub, idx);
    if (this.#outstanding > 0) this.#ensureReaper();
    return sub;
  }

  /**
   * Validate and encode-plan a chain once, for chains submitted many times: submitting the result
   * skips validation. Later changes to `chain` do not affect it.
   */
  prepare(chain: Chain): PreparedChain {
    return new PreparedChain(this, this.#plan(chain));
  }

  /** Submit and await the completion. */
  run(chain: Chain | PreparedChain, opts?: SubmitOptions): Promise<Completion> {
    return this.submit(chain, opts).promise;
  }

  /**
   * Cancel a submission of this thread. Returns 0 when it will end before running any atom,
   * -EALREADY when it is running (it ends at its next atom boundary unless it finishes first), and
   * -ENOENT when no such submission is outstanding. It still completes exactly once.
   */
  cancel(id: number): number {
    const sub = this.#find(id);
    return sub === undefined ? -errno.ENOENT : this.#cancel(sub);
  }

  /**
   * The outstanding submission with this id. A scan, not a map: cancelling is rare, and a map
   * would cost every submission an insert and a delete.
   */
  #find(id: number): Submission | undefined {
    for (const sub of this.#byEntry) if (sub !== undefined && sub.id === id) return sub;
    for (let k = this.#waitingHead; k < this.#waiting.length; k++) {
      if (this.#waiting[k]!.id === id) return this.#waiting[k];
    }
    return undefined;
  }

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

  /**
   * A Buffer in the shared arena: atoms read into it and write from it without copying. Pass it to
   * the builder (or as `{ buf: b.byteOffset }`); give it back with free().
   */
  alloc(size: number): Buffer {
    if (!Number.isInteger(size) || size < 1) {
      throw new TypeError(`alloc: size: expected a positive integer, got ${String(size)}`);
    }
    const off = this.#s.arena.allocate(size);
    if (off < 0) {
      const a = this.#s.arena.stats();
      throw Object.assign(
        new RangeError(
          `alloc: no free block of ${size} bytes in the arena (${a.inUse} of ${a.bytes} bytes in use; option arenaBytes)`,
        ),
        { code: 'ENOMEM' },
      );
    }
    return Buffer.from(this.#s.arena.sab, off, size);
  }

  /** Return a Buffer from alloc() to the arena. */
  free(b: Buffer | Uint8Array): void {
    if (!(b instanceof Uint8Array) || b.buffer !== this.#s.arena.sab) {
      throw new TypeError('free: expected a Buffer returned by this runtime\'s alloc()');
    }
    this.#s.arena.free(b.byteOffset);
  }

  stats(): RuntimeStats {
    const s = this.#s;
    const workers: WorkerStats[] = [];
    const queued = new HistogramSnapshot();
    const running = new HistogramSnapshot();
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      const state = Atomics.load(s.ctl, b + W.STATE);
      if (state === WorkerState.FREE) continue;
      workers.push({
        slot: w,
        threadId: s.ctl[b + W.THREAD_ID]!,
        state: state === WorkerState.RUNNING ? 'running' : 'exited',
        chains: s.ctl[b + W.CHAINS]!,
        atoms: s.ctl[b + W.ATOMS]!,
        parks: s.ctl[b + W.PARKS]!,
        spinHits: s.ctl[b + W.SPIN_HITS]!,
        messages: Atomics.load(s.ctl, b + W.MESSAGES),
      });
      queued.add(s.ctl64, s.workerHist(w, H_SUBMIT_TO_START));
      running.add(s.ctl64, s.workerHist(w, H_START_TO_COMPLETE));
    }
    const cq = s.cqs[this.#cqIndex]!;
    return {
      rings: {
        submission: s.sq.counters(),
        free: s.fq.counters(),
        completion: { ...cq.ring.counters(), overflow: cq.overflow() },
      },
      latency: {
        submitToStart: queued.summary(),
        startToComplete: running.summary(),
        completeToReap: new HistogramSnapshot().add(s.ctl64, s.cqHist(this.#cqIndex)).summary(),
      },
      workers,
      arena: s.arena.stats(),
      outstanding: this.#outstanding,
      waitingForSlot: this.#waiting.length - this.#waitingHead,
    };
  }

  /**
   * Stop accepting submissions, let outstanding chains finish (or, with force, cancel them), then
   * stop the workers.
   */
  async close(opts: { force?: boolean } = {}): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#state === 'open') {
      this.#state = 'closing';
      if (opts.force === true) {
        const all = [...this.#byEntry, ...this.#waiting.slice(this.#waitingHead)];
        for (const sub of all) if (sub !== undefined) this.#cancel(sub);
      }
      if (this.#outstanding > 0) {
        await new Promise<void>((r) => {
          this.#drained = r;
        });
      }
      Atomics.store(this.#s.ctl, C.SHUTDOWN, 1);
      this.#s.sq.consumers.notifyAll();
      await this.#pool.destroy();
      this.#keepalive.dispose();
      this.#s.releaseCq(this.#cqIndex);
      this.#state = 'closed';
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  #plan(chain: Chain | PreparedChain): Plan {
    if (chain instanceof PreparedChain) {
      if (chain._runtime !== this) throw new TypeError('submit: the chain was prepared by another runtime');
      return chain._plan;
    }
    return validate(chain, { arena: this.#s.arena, slotBytes: this.#s.layout.dataBytes });
  }

  /** Encode `sub` into entry `idx`, run its inline prefix, and queue it for a worker. */
  #start(sub: Submission, idx: number): void {
    const s = this.#s;
    const plan = sub._plan!;
    sub._plan = undefined;
    const rc = writeChain(
      s,
      idx,
      plan,
      {
        id: sub.id,
        cq: this.#cqIndex,
        deadline: sub._deadline,
        stepBudget: sub._stepBudget,
        submittedAt: (this.#sampleTick++ & this.#sampleMask) === 0 ? sharedNow() : 0,
        udata: 0,
      },
      sub._varInit,
    );
    if (rc < 0) {
      // The arena has no room for the chain's buffers: the chain fails, the slot goes back.
      this.#freeEntry(idx);
      this.#settleUnstarted(sub, 'failed', rc);
      return;
    }
    sub._entry = idx;
    this.#byEntry[idx] = sub;
    const eb = s.layout.base(idx);
    if (plan.startsInline) {
      Atomics.store(s.i32, eb + E.STATE, EntryState.RUNNING);
      if (this.#interp.run(idx, true) === Outcome.ENDED) {
        s.f64[s.layout.base64(idx) + F.T_DONE] = 0;
        Atomics.store(s.i32, eb + E.STATE, EntryState.DONE);
        this.#complete(idx);
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

  #ensureReaper(): void {
    if (this.#reaping) return;
    this.#reaping = true;
    this.#keepalive.hold();
    void this.#reapLoop();
  }

  async #reapLoop(): Promise<void> {
    const cq = this.#s.cqs[this.#cqIndex]!;
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
        if (spinUntil(() => cq.ready(), this.#spinUs)) {
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
      if (this.#outstanding === 0 && this.#drained !== undefined) this.#drained();
    }
  }

  /** Park until this thread's completion queue has something (or a slot frees for a waiter). */
  async #park(): Promise<void> {
    const s = this.#s;
    const cq = s.cqs[this.#cqIndex]!;
    const key = cq.ring.consumers.prepare();
    if (cq.ready()) {
      cq.ring.consumers.cancel();
      return;
    }
    const waitingOnly = this.#outstanding === this.#waiting.length - this.#waitingHead;
    if (!waitingOnly) {
      await cq.ring.consumers.waitAsync(key);
      return;
    }
    // Everything of ours waits for a slot that other threads hold: wait for a freed entry too.
    const fkey = s.fq.consumers.prepare();
    if (!s.fq.isEmpty()) {
      s.fq.consumers.cancel();
      cq.ring.consumers.cancel();
      return;
    }
    await Promise.race([cq.ring.consumers.waitAsync(key, 100), s.fq.consumers.waitAsync(fkey, 100)]);
  }

  /** Reap everything ready, then admit waiting submissions into freed entries. */
  #drain(): number {
    const cq = this.#s.cqs[this.#cqIndex]!;
    const buf = this.#reapBuf;
    let total = 0;
    for (;;) {
      const n = cq.reap(buf, REAP_BATCH);
      for (let k = 0; k < n; k++) this.#complete(buf[k]!);
      total += n;
      this.#admitWaiting();
      if (n < REAP_BATCH) return total;
    }
  }

  #admitWaiting(): void {
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

  /** Entry `idx` ended: read it, free it, settle its submission. */
  #complete(idx: number): void {
    const s = this.#s;
    const sub = this.#byEntry[idx];
    this.#byEntry[idx] = undefined;
    const done = s.f64[s.layout.base64(idx) + F.T_DONE]!;
    if (done !== 0) this.#reapHist.record((sharedNow() - done) * 1e6);
    if (sub === undefined) {
      // Not ours (cannot happen while each thread reaps its own queue); never leak the slot.
      releaseEntry(s, idx);
      this.#freeEntry(idx);
      return;
    }
    const c = readCompletion(s, idx, sub._shape, sub.id);
    releaseEntry(s, idx);
    this.#freeEntry(idx);
    this.#settle(sub, c);
  }

  #settleUnstarted(sub: Submission, status: 'cancelled' | 'failed', result: number): void {
    this.#settle(sub, {
      id: sub.id,
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
    });
  }

  #settle(sub: Submission, c: Completion): void {
    c.udata = sub._udata;
    sub.completion = c;
    this.#outstanding--;
    if (sub._unlisten !== undefined) sub._unlisten();
    sub._resolve(c);
    if (this.#outstanding === 0 && !this.#reaping && this.#drained !== undefined) this.#drained();
  }
}
