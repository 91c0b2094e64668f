/**
 * Runtime and submission options: what each one is (shape, unit, default, the error a bad value
 * throws), and the functions that check them and fill in the defaults. Runtime.create() rejects
 * with the error named here, submit() throws it; nothing else reads the options objects.
 *
 * Every error names the option (`options.<name>`), says what was expected and what was got: a
 * TypeError for a wrong shape, an unknown option or an integer out of its range (kept a TypeError,
 * as it always was), a RangeError for a resource limit out of its range.
 */
import os from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { isPowerOfTwo, sharedNow } from 'atomics-sync';
import type { Kqueue } from './completion/kqueue.js';
import type { SubmitRequest, ValidatedSubmit } from './syslet/client.js';
import { compilePolicy, NO_POLICY, type Grant, type Policy, type PolicySpec } from './syslet/policy.js';

export interface RuntimeOptions {
  /**
   * Worker threads of the base pool (sized for CPU work): an integer from 1 to 256.
   * @default os.availableParallelism()
   */
  workers?: number;
  /**
   * Most worker threads: the base pool, plus the extra workers started when every worker has been
   * blocked in a system call or intercepted call for 1 ms or more while work waits (Go's hand-off;
   * CPU-bound work never grows the pool), plus the one spare kept parked to take over at once
   * (started when a worker is first seen blocked). An integer from `workers` (a fixed pool, no
   * spare) to 512. See stats().pool.
   *
   * Twice the cores by default, not more: each worker is a V8 isolate (tens of MB), and every child
   * process a worker starts (`execSync`) is a fork() of the whole process (libuv forks on Linux),
   * which takes longer the more memory the process maps (spawnSync of /bin/true: p50 1.7-2.2 ms
   * alone, 3.4-5.5 ms beside 8 idle workers) while the event loop's thread waits on the memory
   * map in page faults (sampled: 11-16% of its time with a growing pool, 1-3% with a fixed one).
   * Measured on 2 cores (bench/RESULTS.md, issue 19), the blocking server's slow workload: a bound of 8 gave
   * 1.03-1.12x the async rewrite's requests/s with an event-loop delay p99 2.36-3.10x piscina's; a
   * bound of 4, 0.96-1.18x with 1.69-2.05x (1.35-1.71x once the pool monitor stopped allocating
   * for its /proc reads); a bound of 3 (piscina's own default thread count), 0.80-0.90x with
   * 1.42-1.73x. At least 4 (libuv's own pool for blocking calls, UV_THREADPOOL_SIZE), so a one- or two-core
   * container still has threads to hand blocked work to.
   * @default max(workers, 4, 2 * os.availableParallelism()), at most 512
   */
  maxWorkers?: number;
  /** Milliseconds an extra worker finds nothing to do before it retires: 1 to 2^31 - 1. @default 5000 */
  extraWorkerIdleMs?: number;
  /** Request entries: the submission ring's capacity, a power of two from 2 to 2^20. @default 4096 */
  ringSize?: number;
  /**
   * Capacity of each completion ring, a power of two from 2 to 2^20; overflow waits in a backlog.
   * @default ringSize
   */
  completionRingSize?: number;
  /** Bytes per request entry for the encoded chain: a multiple of 8 from 256 to 2^20. @default 4096 */
  slotBytes?: number;
  /** Bytes of the shared arena: a power of two from 4096 to 2^30. @default 64 MiB */
  arenaBytes?: number;
  /** Atoms a chain may execute before it ends with -ELOOP: 1 to 2^31 - 1. @default 1_000_000 */
  stepBudget?: number;
  /** Microseconds a reaping thread spins for a completion before parking: 0 to 1,000,000. @default 50 */
  spinUs?: number;
  /** Microseconds an idle worker spins for a submission before parking: 0 to 1,000,000. @default 50 */
  workerSpinUs?: number;
  /** Completion queues (one per thread that submits, one per kqueue): 1 to 1024. @default 64 */
  maxQueues?: number;
  /**
   * Record latency (submit-to-start, start-to-complete, complete-to-reap) for one chain in this
   * many: a power of two from 1 (every chain) to 2^20. Each sample costs four clock reads.
   * @default 8
   */
  latencySample?: number;
  /**
   * Which operations chains may run and a root directory confining every path (see Policy). A
   * submission may narrow it, never widen it. Violations are atom results (-EACCES). A malformed
   * policy throws a TypeError naming `options.policy.<field>`.
   * @default no restriction
   */
  policy?: Policy;
  /** Atoms a chain may have: 1 to 2^24. @default 65536 */
  maxAtoms?: number;
  /** Bytes a chain's declared buffer may have: 1 to 2^30. @default 16 MiB */
  maxBufferBytes?: number;
  /**
   * Submissions a thread may have outstanding, 1 to 2^30; more is an error (await rt.room()).
   * @default 1,048,576
   */
  maxOutstanding?: number;
  /**
   * Worker resource limits (worker_threads ResourceLimits, in MiB), passed to the workers. Each must
   * be a finite number from its least (maxOldGenerationSizeMb 16, maxYoungGenerationSizeMb 1,
   * codeRangeSizeMb 1, stackSizeMb 1: smaller stacks crash the process) to 2^20 (else a
   * RangeError); another key is a TypeError. Limits the workers cannot start with make
   * Runtime.create() reject (SysletStartError).
   * @default Node's defaults
   */
  resourceLimits?: ResourceLimits;
  /**
   * Milliseconds Runtime.create() waits for the workers to start before it rejects with a
   * SysletStartError (a worker that fails to start rejects it at once): 1 to 2^31 - 1.
   * @default 30000
   */
  startTimeoutMs?: number;
  /** Fault injection for testing recovery (see FaultOptions, rt.injectFaults). @default none */
  faults?: FaultOptions;
}

