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
import { SHARE_ENV, type ResourceLimits } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { isPowerOfTwo, sharedNow } from './ring/layout.js';
import type { RingCounters } from './ring/mpmc.js';
import { HistogramSnapshot, type LatencySummary } from './ring/stats.js';
import type { ArenaStats } from './ring/arena.js';
import type { OverflowStats } from './completion/queue.js';
import { Kqueue, type KqueueHandle } from './completion/kqueue.js';
import type { Chain } from './syslet/chain.js';
import {
  Client,
  Submission,
  SysletClosedError,
  completeEntry,
  type RequestCodec,
  type ValidatedSubmit,
} from './syslet/client.js';
import type { Completion } from './syslet/encode.js';
import type { PumpData } from './syslet/pump.js';
import {
  C,
  H_START_TO_COMPLETE,
  H_SUBMIT_TO_START,
  Lifecycle,
  SharedState,
  MAX_WORKER_SLOTS,
  W,
  WorkerRole,
  WorkerState,
  type SharedHandles,
} from './syslet/shared.js';
import { PoolMonitor, type PoolStats } from './syslet/pool.js';
import { forSubmission, validate, type Plan } from './syslet/validate.js';
import { errno } from './syslet/errno.js';
import { RingField } from './ring/mpmc.js';
import { E, EntryState, F, RequestKind, Status } from './syslet/table.js';
import { releaseEntry } from './syslet/encode.js';
import { compileGrant, compilePolicy, narrowPolicy, NO_GRANT, NO_POLICY, unrestricted, type Grant, type Policy, type PolicySpec } from './syslet/policy.js';
import { runtimeCreated, startRecording, stopRecordings, type RecordHost, type RecordOptions, type Recording } from './record/recorder.js';

export { Submission, SysletClosedError };

/**
 * Runtime.create() could not start the workers (code 'ERR_SYSLET_START'): the message says why,
 * `cause` is the worker's own error when there is one (e.g. uv_cwd ENOENT from a deleted current
 * directory, ERR_WORKER_OUT_OF_MEMORY from resourceLimits too small to start).
 */
export class SysletStartError extends Error {
  readonly code = 'ERR_SYSLET_START';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SysletStartError';
  }
}

export interface RuntimeOptions {
  /** Worker threads of the base pool (sized for CPU work). @default os.availableParallelism() */
  workers?: number;
  /**
   * Most worker threads: the base pool, plus the extra workers started when every worker has been
   * blocked in a system call or intercepted call for 1 ms or more while work waits (Go's hand-off;
   * CPU-bound work never grows the pool), plus the one spare kept parked to take over at once
   * (started when a worker is first seen blocked). From `workers` (a fixed pool, no spare) to 512.
   * See stats().pool.
   * @default max(workers, 4 * os.availableParallelism())
   */
  maxWorkers?: number;
  /** Milliseconds an extra worker finds nothing to do before it retires. @default 5000 */
  extraWorkerIdleMs?: number;
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
  /**
   * Worker resource limits (worker_threads ResourceLimits, in MiB), passed to piscina. Each must be
   * a finite number at least: maxOldGenerationSizeMb 16, maxYoungGenerationSizeMb 1,
   * codeRangeSizeMb 1, stackSizeMb 1 (smaller stacks crash the process). Limits the workers cannot
   * start with make Runtime.create() reject (SysletStartError).
   */
  resourceLimits?: ResourceLimits;
  /**
   * Milliseconds Runtime.create() waits for the workers to start before it rejects with a
   * SysletStartError (a worker that fails to start rejects it at once). @default 30000
   */
  startTimeoutMs?: number;
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

export interface WorkerStats {
  slot: number;
  threadId: number;
  /** 'spare': started, parked in reserve until the pool grows (it takes no work until then). */
  state: 'running' | 'spare' | 'exited';
  /** 'base': of the base pool; 'extra': joined because the others were blocked (retires when idle). */
  role: 'base' | 'extra';
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
  extraWorkerIdleMs: 5000,
};
const OPTION_NAMES = new Set([
  ...Object.keys(DEFAULTS),
  'workers',
  'maxWorkers',
  'completionRingSize',
  'policy',
  'resourceLimits',
  'faults',
  'startTimeoutMs',
]);

/** SubmitOptions keys: anything else is refused (it would be ignored silently). */
const SUBMIT_OPTION_NAMES = new Set(['udata', 'signal', 'timeoutMs', 'vars', 'stepBudget', 'kq', 'policy', 'grant']);

/**
 * resourceLimits fields and their smallest accepted values (MiB). Below these a worker cannot run
 * the pump: V8 stops it at start (heap), or, for the stack, Node aborts the whole process (a stack
 * smaller than V8's reserved margin), so they are refused here rather than tried.
 */
const RESOURCE_LIMIT_MIN: Readonly<Record<keyof ResourceLimits, number>> = {
  maxOldGenerationSizeMb: 16,
  maxYoungGenerationSizeMb: 1,
  codeRangeSizeMb: 1,
  stackSizeMb: 1,
};

function resourceLimits(v: unknown): ResourceLimits {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new TypeError(`options.resourceLimits: expected an object of limits in MiB, got ${String(v)}`);
  }
  const out: ResourceLimits = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!Object.hasOwn(RESOURCE_LIMIT_MIN, k)) {
      throw new TypeError(
        `options.resourceLimits.${k}: unknown limit; expected ${Object.keys(RESOURCE_LIMIT_MIN).join(', ')}`,
      );
    }
    const min = RESOURCE_LIMIT_MIN[k as keyof ResourceLimits];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new TypeError(`options.resourceLimits.${k}: expected a finite number of MiB, got ${String(x)}`);
    }
    if (x < min || x > 1 << 20) {
      throw new RangeError(`options.resourceLimits.${k}: expected ${min} to ${1 << 20} MiB, got ${x}`);
    }
    out[k as keyof ResourceLimits] = x;
  }
  return out;
}

