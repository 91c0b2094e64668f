/**
 * Defining and calling threadlets: run inline, move to a worker when a call would block.
 *
 *   call ──► predictor says worker? ──yes──► submit { url, name, args } ──► worker runs it
 *              │ no
 *              ▼
 *           run fn inline, calls intercepted (Recorder): cheap ones run and are journaled
 *              │ finished                           │ a call would block (MIGRATE)
 *              ▼                                    ▼
 *           handle settled at once          submit { url, name, args, journal, pending }
 *           (+ an event if a kqueue           ──► worker re-runs fn: the journal answers the
 *              was given)                        calls already made, then it goes on for real
 *
 * The worker side is worker.ts; what both sides share is protocol.ts.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { Kqueue } from '../completion/kqueue.js';
import { sharedNow } from 'atomics-sync';
import type { Runtime } from '../runtime.js';
import { ThreadletCodec } from './codec.js';
import { ThreadletError } from './errors.js';
import { ThreadletHandle } from './handle.js';
import { installInterception } from './intercept.js';
import { MIGRATE, Recorder, Replayer, closeLeftOpen, leftOpen, outcomeToWire, runUnder, settledOutcome, type JournalEntry, type Pending } from './journal.js';
import { state } from './original.js';
import { Predictor, type PredictorStats } from './predictor.js';
import type { ThreadletRequest } from './protocol.js';
import { register } from './registry.js';
import { recordRegistrations, registeredLoaders } from './loaders.js';
import { pack } from './pack.js';
import { WireError, WireMode, fromWire, stableValue, toWire, wireShared, type ErrorClass } from './wire.js';

/** Options of a threadlet, given to threadlet(). */
export interface ThreadletOptions {
  /**
   * Inline time budget, in microseconds: once a call has run inline this long, its next
   * intercepted call moves it to a worker. The band Go's scheduler uses for a syscall.
   * @default 50
   */
  budgetUs?: number;
  /**
   * Reads, writes and copies larger than this many bytes always run on a worker (the threadlet
   * moves before such a call).
   * @default 65536
   */
  largeIoBytes?: number;
  /**
   * Learn from past calls: a threadlet that usually blocks starts on a worker directly (probing
   * inline again now and then). With false, every call starts inline unless told otherwise.
   * @default true
   */
  predict?: boolean;
  /**
   * Error classes its errors are rebuilt as when they cross threads (matched by class name), so
   * that `instanceof` holds on the calling thread. Others keep their class *name* (a stand-in class
   * extending the nearest built-in: TypeError, RangeError, ..., Error). See also registerErrorClass().
   * @default []
   */
  errorClasses?: readonly ErrorClass[];
}

/** Options of one call (Threadlet.submit). */
export interface ThreadletCallOptions {
  /**
   * Also deliver an EVFILT_THREADLET event to this kqueue when the call completes (also when it
   * finished inline): `{ ident: handle.id, filter: EVFILT_THREADLET, flags: EV_ONESHOT, data, udata }`,
   * `data` 0 when it returned, negative when it threw (see ThreadletHandle).
   */
  kq?: Kqueue;
  /** The event's udata. */
  udata?: unknown;
  /**
   * Cancel it: before it starts on a worker, it fails with ThreadletCancelledError; running on a
   * worker, its next intercepted call throws that error (and it fails with it). Inline code
   * cannot be interrupted.
   */
  signal?: AbortSignal;
  /**
   * 'inline': start inline (whatever the predictor says); 'worker': start on a worker; 'auto':
   * ask the predictor.
   * @default 'auto'
   */
  start?: 'auto' | 'inline' | 'worker';
  /**
   * Testing aid: move to a worker at the n-th intercepted call (1-based) whatever the budget, to
   * exercise journal and replay deterministically. 0 or absent: never.
   * @default 0
   */
  migrateAt?: number;
}

export interface ThreadletStats extends PredictorStats {
  /** Calls made on this thread. */
  calls: number;
  /** Finished inline. */
  inline: number;
  /** Started inline, moved to a worker. */
  migrated: number;
  /** Started on a worker. */
  worker: number;
}