/**
 * The integer options: [least, most, default], in RuntimeOptions' order and units. A default of
 * `undefined` is computed from other options (maxWorkers, completionRingSize).
 */
const INTEGER_OPTIONS = {
  workers: [1, 256, () => os.availableParallelism()],
  maxWorkers: [1, 512, undefined],
  extraWorkerIdleMs: [1, 2 ** 31 - 1, 5000],
  ringSize: [2, 1 << 20, 4096],
  completionRingSize: [2, 1 << 20, undefined],
  slotBytes: [256, 1 << 20, 4096],
  arenaBytes: [4096, 2 ** 30, 64 * 1024 * 1024],
  stepBudget: [1, 2 ** 31 - 1, 1_000_000],
  spinUs: [0, 1_000_000, 50],
  workerSpinUs: [0, 1_000_000, 50],
  maxQueues: [1, 1024, 64],
  latencySample: [1, 1 << 20, 8],
  maxAtoms: [1, 1 << 24, 65536],
  maxBufferBytes: [1, 2 ** 30, 16 * 1024 * 1024],
  maxOutstanding: [1, 2 ** 30, 1 << 20],
  startTimeoutMs: [1, 2 ** 31 - 1, 30_000],
} as const satisfies Record<string, readonly [number, number, number | (() => number) | undefined]>;

type IntegerOption = keyof typeof INTEGER_OPTIONS;

/** Options that must be powers of two. */
const POWER_OF_TWO = new Set<IntegerOption>(['ringSize', 'completionRingSize', 'arenaBytes', 'latencySample']);

const OPTION_NAMES = new Set<string>([...Object.keys(INTEGER_OPTIONS), 'policy', 'resourceLimits', 'faults']);

/**
 * Fault injection, for testing that nothing is lost when workers die: the chance, per request, that
 * the worker running it dies in the middle of it (before its first atom or after its last one,
 * before the completion is posted). Each a number from 0 to 1 (else a TypeError naming
 * `faults.<name>`). Deterministic in (request id, seed).
 */
export interface FaultOptions {
  /** An uncaught error thrown from the worker's pump. @default 0 */
  pumpError?: number;
  /** process.exit() in the worker. @default 0 */
  workerExit?: number;
  /** The worker exhausts its heap (stopped by V8 when resourceLimits are set). @default 0 */
  oom?: number;
  /** Seed of the deterministic choice (an int32). @default 0 */
  seed?: number;
}

