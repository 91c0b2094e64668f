/**
 * The request entry's header: its layout, and every read and write of its words. Nothing else
 * touches an entry's header by index (liburing's grammar: `io_uring_sqe_*`, `io_uring_cqe_*`; here
 * entryWrite, entryClaim, entryCancel, entryEnd, entryPost, ...). The data area that follows the
 * header (a chain's atoms, a codec's payload) is laid out in table.ts and validate.ts.
 *
 * An entry is written by one thread at a time, the one that holds its index (table.ts says how
 * ownership moves), except three words: STATE, advanced with Atomics so that a cancel, the worker
 * and the runtime agree on who ends it; CANCEL, written by the submitting thread at any time and
 * read by the worker at atom boundaries; and the header fields written in place of a worker that
 * died or is stuck, published by the state CAS that decided it (entryEnd).
 *
 * The end of every entry's life is a state CAS (exactly one party wins: entryDone for its worker,
 * entryEnd for anyone ending it in place of one) followed by a post to its completion queue
 * (entryPost), whose release publishes the header to the reaper (the reap acquires).
 */
import { errno } from './errno.js';
import type { SharedState } from './shared.js';
import type { TableLayout } from './table.js';
import type { Value } from './values.js';

/** Int32 field indices within an entry (relative to the entry's first word). */
export const EntryWord = {
  /** EntryState; advanced with Atomics.store / compareExchange. */
  STATE: 0,
  /** The request id (u32 stored as i32). */
  ID: 1,
  /** Equals ID when cancellation was requested. nanosleep parks on this word. */
  CANCEL: 2,
  /** Completion queue the result is posted to. */
  CQ: 3,
  /** Atom to start at (an inline prefix may have run already). */
  PC: 4,
  /** Steps taken so far. */
  STEPS: 5,
  STEP_BUDGET: 6,
  /** How the chain ended (Status). */
  STATUS: 7,
  /** Index of the final atom. */
  ATOM: 8,
  /** Worker slot that ran it, or -1 (ran inline on the caller). */
  WORKER: 9,
  /** Arena offset of values that did not fit in the data area, or 0. */
  VALUES_HEAP: 10,
  /** Bytes of encoded values (-ENOMEM: they could not be carried back). */
  VALUES_LEN: 11,
  /** Link in a completion queue's overflow backlog. */
  OVF_NEXT: 12,
  /** RequestFlag bits. */
  FLAGS: 13,
  /** The request's kind (RequestKind). */
  KIND: 14,
  /** The submitting client's completion queue (where its submission settles). */
  OWNER: 15,
  /** Policy id (policy.ts), 0 for none. In the header's last 16 bytes, after the Float64 fields. */
  POLICY: 28,
} as const;

/** Float64 field indices relative to the entry's first Float64 word. */
export const EntryF64 = {
  /** How it ended: >= 0, or -errno. */
  RESULT: 8,
  /** Absolute deadline (sharedNow() ms) or 0. */
  DEADLINE: 9,
  T_SUBMIT: 10,
  T_START: 11,
  T_DONE: 12,
  /** Numeric user data carried in shared memory (for completions reaped on another thread). */
  UDATA: 13,
  /**
   * Threadlets: when the worker finished replaying the journal of one that moved (sharedNow() ms),
   * or 0. Written by the worker (worker-run.ts) before the completion is posted (the post's
   * release publishes it to the reaper). Bytes 120..127 of the header; EntryWord.POLICY is at 112..115.
   */
  T_REPLAYED: 15,
} as const;

/** Bytes before the data area. */
export const ENTRY_HEADER_BYTES = 128;

export const EntryState = {
  FREE: 0,
  /** In the submission ring, not started. */
  QUEUED: 1,
  RUNNING: 2,
  DONE: 3,
  /** Cancelled while queued: the worker that pops it ends it before its first atom. */
  CANCELLED: 4,
  /**
   * Ended by the runtime while its worker was stuck in a call past the chain's deadline (-ETIME)
   * or a cancel (-ECANCELED); the worker was terminated but may still hold the entry, so the entry
   * is freed only once both the submitter reaped it (STUCK_REAPED) and the worker's thread exited
   * (STUCK_GONE_*): whichever of the two comes second frees it. Only the runtime's owner thread
   * moves 5/6 to 8/9; only the submitter moves 5/6 to 7.
   */
  STUCK_TIMEDOUT: 5,
  STUCK_CANCELLED: 6,
  /** A stuck entry the submitter reaped; the runtime frees it when the worker's thread exits. */
  STUCK_REAPED: 7,
  /** A stuck entry whose worker exited (from STUCK_TIMEDOUT, STUCK_CANCELLED); the submitter frees it. */
  STUCK_GONE_TIMEDOUT: 8,
  STUCK_GONE_CANCELLED: 9,
} as const;