/**
 * Where each call ran, for the recorder (record/recorder.ts), published on the diagnostics channel
 * 'syslet:threadlet' when somebody subscribed (a recording): a ThreadletCallEvent per call that
 * finished inline or left the calling thread, times from sharedNow() (ms).
 */
export interface ThreadletCallEvent {
  runtime: Runtime;
  name: string;
  placement: 'inline' | 'migrated' | 'worker';
  /** The submission id, when it went through the runtime (its completion carries the worker's part). */
  id: number | undefined;
  /** The inline run, when there was one (start === end for a call that started on a worker). */
  start: number;
  end: number;
  movedAt: string | undefined;
  reason: string | undefined;
  journaled: number;
  handle: ThreadletHandle<unknown>;
}
const callChannel = diagnostics_channel.channel('syslet:threadlet');

// Record module.register() calls from now on, for the workers (loaders.ts): a loader registered
// before the first threadlet() call must reach the workers too. The fs, zlib, child_process and
// crypto interception waits for the first threadlet() (importing syslet changes no builtin there).
recordRegistrations();

const DEFAULT_BUDGET_US = 50;
const DEFAULT_LARGE_IO = 64 * 1024;
const OPTION_NAMES = new Set(['budgetUs', 'largeIoBytes', 'predict', 'errorClasses']);
const CALL_OPTION_NAMES = new Set(['kq', 'udata', 'signal', 'start', 'migrateAt']);

function checkNumber(where: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new TypeError(`${where}: expected a number from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

interface CallPlan {
  kq: Kqueue | undefined;
  udata: unknown;
  signal: AbortSignal | undefined;
  start: 'auto' | 'inline' | 'worker';
  migrateAt: number;
}

const DEFAULT_CALL: CallPlan = { kq: undefined, udata: undefined, signal: undefined, start: 'auto', migrateAt: 0 };

function checkCallOptions(name: string, o: ThreadletCallOptions | undefined): CallPlan {
  if (o === undefined) return DEFAULT_CALL;
  const where = `threadlet '${name}': options`;
  if (typeof o !== 'object' || o === null) throw new TypeError(`${where}: expected an object, got ${String(o)}`);
  for (const k of Object.keys(o)) if (!CALL_OPTION_NAMES.has(k)) throw new TypeError(`${where}.${k}: unknown option`);
  const kq = o.kq;
  if (kq !== undefined) {
    if (!(kq instanceof Kqueue)) throw new TypeError(`${where}.kq: expected a kqueue (rt.kqueue()), got ${String(kq)}`);
    if (kq.closed) throw new TypeError(`${where}.kq: the kqueue is closed`);
  }
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${where}.signal: expected an AbortSignal, got ${String(signal)}`);
  }
  const start = o.start ?? 'auto';
  if (start !== 'auto' && start !== 'inline' && start !== 'worker') {
    throw new TypeError(`${where}.start: expected 'auto', 'inline' or 'worker', got ${String(start)}`);
  }
  const migrateAt = o.migrateAt === undefined ? 0 : checkNumber(`${where}.migrateAt`, o.migrateAt, 0, 2 ** 31 - 1);
  if (!Number.isInteger(migrateAt)) throw new TypeError(`${where}.migrateAt: expected an integer, got ${migrateAt}`);
  return { kq, udata: o.udata, signal, start, migrateAt };
}

/** The arguments as they cross to a worker: EXACT wire form, and whether it holds an object twice. */
interface ArgsSnapshot {
  a: unknown[];
  graph: boolean;
}

/**
 * The arguments as given, taken before anything runs: the worker gets these, not what the inline run
 * made of them (it may push into an array, fill a buffer, change an option). Primitives are
 * immutable and need no copy; anything else is copied into its wire form. A value that cannot
 * travel fails the call here, before it runs, whichever way it would have gone: a WireError.
 */
function snapshotArgs(args: readonly unknown[]): ArgsSnapshot {
  for (let i = 0; i < args.length; i++) {
    const x = args[i];
    if ((typeof x === 'object' && x !== null) || typeof x === 'function' || typeof x === 'symbol') {
      const a = toWire(args, WireMode.EXACT, 'argument') as unknown[];
      return { a, graph: wireShared() };
    }
  }
  return { a: args as unknown[], graph: false };
}

