/**
 * Runtime: wires the worker pool, the shared rings, the request table, the arena and the kqueues;
 * owns their lifecycle. The submitting and reaping of one thread is its Client (syslet/client.ts).
 *
 * Life of a chain: submit() validates it, takes a free slot, encodes the chain into it (running any
 * SYSLET_SYNC prefix inline), pushes the slot index to the submission ring and wakes a worker if
 * none is spinning. A worker's pump runs the chain and posts the index to a completion queue: the
 * thread's own (its reaper settles the submission) or a kqueue's (kevent turns it into an event).
 *
 * Other threads join with `Runtime.attach(rt.share())`: the same rings and arena, their own
 * completion queue, no pool of their own.
 */
import os from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { isPowerOfTwo, sharedNow } from './ring/layout.js';
import type { RingCounters } from './ring/mpmc.js';
import { HistogramSnapshot, type LatencySummary } from './ring/stats.js';
import type { ArenaStats } from './ring/arena.js';
import type { OverflowStats } from './completion/queue.js';
import { Kqueue, type KqueueHandle } from './completion/kqueue.js';
import type { Chain } from './syslet/chain.js';
import { Client, Submission, type RequestCodec, type ValidatedSubmit } from './syslet/client.js';
import type { Completion } from './syslet/encode.js';
import type { PumpData } from './syslet/pump.js';
import {
  C,
  H_START_TO_COMPLETE,
  H_SUBMIT_TO_START,
  SharedState,
  W,
  WorkerState,
  type SharedHandles,
} from './syslet/shared.js';
import { forSubmission, validate, type Plan } from './syslet/validate.js';
import { errno } from './syslet/errno.js';
import { RingField } from './ring/mpmc.js';
import { E, EntryState, F, Status } from './syslet/table.js';
import { compileGrant, compilePolicy, narrowPolicy, NO_GRANT, NO_POLICY, unrestricted, type Grant, type Policy, type PolicySpec } from './syslet/policy.js';
import { runtimeCreated, startRecording, stopRecordings, type RecordHost, type RecordOptions, type Recording } from './record/recorder.js';

export { Submission };

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
  /** Microseconds a reaping thread spins for a completion before parking. @default 50 */
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
  /**
   * Which operations chains may run and a root directory confining every path (see Policy). A
   * submission may narrow it, never widen it. Violations are atom results (-EACCES).
   * @default no restriction
   */
  policy?: Policy;
  /** Atoms a chain may have. @default 65536 */
  maxAtoms?: number;
  /** Bytes a chain's declared buffer may have. @default 16 MiB */
  maxBufferBytes?: number;
  /** Submissions a thread may have outstanding; more is an error (await rt.room()). @default 1,048,576 */
  maxOutstanding?: number;
  /** Worker resource limits (worker_threads ResourceLimits), passed to piscina. */
  resourceLimits?: ResourceLimits;
  /** Fault injection for testing recovery (see injectFaults). @default none */
  faults?: FaultOptions;
}

/**
 * Fault injection, for testing that nothing is lost when workers die: the chance, per request, that
 * the worker running it dies in the middle of it (before its first atom or after its last one,
 * before the completion is posted). Deterministic in (request id, seed).
 */
export interface FaultOptions {
  /** An uncaught error thrown from the worker's pump. */
  pumpError?: number;
  /** process.exit() in the worker. */
  workerExit?: number;
  /** The worker exhausts its heap (stopped by V8 when resourceLimits are set). */
  oom?: number;
  seed?: number;
}

export interface SubmitOptions {
  /** Returned in the completion (and as the kevent's udata). */
  udata?: unknown;
  /** Aborting it cancels the chain (as rt.cancel(id)). */
  signal?: AbortSignal;
  /** Deadline from now, in milliseconds: the chain ends with -ETIME at the next atom boundary. */
  timeoutMs?: number;
  /** Initial values for variables the chain declares or assigns. */
  vars?: Record<string, number>;
  /** Step budget for this chain. @default the runtime's stepBudget */
  stepBudget?: number;
  /**
   * Deliver the completion to this kqueue as an EVFILT_AIO event
   * `{ ident: id, filter: EVFILT_AIO, flags: EV_ONESHOT, data: result, udata }`. The submission's
   * promise settles when the event is reaped (by kevent, or by this thread's reaper).
   */
  kq?: Kqueue;
  /** Narrow the runtime's policy for this submission. */
  policy?: Policy;
  /**
   * Descriptors and rt.alloc() buffers this chain may use beside those it opens and declares.
   * Under a policy a chain may name no others (other descriptors: -EBADF; other arena addresses:
   * ChainError at submission); without one, granted descriptors are also ones it may close.
   */
  grant?: Grant;
}

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
  arena: ArenaStats;
  /** Workers that died (and were replaced); requests they held completed with -EOWNERDEAD. */
  workerDeaths: number;
  ownerDeadCompletions: number;
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
}