/** Milliseconds between the owner's checks for workers stuck past a deadline, a cancel or a forced close. */
const STUCK_CHECK_MS = 50;
/**
 * Milliseconds a chain may stay in one call after its deadline passed or it was cancelled before
 * the runtime ends it by terminating its worker. A call that returns in time is not disturbed: the
 * chain then ends at its next atom boundary as usual.
 */
const STUCK_GRACE_MS = 200;
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

/** States a dead worker's entry may be in (the CAS in completeEntry picks the one it is in). */
const OWNER_DEAD_FROM = [EntryState.RUNNING, EntryState.QUEUED, EntryState.CANCELLED] as const;
/** States of a request no worker started (swept once the workers are gone). */
const UNRUN_FROM = [EntryState.QUEUED, EntryState.CANCELLED] as const;

const PUMP_FILE = fileURLToPath(new URL('./syslet/pump-entry.cjs', import.meta.url));

export class Runtime {
  /** Worker threads (0 in a runtime attached from another thread). */
  readonly workers: number;
  readonly #s: SharedState;
  readonly #pool: Piscina | undefined;
  /** Grows the pool past `workers` when they all block (undefined when attached). */
  readonly #growth: PoolMonitor | undefined;
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
  /** Per-submission policies this runtime registered: by Policy object, and in flight per id. */
  readonly #policyIds = new Map<Policy, number>();
  readonly #policySpecs = new WeakMap<Policy, PolicySpec>();
  readonly #policyUse = new Map<number, PolicyUse & { inflight: number; objects: Policy[] }>();
  /** The runtime's own policy, as #submissionPolicy returns it (no allocation per submission). */
  #runtimePolicyUse: PolicyUse = NO_POLICY_USE;
  #policySweep: NodeJS.Timeout | undefined;
  readonly #kqueues = new Set<Kqueue>();
  readonly #watched = new WeakSet<object>();
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** The one close() in progress or done (every close() returns it). */
  #closing: Promise<void> | undefined;
  #forced = false;
  /** Start-up: until create() resolved, a worker that fails rejects it with this. */
  #started = false;
  #startError: Error | undefined;
  readonly #startTimeoutMs: number;
  /** Owner only: the stuck-worker check, and per worker slot when it was first seen overdue. */
  #stuckTimer: NodeJS.Timeout | undefined;
  /** The submission ring's dequeue position at the last tick (#checkQueueMoves). */
  #lastDeqPos = -1;
  readonly #overdue = new Map<number, { id: number; since: number }>();
  /** Terminated workers whose threads have not exited yet (thread id -> slot and entry). */
  readonly #zombies = new Map<number, { slot: number; idx: number }>();
  /** Threads piscina reported ready whose pump had not claimed a slot yet (see #armWorker). */
  readonly #unarmed = new Set<number>();

  /**
   * Start a runtime and wait until its workers are running. Rejects (never hangs) when they cannot
   * start: a SysletStartError saying why (a worker's own error as its cause), within
   * options.startTimeoutMs; bad options reject with a TypeError or RangeError naming the option.
   */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const rt = new Runtime(options);
    try {
      await rt.ready();
    } catch (err) {
      await rt.#abortStart();
      throw err;
    }
    rt.#started = true;
    // From now on replacement workers wait to be armed (shared.ts, W.ARMED).
    Atomics.store(rt.#s.ctl, C.ARMING, 1);
    return rt;
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
    return new Runtime(handle as unknown as RuntimeOptions, handle);
  }

