/**
 * Worker entry: the pump. piscina starts each worker by importing this file; workerData carries the
 * runtime's SharedArrayBuffers, and the module starts a pump loop at once: pop an entry index from
 * the submission ring, run the chain, post the index to its completion queue, repeat. No message
 * crosses threads per operation; piscina owns the thread (start, count, replacement, shutdown).
 *
 * Waiting follows Go's scheduler: at most one idle worker spins on the submission ring (so a
 * submission finds a hot worker without a futex wake-up); the others park at once. A submitter
 * wakes a parked worker only when nobody spins, and a worker that finds more work queued behind
 * the entry it took wakes one more, so a burst ramps up the whole pool. Workers park in a
 * WaiterSet (atomics-sync), which wakes the lowest-numbered parked worker: work that arrives at a
 * server's pace keeps going to the same worker, whose code V8 has optimized and whose caches are
 * warm. The spin window adapts as the reaper's does: it narrows while spins find nothing (work
 * milliseconds apart, where a spin only costs CPU) and widens again when they pay.
 *
 * This file is loaded by path and never imported by caller-side code.
 */
import { readlinkSync } from 'node:fs';
import { MessagePort, isMainThread, threadId, workerData } from 'node:worker_threads';
import { sharedNow, EMPTY, RingField, HistogramWriter, spinUntil } from 'atomics-sync';
import { Interpreter } from './interp.js';
import {
  C,
  H_START_TO_COMPLETE,
  H_SUBMIT_TO_START,
  SharedState,
  W,
  WorkerRole,
  type SharedHandles,
} from './shared.js';
import { errno } from './errno.js';
import { PARK_SLICE_MS, WorkerSlots, parkSlice } from './slots.js';
import { requestHandler, WORKER_MODULES, type BlockMarker, type RequestContext } from './kinds.js';
import {
  RequestKind,
  Stamp,
  Status,
  entryClaim,
  entryDone,
  entryFieldsMake,
  entryId,
  entryPost,
  entryRead,
  entryStamp,
  entryStampSet,
  entryStatusSet,
  entrySteps,
  entryWorkerSet,
  type EntryFields,
} from './entry.js';

/** What the runtime puts in workerData.syslet. */
export interface PumpData {
  handles: SharedHandles;
  /**
   * 'spare': started by the pool monitor (pool.ts) to wait in reserve until activated; absent: a
   * worker of the base pool.
   */
  role?: 'spare';
}

/** How a pump loop ended. */
const LoopEnd = { SHUTDOWN: 0, RETIRED: 1 } as const;
type LoopEnd = (typeof LoopEnd)[keyof typeof LoopEnd];

/** Marks its worker blocked (W.BLOCKED_SINCE) around calls that may block. */
class WorkerBlockMarker implements BlockMarker {
  readonly #s: SharedState;
  readonly #word: number;

  constructor(s: SharedState, slot: number) {
    this.#s = s;
    this.#word = s.workerBase(slot) + W.BLOCKED_SINCE;
  }