/** Whether an entry in `state` was ended by the runtime while its worker was stuck. */
export function isStuckState(state: number): boolean {
  return state >= EntryState.STUCK_TIMEDOUT && state <= EntryState.STUCK_GONE_CANCELLED;
}

/** How a stuck entry (STUCK_* other than STUCK_REAPED) ended: Status.TIMEDOUT or Status.CANCELLED. */
export function stuckStatus(state: number): number {
  return state === EntryState.STUCK_TIMEDOUT || state === EntryState.STUCK_GONE_TIMEDOUT ? Status.TIMEDOUT : Status.CANCELLED;
}

export const RequestKind = {
  CHAIN: 0,
  /** A threadlet (threadlet/codec.ts writes it, threadlet/worker-run.ts runs it). */
  THREADLET: 1,
} as const;

export const RequestFlag = {
  /** The chain ended at an atom with SYSLET_NO_COMPLETE: post no kqueue event. */
  NO_COMPLETE: 0x1,
  /** Declared buffers are copied out into the completion before they are freed. */
  HAS_BUFFERS: 0x2,
  /** EntryF64.UDATA holds the submitter's udata (a number): events reaped on another thread carry it. */
  UDATA_NUMBER: 0x4,
  /**
   * Under a policy: descriptors the chain leaves open stay open when it ends, handed to the
   * submitter (SubmitOptions.grant.keepFds) instead of closed.
   */
  KEEP_FDS: 0x8,
} as const;

/** How a chain ended. */
export const Status = {
  DONE: 1,
  STOPPED: 2,
  CANCELLED: 3,
  TIMEDOUT: 4,
  EXHAUSTED: 5,
  FAILED: 6,
} as const;

export type StatusName = 'done' | 'stopped' | 'cancelled' | 'timedout' | 'exhausted' | 'failed';

export const STATUS_NAMES: readonly (StatusName | undefined)[] = [
  undefined,
  'done',
  'stopped',
  'cancelled',
  'timedout',
  'exhausted',
  'failed',
];

/** The request table's views an entry accessor needs (SharedState and ExecViews are ones). */
export interface EntryViews {
  readonly layout: TableLayout;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
}

// ---- submission (the submitting thread holds the entry) -------------------------------------

/** Per-submission header fields. */
export interface RequestHeader {
  id: number;
  /** The completion queue the entry is posted to when it ends (the client's, or a kqueue's). */
  cq: number;
  /** The submitting client's completion queue (where its submission settles). */
  owner: number;
  /** Absolute deadline in sharedNow() milliseconds, or 0. */
  deadline: number;
  stepBudget: number;
  submittedAt: number;
  udata: number;
  /** Policy id, 0 for none. */
  policy: number;
  /** RequestFlag bits the submitter sets (UDATA_NUMBER). */
  flags: number;
}

/**
 * Write entry `idx`'s header for a new request of `kind`: every field a worker, the interpreter or
 * the reaper reads, reset. `flags` are ORed into h.flags. The request's own data (a chain's atoms,
 * a codec's payload) follows. The state word is left to the caller (entryStateSet).
 */
