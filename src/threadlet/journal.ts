/**
 * The journal: record on the calling thread, replay on the worker.
 *
 * Inline (Recorder): each intercepted call is first classified. A call that always blocks, one
 * whose size says it would overrun the budget, or any call once the budget is spent, is not run:
 * it becomes the journal's *pending* call and the recorder throws MIGRATE, a signal that unwinds
 * the threadlet. Every intercepted call after that throws MIGRATE again (a `catch` in the
 * threadlet cannot make it go on for real), and whatever the function returns or throws then is
 * discarded. A call that may run inline runs, and its arguments, result (or error) and the bytes
 * it wrote into its arguments are recorded, snapshotted at once (the threadlet may reuse a buffer
 * or sort a returned array in place afterwards).
 *
 * On the worker (Replayer): the function runs again from the start. Its intercepted calls are
 * answered from the journal in order: same call, same arguments, or a ThreadletDivergenceError
 * (the call is not executed). Then the first call past the journal must be the pending one (same
 * function; its arguments may differ, nothing ran it yet), and from there on calls execute for
 * real. Once diverged or cancelled, every intercepted call throws that error again, so a `catch`
 * cannot make a refused side effect happen; the threadlet fails with it whatever it returns.
 */
import fs from 'node:fs';
import type { CallSpec, InterceptContext, AnyFunction, OutputRange } from './original.js';
import { bytesOf, original, state } from './original.js';
import { sharedNow } from 'atomics-sync';
import { likelyCause, type CallSeen } from './cause.js';
import { isNativeCall } from './native.js';
import { ThreadletDivergenceError, ThreadletError } from './errors.js';
import { WireError, WireMode, describeWire, fromWire, toWire, wireEqual, wireShared, type ErrorClass } from './wire.js';

/** One journaled call, as it travels (v8-serializable). */
export interface JournalEntry {
  /** CallSpec.key. */
  k: string;
  /** Arguments, COMPARE wire form. */
  a: unknown[];
  /** 1 when the call threw `r`. */
  t: 0 | 1;
  /** Result or error, EXACT wire form (undefined for a call whose result is its argument). */
  r: unknown;
  /** Bytes it wrote into its arguments. */
  o: OutputRange[] | undefined;
}

/** Where the inline run stopped: the call it did not make, and why. */
export interface Pending {
  k: string;
  a: unknown[];
  reason: string;
}

/** The signal that unwinds an inline threadlet that must move to a worker. Not an Error: no stack. */
export const MIGRATE: unique symbol = Symbol('syslet.threadlet.migrate') as never;

function argsWire(spec: CallSpec, args: unknown[]): unknown[] {
  const out = new Array<unknown>(args.length);
  const outArgs = spec.outArgs;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (outArgs !== undefined && outArgs.includes(i)) {
      // An output buffer: its contents before the call do not matter, its size does.
      out[i] = Array.isArray(a) ? a.map(describeBuffer) : describeBuffer(a);
    } else {
      out[i] = toWire(a, WireMode.COMPARE, `argument ${i}`);
    }
  }
  return out;
}

function describeBuffer(b: unknown): string {
  return ArrayBuffer.isView(b) || b instanceof ArrayBuffer || b instanceof SharedArrayBuffer
    ? `<output ${b.constructor.name} ${b.byteLength} bytes>`
    : String(b);
}

export function describeCall(k: string, a: readonly unknown[]): string {
  return `${k}(${a.map((x) => (typeof x === 'string' && x.startsWith('<output ') ? x : describeWire(x))).join(', ')})`;
}

function slice(args: IArguments): unknown[] {
  return Array.prototype.slice.call(args) as unknown[];
}

/** Run `orig` with the interception off (calls it makes itself, e.g. readFileSync's openSync, pass). */
function callOriginal(ctx: InterceptContext, orig: AnyFunction, self: unknown, args: IArguments | unknown[]): unknown {
  state.ctx = null;
  try {
    return orig.apply(self, args as unknown[]);
  } finally {
    state.ctx = ctx;
  }
}

/** What a threadlet's function did: returned `value`, or threw it. */
export interface Outcome {
  threw: boolean;
  value: unknown;
}

/**
 * Run a threadlet's function with `ctx` answering its intercepted calls (the Recorder inline, the
 * Replayer on a worker), and no threadlet current afterwards whatever it did. Both sides call it
 * the same way, as a plain function (no `this`), so that the re-run sees what the inline run saw.
 */
export function runUnder(ctx: InterceptContext, fn: (...args: never[]) => unknown, args: readonly unknown[]): Outcome {
  state.ctx = ctx;
  try {
    return { threw: false, value: fn(...(args as never[])) };
  } catch (e) {
    return { threw: true, value: e };
  } finally {
    state.ctx = null;
  }
}