function checkRuntime(name: string, rt: unknown): Runtime {
  if (typeof rt !== 'object' || rt === null || typeof (rt as Runtime)._submitRequest !== 'function') {
    throw new TypeError(`threadlet '${name}': expected a Runtime (await Runtime.create()) as the first argument, got ${String(rt)}`);
  }
  return rt as Runtime;
}

/**
 * A threadlet: a synchronous function in a module, callable so that it never blocks the calling
 * thread for long. Make one with threadlet(); call it with run(), submit() or on().
 */
export class Threadlet<A extends unknown[], R> {
  /** The defining module's URL (import.meta.url). */
  readonly url: string;
  readonly name: string;
  /** The function itself: calling it directly runs it as plain code, nothing intercepted. */
  readonly fn: (...args: A) => R;
  readonly #budgetUs: number;
  readonly #largeIo: number;
  readonly #predictor: Predictor | undefined;
  readonly #classes: ReadonlyMap<string, ErrorClass> | undefined;
  #calls = 0;
  #inline = 0;
  #migrated = 0;
  #worker = 0;

  /** @internal Use threadlet(). */
  constructor(
    url: string,
    name: string,
    fn: (...args: A) => R,
    o: ThreadletOptions,
    classes: ReadonlyMap<string, ErrorClass> | undefined,
  ) {
    this.url = url;
    this.name = name;
    this.fn = fn;
    this.#budgetUs = o.budgetUs ?? DEFAULT_BUDGET_US;
    this.#largeIo = o.largeIoBytes ?? DEFAULT_LARGE_IO;
    this.#predictor = o.predict === false ? undefined : new Predictor();
    this.#classes = classes;
  }

  /** Call it on `rt`'s workers when it blocks. Returns at once; settled already if it finished inline. */
  run(rt: Runtime, ...args: A): ThreadletHandle<R> {
    return this.submit(rt, args, undefined);
  }

  /** A function that calls it on `rt` with these options. */
  on(rt: Runtime, opts?: ThreadletCallOptions): (...args: A) => ThreadletHandle<R> {
    checkRuntime(this.name, rt);
    checkCallOptions(this.name, opts);
    return (...args: A) => this.submit(rt, args, opts);
  }