export function entryWrite(t: EntryViews, idx: number, h: RequestHeader, kind: number, flags: number): void {
  const i32 = t.i32;
  const f64 = t.f64;
  const eb = t.layout.base(idx);
  const e64 = t.layout.base64(idx);
  i32[eb + EntryWord.ID] = h.id;
  i32[eb + EntryWord.CANCEL] = 0;
  i32[eb + EntryWord.CQ] = h.cq;
  i32[eb + EntryWord.PC] = 0;
  i32[eb + EntryWord.STEPS] = 0;
  i32[eb + EntryWord.STEP_BUDGET] = h.stepBudget;
  i32[eb + EntryWord.STATUS] = 0;
  i32[eb + EntryWord.ATOM] = 0;
  i32[eb + EntryWord.WORKER] = -1;
  i32[eb + EntryWord.VALUES_HEAP] = 0;
  i32[eb + EntryWord.VALUES_LEN] = 0;
  i32[eb + EntryWord.OVF_NEXT] = -1;
  i32[eb + EntryWord.FLAGS] = h.flags | flags;
  i32[eb + EntryWord.KIND] = kind;
  i32[eb + EntryWord.OWNER] = h.owner;
  i32[eb + EntryWord.POLICY] = h.policy;
  f64[e64 + EntryF64.RESULT] = 0;
  f64[e64 + EntryF64.DEADLINE] = h.deadline;
  f64[e64 + EntryF64.T_SUBMIT] = h.submittedAt;
  f64[e64 + EntryF64.T_START] = 0;
  f64[e64 + EntryF64.T_DONE] = 0;
  f64[e64 + EntryF64.UDATA] = h.udata;
}

/** Set RequestFlag bits on entry `idx` (by the thread that holds it). */
export function entryFlagsAdd(t: EntryViews, idx: number, flags: number): void {
  t.i32[t.layout.base(idx) + EntryWord.FLAGS]! |= flags;
}

/** Clear RequestFlag bits on entry `idx` (by the thread that holds it). */
export function entryFlagsClear(t: EntryViews, idx: number, flags: number): void {
  t.i32[t.layout.base(idx) + EntryWord.FLAGS]! &= ~flags;
}

/**
 * Store entry `idx`'s state (Atomics.store, seq-cst). For moves by the entry's holder that race
 * with nobody: FREE when it is given back, QUEUED before the ring push that publishes it, RUNNING
 * and DONE around an inline run.
 */
export function entryStateSet(t: EntryViews, idx: number, state: number): void {
  Atomics.store(t.i32, t.layout.base(idx) + EntryWord.STATE, state);
}

/** Entry `idx`'s state (Atomics.load). */
export function entryState(t: EntryViews, idx: number): number {
  return Atomics.load(t.i32, t.layout.base(idx) + EntryWord.STATE);
}

/** Move entry `idx` from state `from` to `to` if it is in `from` (a CAS). Returns whether it moved. */
export function entryStateMove(t: EntryViews, idx: number, from: number, to: number): boolean {
  return Atomics.compareExchange(t.i32, t.layout.base(idx) + EntryWord.STATE, from, to) === from;
}

/**
 * Ask entry `idx`, submitted as request `id` (undefined: whichever request it runs), to stop. Pairs
 * with the worker's entryClaim (CAS QUEUED -> RUNNING): exactly one of the two wins. A queued entry
 * becomes CANCELLED (its worker ends it before its first atom); a running one gets CANCEL = id,
 * read at its next atom boundary, and a notify that wakes a nanosleep parked on that word. Returns
 * the state the entry was in.
 */
export function entryCancel(t: EntryViews, idx: number, id: number | undefined): number {
  const i32 = t.i32;
  const eb = t.layout.base(idx);
  const prev = Atomics.compareExchange(i32, eb + EntryWord.STATE, EntryState.QUEUED, EntryState.CANCELLED);
  if (prev === EntryState.RUNNING) {
    Atomics.store(i32, eb + EntryWord.CANCEL, id ?? i32[eb + EntryWord.ID]!);
    Atomics.notify(i32, eb + EntryWord.CANCEL);
  }
  return prev;
}

/**
 * Cancel every entry in the table, whichever thread submitted it (close({ force: true })): first
 * every queued one (CAS QUEUED -> CANCELLED), then entryCancel on each, which asks the running ones
 * to stop. Queued ones go first because cancelling a running one frees its worker, which would
 * otherwise claim a queued one that a single pass had not reached yet.
 */
export function entryCancelEvery(t: EntryViews): void {
  const capacity = t.layout.capacity;
  for (let idx = 0; idx < capacity; idx++) {
    Atomics.compareExchange(t.i32, t.layout.base(idx) + EntryWord.STATE, EntryState.QUEUED, EntryState.CANCELLED);
  }
  for (let idx = 0; idx < capacity; idx++) entryCancel(t, idx, undefined);
}