/** FaultOptions as the workers read them: chances per million. */
export interface FaultChances {
  seed: number;
  pumpError: number;
  workerExit: number;
  oom: number;
}

/** Check fault chances (FaultOptions) and convert them to chances per million. */
export function faultChances(f: FaultOptions): FaultChances {
  const ppm = (name: keyof FaultOptions): number => {
    const v = f[name] ?? 0;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new TypeError(`faults.${name}: expected a chance from 0 to 1, got ${String(v)}`);
    return Math.round(v * 1_000_000);
  };
  return { seed: (f.seed ?? 0) | 0, pumpError: ppm('pumpError'), workerExit: ppm('workerExit'), oom: ppm('oom') };
}

/** RuntimeOptions checked, with every default filled in. */
export interface RuntimeConfig {
  workers: number;
  maxWorkers: number;
  extraWorkerIdleMs: number;
  ringSize: number;
  completionRingSize: number;
  slotBytes: number;
  arenaBytes: number;
  stepBudget: number;
  spinUs: number;
  workerSpinUs: number;
  maxQueues: number;
  latencySample: number;
  /** The compiled policy (NO_POLICY: no restriction). */
  policy: PolicySpec;
  maxAtoms: number;
  maxBufferBytes: number;
  maxOutstanding: number;
  resourceLimits: ResourceLimits | undefined;
  startTimeoutMs: number;
  faults: FaultChances | undefined;
}

/**
 * Check `options` (RuntimeOptions from a caller: anything) and fill in the defaults. Throws the
 * error the option's doc names, for the first bad option in RuntimeOptions' order (unknown names
 * first).
 */
export function parseRuntimeOptions(options: unknown): RuntimeConfig {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options: expected an object, got ${String(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (OPTION_NAMES.has(k)) continue;
    const near = [...OPTION_NAMES].find((n) => n.toLowerCase() === k.toLowerCase());
    throw new TypeError(`options.${k}: unknown option${near === undefined ? '' : `; did you mean ${near}?`}`);
  }
  /** `min`: a lower bound set by another option, named by `minFrom` in the error. */
  const int = (name: IntegerOption, fallback?: number, min?: number, minFrom?: string): number => {
    const [least, most, dflt] = INTEGER_OPTIONS[name];
    const lo = min ?? least;
    const v = o[name];
    if (v === undefined) return fallback ?? (typeof dflt === 'function' ? dflt() : dflt!);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > most) {
      const got = typeof v === 'string' ? `the string ${JSON.stringify(v)}` : String(v);
      throw new TypeError(`options.${name}: expected an integer from ${lo}${minFrom === undefined ? '' : ` (${minFrom})`} to ${most}, got ${got}`);
    }
    if (POWER_OF_TWO.has(name) && !isPowerOfTwo(v)) throw new TypeError(`options.${name}: expected a power of two, got ${v}`);
    return v;
  };
  const workers = int('workers');
  const maxWorkers = int('maxWorkers', Math.min(512, Math.max(workers, 4, 2 * os.availableParallelism())), workers, 'workers');
  const extraWorkerIdleMs = int('extraWorkerIdleMs');
  const ringSize = int('ringSize');
  const completionRingSize = int('completionRingSize', ringSize);
  const slotBytes = int('slotBytes');
  if (slotBytes % 8 !== 0) throw new TypeError(`options.slotBytes: expected a multiple of 8, got ${slotBytes}`);
  const config: RuntimeConfig = {
    workers,
    maxWorkers,
    extraWorkerIdleMs,
    ringSize,
    completionRingSize,
    slotBytes,
    arenaBytes: int('arenaBytes'),
    stepBudget: int('stepBudget'),
    spinUs: int('spinUs'),
    workerSpinUs: int('workerSpinUs'),
    maxQueues: int('maxQueues'),
    latencySample: int('latencySample'),
    maxAtoms: int('maxAtoms'),
    maxBufferBytes: int('maxBufferBytes'),
    maxOutstanding: int('maxOutstanding'),
    startTimeoutMs: int('startTimeoutMs'),
    resourceLimits: o.resourceLimits === undefined ? undefined : resourceLimits(o.resourceLimits),
    policy: o.policy === undefined ? NO_POLICY : compilePolicy(o.policy as Policy, 'options.policy'),
    faults: undefined,
  };
  if (o.faults !== undefined) config.faults = faultChances(o.faults as FaultOptions);
  return config;
}

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