  enter(): void {
    // Pairs with the pool monitor's load (pool.ts): a stale read only delays or skips one growth.
    Atomics.store(this.#s.ctl, this.#word, this.#s.ticks());
  }

  leave(): void {
    Atomics.store(this.#s.ctl, this.#word, 0);
  }
}

/** The spin window never narrows below 1/MIN_SPIN_SHARE of workerSpinUs. */
const MIN_SPIN_SHARE = 8;

class Pump {
  readonly #s: SharedState;
  readonly #slot: number;
  readonly #slotBase: number;
  readonly #interp: Interpreter;
  readonly #queued: HistogramWriter;
  readonly #running: HistogramWriter;
  readonly #maxSpinUs: number;
  /** The spin window now (see the header), between #maxSpinUs / MIN_SPIN_SHARE and #maxSpinUs. */
  #spinUs: number;
  readonly #ready: () => boolean;
  readonly #ctx: RequestContext;
  /** The header of the entry being run (entryRead; reused). */
  readonly #run: EntryFields = entryFieldsMake();
  /** Sum of the fault-injection chances (0: none; re-read per request). */
  #faults = 0;

  /** When this worker last finished work (or was activated), for an extra's retirement. */
  #idleSince = 0;

  constructor(s: SharedState, slot: number) {
    this.#s = s;
    this.#slot = slot;
    this.#slotBase = s.workerBase(slot);
    const blocking = new WorkerBlockMarker(s, slot);
    this.#interp = new Interpreter(s, slot, blocking);
    this.#queued = new HistogramWriter(s.ctl64, s.workerHist(slot, H_SUBMIT_TO_START));
    this.#running = new HistogramWriter(s.ctl64, s.workerHist(slot, H_START_TO_COMPLETE));
    this.#maxSpinUs = s.ctl[C.WORKER_SPIN_US]!;
    this.#spinUs = this.#maxSpinUs;
    this.#ready = () => !s.sq.isEmpty() || s.shutdownState() !== 0;
    this.#ctx = { s, blocking };
  }

  /**
   * Run entries until shutdown, or (an extra worker, see pool.ts) until it stayed idle for
   * C.POOL_IDLE_MS with nothing queued: then it retires.
   */
  async loop(): Promise<LoopEnd> {
    const sq = this.#s.sq;
    const ctl = this.#s.ctl;
    const extra = Atomics.load(ctl, this.#slotBase + W.ROLE) === WorkerRole.EXTRA;
    const idleMs = ctl[C.POOL_IDLE_MS]!;
    const extraSliceMs = Math.min(PARK_SLICE_MS, Math.max(1, idleMs));
    this.#idleSince = performance.now();
    for (;;) {
      this.#faults = ctl[C.FAULT_PUMP_ERROR]! + ctl[C.FAULT_EXIT]! + ctl[C.FAULT_OOM]!;
      let idx = sq.tryPop();
      if (idx === EMPTY) {
        if (this.#s.shutdownState() !== 0) return LoopEnd.SHUTDOWN;
        idx = this.#waitForWork(extra ? extraSliceMs : -1);
        if (idx === EMPTY) {
          if (extra && performance.now() - this.#idleSince >= idleMs && sq.isEmpty()) return LoopEnd.RETIRED;
          // Timed out while parked: give this thread's event loop a turn, then look again.
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
      }
      // More queued behind this one and somebody asleep: wake one more worker.
      if (this.#s.workerPark.sleepers() > 0 && !sq.isEmpty()) this.#s.workerPark.wakeOne();
      const pending = this.#runEntry(idx);
      if (pending !== undefined) await pending;
      if (extra) this.#idleSince = performance.now();
    }
  }

  /**
   * Fault injection, for testing recovery: which fault (if any) strikes request `id`. Deterministic
   * in (id, seed), so a test can run the same faults again.
   */
  #fault(id: number): number {
    const ctl = this.#s.ctl;
    let x = (id ^ ctl[C.FAULT_SEED]!) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
    const roll = ((x ^ (x >>> 16)) >>> 0) % 1_000_000;
    const pe = ctl[C.FAULT_PUMP_ERROR]!;
    const ex = ctl[C.FAULT_EXIT]!;
    const oom = ctl[C.FAULT_OOM]!;
    if (roll < pe) return FAULT_PUMP_ERROR;
    if (roll < pe + ex) return FAULT_EXIT;
    if (roll < pe + ex + oom) return FAULT_OOM;
    return 0;
  }

  /**
   * Spin if no other worker spins, else (or then) park, for at most `sliceMs` (-1: parkSlice()).
   * Returns an entry index or EMPTY.
   */
  #waitForWork(sliceMs: number): number {
    const s = this.#s;
    const sq = s.sq;
    const ctl = s.ctl;
    sq.noteEmpty();
    // Become the one spinner. Pairs with the submitter's load of C_SPINNERS: a submitter that saw
    // us spinning skips the wake-up, so we re-check the ring after leaving the spinner role.
    if (Atomics.compareExchange(sq.i32, RingField.C_SPINNERS, 0, 1) === 0) {
      // Recorded so that if this worker dies while spinning, the runtime gives the role back.
      Atomics.store(ctl, this.#slotBase + W.SPINNING, 1);
      const found = spinUntil(this.#ready, this.#spinUs);
      Atomics.store(ctl, this.#slotBase + W.SPINNING, 0);
      Atomics.sub(sq.i32, RingField.C_SPINNERS, 1);
      this.#spinUs = found
        ? Math.min(this.#maxSpinUs, this.#spinUs * 2 + 1)
        : Math.max(Math.floor(this.#maxSpinUs / MIN_SPIN_SHARE), this.#spinUs >> 1);
      if (found) {
        const v = sq.tryPop();
        if (v !== EMPTY) {
          ctl[this.#slotBase + W.SPIN_HITS]!++;
          return v;
        }
      }
    }
    if (s.workerPark.park(this.#slot, this.#ready, sliceMs < 0 ? parkSlice() : sliceMs)) ctl[this.#slotBase + W.PARKS]!++;
    return sq.tryPop();
  }

  /** Run entry `idx`; a promise when its kind's handler is asynchronous. */
  #runEntry(idx: number): Promise<void> | undefined {
    const s = this.#s;
    const run = this.#run;
    entryRead(s, idx, run);
    const id = run.id;
    // Say what this worker holds before claiming it, so that if the worker dies from here on, the
    // runtime finds the entry (WorkerSlots.recover, slots.ts) and completes it with -EOWNERDEAD.
    Atomics.store(s.ctl, this.#slotBase + W.CURRENT_ID, id);
    Atomics.store(s.ctl, this.#slotBase + W.CURRENT, idx);
    // Claim the entry. Pairs with cancel()'s entryCancel: exactly one wins. One cancelled before it
    // started is claimed too: the interpreter ends it at its first boundary.
    const cancelled = entryClaim(s, idx);
    const fault = this.#faults === 0 ? 0 : this.#fault(id);
    if (fault !== 0 && (id & 1) === 0) injectFault(fault);
    // Latency is sampled: the submitter stamped T_SUBMIT (non-zero) on the chains it picked.
    const submitted = entryStamp(s, idx, Stamp.SUBMITTED);
    let t0 = 0;
    if (submitted !== 0) {
      t0 = sharedNow();
      entryStampSet(s, idx, Stamp.STARTED, t0);
      this.#queued.record((t0 - submitted) * 1e6);
    }
    const kind = run.kind;
    if (kind === RequestKind.CHAIN || cancelled) {
      this.#interp.run(idx, false);
    } else {
      const handler = requestHandler(kind);
      if (handler === undefined) {
        entryStatusSet(s, idx, Status.FAILED, -errno.ENOSYS);
      } else {
        const r = handler(this.#ctx, idx);
        if (r !== undefined) return r.then(() => this.#finishEntry(idx, submitted, t0));
      }
    }
    this.#finishEntry(idx, submitted, t0);
    return undefined;
  }

  #finishEntry(idx: number, submitted: number, t0: number): void {
    const s = this.#s;
    const ctl = s.ctl;
    // Half the injected faults strike after the atoms ran and before the completion is posted.
    if (this.#faults !== 0) {
      const id = entryId(s, idx);
      const fault = this.#fault(id);
      if (fault !== 0 && (id & 1) === 1) injectFault(fault);
    }
    entryWorkerSet(s, idx, this.#slot);
    if (submitted !== 0) {
      const t1 = sharedNow();
      entryStampSet(s, idx, Stamp.DONE, t1);
      this.#running.record((t1 - t0) * 1e6);
    } else {
      entryStampSet(s, idx, Stamp.DONE, 0);
    }
    ctl[this.#slotBase + W.CHAINS]!++;
    ctl[this.#slotBase + W.ATOMS]! += entrySteps(s, idx);
    // Pairs with the owner's entryEnd RUNNING -> STUCK_* (slots.ts, endStuck): when the runtime
    // ended this chain because this worker stayed in one call past its deadline or cancel, the
    // completion is posted already and this (terminated) worker must not post another.
    const won = entryDone(s, idx);
    Atomics.store(ctl, this.#slotBase + W.CURRENT, -1);
    if (won) entryPost(s, idx);
  }
}

const FAULT_PUMP_ERROR = 1;
const FAULT_EXIT = 2;
const FAULT_OOM = 3;

/** Kill this worker the way real faults do. */
function injectFault(kind: number): void {
  if (kind === FAULT_PUMP_ERROR) throw new Error('syslet fault injection: an uncaught error in the pump');
  if (kind === FAULT_EXIT) process.exit(70);
  // Exhaust the heap: with resourceLimits set, V8 stops the worker (ERR_WORKER_OUT_OF_MEMORY).
  const hog: number[][] = [];
  for (;;) hog.push(new Array<number>(1 << 20).fill(hog.length));
}

function start(data: PumpData): void {
  const s = new SharedState(data.handles);
  const slots = new WorkerSlots(s);
  const slot = slots.claim(data.role === 'spare', threadId, osThreadId());
  if (slot < 0) throw new Error('syslet pump: no free worker slot (option maxWorkers exceeds the slots)');
  if (process.env.SYSLET_COUNT_MESSAGES === '1') countMessages(s.ctl, s.workerBase(slot) + W.MESSAGES);
  const pump = new Pump(s, slot);
  const run = async (): Promise<void> => {
    await Promise.all(WORKER_MODULES.map((m) => import(m)));
    if (data.role === 'spare') {
      if (!(await slots.reserve(slot, false))) return;
    } else {
      // A piscina worker that replaces a dead one waits until piscina reported it ready (W.ARMED);
      // spares are started by the pool monitor, not piscina, and are never armed.
      await slots.armed(slot);
    }
    for (;;) {
      slots.live(slot);
      if ((await pump.loop()) === LoopEnd.SHUTDOWN) return;
      // An extra worker that stayed idle: it leaves the pool (see pool.ts), back to reserve when
      // there is no spare, else it exits (the slot is free for the next one).
      if (slots.retire(slot)) {
        if (!(await slots.reserve(slot, true))) return;
        continue;
      }
      slots.free(slot);
      return;
    }
  };
  // Start after piscina finished loading this module (it awaits the import before reporting ready),
  // and after the modules of the other request kinds registered their handlers; only then does
  // the worker count as live (Runtime.ready() waits for that).
  setImmediate(() => {
    run().then(
      () => slots.exit(slot),
      (err: unknown) => {
        // An error escaping the pump is a bug: let it crash the worker so piscina replaces it.
        setImmediate(() => {
          throw err;
        });
      },
    );
  });
}

/** This thread's kernel thread id, from /proc/thread-self (Linux); 0 where there is none. */
function osThreadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}

/**
 * Diagnostic: count every postMessage this worker thread makes (to its parent or on any port), so a
 * test can show that running chains costs no messages. Enabled by SYSLET_COUNT_MESSAGES=1.
 */
function countMessages(ctl: Int32Array, word: number): void {
  const proto = MessagePort.prototype as { postMessage: (...args: unknown[]) => void };
  const post = proto.postMessage;
  proto.postMessage = function (this: unknown, ...args: unknown[]): void {
    Atomics.add(ctl, word, 1);
    post.apply(this, args);
  };
}

const data = (workerData as { syslet?: PumpData } | null | undefined)?.syslet;
if (!isMainThread && data !== undefined) start(data);

/** piscina's task handler: a control channel, never used per operation. */
export default function control(task: { op: 'ping' }): { threadId: number; op: string } {
  return { threadId, op: task.op };
}
