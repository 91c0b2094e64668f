/**
 * Runtime: the public door of the syslet rooms. It makes a runtime (Runtime.create, or
 * Runtime.attach on another thread), checks what callers hand it, and delegates:
 *
 *   options.ts          RuntimeOptions and SubmitOptions: docs, defaults, checks
 *   syslet/shared.ts    the shared memory (rings, request table, arena, control words)
 *   syslet/workers.ts   the owner's worker threads (piscina's pool, the pool monitor's spares and
 *                       extras, start-up, stuck chains), over their slots (syslet/slots.ts)
 *   syslet/client.ts    this thread's submitting and reaping (one Client per thread)
 *   completion/         kqueues
 *
 * It owns the lifecycle (close: drain or force, then stop the workers) and the per-submission
 * policies' registrations.
 *
 * Life of a chain: submit() validates it, takes a free entry, encodes the chain into it (running
 * any SYSLET_SYNC prefix inline), pushes the entry index to the submission ring and wakes a worker
 * if none is spinning. A worker's pump runs the chain and posts the index to a completion queue:
 * the thread's own (its reaper settles the submission) or a kqueue's (kevent turns it into an
 * event).
 *
 * Other threads join with `Runtime.attach(rt.share())`: the same rings and arena, their own
 * completion queue, no pool of their own.
 */
import { HistogramSnapshot, type ArenaStats, type LatencySummary, type RingCounters } from 'atomics-sync';
import type { OverflowStats } from './syslet/completion-queue.js';
import { Kqueue, type KqueueHandle } from './completion/kqueue.js';
import type { Chain } from './syslet/chain.js';
import {
  Client,
  Submission,
  SysletClosedError,
  type RequestCodec,
  type SubmitRequest,
  type ValidatedSubmit,
} from './syslet/client.js';
import { EntryState, Status, entryCancelEvery, entryFail, entryState, type Completion } from './syslet/entry.js';
import { ControlWord, Lifecycle, SharedState, MAX_WORKER_SLOTS, type SharedHandles } from './syslet/shared.js';
import { wantPoolWatch, type PoolStats } from './syslet/pool.js';
import { WorkerSlots, type WorkerStats } from './syslet/slots.js';
import { SysletStartError, Workers } from './syslet/workers.js';
import { forSubmission, validate, type Plan } from './syslet/validate.js';
import { errno } from './syslet/errno.js';
import { compileGrant, compilePolicy, narrowPolicy, NO_GRANT, unrestricted, type Policy, type PolicySpec } from './syslet/policy.js';
import { runtimeCreated, startRecording, stopRecordings, type RecordHost, type RecordOptions, type Recording } from './record/recorder.js';
import {
  checkSubmitOptions,
  faultChances,
  parseRuntimeOptions,
  type FaultChances,
  type FaultOptions,
  type RuntimeConfig,
  type RuntimeOptions,
  type SubmitOptions,
} from './options.js';

export { Submission, SysletClosedError, SysletStartError };
export type { FaultOptions, RuntimeOptions, SubmitOptions, WorkerStats };

export interface QueueStats extends RingCounters {
  cq: number;
  overflow: OverflowStats;
  /** Nanoseconds from a worker's completion to its reaping, for this queue. */
  completeToReap: LatencySummary;
}

export interface RuntimeStats {
  rings: {
    submission: RingCounters;
    free: RingCounters;
    /** This thread's completion queue. */
    completion: QueueStats;
    /** Every completion queue in use (threads' and kqueues'). */
    queues: QueueStats[];
  };
  /** Nanoseconds. */
  latency: {
    submitToStart: LatencySummary;
    startToComplete: LatencySummary;
    completeToReap: LatencySummary;
  };
  workers: WorkerStats[];
  /** The pool's size, bound and history of growth (undefined in a runtime attached from another thread). */
  pool: PoolStats | undefined;
  arena: ArenaStats;
  /** Workers that died (and were replaced); requests they held completed with -EOWNERDEAD. */
  workerDeaths: number;
  ownerDeadCompletions: number;
  /**
   * Workers the runtime terminated and replaced because their chain stayed in one call (e.g. a read
   * on a pipe nobody writes) past its deadline, a cancel or a forced close; those chains completed
   * with -ETIME or -ECANCELED.
   */
  stuckWorkersEnded: number;
  /**
   * Of those, threads still blocked in their call (owner thread only; 0 elsewhere). Node cannot
   * interrupt a system call: each exits when its call returns, and the process cannot exit before.
   */
  stuckThreads: number;
  /** Submitted by this thread and not yet completed (including those waiting for a slot). */
  outstanding: number;
  /** Waiting for a free slot in this thread. */
  waitingForSlot: number;
}