const DEFAULTS = {
  ringSize: 4096,
  slotBytes: 4096,
  arenaBytes: 64 * 1024 * 1024,
  stepBudget: 1_000_000,
  spinUs: 50,
  workerSpinUs: 50,
  maxQueues: 64,
  latencySample: 8,
  maxAtoms: 65536,
  maxBufferBytes: 16 * 1024 * 1024,
  maxOutstanding: 1 << 20,
};
const OPTION_NAMES = new Set([
  ...Object.keys(DEFAULTS),
  'workers',
  'completionRingSize',
  'policy',
  'resourceLimits',
  'faults',
]);

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

const PUMP_FILE = fileURLToPath(new URL('./syslet/pump-entry.cjs', import.meta.url));

export class Runtime {
  /** Worker threads (0 in a runtime attached from another thread). */
  readonly workers: number;
  readonly #s: SharedState;
  readonly #pool: Piscina | undefined;
  readonly #client: Client;
  readonly #stepBudget: number;
  readonly #spinUs: number;
  readonly #latencySample: number;
  readonly #maxAtoms: number;
  readonly #maxBufferBytes: number;
  readonly #maxOutstanding: number;
  /** The runtime's policy (mask, root) and its id in the policy table (0: none). */
  readonly #policy: PolicySpec;
  readonly #policyId: number;
  readonly #policyIds = new WeakMap<Policy, number>();
  readonly #kqueues = new Set<Kqueue>();
  readonly #watched = new WeakSet<object>();
  #state: 'open' | 'closing' | 'closed' = 'open';