// ---- running (a worker, or the submitting thread inline) --------------------------------------

/** Entry `idx`'s request id (u32 stored as i32; compare it with the id as stored). */
export function entryId(t: EntryViews, idx: number): number {
  return t.i32[t.layout.base(idx) + EntryWord.ID]!;
}

/** Entry `idx`'s RequestFlag bits. */
export function entryFlags(t: EntryViews, idx: number): number {
  return t.i32[t.layout.base(idx) + EntryWord.FLAGS]!;
}

/**
 * Claim entry `idx` for running it, on the worker that popped it from the submission ring. Pairs
 * with entryCancel's CAS QUEUED -> CANCELLED: exactly one wins. An entry cancelled while queued is
 * claimed all the same, with CANCEL = ID, so that it ends at its first boundary. Returns whether it
 * was cancelled.
 */
export function entryClaim(t: EntryViews, idx: number): boolean {
  const i32 = t.i32;
  const eb = t.layout.base(idx);
  const prev = Atomics.compareExchange(i32, eb + EntryWord.STATE, EntryState.QUEUED, EntryState.RUNNING);
  if (prev !== EntryState.CANCELLED) return false;
  i32[eb + EntryWord.CANCEL] = i32[eb + EntryWord.ID]!;
  Atomics.store(i32, eb + EntryWord.STATE, EntryState.RUNNING);
  return true;
}

/** Int32 index of entry `idx`'s cancellation word (equals the id once cancelled; a nanosleep parks on it). */
export function entryCancelWord(layout: TableLayout, idx: number): number {
  return layout.base(idx) + EntryWord.CANCEL;
}

/**
 * Whether request `id` in entry `idx` was asked to stop. Acquire load: pairs with entryCancel's
 * store of CANCEL = id.
 */
export function entryCancelled(t: EntryViews, idx: number, id: number): boolean {
  return Atomics.load(t.i32, t.layout.base(idx) + EntryWord.CANCEL) === id;
}

/**
 * The header fields that say what a request is and how to run it, as entryRead copies them out: for
 * the interpreter's run, the runtime's stuck-worker check, the pump and a kqueue's event.
 */
export interface EntryFields {
  /** The request id as stored (an i32: `>>> 0` for the u32 id). */
  id: number;
  kind: number;
  flags: number;
  /** The submitting client's completion queue. */
  owner: number;
  pc: number;
  steps: number;
  stepBudget: number;
  /** Absolute deadline (sharedNow() ms), or 0. */
  deadline: number;
  policy: number;
  /** EntryF64.UDATA (meaningful with RequestFlag.UDATA_NUMBER). */
  udata: number;
}

/** A fresh EntryFields for entryRead to fill (one per reader, reused: no allocation per read). */
export function entryFieldsMake(): EntryFields {
  return { id: 0, kind: 0, flags: 0, owner: 0, pc: 0, steps: 0, stepBudget: 0, deadline: 0, policy: 0, udata: 0 };
}

/** Copy entry `idx`'s EntryFields into `out`. */
export function entryRead(t: EntryViews, idx: number, out: EntryFields): void {
  const i32 = t.i32;
  const f64 = t.f64;
  const eb = t.layout.base(idx);
  const e64 = t.layout.base64(idx);
  out.id = i32[eb + EntryWord.ID]!;
  out.kind = i32[eb + EntryWord.KIND]!;
  out.flags = i32[eb + EntryWord.FLAGS]!;
  out.owner = i32[eb + EntryWord.OWNER]!;
  out.pc = i32[eb + EntryWord.PC]!;
  out.steps = i32[eb + EntryWord.STEPS]!;
  out.stepBudget = i32[eb + EntryWord.STEP_BUDGET]!;
  out.deadline = f64[e64 + EntryF64.DEADLINE]!;
  out.policy = i32[eb + EntryWord.POLICY]!;
  out.udata = f64[e64 + EntryF64.UDATA]!;
}

/**
 * Publish where a run is: the atom it is at (or, inline, the atom a worker resumes at) and the
 * steps taken (threadlets: calls run for real). The runtime reads them to end a chain stuck in that
 * atom (runtime.ts).
 */
