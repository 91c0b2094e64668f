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
  ControlWord,
  H_START_TO_COMPLETE,
  H_SUBMIT_TO_START,
  SharedState,
  WorkerWord,
  WorkerRole,
  type SharedHandles,
} from './shared.js';
import { errno } from './errno.js';
import { baseWorkers, busyWorkers, wantPoolWatch } from './pool.js';
import { PARK_SLICE_MS, WorkerSlots, parkSlice } from './slots.js';
import { requestHandler, WORKER_MODULES, type BlockMarker, type RequestContext } from './kinds.js';
import {
  EntryState,
  RequestKind,
  Stamp,
  Status,
  entryClaim,
  entryDone,
  entryFieldsMake,
  entryId,
  entryPost,
  entryRead,
  entryResult,
  entryStamp,
  entryStampSet,
  entryStateSet,
  entryStatus,
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

/** Marks its worker blocked (WorkerWord.BLOCKED_SINCE) around calls that may block. */
class WorkerBlockMarker implements BlockMarker {
  readonly #s: SharedState;
  readonly #word: number;

  constructor(s: SharedState, slot: number) {
    this.#s = s;
    this.#word = s.workerBase(slot) + WorkerWord.BLOCKED_SINCE;
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
  /** This worker is an extra (pool.ts) in the current loop(). */
  #extra = false;

  constructor(s: SharedState, slot: number) {
    this.#s = s;
    this.#slot = slot;
    this.#slotBase = s.workerBase(slot);
    const blocking = new WorkerBlockMarker(s, slot);
    this.#interp = new Interpreter(s, slot, blocking);
    this.#queued = new HistogramWriter(s.ctl64, s.workerHist(slot, H_SUBMIT_TO_START));
    this.#running = new HistogramWriter(s.ctl64, s.workerHist(slot, H_START_TO_COMPLETE));
    this.#maxSpinUs = s.ctl[ControlWord.WORKER_SPIN_US]!;
    this.#spinUs = this.#maxSpinUs;
    this.#ready = () => !s.sq.isEmpty() || s.shutdownState() !== 0;
    this.#ctx = { s, blocking };
  }

  /**
   * Run entries until shutdown, or (an extra worker, see pool.ts) until it stayed idle for
   * ControlWord.POOL_IDLE_MS with nothing queued: then it retires.
   */
  async loop(): Promise<LoopEnd> {
    const sq = this.#s.sq;
    const ctl = this.#s.ctl;
    const extra = Atomics.load(ctl, this.#slotBase + WorkerWord.ROLE) === WorkerRole.EXTRA;
    this.#extra = extra;
    const idleMs = ctl[ControlWord.POOL_IDLE_MS]!;
    const extraSliceMs = Math.min(PARK_SLICE_MS, Math.max(1, idleMs));
    this.#idleSince = performance.now();
    for (;;) {
      this.#faults = ctl[ControlWord.FAULT_PUMP_ERROR]! + ctl[ControlWord.FAULT_EXIT]! + ctl[ControlWord.FAULT_OOM]!;
      if (extra && this.#capped()) {
        if (this.#s.shutdownState() !== 0) return LoopEnd.SHUTDOWN;
        if (performance.now() - this.#idleSince >= idleMs) return LoopEnd.RETIRED;
        // Until the others block again (the pool monitor wakes it through WorkerWord.PARK) or the slice ends.
        // Not in the workers' WaiterSet: a submission would wake it only for it to park again.
        const key = Atomics.load(ctl, this.#slotBase + WorkerWord.PARK);
        if (this.#capped() && Atomics.wait(ctl, this.#slotBase + WorkerWord.PARK, key, extraSliceMs) !== 'not-equal') ctl[this.#slotBase + WorkerWord.PARKS]!++;
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
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
   * An extra takes no new work while as many other workers run requests without being blocked
   * (for BLOCKED_MS or more, as the pool monitor counts) as the base pool has workers: it joined
   * because every worker was blocked, and once they compute again, more computing threads than the
   * pool was sized for only take the CPU from the event loop (Go caps the threads running Go code at
   * GOMAXPROCS: a thread back from a system call finds no free processor and parks). The pool
   * monitor wakes it when they block again (pool.ts, wakeCapped).
   */
  #capped(): boolean {
    return busyWorkers(this.#s, this.#slot) >= baseWorkers(this.#s);
  }

  /**
   * Fault injection, for testing recovery: which fault (if any) strikes request `id`. Deterministic
   * in (id, seed), so a test can run the same faults again.
   */
  #fault(id: number): number {
    const ctl = this.#s.ctl;
    let x = (id ^ ctl[ControlWord.FAULT_SEED]!) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
    const roll = ((x ^ (x >>> 16)) >>> 0) % 1_000_000;
    const pe = ctl[ControlWord.FAULT_PUMP_ERROR]!;
    const ex = ctl[ControlWord.FAULT_EXIT]!;
    const oom = ctl[ControlWord.FAULT_OOM]!;
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
      Atomics.store(ctl, this.#slotBase + WorkerWord.SPINNING, 1);
      const found = spinUntil(this.#ready, this.#spinUs);
      Atomics.store(ctl, this.#slotBase + WorkerWord.SPINNING, 0);
      Atomics.sub(sq.i32, RingField.C_SPINNERS, 1);
      this.#spinUs = found
        ? Math.min(this.#maxSpinUs, this.#spinUs * 2 + 1)
        : Math.max(Math.floor(this.#maxSpinUs / MIN_SPIN_SHARE), this.#spinUs >> 1);
      if (found && !(this.#extra && this.#capped())) {
        const v = sq.tryPop();
        if (v !== EMPTY) {
          ctl[this.#slotBase + WorkerWord.SPIN_HITS]!++;
          return v;
        }
      }
    }
    if (s.workerPark.park(this.#slot, this.#ready, sliceMs < 0 ? parkSlice() : sliceMs)) ctl[this.#slotBase + WorkerWord.PARKS]!++;
    // Woken for work while the others compute: an extra leaves it to them (see #capped).
    return this.#extra && this.#capped() ? EMPTY : sq.tryPop();
  }

  /** Run entry `idx`, taken off the ring by the caller (warmUp: a private table's entry). */
  runTaken(idx: number): Promise<void> | undefined {
    return this.#runEntry(idx);
  }

  /** Run entry `idx`; a promise when its kind's handler is asynchronous. */
  #runEntry(idx: number): Promise<void> | undefined {
    const s = this.#s;
    const run = this.#run;
    entryRead(s, idx, run);
    const id = run.id;
    // Say what this worker holds before claiming it, so that if the worker dies from here on, the
    // runtime finds the entry (WorkerSlots.recover, slots.ts) and completes it with -EOWNERDEAD.
    Atomics.store(s.ctl, this.#slotBase + WorkerWord.CURRENT_ID, id);
    Atomics.store(s.ctl, this.#slotBase + WorkerWord.CURRENT, idx);
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
    ctl[this.#slotBase + WorkerWord.CHAINS]!++;
    ctl[this.#slotBase + WorkerWord.ATOMS]! += entrySteps(s, idx);
    // Pairs with the owner's entryEnd RUNNING -> STUCK_* (slots.ts, endStuck): when the runtime
    // ended this chain because this worker stayed in one call past its deadline or cancel, the
    // completion is posted already and this (terminated) worker must not post another.
    const won = entryDone(s, idx);
    Atomics.store(ctl, this.#slotBase + WorkerWord.CURRENT, -1);
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
  if (process.env.SYSLET_COUNT_MESSAGES === '1') countMessages(s.ctl, s.workerBase(slot) + WorkerWord.MESSAGES);
  const pump = new Pump(s, slot);
  const run = async (): Promise<void> => {
    await Promise.all(WORKER_MODULES.map((m) => import(m)));
    if (data.role === 'spare') {
      if (!(await slots.reserve(slot, false))) return;
    } else {
      // A piscina worker that replaces a dead one waits until piscina reported it ready (WorkerWord.ARMED);
      // spares are started by the pool monitor, not piscina, and are never armed.
      await slots.armed(slot);
    }
    for (;;) {
      slots.live(slot);
      if ((await pump.loop()) === LoopEnd.SHUTDOWN) return;
      // An extra worker that stayed idle: it leaves the pool (see pool.ts), back to reserve when
      // there is no spare, else it exits (the slot is free for the next one).
      const toReserve = slots.retire(slot);
      // The monitor may be idle with no timer: have it note the retirement now (its history).
      wantPoolWatch(s.ctl);
      if (toReserve) {
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

/** Chains a spare runs on a private table before it parks in reserve (see warmUp). */
const WARM_UP_CHAINS = 4000;

/**
 * Warm this thread's pump for `n` chains: V8 optimizes a function once it ran often enough, and a
 * spare that joins the pool cold ran its first thousand stats several times slower than a warm
 * worker. The chains (one stat of "/" each: harmless, and the hot path of a burst of small calls)
 * go through a Pump of a private SharedState (two entries, no other thread), from the ring to the
 * completion queue, so the runtime's tables, counters and histograms never see them. Returns how
 * many completed with status done and result 0 (ControlWord.S_POOL_WARMED sums them: every one should).
 */
const WARM_SLOT_BYTES = 512;

async function warmUp(n: number): Promise<number> {
  // Loaded here, by spares only: a base worker's start-up does not pay for the encoder.
  const [{ writeChain }, { validate }] = await Promise.all([import('./encode.js'), import('./validate.js')]);
  const s = SharedState.create({
    tableCapacity: 2,
    slotBytes: WARM_SLOT_BYTES,
    numCqs: 1,
    cqCapacity: 2,
    maxWorkers: 1,
    arenaBytes: 4096,
    workerSpinUs: 0,
    extraIdleMs: 1,
  });
  const plan = validate({ atoms: [{ op: 'stat', args: ['/'] }] }, { arena: s.arena, slotBytes: WARM_SLOT_BYTES });
  const pump = new Pump(s, 0);
  const cq = s.cqs[0]!;
  const idx = s.fq.tryPop();
  const reaped = [0];
  let ok = 0;
  for (let i = 1; i <= n; i++) {
    writeChain(s, idx, plan, { id: i, cq: 0, owner: 0, deadline: 0, stepBudget: 1000, submittedAt: 0, udata: 0, policy: 0, flags: 0 }, plan.varInit);
    entryStateSet(s, idx, EntryState.QUEUED);
    s.sq.tryPush(idx);
    const taken = s.sq.tryPop();
    if (taken !== idx || pump.runTaken(taken) !== undefined) break;
    if (cq.reap(reaped, 1) !== 1 || reaped[0] !== idx) break;
    if (entryStatus(s, idx) === Status.DONE && entryResult(s, idx) === 0) ok++;
  }
  return ok;
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
if (!isMainThread && data !== undefined) {
  if (data.role === 'spare') {
    // A spare joins when every worker is blocked and work waits: have its code optimized by then.
    // It warms up before it claims a slot: until it parks in reserve, a claimed slot counts as one
    // of the pool's workers (rt.stats()). A warm-up that fails leaves a cold spare, nothing worse.
    void warmUp(WARM_UP_CHAINS)
      .catch(() => 0)
      .then((ok) => {
        Atomics.add(new SharedState(data.handles).ctl, ControlWord.S_POOL_WARMED, ok);
        start(data);
      });
  } else start(data);
}

/** piscina's task handler: a control channel, never used per operation. */
export default function control(task: { op: 'ping' }): { threadId: number; op: string } {
  return { threadId, op: task.op };
}