  /** Call it with options (a kqueue for its event, a signal, where to start). */
  submit(rt: Runtime, args: A, opts?: ThreadletCallOptions): ThreadletHandle<R> {
    const o = checkCallOptions(this.name, opts);
    if (!Array.isArray(args)) throw new TypeError(`threadlet '${this.name}': args: expected an array, got ${String(args)}`);
    const outer = state.ctx;
    // Called from inside a threadlet (inline or on a worker): it is part of the caller's run.
    if (outer !== null) return this.#nested(args, outer);
    const runtime = checkRuntime(this.name, rt);
    this.#calls++;
    const h = new ThreadletHandle<R>(this.name);
    let snap: ArgsSnapshot;
    try {
      snap = snapshotArgs(args);
    } catch (e) {
      this.#fail(runtime, h, this.#unsendable(e), o);
      return h;
    }
    let start = o.start;
    if (o.signal?.aborted === true) start = 'worker'; // The runtime settles it, cancelled, at once.
    else if (start === 'auto') start = this.#predictor?.startOnWorker() === true ? 'worker' : 'inline';
    const observed = callChannel.hasSubscribers;
    const t0 = observed ? sharedNow() : 0;
    if (start === 'worker') {
      this.#worker++;
      h.placement = 'worker';
      this.#toWorker(runtime, h, snap, [], false, null, o);
      if (observed) this.#publish(runtime, h, t0, t0);
      return h;
    }

    const rec = new Recorder({ budgetUs: this.#budgetUs, largeIoBytes: this.#largeIo, migrateAt: o.migrateAt });
    const ran = runUnder(rec, this.fn as (...args: never[]) => unknown, args);
    const t1 = observed ? sharedNow() : 0;
    const pending = rec.pending;
    h.journaled = rec.journal.length;
    if (pending === undefined) {
      this.#predictor?.record(performance.now() - rec.t0 > this.#budgetUs / 1000);
      this.#inline++;
      // What a worker would have handed back: the same value, or the same failure (journal.ts). Plain
      // data is handed back as it is (a move would hand back an equal copy); the rest through the wire.
      const out = settledOutcome(this.name, ran);
      if (!out.threw && stableValue(out.value)) h._fulfil(out.value as R);
      else {
        const w = outcomeToWire(this.name, out);
        const value = fromWire(w.wire, this.#classes, w.graph);
        if (w.threw) h._reject(value);
        else h._fulfil(value as R);
      }
      this.#notify(runtime, h, o);
      if (observed) this.#publish(runtime, h, t0, t1);
      return h;
    }
    // A call would block: whatever the function did after MIGRATE (a catch that went on) is void.
    this.#predictor?.record(true);
    this.#migrated++;
    h.placement = 'migrated';
    h.migratedAt = pending.k;
    h.migrationReason = pending.reason;
    if (rec.unjournalable !== undefined) {
      closeLeftOpen(rec.journal);
      const why = `cannot move to a worker at ${pending.k} (${pending.reason}): ${rec.unjournalable}`;
      this.#fail(runtime, h, new ThreadletError(this.name, why), o);
      if (observed) this.#publish(runtime, h, t0, t1);
      return h;
    }
    this.#toWorker(runtime, h, snap, rec.seal(), rec.graph, pending, o);
    if (observed) this.#publish(runtime, h, t0, t1);
    return h;
  }

  /** The error of a call whose arguments cannot travel (the message names where in them). */
  #unsendable(e: unknown): ThreadletError {
    const why = e instanceof WireError ? e.message : `its arguments cannot be sent to a worker: ${(e as Error)?.message ?? String(e)}`;
    return new ThreadletError(this.name, why);
  }

  #publish(runtime: Runtime, h: ThreadletHandle<R>, start: number, end: number): void {
    const e: ThreadletCallEvent = {
      runtime,
      name: this.name,
      placement: h.placement,
      id: h.id,
      start,
      end,
      movedAt: h.migratedAt,
      reason: h.migrationReason,
      journaled: h.journaled,
      handle: h as ThreadletHandle<unknown>,
    };
    callChannel.publish(e);
  }

  /** Calls on this thread, and what the predictor thinks. */
  stats(): ThreadletStats {
    const p: PredictorStats = this.#predictor?.stats() ?? { prediction: 'inline', history: 0, untilProbe: 0, probeInterval: 0 };
    return { calls: this.#calls, inline: this.#inline, migrated: this.#migrated, worker: this.#worker, ...p };
  }

  #toWorker(
    rt: Runtime,
    h: ThreadletHandle<R>,
    args: ArgsSnapshot,
    journal: JournalEntry[],
    graph: boolean,
    pending: Pending | null,
    o: CallPlan,
  ): void {
    let bytes: Uint8Array;
    try {
      const req: ThreadletRequest = { u: this.url, n: this.name, a: args.a, j: journal, p: pending, c: process.cwd() };
      const loaders = registeredLoaders();
      if (loaders !== undefined) req.l = loaders;
      // A copy of the packed record: the submission may wait for a slot, and pack() reuses its buffer.
      bytes = Buffer.from(pack(req, args.graph || graph));
    } catch (e) {
      closeLeftOpen(journal);
      this.#fail(rt, h, this.#unsendable(e), o);
      return;
    }
    try {
      const codec = new ThreadletCodec(h, bytes, this.#classes, leftOpen(journal));
      h.id = rt._submitRequest(codec, { kq: o.kq, udata: o.udata, signal: o.signal }).id;
    } catch (e) {
      // The runtime refused it (closed). The inline part, if any, ran once and is not undone; what it
      // left open is closed (no worker will take it over).
      closeLeftOpen(journal);
      h._reject(e);
    }
  }

  /** Fail on this thread; the kqueue, if any, still gets its event. */
  #fail(rt: Runtime, h: ThreadletHandle<R>, e: unknown, o: CallPlan): void {
    h._reject(e);
    this.#notify(rt, h, o);
  }

  /**
   * The kqueue's event for a call settled on this thread (finished inline, or failed before a
   * worker got it), when a kqueue was given: a submission that completes at once.
   */
  #notify(rt: Runtime, h: ThreadletHandle<R>, o: CallPlan): void {
    if (o.kq !== undefined) h.id = rt._submitRequest(new ThreadletCodec(h, undefined, this.#classes), { kq: o.kq, udata: o.udata }).id;
  }

  #nested(args: A, outer: NonNullable<typeof state.ctx>): ThreadletHandle<R> {
    const h = new ThreadletHandle<R>(this.name);
    h.placement = outer instanceof Replayer ? 'worker' : 'inline';
    const fn = this.fn;
    try {
      h._fulfil(fn(...args));
    } catch (e) {
      // The outer run's own signals go on unwinding it.
      if (e === MIGRATE || (outer instanceof Replayer && e === outer.poison)) throw e;
      h._reject(e);
    }
    return h;
  }
}

/**
 * Define a threadlet: `fn` must be a synchronous function defined at the top level of the module at
 * `url` (pass `import.meta.url`), under a `name` unique in that module, so that a worker that
 * imports the module finds it. Exporting it is not required.
 *
 * ```ts
 * export const loadConfig = threadlet(import.meta.url, 'loadConfig', (path: string) =>
 *   JSON.parse(fs.readFileSync(path, 'utf8')) as Config);
 *
 * const h = loadConfig.run(rt, '/etc/app.json');  // a ThreadletHandle<Config>
 * const config = h.settled ? h.result() : await h;
 * ```
 *
 * The first call installs the interception of blocking calls on this thread (importing syslet
 * changes nothing; see installInterception()).
 */
export function threadlet<A extends unknown[], R>(
  url: string,
  name: string,
  fn: (...args: A) => R,
  options: ThreadletOptions = {},
): Threadlet<A, R> {
  if (typeof url !== 'string' || !URL.canParse(url)) {
    throw new TypeError(`threadlet: url: expected the defining module's URL (import.meta.url; in CommonJS, pathToFileURL(__filename).href from node:url), got ${String(url)}`);
  }
  if (typeof name !== 'string' || name === '') throw new TypeError(`threadlet: name: expected a non-empty string, got ${String(name)}`);
  if (typeof fn !== 'function') throw new TypeError(`threadlet '${name}': fn: expected a function, got ${String(fn)}`);
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`threadlet '${name}': options: expected an object, got ${String(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (!OPTION_NAMES.has(k)) throw new TypeError(`threadlet '${name}': options.${k}: unknown option`);
  }
  if (options.budgetUs !== undefined) checkNumber(`threadlet '${name}': options.budgetUs`, options.budgetUs, 0, 1e9);
  if (options.largeIoBytes !== undefined) checkNumber(`threadlet '${name}': options.largeIoBytes`, options.largeIoBytes, 0, 2 ** 53);
  if (options.predict !== undefined && typeof options.predict !== 'boolean') {
    throw new TypeError(`threadlet '${name}': options.predict: expected a boolean, got ${String(options.predict)}`);
  }
  if (options.errorClasses !== undefined) {
    if (!Array.isArray(options.errorClasses)) {
      throw new TypeError(`threadlet '${name}': options.errorClasses: expected an array of classes, got ${String(options.errorClasses)}`);
    }
    for (const c of options.errorClasses) {
      if (typeof c !== 'function' || !(c.prototype instanceof Error)) {
        throw new TypeError(`threadlet '${name}': options.errorClasses: expected classes extending Error, got ${String(c)}`);
      }
    }
  }
  // Intercept from the first definition on: code loaded after that sees the wrappers however it
  // holds the functions (see installInterception() for code loaded before).
  installInterception();
  const classes = options.errorClasses === undefined ? undefined : new Map(options.errorClasses.map((c) => [c.name, c]));
  register(url, name, { fn: fn as (...args: never[]) => unknown, errorClasses: classes });
  return new Threadlet(url, name, fn, options, classes);
}