export function entryProgressSet(t: EntryViews, idx: number, pc: number, steps: number): void {
  const eb = t.layout.base(idx);
  t.i32[eb + EntryWord.PC] = pc;
  t.i32[eb + EntryWord.STEPS] = steps;
}

/** Steps entry `idx`'s run took (atoms; threadlets: calls run for real). */
export function entrySteps(t: EntryViews, idx: number): number {
  return t.i32[t.layout.base(idx) + EntryWord.STEPS]!;
}

/**
 * An entry's time stamps (sharedNow() ms; Float64 indices): SUBMITTED is non-zero only on requests
 * sampled for latency (the others are not timed), STARTED and DONE are stamped on those by the
 * worker (DONE is 0 otherwise: the reaper times only what has it), REPLAYED by a threadlet's worker
 * when it had replayed the journal of one that moved.
 */
export const Stamp = { SUBMITTED: EntryF64.T_SUBMIT, STARTED: EntryF64.T_START, DONE: EntryF64.T_DONE, REPLAYED: EntryF64.T_REPLAYED } as const;
export type Stamp = (typeof Stamp)[keyof typeof Stamp];

/** Entry `idx`'s time stamp `stamp` (sharedNow() ms), or 0. */
export function entryStamp(t: EntryViews, idx: number, stamp: Stamp): number {
  return t.f64[t.layout.base64(idx) + stamp]!;
}

/** Stamp entry `idx` (by the thread that holds it; a post or ring push publishes it). */
export function entryStampSet(t: EntryViews, idx: number, stamp: Stamp, at: number): void {
  t.f64[t.layout.base64(idx) + stamp] = at;
}

/** Write how a run of entry `idx` ended (its values are written apart: entryValuesSet). */
export function entryEndSet(
  t: EntryViews,
  idx: number,
  status: number,
  atom: number,
  steps: number,
  worker: number,
  result: number,
): void {
  const i32 = t.i32;
  const eb = t.layout.base(idx);
  i32[eb + EntryWord.STATUS] = status;
  i32[eb + EntryWord.ATOM] = atom;
  i32[eb + EntryWord.STEPS] = steps;
  i32[eb + EntryWord.WORKER] = worker;
  t.f64[t.layout.base64(idx) + EntryF64.RESULT] = result;
}

/** How entry `idx` ended (Status; 0 while it has not). */
export function entryStatus(t: EntryViews, idx: number): number {
  return t.i32[t.layout.base(idx) + EntryWord.STATUS]!;
}

/** Write a request's status and result (a codec's handler, an event-only request). */
export function entryStatusSet(t: EntryViews, idx: number, status: number, result: number): void {
  t.i32[t.layout.base(idx) + EntryWord.STATUS] = status;
  t.f64[t.layout.base64(idx) + EntryF64.RESULT] = result;
}

/** Arena offset of entry `idx`'s values, or 0 (in the data area, or none). */
export function entryValuesHeap(t: EntryViews, idx: number): number {
  return t.i32[t.layout.base(idx) + EntryWord.VALUES_HEAP]!;
}

/** Bytes of entry `idx`'s values (0: none; -ENOMEM: they could not be carried back). */
export function entryValuesLen(t: EntryViews, idx: number): number {
  return t.i32[t.layout.base(idx) + EntryWord.VALUES_LEN]!;
}

/**
 * Where entry `idx`'s values are: `heap` (an arena offset, 0 for the data area) and `len` (bytes;
 * 0 for none, -ENOMEM when they could not be carried back).
 */
export function entryValuesSet(t: EntryViews, idx: number, heap: number, len: number): void {
  const eb = t.layout.base(idx);
  t.i32[eb + EntryWord.VALUES_HEAP] = heap;
  t.i32[eb + EntryWord.VALUES_LEN] = len;
}

/** Set the worker slot that ran entry `idx`. */
export function entryWorkerSet(t: EntryViews, idx: number, worker: number): void {
  t.i32[t.layout.base(idx) + EntryWord.WORKER] = worker;
}

// ---- the end of an entry's life ----------------------------------------------------------------