/** Options of one submission (rt.submit, rt.trySubmit, rt.run). Another key is a TypeError. */
export interface SubmitOptions {
  /** Returned in the completion (and as the kevent's udata): any value. @default undefined */
  udata?: unknown;
  /** Aborting it cancels the chain (as rt.cancel(id)); not an AbortSignal: TypeError. */
  signal?: AbortSignal;
  /**
   * Deadline from now, in milliseconds (a finite number, 0 or more, else a TypeError): the chain
   * ends with -ETIME at the next atom boundary. @default no deadline
   */
  timeoutMs?: number;
  /**
   * Initial values for variables the chain declares or assigns: an object of finite numbers by
   * variable name (a name the chain lacks, or not a finite number: TypeError). Chains only.
   */
  vars?: Record<string, number>;
  /** Step budget for this chain: an integer from 1 to the runtime's stepBudget (else TypeError). @default the runtime's stepBudget */
  stepBudget?: number;
  /**
   * Deliver the completion to this kqueue as an EVFILT_AIO event
   * `{ ident: id, filter: EVFILT_AIO, flags: EV_ONESHOT, data: result, udata }`. The submission's
   * promise settles when the event is reaped (by kevent, or by this thread's reaper). A kqueue of
   * another runtime or thread, or a closed one: TypeError.
   */
  kq?: Kqueue;
  /** Narrow the runtime's policy for this submission (widening it: TypeError). @default the runtime's policy */
  policy?: Policy;
  /**
   * Descriptors and rt.alloc() buffers this chain may use beside those it opens and declares.
   * Under a policy a chain may name no others (other descriptors: -EBADF; other arena addresses:
   * ChainError at submission); without one, granted descriptors are also ones it may close.
   */
  grant?: Grant;
}

/** SubmitOptions keys: anything else is refused (it would be ignored silently). */
const SUBMIT_OPTION_NAMES = new Set(['udata', 'signal', 'timeoutMs', 'vars', 'stepBudget', 'kq', 'policy', 'grant']);

/**
 * Check the submission options that need no runtime state (all but kq, policy and grant, which the
 * runtime checks and fills in: `target` undefined, `policy` 0, `ownPolicy` false here).
 * `maxStepBudget`: the runtime's stepBudget. Throws a TypeError naming the option.
 */
export function checkSubmitOptions(
  opts: SubmitOptions,
  request: SubmitRequest,
  maxStepBudget: number,
): ValidatedSubmit {
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError(`submit: options: expected an object, got ${String(opts)}`);
  }
  // for-in, not Object.keys: no array allocated per submission.
  for (const k in opts) {
    if (!SUBMIT_OPTION_NAMES.has(k) && Object.hasOwn(opts, k)) {
      throw new TypeError(`submit: options.${k}: unknown option; expected ${[...SUBMIT_OPTION_NAMES].join(', ')}`);
    }
  }
  const plan = request.type === 'chain' ? request.plan : undefined;
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
  let stepBudget = maxStepBudget;
  if (opts.stepBudget !== undefined) {
    const b = opts.stepBudget;
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 1 || b > maxStepBudget) {
      throw new TypeError(
        `submit: stepBudget: expected a positive integer up to the runtime's ${maxStepBudget} (option stepBudget), got ${String(b)}`,
      );
    }
    stepBudget = b;
  }
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`submit: signal: expected an AbortSignal, got ${String(signal)}`);
  }
  return {
    request,
    varInit,
    deadline,
    stepBudget,
    udata: opts.udata,
    signal,
    target: undefined,
    policy: 0,
    ownPolicy: false,
  };
}