/** What another thread needs to attach to this runtime (structured-clone safe). */
export interface RuntimeHandle {
  readonly handles: SharedHandles;
  readonly stepBudget: number;
  readonly spinUs: number;
  readonly latencySample: number;
  readonly maxAtoms: number;
  readonly maxBufferBytes: number;
  readonly maxOutstanding: number;
  readonly policy: PolicySpec;
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

  /**
   * Bytes the chain encodes to in a request slot, at most the runtime's `slotBytes` (granted
   * descriptors come on top at submit). The same figure as `encodedBytes(chain)`.
   */
  get bytes(): number {
    return this._plan.valuesAt;
  }
}

/** The options every thread of a runtime applies on its own side: the owner's, handed on by share(). */
type ThreadSettings = Omit<RuntimeHandle, 'handles'>;

function threadSettings(o: ThreadSettings): ThreadSettings {
  return {
    stepBudget: o.stepBudget,
    spinUs: o.spinUs,
    latencySample: o.latencySample,
    maxAtoms: o.maxAtoms,
    maxBufferBytes: o.maxBufferBytes,
    maxOutstanding: o.maxOutstanding,
    policy: o.policy,
  };
}

/** A submission's policy id, and whether it is the submission's own (released when it settles). */
interface PolicyUse {
  readonly id: number;
  readonly own: boolean;
}
const NO_POLICY_USE: PolicyUse = Object.freeze({ id: 0, own: false });

/** Milliseconds between close()'s checks that no request is queued, running or waiting. */
const QUIESCE_POLL_MS = 5;
/** Milliseconds close() waits for submissions still in a thread's FIFO once nothing else runs. */
const WAITING_GIVE_UP_MS = 1000;

/** States of a request no worker started (swept once the workers are gone). */
const UNRUN_FROM = [EntryState.QUEUED, EntryState.CANCELLED] as const;

/**
 * How a Runtime is made: it owns the workers and the shared memory (Runtime.create), or it joined
 * another thread's runtime (Runtime.attach) and owns only its own completion queue.
 */
type Origin = { readonly [MADE_HERE]: true } & (
  | { readonly kind: 'owner'; readonly config: RuntimeConfig }
  | { readonly kind: 'attached'; readonly handle: RuntimeHandle }
);
/** Marks an Origin made by the factories: `new Runtime(options)` from JavaScript is refused loudly. */
const MADE_HERE = Symbol('Runtime origin');

export class Runtime {
  /** Worker threads (0 in a runtime attached from another thread). */
  readonly workers: number;
  readonly #s: SharedState;
  /** The owner's worker threads (undefined in a runtime attached from another thread). */
  readonly #workers: Workers | undefined;
  /** The worker slots, read for stats (the owner's, or a view of them in an attached runtime). */
  readonly #slots: WorkerSlots;
  readonly #client: Client;
  /** The options this thread applies (the owner's, handed on by share()); policy: mask and root. */
  readonly #settings: ThreadSettings;
  /** The runtime's policy's id in the policy table (0: none). */
  readonly #policyId: number;
  /** Per-submission policies this runtime registered: by Policy object, and in flight per id. */
  readonly #policyIds = new Map<Policy, number>();
  readonly #policySpecs = new WeakMap<Policy, PolicySpec>();
  readonly #policyUse = new Map<number, PolicyUse & { inflight: number; objects: Policy[] }>();
  /** The runtime's own policy, as #submissionPolicy returns it (no allocation per submission). */
  #runtimePolicyUse: PolicyUse = NO_POLICY_USE;
  #policySweep: NodeJS.Timeout | undefined;
  readonly #kqueues = new Set<Kqueue>();
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** The one close() in progress or done (every close() returns it). */
  #closing: Promise<void> | undefined;
  #forced = false;

