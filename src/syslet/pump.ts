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
 * WaiterSet (ring/wait.ts), which wakes the lowest-numbered parked worker: work that arrives at a
 * server's pace keeps going to the same worker, whose code V8 has optimized and whose caches are
 * warm. The spin window adapts as the reaper's does: it narrows while spins find nothing (work
 * milliseconds apart, where a spin only costs CPU) and widens again when they pay.
 *
 * This file is loaded by path and never imported by caller-side code.
 */
import { readlinkSync } from 'node:fs';
import { MessagePort, isMainThread, threadId, workerData } from 'node:worker_threads';
import { sharedNow } from '../ring/layout.js';
import { EMPTY, RingField } from '../ring/mpmc.js';
import { HistogramWriter } from '../ring/stats.js';
import { spinUntil } from '../ring/wait.js';
import { Interpreter } from './interp.js';
import {
  C,
  H_START_TO_COMPLETE,
  H_SUBMIT_TO_START,
  SharedState,
  W,
  WorkerRole,
  WorkerState,
  type SharedHandles,
} from './shared.js';
import { errno } from './errno.js';
import { requestHandler, WORKER_MODULES, type BlockMarker, type RequestContext } from './kinds.js';
import { E, EntryState, F, RequestKind, Status } from './table.js';

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

/**
 * A parked worker whose own event loop has something pending (a timer a threadlet left, say) wakes
 * at least this often to let it run; with nothing pending it parks without a timeout (an idle pool
 * costs no wake-ups: issue 14).
 */
const PARK_SLICE_MS = 1000;

/** Handles every pump worker has (piscina's ports; a request Node keeps open): nothing to run. */
const QUIET_RESOURCES = new Set(['MessagePort', 'CloseReq']);