  /** Start a runtime and wait until its workers are running. */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const rt = new Runtime(options);
    await rt.ready();
    return rt;
  }

  /**
   * Join a runtime from another thread (a worker): same rings, arena and workers, a completion
   * queue of its own. `handle` comes from `rt.share()` on the runtime's thread.
   */
  static attach(handle: RuntimeHandle): Runtime {
    return new Runtime(handle as unknown as RuntimeOptions, handle);
  }

  constructor(options: RuntimeOptions = {}, attachTo?: RuntimeHandle) {
    if (attachTo !== undefined) {
      this.workers = 0;
      this.#s = new SharedState(attachTo.handles);
      this.#pool = undefined;
      this.#stepBudget = attachTo.stepBudget;
      this.#spinUs = attachTo.spinUs;
      this.#latencySample = attachTo.latencySample;
      this.#maxAtoms = attachTo.maxAtoms;
      this.#maxBufferBytes = attachTo.maxBufferBytes;
      this.#maxOutstanding = attachTo.maxOutstanding;
      this.#policy = attachTo.policy;
      this.#policyId = this.#registerPolicy(this.#policy);
      this.#client = this.#newClient();
      runtimeCreated(this.#recordHost());
      return;
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`options: expected an object, got ${String(options)}`);
    }
    const o = options as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!OPTION_NAMES.has(k)) throw new TypeError(`options.${k}: unknown option`);
    }
    this.workers = optInt(o, 'workers', 1, 256, os.availableParallelism());
    const ringSize = optPow2(o, 'ringSize', 2, 1 << 20, DEFAULTS.ringSize);
    const cqSize = optPow2(o, 'completionRingSize', 2, 1 << 20, ringSize);
    const slotBytes = optInt(o, 'slotBytes', 256, 1 << 20, DEFAULTS.slotBytes);
    if (slotBytes % 8 !== 0) throw new TypeError(`options.slotBytes: expected a multiple of 8, got ${slotBytes}`);
    const arenaBytes = optPow2(o, 'arenaBytes', 4096, 2 ** 30, DEFAULTS.arenaBytes);
    this.#stepBudget = optInt(o, 'stepBudget', 1, 2 ** 31 - 1, DEFAULTS.stepBudget);
    this.#spinUs = optInt(o, 'spinUs', 0, 1_000_000, DEFAULTS.spinUs);
    const workerSpinUs = optInt(o, 'workerSpinUs', 0, 1_000_000, DEFAULTS.workerSpinUs);
    const maxQueues = optInt(o, 'maxQueues', 1, 1024, DEFAULTS.maxQueues);
    this.#latencySample = optPow2(o, 'latencySample', 1, 1 << 20, DEFAULTS.latencySample);
    this.#maxAtoms = optInt(o, 'maxAtoms', 1, 1 << 24, DEFAULTS.maxAtoms);
    this.#maxBufferBytes = optInt(o, 'maxBufferBytes', 1, 2 ** 30, DEFAULTS.maxBufferBytes);
    this.#maxOutstanding = optInt(o, 'maxOutstanding', 1, 2 ** 30, DEFAULTS.maxOutstanding);
    this.#policy = options.policy === undefined ? NO_POLICY : compilePolicy(options.policy, 'options.policy');

    this.#s = SharedState.create({
      tableCapacity: ringSize,
      slotBytes,
      numCqs: maxQueues,
      cqCapacity: cqSize,
      maxWorkers: Math.max(64, this.workers * 4),
      arenaBytes,
      workerSpinUs,
    });
    this.#policyId = this.#registerPolicy(this.#policy);
    this.#client = this.#newClient();
    if (options.faults !== undefined) this.injectFaults(options.faults);
    const data: PumpData = { handles: this.#s.handles };
    this.#pool = new Piscina({
      filename: PUMP_FILE,
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      // The pump parks with its own Atomics.wait; piscina's wait loop would block it.
      atomics: 'disabled',
      // File descriptors are process-wide: a chain or threadlet may open one on one thread and
      // close it on another, and a worker's restart must not close what it opened.
      trackUnmanagedFds: false,
      workerData: { syslet: data },
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
    });
    // A worker that dies (uncaught error, process.exit(), resource limits) is replaced by piscina;
    // what it held is completed here. Its error is reported through the completion, not thrown.
    this.#watchWorkers();
    this.#pool.on('workerCreate', () => this.#watchWorkers());
    this.#pool.on('error', () => {});
    runtimeCreated(this.#recordHost());
  }

  /** Listen for the exit of every worker thread piscina started (new ones as they come). */
  #watchWorkers(): void {
    for (const w of this.#pool!.threads) {
      if (this.#watched.has(w)) continue;
      this.#watched.add(w);
      // Read now: a Worker's threadId is -1 once it stopped.
      const threadId = w.threadId;
      w.once('exit', () => {
        this.#recoverWorker(threadId);
        // piscina's own 'exit' listener ran first and has already started the replacement. Watch
        // it now: waiting for its 'workerCreate' (sent once it reports ready) would miss a
        // replacement that dies before that.
        if (this.#pool !== undefined && this.#state !== 'closed') this.#watchWorkers();
      });
    }
  }

  /**
   * Set the fault-injection chances (0 to 1 each) for requests from now on: for testing recovery.
   * `injectFaults({})` turns them off.
   */
  injectFaults(f: FaultOptions): void {
    const ppm = (name: keyof FaultOptions): number => {
      const v = f[name] ?? 0;
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new TypeError(`faults.${name}: expected a chance from 0 to 1, got ${String(v)}`);
      return Math.round(v * 1_000_000);
    };
    const ctl = this.#s.ctl;
    Atomics.store(ctl, C.FAULT_SEED, (f.seed ?? 0) | 0);
    Atomics.store(ctl, C.FAULT_PUMP_ERROR, ppm('pumpError'));
    Atomics.store(ctl, C.FAULT_EXIT, ppm('workerExit'));
    Atomics.store(ctl, C.FAULT_OOM, ppm('oom'));
  }

  /**
   * A worker thread is gone. The entry it held (its slot says which, and which request) completes
   * with -EOWNERDEAD through its queue, exactly once: the state CAS races with nobody but a worker
   * that is dead. Its slot and any spinner role it held are given back.
   */
  #recoverWorker(threadId: number): void {
    const s = this.#s;
    const ctl = s.ctl;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      if (ctl[b + W.THREAD_ID] !== threadId || Atomics.load(ctl, b + W.STATE) !== WorkerState.RUNNING) continue;
      const idx = Atomics.load(ctl, b + W.CURRENT);
      if (idx >= 0) {
        const eb = s.layout.base(idx);
        if (s.i32[eb + E.ID] === Atomics.load(ctl, b + W.CURRENT_ID)) {
          for (const from of [EntryState.RUNNING, EntryState.QUEUED, EntryState.CANCELLED]) {
            if (Atomics.compareExchange(s.i32, eb + E.STATE, from, EntryState.DONE) === from) {
              s.i32[eb + E.STATUS] = Status.FAILED;
              s.f64[s.layout.base64(idx) + F.RESULT] = -errno.EOWNERDEAD;
              s.i32[eb + E.VALUES_LEN] = 0;
              s.i32[eb + E.VALUES_HEAP] = 0;
              s.f64[s.layout.base64(idx) + F.T_DONE] = 0;
              // A confined chain's descriptors are closed when it ends, this way too.
              if (s.i32[eb + E.POLICY] !== 0) s.policies.closeHeld(s.i32[eb + E.ID]!);
              s.cqs[s.i32[eb + E.CQ]!]!.post(idx);
              Atomics.add(ctl, C.S_OWNER_DEAD, 1);
              break;
            }
          }
        }
      }
      if (Atomics.load(ctl, b + W.SPINNING) === 1) Atomics.sub(s.sq.i32, RingField.C_SPINNERS, 1);
      Atomics.add(ctl, C.S_WORKER_DEATHS, 1);
      if (Atomics.exchange(ctl, b + W.LIVE, 0) === 1) Atomics.sub(ctl, C.WORKERS_LIVE, 1);
      ctl[b + W.CURRENT] = -1;
      ctl[b + W.SPINNING] = 0;
      // The slot is free for the replacement (keeping its counters for stats until reused).
      Atomics.store(ctl, b + W.STATE, WorkerState.FREE);
    }
  }

  /** Resolves when every worker's pump is running. */
  async ready(): Promise<void> {
    const ctl = this.#s.ctl;
    // A pending Atomics.waitAsync holds no handle, and piscina's workers are unref'd: keep the
    // process alive while waiting.
    const keep = setInterval(() => {}, 1000);
    try {
      for (;;) {
        const live = Atomics.load(ctl, C.WORKERS_LIVE);
        if (live >= this.workers) return;
        const r = Atomics.waitAsync(ctl, C.WORKERS_LIVE, live, 50);
        if (r.async) await r.value;
      }
    } finally {
      clearInterval(keep);
    }
  }

  /** A handle for `Runtime.attach()` on another thread. */
  share(): RuntimeHandle {
    return {
      handles: this.#s.handles,
      stepBudget: this.#stepBudget,
      spinUs: this.#spinUs,
      latencySample: this.#latencySample,
      maxAtoms: this.#maxAtoms,
      maxBufferBytes: this.#maxBufferBytes,
      maxOutstanding: this.#maxOutstanding,
      policy: this.#policy,
    };
  }

  /**
   * Submit a chain. Returns at once with the submission (its id, a promise of its completion).
   * Bad input throws a ChainError here; everything after this gets exactly one completion.
   */
  submit(chain: Chain | PreparedChain, opts: SubmitOptions = {}): Submission {
    this.#checkOpen();
    const plan = this.#plan(chain);
    return this.#client.submit(this.#submitOptions(plan, undefined, opts))!;
  }

  /**
   * Submit only if a slot is free now (after reaping what finished): the submission, or 'full'
   * (nothing was taken; try again after `await rt.room()`).
   */
  trySubmit(chain: Chain | PreparedChain, opts: SubmitOptions = {}): Submission | 'full' {
    this.#checkOpen();
    const plan = this.#plan(chain);
    return this.#client.submit(this.#submitOptions(plan, undefined, opts), true) ?? 'full';
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
    this.#checkOpen();
    return this.#client.submit(this.#submitOptions(undefined, codec, opts))!;
  }

  /**
   * Validate a chain once, for chains submitted many times: submitting the result skips validation.
   * Later changes to `chain` do not affect it. Arena buffers it names must stay allocated.
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
    return this.#client.cancel(id);
  }

  /** A kqueue on this thread: completions of submissions made with `{ kq }`, and the other filters. */
  kqueue(): Kqueue {
    this.#checkOpen();
    const kq = new Kqueue({ s: this.#s, client: this.#client, spinUs: this.#spinUs });
    this.#kqueues.add(kq);
    return kq;
  }

  /** Use a kqueue shared by another thread (`kq.share()`), from this one. */
  attachKqueue(handle: KqueueHandle): Kqueue {
    this.#checkOpen();
    if (!Number.isInteger(handle?.cq) || handle.cq < 0 || handle.cq >= this.#s.numCqs) {
      throw new TypeError(`attachKqueue: expected a handle from kq.share(), got ${JSON.stringify(handle)}`);
    }
    const kq = new Kqueue({ s: this.#s, client: this.#client, spinUs: this.#spinUs }, handle);
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
        submitToStart: queued.summary(),
        startToComplete: running.summary(),
        completeToReap: reaped.summary(),
      },
      workers,
      arena: s.arena.stats(),
      workerDeaths: Atomics.load(s.ctl, C.S_WORKER_DEATHS),
      ownerDeadCompletions: Atomics.load(s.ctl, C.S_OWNER_DEAD),
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
    this.#checkOpen();
    return startRecording(this.#recordHost(), opts);
  }

  /**
   * Stop accepting submissions, let outstanding ones finish (or, with force, cancel them: they
   * complete with -ECANCELED), close this thread's kqueues, then stop the workers (a runtime
   * attached from another thread only leaves: the workers belong to the runtime it joined).
   */
  async close(opts: { force?: boolean } = {}): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    if (opts.force === true) this.#client.cancelAll();
    await this.#client.drained();
    stopRecordings(this.#client);
    for (const kq of this.#kqueues) kq.close();
    this.#kqueues.clear();
    if (this.#pool !== undefined) {
      Atomics.store(this.#s.ctl, C.SHUTDOWN, 1);
      this.#s.sq.consumers.notifyAll();
      await this.#pool.destroy();
    }
    this.#client.dispose();
    this.#state = 'closed';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#state !== 'open') throw new Error(`syslet runtime is ${this.#state}: submit refused`);
  }

  #plan(chain: Chain | PreparedChain): Plan {
    if (chain instanceof PreparedChain) {
      if (chain._runtime !== this) throw new TypeError('submit: the chain was prepared by another runtime');
      return chain._plan;
    }
    return validate(chain, {
      arena: this.#s.arena,
      slotBytes: this.#s.layout.dataBytes,
      maxAtoms: this.#maxAtoms,
      maxBufferBytes: this.#maxBufferBytes,
    });
  }

  #recordHost(): RecordHost {
    return {
      runtime: this,
      s: this.#s,
      client: this.#client,
      attached: this.#pool === undefined,
      latencySample: this.#latencySample,
      stats: () => this.stats(),
    };
  }

  #newClient(): Client {
    return new Client(this.#s, {
      spinUs: this.#spinUs,
      sampleMask: this.#latencySample - 1,
      maxOutstanding: this.#maxOutstanding,
    });
  }

  /** Register a compiled policy in the shared table: its id, 0 for "no restriction". */
  #registerPolicy(p: PolicySpec): number {
    if (unrestricted(p)) return 0;
    return this.#s.policies.register(p);
  }

  #submissionPolicy(p: Policy | undefined): number {
    if (p === undefined) return this.#policyId;
    let id = this.#policyIds.get(p);
    if (id === undefined) {
      id = this.#registerPolicy(narrowPolicy(this.#policy, compilePolicy(p, 'submit: policy'), 'submit: policy'));
      this.#policyIds.set(p, id);
    }
    return id;
  }

  #submitOptions(plan: Plan | undefined, codec: RequestCodec | undefined, opts: SubmitOptions): ValidatedSubmit {
    if (typeof opts !== 'object' || opts === null) {
      throw new TypeError(`submit: options: expected an object, got ${String(opts)}`);
    }
    let varInit: readonly number[] = plan?.varInit ?? [];
    if (opts.vars !== undefined) {
      if (plan === undefined) throw new TypeError('submit: vars: only chains have variables');
      const init = plan.varInit.slice();
      varInit = init;
      for (const [name, value] of Object.entries(opts.vars)) {
        const k = plan.varIndex.get(name);
        if (k === undefined) throw new TypeError(`submit: vars.${name}: the chain has no variable "${name}"`);
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
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 1 || b > this.#stepBudget) {
        throw new TypeError(
          `submit: stepBudget: expected a positive integer up to the runtime's ${this.#stepBudget} (option stepBudget), got ${String(b)}`,
        );
      }
      stepBudget = b;
    }
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`submit: signal: expected an AbortSignal, got ${String(signal)}`);
    }
    const kq = opts.kq;
    if (kq !== undefined) {
      if (!(kq instanceof Kqueue) || !this.#kqueues.has(kq)) {
        throw new TypeError('submit: kq: expected a kqueue made by this runtime on this thread (rt.kqueue())');
      }
      if (kq.closed) throw new TypeError('submit: kq: the kqueue is closed');
    }
    const policy = this.#submissionPolicy(opts.policy);
    if (plan !== undefined && (policy !== 0 || opts.grant !== undefined)) {
      const grant = opts.grant === undefined ? NO_GRANT : compileGrant(opts.grant, this.#s.arena, 'submit: grant');
      plan = forSubmission(plan, policy !== 0, grant, this.#s.layout.dataBytes);
    }
    return { plan, codec, varInit, deadline, stepBudget, udata: opts.udata, signal, target: kq, policy };
  }
}