  /**
   * Start a runtime and wait until its workers are running. Rejects (never hangs) when they cannot
   * start: a SysletStartError saying why (a worker's own error as its cause), within
   * options.startTimeoutMs; bad options reject with a TypeError or RangeError naming the option.
   */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const rt = Runtime._startUnwaited(options);
    try {
      await rt.ready();
    } catch (err) {
      await rt.#abortStart();
      throw err;
    }
    rt.#workers!.started();
    return rt;
  }

  /**
   * @internal Start a runtime and return at once, its workers still starting (they take chains
   * queued meanwhile once they run): for syslet/fs's default runtime, whose start-up must hold no
   * handle (a script done before the pool is exits). Runtime.create() is this, then ready().
   */
  static _startUnwaited(options: RuntimeOptions = {}): Runtime {
    // Set on a syslet worker while it imports a threadlet's module (threadlet/worker-run.ts): a
    // Runtime started there would start workers that import the module again, without end.
    const refusal = (globalThis as Record<symbol, unknown>)[Symbol.for('syslet.runtime.refuse')];
    if (typeof refusal === 'string') throw new Error(refusal);
    return new Runtime({ [MADE_HERE]: true, kind: 'owner', config: parseRuntimeOptions(options) });
  }

  /**
   * Join a runtime from another thread (a worker): same rings, arena and workers, a completion
   * queue of its own. `handle` comes from `rt.share()` on the runtime's thread. Throws a
   * SysletClosedError (call 'attach') when that runtime is closing or closed.
   */
  static attach(handle: RuntimeHandle): Runtime {
    if (typeof handle !== 'object' || handle === null || typeof handle.handles !== 'object') {
      throw new TypeError(`attach: expected a handle from rt.share(), got ${String(handle)}`);
    }
    return new Runtime({ [MADE_HERE]: true, kind: 'attached', handle });
  }

  /** Use Runtime.create() or Runtime.attach(). */
  private constructor(origin: Origin) {
    if ((origin as Partial<Origin> | undefined)?.[MADE_HERE] !== true) {
      throw new TypeError('new Runtime(): use await Runtime.create(options), or Runtime.attach(handle) on another thread');
    }
    if (origin.kind === 'attached') {
      const h = origin.handle;
      this.workers = 0;
      this.#s = new SharedState(h.handles);
      const life = Atomics.load(this.#s.ctl, ControlWord.LIFECYCLE);
      if (life !== Lifecycle.OPEN) throw new SysletClosedError('attach', life === Lifecycle.CLOSED ? 'closed' : 'closing');
      this.#workers = undefined;
      this.#settings = threadSettings(h);
    } else {
      const o = origin.config;
      this.workers = o.workers;
      this.#settings = threadSettings(o);
      this.#s = SharedState.create({
        tableCapacity: o.ringSize,
        slotBytes: o.slotBytes,
        numCqs: o.maxQueues,
        cqCapacity: o.completionRingSize,
        // Slots for every thread the pool may have, and for replacements of dead workers.
        maxWorkers: Math.min(MAX_WORKER_SLOTS, Math.max(64, o.workers * 4, o.maxWorkers * 2)),
        arenaBytes: o.arenaBytes,
        workerSpinUs: o.workerSpinUs,
        extraIdleMs: o.extraWorkerIdleMs,
      });
      if (o.faults !== undefined) this.#storeFaults(o.faults);
    }
    this.#policyId = this.#registerPolicy(this.#settings.policy);
    this.#runtimePolicyUse = Object.freeze({ id: this.#policyId, own: false });
    this.#client = this.#newClient(origin.kind === 'owner');
    if (origin.kind === 'owner') {
      const o = origin.config;
      this.#workers = new Workers(this.#s, {
        workers: o.workers,
        maxWorkers: o.maxWorkers,
        resourceLimits: o.resourceLimits,
        startTimeoutMs: o.startTimeoutMs,
      });
    }
    this.#slots = this.#workers?.slots ?? new WorkerSlots(this.#s);
    runtimeCreated(this.#recordHost());
  }

  /**
   * Set the fault-injection chances (0 to 1 each) for requests from now on: for testing recovery.
   * `injectFaults({})` turns them off.
   */
  injectFaults(f: FaultOptions): void {
    this.#storeFaults(faultChances(f));
  }

  #storeFaults(f: FaultChances): void {
    const ctl = this.#s.ctl;
    Atomics.store(ctl, ControlWord.FAULT_SEED, f.seed);
    Atomics.store(ctl, ControlWord.FAULT_PUMP_ERROR, f.pumpError);
    Atomics.store(ctl, ControlWord.FAULT_EXIT, f.workerExit);
    Atomics.store(ctl, ControlWord.FAULT_OOM, f.oom);
  }

  /** create() failed: stop what started and release the shared memory's claims. */
  async #abortStart(): Promise<void> {
    this.#state = 'closed';
    Atomics.store(this.#s.ctl, ControlWord.LIFECYCLE, Lifecycle.CLOSED);
    this.#stopTimers();
    Atomics.store(this.#s.ctl, ControlWord.SHUTDOWN, 1);
    this.#s.sq.consumers.notifyAll();
    await this.#workers?.abort();
    this.#client.dispose();
  }

  /**
   * Resolves when every worker's pump is running. Before create() resolved it rejects with a
   * SysletStartError when a worker fails to start or none started within options.startTimeoutMs.
   */
  async ready(): Promise<void> {
    await this.#workers?.ready(this.workers);
  }

  /** A handle for `Runtime.attach()` on another thread. */
  share(): RuntimeHandle {
    return { handles: this.#s.handles, ...this.#settings };
  }

  /**
   * Submit a chain. Returns at once with the submission (its id, a promise of its completion).
   * Bad input throws a ChainError here; everything after this gets exactly one completion.
   */
  submit(chain: Chain | PreparedChain, opts: SubmitOptions = {}): Submission {
    this.#checkOpen('submit');
    const plan = this.#plan(chain);
    return this.#submitValidated(this.#submitOptions({ type: 'chain', plan, shape: plan.shape }, opts), false)!;
  }

  /**
   * Submit only if a slot is free now (after reaping what finished): the submission, or 'full'
   * (nothing was taken; try again after `await rt.room()`).
   */
  trySubmit(chain: Chain | PreparedChain, opts: SubmitOptions = {}): Submission | 'full' {
    this.#checkOpen('trySubmit');
    const plan = this.#plan(chain);
    return this.#submitValidated(this.#submitOptions({ type: 'chain', plan, shape: plan.shape }, opts), true) ?? 'full';
  }

  /**
   * Resolves when a submission from this thread would find a free slot at once: backpressure for
   * producers that should not queue without bound (`submit` itself never blocks: when no slot is
   * free, the submission waits in this thread's FIFO).
   */
  room(): Promise<void> {
    return this.#client.room();
  }

  /**
   * @internal Submit a request of another kind (threadlets): `codec` writes it into its slot and
   * reads its completion back.
   */
  _submitRequest(codec: RequestCodec, opts: SubmitOptions = {}): Submission {
    this.#checkOpen('submit');
    return this.#submitValidated(this.#submitOptions({ type: 'codec', codec }, opts), false)!;
  }

  /** Hand validated options to the client; a submission not taken gives its policy use back. */
  #submitValidated(v: ValidatedSubmit, onlyIfRoom: boolean): Submission | undefined {
    let sub: Submission | undefined;
    try {
      sub = this.#client.submit(v, onlyIfRoom);
    } finally {
      if (sub === undefined && v.ownPolicy) this.#policyUse.get(v.policy)!.inflight--;
    }
    return sub;
  }

  /**
   * Validate a chain once, for chains submitted many times: submitting the result skips validation.
   * Later changes to `chain` do not affect it. Arena buffers it names must stay allocated.
   */
  prepare(chain: Chain): PreparedChain {
    this.#checkOpen('prepare');
    return new PreparedChain(this, this.#plan(chain));
  }

  /**
   * Submit and await the completion. Everything submit() would throw (a ChainError, bad options, a
   * SysletClosedError with call 'run') rejects the promise instead.
   */
  run(chain: Chain | PreparedChain, opts?: SubmitOptions): Promise<Completion> {
    try {
      this.#checkOpen('run');
      return this.submit(chain, opts).promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Cancel a submission of this thread. Returns 0 when it will end before running any atom,
   * -EALREADY when it is running (it ends at its next atom boundary unless it finishes first), and
   * -ENOENT when no such submission is outstanding. It still completes exactly once.
   */
  cancel(id: number): number {
    return this.#client.cancel(id);
  }

  /** A kqueue on this thread: completions of submissions made with `{ kq }`, and the other filters. */
  kqueue(): Kqueue {
    this.#checkOpen('kqueue');
    const kq = new Kqueue({ s: this.#s, client: this.#client, spinUs: this.#settings.spinUs });
    this.#kqueues.add(kq);
    return kq;
  }

  /** Use a kqueue shared by another thread (`kq.share()`), from this one. */
  attachKqueue(handle: KqueueHandle): Kqueue {
    this.#checkOpen('attachKqueue');
    if (!Number.isInteger(handle?.cq) || handle.cq < 0 || handle.cq >= this.#s.numCqs) {
      throw new TypeError(`attachKqueue: expected a handle from kq.share(), got ${JSON.stringify(handle)}`);
    }
    const kq = new Kqueue({ s: this.#s, client: this.#client, spinUs: this.#settings.spinUs }, handle);
    this.#kqueues.add(kq);
    return kq;
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
      throw new TypeError("free: expected a Buffer returned by this runtime's alloc()");
    }
    this.#s.arena.free(b.byteOffset);
  }

  stats(): RuntimeStats {
    const s = this.#s;
    const slots = this.#slots.stats();
    const reaped = new HistogramSnapshot();
    const queues: QueueStats[] = [];
    for (let q = 0; q < s.numCqs; q++) {
      if (!s.cqInUse(q)) continue;
      const cq = s.cqs[q]!;
      const own = new HistogramSnapshot().add(s.ctl64, s.cqHist(q));
      queues.push({ cq: q, ...cq.ring.counters(), overflow: cq.overflow(), completeToReap: own.summary() });
      reaped.add(s.ctl64, s.cqHist(q));
    }
    return {
      rings: {
        submission: s.sq.counters(),
        free: s.fq.counters(),
        // This thread's queue is claimed, so it is among those listed.
        completion: queues.find((q) => q.cq === this.#client.cq)!,
        queues,
      },
      latency: {
        submitToStart: slots.submitToStart.summary(),
        startToComplete: slots.startToComplete.summary(),
        completeToReap: reaped.summary(),
      },
      workers: slots.workers,
      pool: this.#workers?.poolStats(),
      arena: s.arena.stats(),
      ...this.#slots.deaths(),
      stuckThreads: this.#workers?.stuckThreads ?? 0,
      outstanding: this.#client.outstanding,
      waitingForSlot: this.#client.waitingForSlot,
    };
  }

  /**
   * Start recording this runtime: its rings sampled every `intervalMs` (occupancy, parked workers,
   * throughput over time), every chain of this thread timed (latency sampling raised to every chain
   * while recording, put back after) and kept as a span for the trace. `await rec.stop()` returns
   * the figures in the shape `syslet profile --json` prints; close() stops it. See record/recorder.ts.
   */
  record(opts: RecordOptions = {}): Recording {
    this.#checkOpen('record');
    return startRecording(this.#recordHost(), opts);
  }

  /**
   * Stop accepting submissions (from now on they throw a SysletClosedError), let the outstanding
   * ones finish, close this thread's kqueues, then stop the workers. Resolves when all of that is
   * done; every call returns the same promise.
   *
   * The owning runtime's close covers threads attached to it too: they can submit no more, and
   * what they submitted before completes exactly once (it runs, or with force -ECANCELED).
   * `{ force: true }` cancels what is outstanding instead (it completes with -ECANCELED; a chain
   * stuck in a call is ended by terminating its worker, see STUCK_GRACE_MS) and escalates a close
   * already in progress. A runtime attached from another thread only leaves: the workers belong to
   * the runtime it joined.
   */
  close(opts: { force?: boolean } = {}): Promise<void> {
    if (typeof opts !== 'object' || opts === null) {
      return Promise.reject(new TypeError(`close: options: expected an object, got ${String(opts)}`));
    }
    for (const k of Object.keys(opts)) {
      if (k !== 'force') return Promise.reject(new TypeError(`close: options.${k}: unknown option; expected force`));
    }
    if (opts.force !== undefined && typeof opts.force !== 'boolean') {
      return Promise.reject(new TypeError(`close: options.force: expected a boolean, got ${String(opts.force)}`));
    }
    if (this.#state === 'open') this.#state = 'closing';
    // The stuck-chain check runs until the close is done (a forced close ends stuck chains with it).
    this.#workers?.resumeChecks();
    if (opts.force === true) this.#force();
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** close({ force: true }): cancel everything outstanding, on every thread when this is the owner. */
  #force(): void {
    if (this.#forced || this.#state === 'closed') return;
    this.#forced = true;
    const s = this.#s;
    if (this.#workers !== undefined) {
      // Attached clients cancel what waits in their FIFOs when they see FORCED (client.ts).
      if (Atomics.load(s.ctl, ControlWord.LIFECYCLE) < Lifecycle.FORCED) Atomics.store(s.ctl, ControlWord.LIFECYCLE, Lifecycle.FORCED);
      // Every request in shared memory, whichever thread submitted it: as cancel() does. Pairs with
      // the pump's CAS QUEUED -> RUNNING, and the interpreter's boundary load of CANCEL. Queued
      // ones first (entryCancelEvery): cancelling a running one frees its worker, which would
      // otherwise start a queued one that the loop had not reached yet.
      entryCancelEvery(s);
      this.#pokeReapers();
    }
    this.#client.cancelAll();
  }

  /** Wake every parked reaper (all threads' completion queues): the lifecycle changed. */
  #pokeReapers(): void {
    const s = this.#s;
    for (let q = 0; q < s.numCqs; q++) if (s.cqInUse(q)) s.cqs[q]!.ring.consumers.notify(Infinity);
  }

  async #shutdown(): Promise<void> {
    const s = this.#s;
    const workers = this.#workers;
    if (workers !== undefined && Atomics.load(s.ctl, ControlWord.LIFECYCLE) < Lifecycle.DRAINING) {
      Atomics.store(s.ctl, ControlWord.LIFECYCLE, Lifecycle.DRAINING);
    }
    await this.#client.drained();
    stopRecordings(this.#client);
    for (const kq of this.#kqueues) kq.close();
    this.#kqueues.clear();
    if (workers !== undefined) {
      // Other threads' requests: queued, running, or waiting in their FIFOs for a slot.
      await this.#quiesce();
      Atomics.store(s.ctl, ControlWord.SHUTDOWN, 1);
      s.workerPark.wakeAll();
      await workers.destroy();
      // Pairs with the load of LIFECYCLE after a push in client.ts #start: a request queued after
      // the workers were gone is completed here or by its submitter, exactly once.
      Atomics.store(s.ctl, ControlWord.LIFECYCLE, Lifecycle.CLOSED);
      for (let idx = 0; idx < s.layout.capacity; idx++) {
        entryFail(s, idx, UNRUN_FROM, Status.CANCELLED, -errno.ECANCELED);
      }
      this.#pokeReapers();
    }
    this.#stopTimers();
    this.#releaseIdlePolicies(true);
    this.#client.dispose();
    this.#state = 'closed';
  }

  /**
   * Resolves when no request is queued or running and none waits for a slot, on any thread.
   *
   * Submissions waiting in a thread's FIFO are that thread's to start (or, once the close is forced,
   * to cancel). A live thread starts them soon after slots free up (its reaper looks at least every
   * 100 ms); if none is queued or running anywhere and some still wait after WAITING_GIVE_UP_MS,
   * their thread is taken for gone (a worker terminated without closing its runtime) rather than
   * waited for forever. Should it still be alive, it completes them with -ECANCELED itself when it
   * finds the workers gone (client.ts), so each still completes exactly once.
   */
  async #quiesce(): Promise<void> {
    const s = this.#s;
    let idleSince = -1;
    for (;;) {
      let busy = false;
      for (let idx = 0; idx < s.layout.capacity && !busy; idx++) {
        const st = entryState(s, idx);
        busy = st === EntryState.QUEUED || st === EntryState.RUNNING || st === EntryState.CANCELLED;
      }
      const waiting = Atomics.load(s.ctl, ControlWord.WAITING) > 0;
      if (!busy && !waiting) return;
      if (busy) idleSince = -1;
      else if (idleSince < 0) idleSince = performance.now();
      else if (performance.now() - idleSince >= WAITING_GIVE_UP_MS) return;
      await new Promise((r) => setTimeout(r, QUIESCE_POLL_MS));
    }
  }

  #stopTimers(): void {
    this.#workers?.stopTimers();
    if (this.#policySweep !== undefined) clearInterval(this.#policySweep);
    this.#policySweep = undefined;
  }

  /**
   * @internal For tests: whether each periodic check has a timer now (the owner's stuck-chain
   * check and pool monitor, workers.ts; this thread's reaper bound, client.ts). All false once the
   * runtime stayed idle a moment (issue 14).
   */
  _checksArmed(): { stuck: boolean; pool: boolean; reaper: boolean } {
    return { stuck: false, pool: false, ...this.#workers?.checksArmed(), reaper: this.#client.timerArmed };
  }

  /**
   * @internal For tests: how many times this thread's reaper park was ended by its keepalive's
   * second tick because a poke's notify did not end it (a lost wake-up; client.ts #wakeReaper).
   */
  _forcedUnparks(): number {
    return this.#client.forcedUnparks;
  }

  /**
   * @internal For tests: parked workers the owner's 50 ms tick woke for queued work that no worker
   * took between two ticks (slots.ts wakeStalled): wake-ups that come from no submitter.
   */
  _stallWakes(): number {
    return this.#workers?.stallWakes ?? 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Throw a SysletClosedError naming `call` unless this runtime (and the one it joined) is open. */
  #checkOpen(call: string): void {
    if (this.#state !== 'open') throw new SysletClosedError(call, this.#state);
    const life = Atomics.load(this.#s.ctl, ControlWord.LIFECYCLE);
    if (life !== Lifecycle.OPEN) throw new SysletClosedError(call, life === Lifecycle.CLOSED ? 'closed' : 'closing');
  }

  #plan(chain: Chain | PreparedChain): Plan {
    if (chain instanceof PreparedChain) {
      if (chain._runtime !== this) throw new TypeError('submit: the chain was prepared by another runtime');
      return chain._plan;
    }
    return validate(chain, {
      arena: this.#s.arena,
      slotBytes: this.#s.layout.dataBytes,
      maxAtoms: this.#settings.maxAtoms,
      maxBufferBytes: this.#settings.maxBufferBytes,
    });
  }

  #recordHost(): RecordHost {
    return {
      runtime: this,
      s: this.#s,
      client: this.#client,
      attached: this.#workers === undefined,
      latencySample: this.#settings.latencySample,
      stats: () => this.stats(),
    };
  }

  #newClient(owner: boolean): Client {
    return new Client(this.#s, {
      // The owner's own client restarts the periodic checks directly (read when called: the
      // workers are made after the client); a client on another thread through ControlWord.BUSY_EPOCH.
      ...(owner ? { onBusy: () => this.#workers?.resumeChecks() } : {}),
      spinUs: this.#settings.spinUs,
      sampleMask: this.#settings.latencySample - 1,
      maxOutstanding: this.#settings.maxOutstanding,
      // Read when called: the pool monitor is made after the client. A runtime attached from
      // another thread has none: it asks the owner's monitor through shared memory.
      onSubmit: (saturated) => (this.#workers !== undefined ? this.#workers.poke(saturated) : wantPoolWatch(this.#s.ctl)),
      releasePolicy: (id) => {
        const use = this.#policyUse.get(id);
        if (use !== undefined) use.inflight--;
      },
    });
  }

  /** Register a compiled policy in the shared table: its id, 0 for "no restriction". */
  #registerPolicy(p: PolicySpec): number {
    if (unrestricted(p)) return 0;
    return this.#s.policies.register(p);
  }

  /**
   * The policy id for a submission's `policy` option, and whether it is the submission's own (to
   * release when it settles). A Policy object is compiled once; its registration in the shared
   * table is kept while submissions use it and dropped once idle (#releaseIdlePolicies), so the
   * table's records are reused rather than exhausted.
   */
  #submissionPolicy(p: Policy | undefined): PolicyUse {
    if (p === undefined) return this.#runtimePolicyUse;
    let id = this.#policyIds.get(p);
    if (id === undefined) {
      let spec = this.#policySpecs.get(p);
      if (spec === undefined) {
        spec = narrowPolicy(this.#settings.policy, compilePolicy(p, 'submit: policy'), 'submit: policy');
        this.#policySpecs.set(p, spec);
      }
      if (unrestricted(spec)) return NO_POLICY_USE;
      try {
        id = this.#registerPolicy(spec);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        // Every record is referenced: drop this runtime's idle registrations and try once more.
        this.#releaseIdlePolicies(false);
        id = this.#registerPolicy(spec);
      }
      this.#policyIds.set(p, id);
      let use = this.#policyUse.get(id);
      if (use === undefined) {
        use = { id, own: true, inflight: 0, objects: [] };
        this.#policyUse.set(id, use);
      }
      use.objects.push(p);
      this.#policySweep ??= setInterval(this.#policySweepTick, 1000).unref();
    }
    const use = this.#policyUse.get(id)!;
    use.inflight++;
    return use;
  }

  /** The sweep stops once no per-submission policy is registered (an idle runtime has no timer). */
  readonly #policySweepTick = (): void => {
    this.#releaseIdlePolicies(false);
    if (this.#policyUse.size === 0 && this.#policySweep !== undefined) {
      clearInterval(this.#policySweep);
      this.#policySweep = undefined;
    }
  };

  /** Release the shared-table registrations of policies no submission uses now (all, when closing). */
  #releaseIdlePolicies(all: boolean): void {
    for (const [id, use] of this.#policyUse) {
      if (use.inflight > 0 && !all) continue;
      for (const p of use.objects) {
        this.#policyIds.delete(p);
        this.#s.policies.release(id);
      }
      this.#policyUse.delete(id);
    }
  }

  #submitOptions(request: SubmitRequest, opts: SubmitOptions): ValidatedSubmit {
    const v = checkSubmitOptions(opts, request, this.#settings.stepBudget);
    const plan = request.type === 'chain' ? request.plan : undefined;
    const kq = opts.kq;
    if (kq !== undefined) {
      if (!(kq instanceof Kqueue) || !this.#kqueues.has(kq)) {
        throw new TypeError('submit: kq: expected a kqueue made by this runtime on this thread (rt.kqueue())');
      }
      if (kq.closed) throw new TypeError('submit: kq: the kqueue is closed');
      v.target = kq;
    }
    // Last: nothing after it may throw, or the policy's in-flight count would not come back down.
    const policy = this.#submissionPolicy(opts.policy);
    if (plan !== undefined && (policy.id !== 0 || opts.grant !== undefined)) {
      try {
        const grant = opts.grant === undefined ? NO_GRANT : compileGrant(opts.grant, this.#s.arena, 'submit: grant');
        const granted = forSubmission(plan, policy.id !== 0, grant, this.#s.layout.dataBytes);
        v.request = { type: 'chain', plan: granted, shape: granted.shape };
      } catch (err) {
        // Not submitted: give the policy use back.
        if (policy.own) this.#policyUse.get(policy.id)!.inflight--;
        throw err;
      }
    }
    v.policy = policy.id;
    v.ownPolicy = policy.own;
    return v;
  }
}