/**
 * The worker's own end of entry `idx` (the run wrote status and result): CAS RUNNING -> DONE. Pairs
 * with entryEnd's CAS RUNNING -> STUCK_* by the runtime: when the runtime ended it because its
 * worker stayed in one call past its deadline or cancel, it posted the completion already and this
 * (terminated) worker must not post another. Returns whether the caller posts it (entryPost).
 */
export function entryDone(t: EntryViews, idx: number): boolean {
  return entryStateMove(t, idx, EntryState.RUNNING, EntryState.DONE);
}

/**
 * Post entry `idx` to its completion queue. Release: the header words written before are published
 * by the post (the reaper's reap acquires).
 */
export function entryPost(s: SharedState, idx: number): void {
  s.cqs[s.i32[s.layout.base(idx) + EntryWord.CQ]!]!.post(idx);
}

/**
 * End entry `idx` in place of a worker, if its state is one of `from`: move it to `to` (a CAS:
 * exactly one of the parties that may end an entry wins) and write `status` and `result` (the atom
 * is the one it was at, EntryWord.PC; no values). The caller then posts it (entryPost) once its own
 * bookkeeping is done, or calls entryFail, which does both. Used for entries no worker will run or
 * finish: a dead worker's (-EOWNERDEAD), requests still queued once the workers are gone
 * (-ECANCELED), and a chain whose worker is stuck in a call (to STUCK_*: slots.ts). A confined
 * chain's descriptors are closed here when it ends DONE; a stuck one's when its thread exits. An
 * arena block the run spilled values to stays recorded (EntryWord.VALUES_HEAP), for entryRelease to free.
 * Returns whether this call ended it.
 */
export function entryEnd(s: SharedState, idx: number, from: readonly number[], to: number, status: number, result: number): boolean {
  const i32 = s.i32;
  const eb = s.layout.base(idx);
  for (const state of from) {
    if (Atomics.compareExchange(i32, eb + EntryWord.STATE, state, to) !== state) continue;
    i32[eb + EntryWord.STATUS] = status;
    i32[eb + EntryWord.ATOM] = i32[eb + EntryWord.PC]!;
    i32[eb + EntryWord.VALUES_LEN] = 0;
    s.f64[s.layout.base64(idx) + EntryF64.RESULT] = result;
    s.f64[s.layout.base64(idx) + EntryF64.T_DONE] = 0;
    if (to === EntryState.DONE && i32[eb + EntryWord.POLICY] !== 0) s.policies.closeHeld(i32[eb + EntryWord.ID]!);
    return true;
  }
  return false;
}

/**
 * The end of the life of an entry no worker will finish: entryEnd to DONE with `status` and
 * `result`, then entryPost. Returns whether this call ended it (exactly one caller does).
 */
export function entryFail(s: SharedState, idx: number, from: readonly number[], status: number, result: number): boolean {
  if (!entryEnd(s, idx, from, EntryState.DONE, status, result)) return false;
  entryPost(s, idx);
  return true;
}

/** The result an entry's completion carries (its RESULT word, or the stuck state's errno). */
export function entryResult(t: EntryViews, idx: number): number {
  const state = Atomics.load(t.i32, t.layout.base(idx) + EntryWord.STATE);
  if (isStuckState(state)) return stuckStatus(state) === Status.TIMEDOUT ? -errno.ETIME : -errno.ECANCELED;
  return t.f64[t.layout.base64(idx) + EntryF64.RESULT]!;
}

// ---- reaping (the completion queue's consumer holds the entry) ---------------------------------

/** Link entry `idx` into a completion queue's overflow backlog (the queue's lock held). */
export function entryOverflowNextSet(i32: Int32Array, layout: TableLayout, idx: number, next: number): void {
  i32[layout.base(idx) + EntryWord.OVF_NEXT] = next;
}

export function entryOverflowNext(i32: Int32Array, layout: TableLayout, idx: number): number {
  return i32[layout.base(idx) + EntryWord.OVF_NEXT]!;
}