function isThenable(v: unknown): boolean {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * The outcome a threadlet settles with: one that returned a promise (or any thenable) fails, since
 * nothing on either side awaits it. Not part of runUnder: reading `then` may run user code (a
 * getter), so callers look only once nothing else decides the outcome (a migration, a divergence).
 */
export function settledOutcome(name: string, r: Outcome): Outcome {
  if (r.threw || !isThenable(r.value)) return r;
  return { threw: true, value: new ThreadletError(name, 'returned a promise: a threadlet is a synchronous function') };
}

/** An outcome in wire form: what crosses back to the caller, or is rebuilt there when it ran inline. */
export interface WireOutcome {
  threw: boolean;
  /** The value or error, EXACT wire form. */
  wire: unknown;
  /** It holds an object more than once (pack's `graph`). */
  graph: boolean;
  /** The value could not travel: `wire` is the ThreadletError saying so. */
  unsendable: boolean;
}

/**
 * The wire form of a threadlet's outcome, the same on both sides: a run that finished inline hands
 * back what a moved one would (a class instance as its own properties, cycles and shared references
 * kept, errors rebuilt by class name), and a value that cannot cross fails the same way wherever it
 * ran (a ThreadletError naming where in the value it is).
 */
export function outcomeToWire(name: string, o: Outcome): WireOutcome {
  try {
    const wire = toWire(o.value, WireMode.EXACT, o.threw ? 'what it threw' : 'its result');
    return { threw: o.threw, wire, graph: wireShared(), unsendable: false };
  } catch (e) {
    const why = e instanceof WireError ? e.message : `reading it failed: ${String((e as Error)?.message ?? e)}`;
    const err = new ThreadletError(name, `${o.threw ? 'threw' : 'returned'} a value that cannot be sent back: ${why}`);
    return { threw: true, wire: toWire(err, WireMode.EXACT), graph: false, unsendable: true };
  }
}

// ---- recording ---------------------------------------------------------------------------------

export interface RecorderOptions {
  /** Inline time budget, microseconds. */
  budgetUs: number;
  largeIoBytes: number;
  /** Migrate at this 1-based intercepted call whatever the budget (0: never). */
  migrateAt: number;
}

export class Recorder implements InterceptContext {
  readonly journal: JournalEntry[] = [];
  /** Set when the run must move to a worker. */
  pending: Pending | undefined;
  /** A journaled result could not be snapshotted: the run cannot move after it. */
  unjournalable: string | undefined;
  /** A journaled result holds an object more than once (the request must keep it: pack's `graph`). */
  graph = false;
  /** performance.now() at the start. */
  readonly t0: number;
  readonly #budgetMs: number;
  readonly #largeIo: number;
  readonly #migrateAt: number;
  /** Journal indices whose result is still the live object (see #record). */
  readonly #deferred: number[] = [];
  #calls = 0;

  constructor(o: RecorderOptions) {
    this.#budgetMs = o.budgetUs / 1000;
    this.#largeIo = o.largeIoBytes;
    this.#migrateAt = o.migrateAt;
    this.t0 = performance.now();
  }

  intercept(spec: CallSpec, orig: AnyFunction, self: unknown, argv: IArguments): unknown {
    if (this.pending !== undefined) throw MIGRATE;
    const args = slice(argv);
    const n = ++this.#calls;
    const leftUs = (this.#budgetMs - (performance.now() - this.t0)) * 1000;
    let reason = spec.blocks(args, leftUs, this.#largeIo);
    if (reason === '' && leftUs <= 0) reason = 'the inline budget is spent';
    if (reason === '' && n === this.#migrateAt) reason = `migrateAt: ${n}`;
    if (reason !== '') {
      this.pending = { k: spec.key, a: argsWire(spec, args), reason };
      throw MIGRATE;
    }
    const a = argsWire(spec, args);
    let result: unknown;
    try {
      result = callOriginal(this, orig, self, args);
    } catch (e) {
      this.#record(spec, a, 1, e, undefined);
      throw e;
    }
    this.#record(spec, a, 0, spec.returnsArg !== undefined ? undefined : result, spec.outputs?.(args, result));
    return result;
  }

  #record(spec: CallSpec, a: unknown[], t: 0 | 1, r: unknown, o: OutputRange[] | undefined): void {
    if (t === 0 && r instanceof fs.Stats) {
      // A fresh fs.Stats, read-only by convention: snapshotted only if the run moves (most do
      // not), which keeps a journaled stat cheap. (Changing its fields before then is the one way
      // to make the replayed result differ from what the call returned.)
      this.#deferred.push(this.journal.length);
      this.journal.push({ k: spec.key, a, t, r, o });
      return;
    }
    let w: unknown;
    try {
      w = toWire(r, WireMode.EXACT, `the ${t === 1 ? 'error' : 'result'} of ${spec.key}`);
      if (wireShared()) this.graph = true;
    } catch (e) {
      this.unjournalable ??= (e as Error).message;
      w = undefined;
    }
    this.journal.push({ k: spec.key, a, t, r: w, o });
  }

  /** The journal, every result in wire form: call once, when the run moves to a worker. */
  seal(): JournalEntry[] {
    for (const i of this.#deferred) {
      const e = this.journal[i]!;
      e.r = toWire(e.r, WireMode.EXACT);
    }
    this.#deferred.length = 0;
    return this.journal;
  }
}

// ---- what the inline run left open ------------------------------------------------------------

/**
 * File descriptors the inline run opened (journaled `fs.openSync`) and did not close (no journaled
 * `fs.closeSync` of them). They belong to the run: the re-run on the worker is handed them by the
 * journal and goes on with them. When no re-run takes them over (it diverged, was cancelled, could
 * not start, or the call failed before it moved), nobody else ever will: closeLeftOpen() closes them.
 */
export function leftOpen(journal: readonly JournalEntry[]): number[] {
  let open: number[] | undefined;
  for (const e of journal) {
    if (e.t !== 0) continue;
    if (e.k === 'fs.openSync' && typeof e.r === 'number') (open ??= []).push(e.r);
    else if (e.k === 'fs.closeSync' && open !== undefined) {
      const i = open.indexOf(e.a[0] as number);
      if (i >= 0) open.splice(i, 1);
    }
  }
  return open ?? [];
}

/** Close what leftOpen() names (errors ignored: the fd may be bad already). */
export function closeFds(fds: readonly number[]): void {
  const close = original(fs.closeSync);
  for (const fd of fds) {
    try {
      close(fd);
    } catch {
      // EBADF: closed already.
    }
  }
}

export function closeLeftOpen(journal: readonly JournalEntry[]): void {
  closeFds(leftOpen(journal));
}

// ---- replaying ---------------------------------------------------------------------------------

/**
 * Calls that only read (no effect on files, descriptors or positions): the replay tolerates one
 * the inline run made and the re-run does not, or the other way round (see Replayer.#find).
 */
const PURE_READS = new Set([
  'fs.existsSync', 'fs.statSync', 'fs.lstatSync', 'fs.accessSync', 'fs.realpathSync', 'fs.realpathSync.native',
  'fs.readdirSync', 'fs.readlinkSync', 'fs.readFileSync', 'fs.statfsSync',
]);

/** `a`: COMPARE-form arguments. A readFileSync of a descriptor moves its position: not pure. */
function pureRead(key: string, a: readonly unknown[]): boolean {
  return PURE_READS.has(key) && (key !== 'fs.readFileSync' || typeof a[0] !== 'number');
}

export interface ReplayOptions {
  threadlet: string;
  journal: JournalEntry[];
  pending: Pending | undefined;
  classes: ReadonlyMap<string, ErrorClass> | undefined;
  /** The journal may hold an object twice (fromWire's `graph`). */
  graph: boolean;
  /** Returns an error when the request was cancelled (checked at every intercepted call). */
  cancelled: () => Error | undefined;
  /**
   * Brackets each call run for real (on a worker: marks the worker blocked for the pool). enter()
   * gets the call's key (`fs.readFileSync`, `zlib.gzipSync`, ...).
   */
  blocking?: { enter(key: string): void; leave(): void };
}

export class Replayer implements InterceptContext {
  /** Journal entries answered so far. */
  pos = 0;
  /** Calls executed for real. */
  real = 0;
  /** The error every later call throws (divergence, cancellation). */
  poison: Error | undefined;
  /** sharedNow() when the journal was replayed and the call where it moved came (0: not yet). */
  replayedAt = 0;
  readonly #o: ReplayOptions;
  #pendingSeen: boolean;
  /** Where the journal's last reads were skipped from (-1: none): a divergence after them is reported there. */
  #skippedFrom = -1;

  /**
   * The re-run got past the journal to where the inline run stopped: from there it owns what the
   * inline run opened (closeLeftOpen() is then not for it to call).
   */
  get tookOver(): boolean {
    return this.#pendingSeen && this.pos >= this.#o.journal.length;
  }

  constructor(o: ReplayOptions) {
    this.#o = o;
    this.#pendingSeen = o.pending === undefined;
  }

  intercept(spec: CallSpec, orig: AnyFunction, self: unknown, argv: IArguments): unknown {
    if (this.poison !== undefined) throw this.poison;
    const o = this.#o;
    const j = o.journal;
    if (this.pos < j.length) {
      const args = slice(argv);
      const a = argsWire(spec, args);
      const k = this.#find(spec.key, a);
      if (k >= 0) {
        const rec = j[k]!;
        this.pos = k + 1;
        if (rec.o !== undefined) for (const out of rec.o) writeOutput(args, out);
        if (rec.t === 1) throw fromWire(rec.r, o.classes, o.graph);
        const arg = spec.returnsArg;
        return arg === undefined ? fromWire(rec.r, o.classes, o.graph) : args[arg];
      }
      // A read the inline run did not make (a cache that is warm on the calling thread and cold
      // here: a lazy require, a library looking for its binary): it has no effect, so it runs.
      if (pureRead(spec.key, a)) return this.#extraRead(orig, self, argv);
      if (!this.#onlyReadsFrom(this.pos)) throw this.#diverge(this.pos + 1, j[this.pos]!, undefined, { k: spec.key, a });
      // The inline run's remaining reads are not needed here: on to where it stopped.
      this.#skippedFrom = this.pos;
      this.pos = j.length;
    }
    const cancel = o.cancelled();
    if (cancel !== undefined) throw (this.poison = cancel);
    if (!this.#pendingSeen) {
      const p = o.pending!;
      if (p.k !== spec.key) {
        const a = argsWire(spec, slice(argv));
        if (pureRead(spec.key, a) || isNativeCall(spec)) return this.#extraRead(orig, self, argv);
        const skipped = this.#skippedFrom;
        if (skipped >= 0) throw this.#diverge(skipped + 1, j[skipped]!, undefined, { k: spec.key, a });
        throw this.#diverge(j.length + 1, p, p.reason, { k: spec.key, a });
      }
      this.#pendingSeen = true;
      this.replayedAt = sharedNow();
    }
    this.real++;
    const b = o.blocking;
    if (b === undefined) return callOriginal(this, orig, self, argv);
    b.enter(spec.key);
    try {
      return callOriginal(this, orig, self, argv);
    } finally {
      b.leave();
    }
  }

  /**
   * The journal entry from `pos` on that answers this call: the next one, or one after reads only
   * (reads the inline run made that the re-run does not: a cache cold there and warm here). -1: none.
   */
  #find(key: string, a: unknown[]): number {
    const j = this.#o.journal;
    for (let k = this.pos; k < j.length; k++) {
      const rec = j[k]!;
      if (rec.k === key && wireEqual(rec.a, a)) return k;
      if (!pureRead(rec.k, rec.a)) return -1;
    }
    return -1;
  }

  #onlyReadsFrom(k: number): boolean {
    const j = this.#o.journal;
    for (; k < j.length; k++) if (!pureRead(j[k]!.k, j[k]!.a)) return false;
    return true;
  }

  #extraRead(orig: AnyFunction, self: unknown, argv: IArguments): unknown {
    this.real++;
    return callOriginal(this, orig, self, argv);
  }

  /** After the function returned or threw: the error the threadlet fails with, if any. */
  finish(): Error | undefined {
    if (this.poison !== undefined) return this.poison;
    const j = this.#o.journal;
    if (this.pos < j.length) return this.#diverge(this.pos + 1, j[this.pos]!, undefined, undefined);
    if (!this.#pendingSeen) {
      const p = this.#o.pending!;
      return this.#diverge(j.length + 1, p, p.reason, undefined);
    }
    return undefined;
  }

  /**
   * The divergence at intercepted call `call`: the inline run made `expected` there (the call it
   * moved at, when `movedBecause` says why), the re-run made `actual` (undefined: none).
   */
  #diverge(call: number, expected: CallSeen, movedBecause: string | undefined, actual: CallSeen | undefined): Error {
    let made = describeCall(expected.k, expected.a);
    if (movedBecause !== undefined) made += ` (where it moved to a worker: ${movedBecause})`;
    const did = actual === undefined ? undefined : describeCall(actual.k, actual.a);
    const hint = likelyCause(expected, actual);
    return (this.poison = new ThreadletDivergenceError(this.#o.threadlet, call, made, did, hint));
  }
}

function writeOutput(args: unknown[], out: OutputRange): void {
  let target = args[out.arg];
  if (out.item >= 0) target = Array.isArray(target) ? target[out.item] : undefined;
  const view = bytesOf(target);
  if (view === undefined || out.offset + out.bytes.byteLength > view.byteLength) {
    throw new RangeError('threadlet replay: the output buffer of a journaled call is missing or too small');
  }
  view.set(out.bytes, out.offset);
}