  constructor(options: RuntimeOptions = {}, attachTo?: RuntimeHandle) {
    if (attachTo !== undefined) {
      this.workers = 0;
      this.#startTimeoutMs = 0;
      this.#s = new SharedState(attachTo.handles);
      const life = Atomics.load(this.#s.ctl, C.LIFECYCLE);
      if (life !== Lifecycle.OPEN) throw new SysletClosedError('attach', life === Lifecycle.CLOSED ? 'closed' : 'closing');
      this.#pool = undefined;
      this.#growth = undefined;
      this.#stepBudget = attachTo.stepBudget;
      this.#spinUs = attachTo.spinUs;
      this.#latencySample = attachTo.latencySample;
      this.#maxAtoms = attachTo.maxAtoms;
      this.#maxBufferBytes = attachTo.maxBufferBytes;
      this.#maxOutstanding = attachTo.maxOutstanding;
      this.#policy = attachTo.policy;
      this.#policyId = this.#registerPolicy(this.#policy);
      this.#runtimePolicyUse = Object.freeze({ id: this.#policyId, own: false });
      this.#client = this.#newClient(false);
      runtimeCreated(this.#recordHost());
      return;
    }
    // Set on a syslet worker while it imports a threadlet's module (threadlet/worker-run.ts): a
    // Runtime started there would start workers that import the module again, without end.
    const refusal = (globalThis as Record<symbol, unknown>)[Symbol.for('syslet.runtime.refuse')];
    if (typeof refusal === 'string') throw new Error(refusal);
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`options: expected an object, got ${String(options)}`);
    }
    const o = options as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!OPTION_NAMES.has(k)) throw new TypeError(`options.${k}: unknown option`);
    }
    this.workers = optInt(o, 'workers', 1, 256, os.availableParallelism());
    const maxWorkers = optInt(o, 'maxWorkers', this.workers, 512, Math.min(512, Math.max(this.workers, 4 * os.availableParallelism())));
    const extraIdleMs = optInt(o, 'extraWorkerIdleMs', 1, 2 ** 31 - 1, DEFAULTS.extraWorkerIdleMs);
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
    this.#startTimeoutMs = optInt(o, 'startTimeoutMs', 1, 2 ** 31 - 1, 30_000);
    const limits = options.resourceLimits === undefined ? undefined : resourceLimits(options.resourceLimits);
    this.#policy = options.policy === undefined ? NO_POLICY : compilePolicy(options.policy, 'options.policy');

    this.#s = SharedState.create({
      tableCapacity: ringSize,
      slotBytes,
      numCqs: maxQueues,
      cqCapacity: cqSize,
      // Slots for every thread the pool may have, and for replacements of dead workers.
      maxWorkers: Math.min(MAX_WORKER_SLOTS, Math.max(64, this.workers * 4, maxWorkers * 2)),
      arenaBytes,
      workerSpinUs,
      extraIdleMs,
    });
    this.#policyId = this.#registerPolicy(this.#policy);
    this.#runtimePolicyUse = Object.freeze({ id: this.#policyId, own: false });
    this.#client = this.#newClient(true);
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
      // One environment for the process, as a direct call sees it: a threadlet on a worker reads
      // process.env as the caller has it now, not the copy taken when the worker started.
      env: SHARE_ENV,
      workerData: { syslet: data },
      ...(limits === undefined ? {} : { resourceLimits: limits }),
    });
    // A worker that dies (uncaught error, process.exit(), resource limits) is replaced by piscina;
    // what it held is completed here. Its error is reported through the completion, not thrown.
    this.#watchWorkers();
    this.#pool.on('workerCreate', (w: { id: number }) => {
      this.#watchWorkers();
      this.#armWorker(w.id);
    });
    this.#pool.on('error', () => {});
    // ---- pool growth (pool.ts): spares and extras are started here, not by piscina ----
    this.#growth = new PoolMonitor(this.#s, {
      base: this.workers,
      max: maxWorkers,
      pumpFile: PUMP_FILE,
      data,
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
      onExit: (threadId) => {
        this.#zombieExited(threadId);
        this.#recoverWorker(threadId);
      },
    });
    this.#growth.start();
    this.#resumeChecks();
    this.#watchBusyEpoch();
    runtimeCreated(this.#recordHost());
  }

  /** Listen for the exit of every worker thread piscina started (new ones as they come). */
  #watchWorkers(): void {
    for (const w of this.#pool!.threads) {
      if (this.#watched.has(w)) continue;
      this.#watched.add(w);
      // Read now: a Worker's threadId is -1 once it stopped.
      const threadId = w.threadId;
      // Before create() resolved, a worker that fails means the runtime cannot start (piscina
      // would replace it forever): remember why, ready() rejects with it.
      w.on('error', (err: Error) => this.#startFailed(err));
      w.once('exit', (code: number) => {
        this.#startFailed(new Error(`a worker exited with code ${code} before its pump started`));
        this.#zombieExited(threadId);
        this.#unarmed.delete(threadId);
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
        if (
          s.i32[eb + E.ID] === Atomics.load(ctl, b + W.CURRENT_ID) &&
          completeEntry(s, idx, OWNER_DEAD_FROM, Status.FAILED, -errno.EOWNERDEAD)
        ) {
          Atomics.add(ctl, C.S_OWNER_DEAD, 1);
        }
      }
      if (Atomics.load(ctl, b + W.SPINNING) === 1) Atomics.sub(s.sq.i32, RingField.C_SPINNERS, 1);
      // A worker stopped while parked leaves its bit: a wake-up sent there would reach nobody.
      s.workerPark.cancel(w);
      Atomics.add(ctl, C.S_WORKER_DEATHS, 1);
      if (Atomics.exchange(ctl, b + W.LIVE, 0) === 1) Atomics.sub(ctl, C.WORKERS_LIVE, 1);
      ctl[b + W.CURRENT] = -1;
      ctl[b + W.SPINNING] = 0;
      ctl[b + W.BLOCKED_SINCE] = 0;
      // A spare that died leaves the reserve.
      if (Atomics.compareExchange(ctl, b + W.ROLE, WorkerRole.RESERVE, WorkerRole.BASE) === WorkerRole.RESERVE) {
        Atomics.sub(ctl, C.POOL_RESERVE, 1);
      }
      Atomics.store(ctl, b + W.ROLE, WorkerRole.BASE);
      // The slot is free for the replacement (keeping its counters for stats until reused).
      Atomics.store(ctl, b + W.STATE, WorkerState.FREE);
    }
  }

  // ---- stuck workers (owner only) ---------------------------------------------------------------
  //
  // A chain blocked in a call that never returns (read on a pipe nobody writes) never reaches an
  // atom boundary, so neither its deadline nor a cancel can end it there. The owner checks the
  // worker slots: a worker still on the same chain STUCK_GRACE_MS after that chain's deadline
  // passed or it was cancelled (a forced close cancels everything) is terminated and replaced, and
  // the chain completes with -ETIME or -ECANCELED, exactly once (a CAS on the entry's state against
  // the worker's own completion). Node cannot interrupt a thread inside a system call: the
  // terminated thread ends when its call returns, and until then it keeps the entry (and the arena
  // memory the call may write), which is freed only after both that and the submitter's reaping.

  // ---- the owner's periodic checks run only while there is work (issue 14) ----------------------
  //
  // An idle runtime has no timer: the stuck-chain check and the pool monitor (pool.ts) start when
  // a client goes busy (the owner's own client calls #resumeChecks; a client on another thread
  // bumps C.BUSY_EPOCH, which the owner waits on with Atomics.waitAsync: no timeout, no handle, no
  // task until it is notified), and each stops at its first tick that finds nothing outstanding on
  // any thread (C.BUSY), no worker inside a request, and the runtime open.

  /** Owner: (re)start the periodic checks. Cheap when they run already. */
  #resumeChecks(): void {
    if (this.#stuckTimer === undefined && this.#pool !== undefined && this.#state !== 'closed') {
      this.#stuckTimer = setInterval(this.#stuckTick, STUCK_CHECK_MS).unref();
    }
    this.#growth?.resume();
  }

  readonly #stuckTick = (): void => {
    this.#checkStuck();
    this.#checkQueueMoves();
    if (this.#quiet() && this.#stuckTimer !== undefined) {
      clearInterval(this.#stuckTimer);
      this.#stuckTimer = undefined;
    }
  };

  /**
   * Work queued that no worker took since the last tick, while workers sleep: wake one. A submitter
   * wakes a worker only when more is queued than workers are awake (client.ts #wake), counting on
   * the awake ones to come for it; one that is inside a long call (a chain waiting on a file another
   * request is to create) never comes. Workers park without a timeout, so this tick is what takes
   * its place (their one-second park slice did before): at most two ticks of delay.
   */
  #checkQueueMoves(): void {
    const sq = this.#s.sq;
    // Pairs with the workers' pops (the dequeue position moves with each).
    const pos = Atomics.load(sq.i32, RingField.DEQ_POS);
    if (pos === this.#lastDeqPos && !sq.isEmpty() && this.#s.workerPark.sleepers() > 0) this.#s.workerPark.wakeOne();
    this.#lastDeqPos = pos;
  }

  /**
   * Nothing for the owner's checks to watch: open, no client busy on any thread, no worker inside
   * a request, no replacement worker to arm, nothing overdue or terminated and not yet gone.
   */
  #quiet(): boolean {
    if (this.#state !== 'open' || this.#unarmed.size > 0 || this.#overdue.size > 0 || this.#zombies.size > 0) return false;
    const s = this.#s;
    const ctl = s.ctl;
    // Pairs with the clients' add to C.BUSY when their reaper starts (client.ts): one that starts
    // after this load also bumps C.BUSY_EPOCH (or calls #resumeChecks on this thread).
    if (Atomics.load(ctl, C.BUSY) !== 0) return false;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      if (Atomics.load(ctl, b + W.CURRENT) >= 0 && Atomics.load(ctl, b + W.STATE) === WorkerState.RUNNING) return false;
    }
    return true;
  }

  /**
   * Owner: wait (Atomics.waitAsync, no timeout) for a client on another thread to go busy, then
   * restart the checks and wait again. Ended by #stopTimers' notify once the runtime closes.
   */
  #watchBusyEpoch(): void {
    const ctl = this.#s.ctl;
    const r = Atomics.waitAsync(ctl, C.BUSY_EPOCH, Atomics.load(ctl, C.BUSY_EPOCH));
    const again = (): void => {
      if (this.#state === 'closed') return;
      this.#resumeChecks();
      this.#watchBusyEpoch();
    };
    if (r.async) void r.value.then(again);
    else queueMicrotask(again);
  }

  /**
   * @internal For tests: whether each periodic check has a timer now (the stuck-chain check, the
   * pool monitor, this thread's reaper bound). All false once the runtime stayed idle a moment.
   */
  _checksArmed(): { stuck: boolean; pool: boolean; reaper: boolean } {
    return { stuck: this.#stuckTimer !== undefined, pool: this.#growth?.armed ?? false, reaper: this.#client.timerArmed };
  }

  #checkStuck(): void {
    for (const id of this.#unarmed) this.#armWorker(id);
    const s = this.#s;
    const ctl = s.ctl;
    const now = sharedNow();
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      const idx = Atomics.load(ctl, b + W.CURRENT);
      if (idx < 0 || Atomics.load(ctl, b + W.STATE) !== WorkerState.RUNNING) {
        this.#overdue.delete(w);
        continue;
      }
      const eb = s.layout.base(idx);
      const id = Atomics.load(ctl, b + W.CURRENT_ID);
      const deadline = s.f64[s.layout.base64(idx) + F.DEADLINE]!;
      const overdue =
        s.i32[eb + E.ID] === id &&
        s.i32[eb + E.KIND] === RequestKind.CHAIN &&
        Atomics.load(s.i32, eb + E.STATE) === EntryState.RUNNING &&
        (Atomics.load(s.i32, eb + E.CANCEL) === id || (deadline !== 0 && now >= deadline));
      if (!overdue) {
        this.#overdue.delete(w);
        continue;
      }
      const seen = this.#overdue.get(w);
      if (seen === undefined || seen.id !== id) this.#overdue.set(w, { id, since: now });
      else if (now - seen.since >= STUCK_GRACE_MS) {
        this.#overdue.delete(w);
        this.#endStuck(w, idx, id);
      }
    }
  }

  /** End the chain worker slot `w` is stuck in, and terminate and replace the worker. */
  #endStuck(w: number, idx: number, id: number): void {
    const s = this.#s;
    const ctl = s.ctl;
    const b = s.workerBase(w);
    const threadId = ctl[b + W.THREAD_ID]!;
    const worker = this.#pool?.threads.find((t) => t.threadId === threadId);
    // A spare or extra the pool monitor started (pool.ts): no piscina replacement is needed.
    const extra = worker === undefined ? this.#growth?.thread(threadId) : undefined;
    // Already exiting: #recoverWorker completes its entry when it is gone.
    if (worker === undefined && extra === undefined) return;
    const eb = s.layout.base(idx);
    const state =
      Atomics.load(s.i32, eb + E.CANCEL) === id ? EntryState.STUCK_CANCELLED : EntryState.STUCK_TIMEDOUT;
    // Pairs with the pump's CAS RUNNING -> DONE in finishEntry: if the call returned and the chain
    // finished meanwhile, the worker completes it and nothing happens here.
    if (Atomics.compareExchange(s.i32, eb + E.STATE, EntryState.RUNNING, state) !== EntryState.RUNNING) return;
    // The atom that was running, as the interpreter published it when the atom began.
    s.i32[eb + E.ATOM] = s.i32[eb + E.PC]!;
    s.i32[eb + E.STATUS] = state === EntryState.STUCK_CANCELLED ? Status.CANCELLED : Status.TIMEDOUT;
    s.f64[s.layout.base64(idx) + F.RESULT] = state === EntryState.STUCK_CANCELLED ? -errno.ECANCELED : -errno.ETIME;
    s.f64[s.layout.base64(idx) + F.T_DONE] = 0;
    // The slot no longer counts as a running worker (the replacement takes another slot); the
    // thread's exit frees it (#zombieExited), not #recoverWorker.
    Atomics.store(ctl, b + W.STATE, WorkerState.EXITED);
    if (Atomics.exchange(ctl, b + W.LIVE, 0) === 1) Atomics.sub(ctl, C.WORKERS_LIVE, 1);
    Atomics.add(ctl, C.S_STUCK_ENDED, 1);
    this.#zombies.set(threadId, { slot: w, idx });
    s.cqs[s.i32[eb + E.CQ]!]!.post(idx);
    // piscina replaces a worker that reports an error without waiting for its exit (which, for a
    // thread blocked in a system call, comes only when the call returns): it terminates it and
    // starts another at once.
    if (extra !== undefined) {
      // The monitor starts another when the pool needs one; the thread's 'exit' frees the slot.
      void extra.terminate();
      return;
    }
    worker!.emit('error', new Error(`syslet: worker ended: request ${id >>> 0} was stuck in a call past its deadline or cancel`));
  }

  /** A terminated stuck worker's thread is gone: free its slot, and its entry if already reaped. */
  #zombieExited(threadId: number): void {
    const z = this.#zombies.get(threadId);
    if (z === undefined) return;
    this.#zombies.delete(threadId);
    const s = this.#s;
    const eb = s.layout.base(z.idx);
    // Pairs with the submitter's CAS STUCK_* -> STUCK_REAPED (client.ts #complete).
    for (const [from, to] of [
      [EntryState.STUCK_TIMEDOUT, EntryState.STUCK_GONE_TIMEDOUT],
      [EntryState.STUCK_CANCELLED, EntryState.STUCK_GONE_CANCELLED],
    ] as const) {
      if (Atomics.compareExchange(s.i32, eb + E.STATE, from, to) === from) break;
    }
    // A confined chain's descriptors are closed once the thread that was using them is gone.
    if (s.i32[eb + E.POLICY] !== 0) s.policies.closeHeld(s.i32[eb + E.ID]!);
    if (Atomics.load(s.i32, eb + E.STATE) === EntryState.STUCK_REAPED) {
      releaseEntry(s, z.idx);
      Atomics.store(s.i32, eb + E.STATE, EntryState.FREE);
      this.#pushFree(z.idx);
    }
    const b = s.workerBase(z.slot);
    s.ctl[b + W.CURRENT] = -1;
    Atomics.store(s.ctl, b + W.STATE, WorkerState.FREE);
  }

  /** Give entry `idx` back to the free ring (retrying while the ring reports a transient full). */
  #pushFree(idx: number): void {
    if (this.#s.fq.tryPush(idx)) this.#s.fq.consumers.notify(Infinity);
    else setImmediate(() => this.#pushFree(idx));
  }

  /**
   * piscina reported worker `threadId` ready: let its pump take requests (shared.ts, W.ARMED). Its
   * slot is claimed already: the pump claims it while piscina loads the module, before it is ready.
   */
  #armWorker(threadId: number): void {
    const s = this.#s;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      if (s.ctl[b + W.THREAD_ID] !== threadId || Atomics.load(s.ctl, b + W.STATE) !== WorkerState.RUNNING) continue;
      Atomics.store(s.ctl, b + W.ARMED, 1);
      Atomics.notify(s.ctl, b + W.ARMED);
      this.#unarmed.delete(threadId);
      return;
    }
    // piscina loads the pump with import() (pump-entry.cts), so it may report the worker ready
    // before the pump claimed its slot: the periodic check arms it once the slot is there.
    this.#unarmed.add(threadId);
    this.#resumeChecks();
  }

  /** A worker failed (error or exit) during start-up: ready() rejects with the reason. */
  #startFailed(err: Error): void {
    if (this.#started || this.#startError !== undefined) return;
    const hint = /uv_cwd/.test(err.message)
      ? ' (the current directory no longer exists: worker threads cannot start from it)'
      : (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? ' (options.resourceLimits are too small for a worker to start)'
        : '';
    this.#startError = new SysletStartError(`syslet: worker threads could not start: ${err.message}${hint}`, {
      cause: err,
    });
  }

  /** create() failed: stop what started and release the shared memory's claims. */
  async #abortStart(): Promise<void> {
    this.#state = 'closed';
    Atomics.store(this.#s.ctl, C.LIFECYCLE, Lifecycle.CLOSED);
    this.#stopTimers();
    Atomics.store(this.#s.ctl, C.SHUTDOWN, 1);
    this.#s.sq.consumers.notifyAll();
    await this.#pool?.destroy();
    this.#client.dispose();
  }

  /**
   * Resolves when every worker's pump is running. Before create() resolved it rejects with a
   * SysletStartError when a worker fails to start or none started within options.startTimeoutMs.
   */
  async ready(): Promise<void> {
    const ctl = this.#s.ctl;
    const deadline = performance.now() + this.#startTimeoutMs;
    // A pending Atomics.waitAsync holds no handle, and piscina's workers are unref'd: keep the
    // process alive while waiting.
    const keep = setInterval(() => {}, 1000);
    try {
      for (;;) {
        const live = Atomics.load(ctl, C.WORKERS_LIVE);
        if (live >= this.workers) {
          this.#started = true;
          return;
        }
        if (!this.#started) {
          if (this.#startError !== undefined) throw this.#startError;
          if (performance.now() >= deadline) {
            throw new SysletStartError(
              `syslet: ${live} of ${this.workers} worker threads started within ${this.#startTimeoutMs} ms (option startTimeoutMs)`,
            );
          }
        }
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
    this.#checkOpen('submit');
    const plan = this.#plan(chain);
    return this.#submitValidated(this.#submitOptions(plan, undefined, opts), false)!;
  }

  /**
   * Submit only if a slot is free now (after reaping what finished): the submission, or 'full'
   * (nothing was taken; try again after `await rt.room()`).
   */
  trySubmit(chain: Chain | PreparedChain, opts: SubmitOptions = {}): Submission | 'full' {
    this.#checkOpen('trySubmit');
    const plan = this.#plan(chain);
    return this.#submitValidated(this.#submitOptions(plan, undefined, opts), true) ?? 'full';
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
    return this.#submitValidated(this.#submitOptions(undefined, codec, opts), false)!;
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
    const kq = new Kqueue({ s: this.#s, client: this.#client, spinUs: this.#spinUs });
    this.#kqueues.add(kq);
    return kq;
  }

  /** Use a kqueue shared by another thread (`kq.share()`), from this one. */
  attachKqueue(handle: KqueueHandle): Kqueue {
    this.#checkOpen('attachKqueue');
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
      const role = Atomics.load(s.ctl, b + W.ROLE);
      workers.push({
        slot: w,
        threadId: s.ctl[b + W.THREAD_ID]!,
        state: state !== WorkerState.RUNNING ? 'exited' : role === WorkerRole.RESERVE ? 'spare' : 'running',
        role: role === WorkerRole.BASE ? 'base' : 'extra',
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
      pool: this.#growth?.stats(),
      arena: s.arena.stats(),
      workerDeaths: Atomics.load(s.ctl, C.S_WORKER_DEATHS),
      ownerDeadCompletions: Atomics.load(s.ctl, C.S_OWNER_DEAD),
      stuckWorkersEnded: Atomics.load(s.ctl, C.S_STUCK_ENDED),
      stuckThreads: this.#zombies.size,
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
    this.#resumeChecks();
    if (opts.force === true) this.#force();
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** close({ force: true }): cancel everything outstanding, on every thread when this is the owner. */
  #force(): void {
    if (this.#forced || this.#state === 'closed') return;
    this.#forced = true;
    const s = this.#s;
    if (this.#pool !== undefined) {
      // Attached clients cancel what waits in their FIFOs when they see FORCED (client.ts).
      if (Atomics.load(s.ctl, C.LIFECYCLE) < Lifecycle.FORCED) Atomics.store(s.ctl, C.LIFECYCLE, Lifecycle.FORCED);
      // Every request in shared memory, whichever thread submitted it: as cancel() does. Pairs with
      // the pump's CAS QUEUED -> RUNNING, and the interpreter's boundary load of CANCEL.
      for (let idx = 0; idx < s.layout.capacity; idx++) {
        const eb = s.layout.base(idx);
        if (Atomics.compareExchange(s.i32, eb + E.STATE, EntryState.QUEUED, EntryState.CANCELLED) === EntryState.QUEUED) continue;
        if (Atomics.load(s.i32, eb + E.STATE) === EntryState.RUNNING) {
          Atomics.store(s.i32, eb + E.CANCEL, s.i32[eb + E.ID]!);
          Atomics.notify(s.i32, eb + E.CANCEL);
        }
      }
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
    const owner = this.#pool !== undefined;
    if (owner && Atomics.load(s.ctl, C.LIFECYCLE) < Lifecycle.DRAINING) {
      Atomics.store(s.ctl, C.LIFECYCLE, Lifecycle.DRAINING);
    }
    await this.#client.drained();
    stopRecordings(this.#client);
    for (const kq of this.#kqueues) kq.close();
    this.#kqueues.clear();
    if (owner) {
      // Other threads' requests: queued, running, or waiting in their FIFOs for a slot.
      await this.#quiesce();
      Atomics.store(s.ctl, C.SHUTDOWN, 1);
      s.workerPark.wakeAll();
      await this.#pool!.destroy();
      await this.#growth?.close();
      // Pairs with the load of LIFECYCLE after a push in client.ts #start: a request queued after
      // the workers were gone is completed here or by its submitter, exactly once.
      Atomics.store(s.ctl, C.LIFECYCLE, Lifecycle.CLOSED);
      for (let idx = 0; idx < s.layout.capacity; idx++) {
        completeEntry(s, idx, UNRUN_FROM, Status.CANCELLED, -errno.ECANCELED);
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
        const st = Atomics.load(s.i32, s.layout.base(idx) + E.STATE);
        busy = st === EntryState.QUEUED || st === EntryState.RUNNING || st === EntryState.CANCELLED;
      }
      const waiting = Atomics.load(s.ctl, C.WAITING) > 0;
      if (!busy && !waiting) return;
      if (busy) idleSince = -1;
      else if (idleSince < 0) idleSince = performance.now();
      else if (performance.now() - idleSince >= WAITING_GIVE_UP_MS) return;
      await new Promise((r) => setTimeout(r, QUIESCE_POLL_MS));
    }
  }

  #stopTimers(): void {
    if (this.#stuckTimer !== undefined) clearInterval(this.#stuckTimer);
    this.#stuckTimer = undefined;
    if (this.#pool !== undefined) {
      // Ends #watchBusyEpoch's wait (it sees the runtime closed: the state is set before any task runs).
      Atomics.add(this.#s.ctl, C.BUSY_EPOCH, 1);
      Atomics.notify(this.#s.ctl, C.BUSY_EPOCH);
    }
    if (this.#policySweep !== undefined) clearInterval(this.#policySweep);
    this.#policySweep = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Throw a SysletClosedError naming `call` unless this runtime (and the one it joined) is open. */
  #checkOpen(call: string): void {
    if (this.#state !== 'open') throw new SysletClosedError(call, this.#state);
    const life = Atomics.load(this.#s.ctl, C.LIFECYCLE);
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

  #newClient(owner: boolean): Client {
    return new Client(this.#s, {
      // The owner's own client restarts the periodic checks directly; others through C.BUSY_EPOCH.
      ...(owner ? { onBusy: () => this.#resumeChecks() } : {}),
      spinUs: this.#spinUs,
      sampleMask: this.#latencySample - 1,
      maxOutstanding: this.#maxOutstanding,
      // Read when called: the pool monitor is made after the client.
      onSaturated: () => this.#growth?.poke(),
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
        spec = narrowPolicy(this.#policy, compilePolicy(p, 'submit: policy'), 'submit: policy');
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

  #submitOptions(plan: Plan | undefined, codec: RequestCodec | undefined, opts: SubmitOptions): ValidatedSubmit {
    if (typeof opts !== 'object' || opts === null) {
      throw new TypeError(`submit: options: expected an object, got ${String(opts)}`);
    }
    // for-in, not Object.keys: no array allocated per submission.
    for (const k in opts) {
      if (!SUBMIT_OPTION_NAMES.has(k) && Object.hasOwn(opts, k)) {
        throw new TypeError(`submit: options.${k}: unknown option; expected ${[...SUBMIT_OPTION_NAMES].join(', ')}`);
      }
    }
    let varInit: readonly number[] = plan?.varInit ?? [];
    if (opts.vars !== undefined) {
      if (plan === undefined) throw new TypeError('submit: vars: only chains have variables');
      if (typeof opts.vars !== 'object' || opts.vars === null || Array.isArray(opts.vars)) {
        throw new TypeError(`submit: vars: expected an object of numbers, got ${String(opts.vars)}`);
      }
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
      if (typeof opts.timeoutMs !== 'number' || !(opts.timeoutMs >= 0) || !Number.isFinite(opts.timeoutMs)) {
        throw new TypeError(`submit: timeoutMs: expected a finite non-negative number of milliseconds, got ${String(opts.timeoutMs)}`);
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
    // Last: nothing after it may throw, or the policy's in-flight count would not come back down.
    const policy = this.#submissionPolicy(opts.policy);
    if (plan !== undefined && (policy.id !== 0 || opts.grant !== undefined)) {
      try {
        const grant = opts.grant === undefined ? NO_GRANT : compileGrant(opts.grant, this.#s.arena, 'submit: grant');
        plan = forSubmission(plan, policy.id !== 0, grant, this.#s.layout.dataBytes);
      } catch (err) {
        // Not submitted: give the policy use back.
        if (policy.own) this.#policyUse.get(policy.id)!.inflight--;
        throw err;
      }
    }
    return {
      plan,
      codec,
      varInit,
      deadline,
      stepBudget,
      udata: opts.udata,
      signal,
      target: kq,
      policy: policy.id,
      ownPolicy: policy.own,
    };
  }
}