/** How a chain ended, as the submitter sees it. */
export interface Completion {
  /** The submission id. */
  id: number;
  /**
   * done: ran to an atom with no next; stopped: a stop condition fired at `atom`; cancelled /
   * timedout: ended at the boundary before `atom`; exhausted: the step budget ran out before `atom`;
   * failed: the runtime could not run it (the result says why).
   */
  status: StatusName;
  /** Index of the final atom (for cancelled, timedout and exhausted: the atom that did not run). */
  atom: number;
  /** Its result: >= 0, or -errno. */
  result: number;
  /** The final atom's value, where its operation has one. */
  value: Value | undefined;
  /** Assigned variables, by name. */
  vars: Record<string, number>;
  /** Values of variables whose last assignment carried one (a stat, names, a path). */
  values: Record<string, Value>;
  /** Contents of the chain's declared buffers, copied out. */
  buffers: Record<string, Buffer> | undefined;
  /** Atoms executed. */
  steps: number;
  /** The chain ended at an atom with SYSLET_NO_COMPLETE: no kqueue event was posted for it. */
  noComplete: boolean;
  /** The values could not be carried back (the arena was full). */
  valuesLost: boolean;
  /** The submitter's udata. */
  udata: unknown;
  /**
   * When a chain sampled for latency (option latencySample) went through each stage, in
   * milliseconds on a clock all threads share (performance.timeOrigin + performance.now()), and the
   * worker slot that ran it (-1: inline). For profiling; absent on chains not sampled.
   */
  timing?: Timing;
}

export interface Timing {
  submitted: number;
  started: number;
  completed: number;
  reaped: number;
  worker: number;
  /** Threadlets that moved: when the worker had replayed the journal (EntryF64.T_REPLAYED), or 0. */
  replayed?: number;
}

/** Shared by completions without variables or values (frozen: completions are read-only). */
export const NO_VARS: Record<string, number> = Object.freeze({}) as Record<string, number>;
export const NO_VALUES: Record<string, Value> = Object.freeze({}) as Record<string, Value>;

/**
 * A completion with no value, values or buffers (set them after, where there are any; udata is
 * set when it settles). Every completion is made here, so that all have the same fields in the same
 * order: one hidden class for V8.
 */
export function completionMake(
  id: number,
  status: StatusName,
  atom: number,
  result: number,
  vars: Record<string, number>,
  steps: number,
  noComplete: boolean,
  valuesLost: boolean,
): Completion {
  return {
    id,
    status,
    atom,
    result,
    value: undefined,
    vars,
    values: NO_VALUES,
    buffers: undefined,
    steps,
    noComplete,
    valuesLost,
    udata: undefined,
  };
}

/** Completion for a request that never reached a worker (cancelled while waiting, no memory). */
export function completionUnstarted(id: number, status: 'cancelled' | 'failed', result: number): Completion {
  return completionMake(id, status, 0, result, NO_VARS, 0, false, false);
}

/**
 * The completion entry `idx`'s header says (status, atom, result, steps, flags) with variables
 * `vars`, without values or buffers (a chain's reader adds them: encode.ts).
 */
export function completionRead(t: EntryViews, idx: number, id: number, vars: Record<string, number>): Completion {
  const i32 = t.i32;
  const eb = t.layout.base(idx);
  const len = i32[eb + EntryWord.VALUES_LEN]!;
  return completionMake(
    id,
    STATUS_NAMES[i32[eb + EntryWord.STATUS]!] ?? 'failed',
    i32[eb + EntryWord.ATOM]!,
    t.f64[t.layout.base64(idx) + EntryF64.RESULT]!,
    vars,
    i32[eb + EntryWord.STEPS]!,
    (i32[eb + EntryWord.FLAGS]! & RequestFlag.NO_COMPLETE) !== 0,
    len < 0,
  );
}

/** The latency stamps of a sampled entry (the reaper adds when it reaped it). */
export function timingRead(t: EntryViews, idx: number, done: number, reaped: number, replayed: boolean): Timing {
  const e64 = t.layout.base64(idx);
  const timing: Timing = {
    submitted: t.f64[e64 + EntryF64.T_SUBMIT]!,
    started: t.f64[e64 + EntryF64.T_START]!,
    completed: done,
    reaped,
    worker: t.i32[t.layout.base(idx) + EntryWord.WORKER]!,
  };
  if (replayed) timing.replayed = t.f64[e64 + EntryF64.T_REPLAYED]!;
  return timing;
}