/** How long a parked base worker may sleep: no bound unless its event loop has work pending. */
function parkSlice(): number {
  for (const r of process.getActiveResourcesInfo()) if (!QUIET_RESOURCES.has(r)) return PARK_SLICE_MS;
  return Infinity;
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
    this.#ctx = { s, slot, blocking };
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
    const i32 = s.i32;
    const f64 = s.f64;
    const eb = s.layout.base(idx);
    const e64 = s.layout.base64(idx);
    // Say what this worker holds before claiming it, so that if the worker dies from here on, the
    // runtime finds the entry (recoverWorker in runtime.ts) and completes it with -EOWNERDEAD.
    Atomics.store(s.ctl, this.#slotBase + W.CURRENT_ID, i32[eb + E.ID]!);
    Atomics.store(s.ctl, this.#slotBase + W.CURRENT, idx);
    // Claim the entry. Pairs with cancel()'s compareExchange QUEUED -> CANCELLED: exactly one wins.
    const prev = Atomics.compareExchange(i32, eb + E.STATE, EntryState.QUEUED, EntryState.RUNNING);
    const cancelled = prev === EntryState.CANCELLED;
    if (cancelled) {
      // Cancelled before it started: the interpreter ends it at its first boundary.
      i32[eb + E.CANCEL] = i32[eb + E.ID]!;
      Atomics.store(i32, eb + E.STATE, EntryState.RUNNING);
    }
    const fault = this.#faults === 0 ? 0 : this.#fault(i32[eb + E.ID]!);
    if (fault !== 0 && (i32[eb + E.ID]! & 1) === 0) injectFault(fault);
    // Latency is sampled: the submitter stamped T_SUBMIT (non-zero) on the chains it picked.
    const submitted = f64[e64 + F.T_SUBMIT]!;
    let t0 = 0;
    if (submitted !== 0) {
      t0 = sharedNow();
      f64[e64 + F.T_START] = t0;
      this.#queued.record((t0 - submitted) * 1e6);
    }
    const kind = i32[eb + E.KIND]!;
    if (kind === RequestKind.CHAIN || cancelled) {
      this.#interp.run(idx, false);
    } else {
      const handler = requestHandler(kind);
      if (handler === undefined) {
        i32[eb + E.STATUS] = Status.FAILED;
        f64[e64 + F.RESULT] = -errno.ENOSYS;
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
    const i32 = s.i32;
    const f64 = s.f64;
    const eb = s.layout.base(idx);
    const e64 = s.layout.base64(idx);
    const ctl = s.ctl;
    // Half the injected faults strike after the atoms ran and before the completion is posted.
    const fault = this.#faults === 0 ? 0 : this.#fault(i32[eb + E.ID]!);
    if (fault !== 0 && (i32[eb + E.ID]! & 1) === 1) injectFault(fault);
    i32[eb + E.WORKER] = this.#slot;
    if (submitted !== 0) {
      const t1 = sharedNow();
      f64[e64 + F.T_DONE] = t1;
      this.#running.record((t1 - t0) * 1e6);
    } else {
      f64[e64 + F.T_DONE] = 0;
    }
    ctl[this.#slotBase + W.CHAINS]!++;
    ctl[this.#slotBase + W.ATOMS]! += i32[eb + E.STEPS]!;
    // Pairs with the runtime's CAS RUNNING -> STUCK_* (runtime.ts, #endStuck): when the runtime
    // ended this chain because this worker stayed in one call past its deadline or cancel, the
    // completion is posted already and this (terminated) worker must not post another.
    const won = Atomics.compareExchange(i32, eb + E.STATE, EntryState.RUNNING, EntryState.DONE) === EntryState.RUNNING;
    Atomics.store(ctl, this.#slotBase + W.CURRENT, -1);
    if (won) s.cqs[i32[eb + E.CQ]!]!.post(idx);
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

/**
 * Claim a free worker slot: base workers from the bottom, spares from the top, so that extras sit
 * above the base pool and the lowest-first wake-up (WaiterSet) leaves them idle first.
 */
function claimSlot(s: SharedState, spare: boolean): number {
  for (let k = 0; k < s.maxWorkers; k++) {
    const w = spare ? s.maxWorkers - 1 - k : k;
    const b = s.workerBase(w) + W.STATE;
    if (Atomics.compareExchange(s.ctl, b, WorkerState.FREE, WorkerState.RUNNING) === WorkerState.FREE) {
      return w;
    }
  }
  return -1;
}

/**
 * Resolves when this worker may take requests: at once for the runtime's first workers, and for a
 * replacement once the runtime armed it (W.ARMED: piscina reported it ready) or the runtime shuts down.
 */
async function armed(s: SharedState, base: number): Promise<void> {
  if (Atomics.load(s.ctl, C.ARMING) === 0) return;
  // Pairs with the runtime's store and notify of W.ARMED.
  while (Atomics.load(s.ctl, base + W.ARMED) === 0 && s.shutdownState() === 0) {
    const r = Atomics.waitAsync(s.ctl, base + W.ARMED, 0, PARK_SLICE_MS);
    if (r.async) await r.value;
  }
}

function start(data: PumpData): void {
  const s = new SharedState(data.handles);
  const slot = claimSlot(s, data.role === 'spare');
  if (slot < 0) throw new Error('syslet pump: no free worker slot (option maxWorkers exceeds the slots)');
  const base = s.workerBase(slot);
  const ctl = s.ctl;
  Atomics.store(ctl, base + W.ARMED, 0);
  ctl[base + W.THREAD_ID] = threadId;
  ctl[base + W.CURRENT] = -1;
  ctl[base + W.BLOCKED_SINCE] = 0;
  ctl[base + W.OS_TID] = osThreadId();
  Atomics.store(ctl, base + W.ROLE, WorkerRole.BASE);
  if (process.env.SYSLET_COUNT_MESSAGES === '1') countMessages(ctl, base + W.MESSAGES);
  const pump = new Pump(s, slot);
  const goLive = (): void => {
    Atomics.store(ctl, base + W.LIVE, 1);
    Atomics.add(ctl, C.WORKERS_LIVE, 1);
    Atomics.notify(ctl, C.WORKERS_LIVE);
  };
  const leaveLive = (): void => {
    if (Atomics.exchange(ctl, base + W.LIVE, 0) === 1) Atomics.sub(ctl, C.WORKERS_LIVE, 1);
    Atomics.notify(ctl, C.WORKERS_LIVE);
  };
  /**
   * A spare: wait in reserve until activated (true) or shut down (false). `counted`: the caller
   * already counted it in C.POOL_RESERVE.
   */
  const reserve = async (counted: boolean): Promise<boolean> => {
    Atomics.store(ctl, base + W.ROLE, WorkerRole.RESERVE);
    // Counted after the role is set: the monitor activates only slots it finds in RESERVE.
    if (!counted) Atomics.add(ctl, C.POOL_RESERVE, 1);
    for (;;) {
      const key = Atomics.load(ctl, base + W.PARK);
      // Pairs with the monitor's compareExchange RESERVE -> EXTRA, then its add and notify on PARK.
      if (Atomics.load(ctl, base + W.ROLE) === WorkerRole.EXTRA) return true;
      if (s.shutdownState() !== 0) return false;
      if (Atomics.wait(ctl, base + W.PARK, key, parkSlice()) === 'timed-out') {
        await new Promise<void>((r) => setImmediate(r));
      }
    }
  };
  const run = async (): Promise<void> => {
    await Promise.all(WORKER_MODULES.map((m) => import(m)));
    if (data.role === 'spare') {
      if (!(await reserve(false))) return;
    } else {
      // A piscina worker that replaces a dead one waits until piscina reported it ready (W.ARMED);
      // spares are started by the pool monitor, not piscina, and are never armed.
      await armed(s, base);
    }
    for (;;) {
      goLive();
      if ((await pump.loop()) === LoopEnd.SHUTDOWN) return;
      // An extra worker that stayed idle: it leaves the pool (see pool.ts).
      leaveLive();
      Atomics.add(ctl, C.S_POOL_RETIRED, 1);
      // Something queued since it looked: wake a parked worker for it (else the monitor grows).
      if (!s.sq.isEmpty()) s.workerPark.wakeOne();
      // Back to reserve when there is no spare, else exit (the slot is free for the next one).
      if (s.shutdownState() === 0 && Atomics.compareExchange(ctl, C.POOL_RESERVE, 0, 1) === 0) {
        if (!(await reserve(true))) return;
        continue;
      }
      Atomics.store(ctl, base + W.ROLE, WorkerRole.BASE);
      Atomics.store(ctl, base + W.STATE, WorkerState.FREE);
      return;
    }
  };
  // Start after piscina finished loading this module (it awaits the import before reporting ready),
  // and after the modules of the other request kinds registered their handlers; only then does
  // the worker count as live (Runtime.ready() waits for that).
  setImmediate(() => {
    run().then(
      () => {
        if (Atomics.load(ctl, base + W.STATE) !== WorkerState.FREE) Atomics.store(ctl, base + W.STATE, WorkerState.EXITED);
        leaveLive();
      },
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
