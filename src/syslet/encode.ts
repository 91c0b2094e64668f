/**
 * Writing a validated chain into a request entry (submitting thread) and reading its completion
 * back out (reaping thread). The layout is table.ts's; the plan's offsets come from validate.ts.
 */
import { errno } from './errno.js';
import type { ExecViews } from './interp.js';
import {
  ArgKind,
  D,
  E,
  F,
  FINAL_VALUE_SLOT,
  RequestFlag,
  RequestKind,
  STATUS_NAMES,
  type StatusName,
} from './table.js';
import { grantBytes, type Plan, type Shape } from './validate.js';
import { nextRecord, readValue, type Value } from './values.js';

/** Per-submission header fields. */
export interface RequestHeader {
  id: number;
  cq: number;
  /** Absolute deadline in sharedNow() milliseconds, or 0. */
  deadline: number;
  stepBudget: number;
  submittedAt: number;
  udata: number;
  /** Policy id, 0 for none. */
  policy: number;
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
  /** Threadlets that moved: when the worker had replayed the journal (F.T_REPLAYED), or 0. */
  replayed?: number;
}

/** Shared by completions without variables or values (frozen: completions are read-only). */
const NO_VARS: Record<string, number> = Object.freeze({}) as Record<string, number>;
const NO_VALUES: Record<string, Value> = Object.freeze({}) as Record<string, Value>;

/**
 * Write entry `idx`'s header for a new request of `kind`: every field a worker, the interpreter or
 * the reaper reads, reset. The request's own data (a chain's atoms, a codec's payload) follows.
 */
export function writeHeader(t: ExecViews, idx: number, h: RequestHeader, kind: number, flags: number): void {
  const i32 = t.i32;
  const f64 = t.f64;
  const eb = t.layout.base(idx);
  const e64 = t.layout.base64(idx);
  i32[eb + E.ID] = h.id;
  i32[eb + E.CANCEL] = 0;
  i32[eb + E.CQ] = h.cq;
  i32[eb + E.PC] = 0;
  i32[eb + E.STEPS] = 0;
  i32[eb + E.STEP_BUDGET] = h.stepBudget;
  i32[eb + E.STATUS] = 0;
  i32[eb + E.ATOM] = 0;
  i32[eb + E.WORKER] = -1;
  i32[eb + E.VALUES_HEAP] = 0;
  i32[eb + E.VALUES_LEN] = 0;
  i32[eb + E.OVF_NEXT] = -1;
  i32[eb + E.FLAGS] = flags;
  i32[eb + E.KIND] = kind;
  i32[eb + E.POLICY] = h.policy;
  f64[e64 + F.RESULT] = 0;
  f64[e64 + F.DEADLINE] = h.deadline;
  f64[e64 + F.T_SUBMIT] = h.submittedAt;
  f64[e64 + F.T_START] = 0;
  f64[e64 + F.T_DONE] = 0;
  f64[e64 + F.UDATA] = h.udata;
}

/**
 * Write `plan` into entry `idx`. Allocates the chain's declared buffers in the arena; returns 0, or
 * -ENOMEM when the arena has no room for them (nothing is left allocated then).
 */
export function writeChain(
  t: ExecViews,
  idx: number,
  plan: Plan,
  h: RequestHeader,
  varInit: readonly number[],
): number {
  const bufOffsets = allocateBuffers(t, plan);
  if (typeof bufOffsets === 'number') return bufOffsets;
  const flags = (bufOffsets === undefined ? 0 : RequestFlag.HAS_BUFFERS) | (plan.keepFds === true ? RequestFlag.KEEP_FDS : 0);
  writeHeader(t, idx, h, RequestKind.CHAIN, flags);
  writeChainData(t, idx, plan, varInit, bufOffsets);
  return 0;
}

/**
 * The arena blocks for a plan's declared buffers (zeroed, then their initial bytes), undefined when
 * it declares none, or -ENOMEM (nothing left allocated).
 */
export function allocateBuffers(t: ExecViews, plan: Plan): number[] | undefined | number {
  if (plan.buffers.length === 0) return undefined;
  const bufOffsets: number[] = [];
  for (const b of plan.buffers) {
    const off = t.arena.allocate(b.size);
    if (off < 0) {
      for (const o of bufOffsets) t.arena.free(o);
      return -errno.ENOMEM;
    }
    // Arena blocks are reused: never hand a chain another chain's bytes.
    if (b.init === undefined || b.init.length < b.size) t.arena.u8.fill(0, off, off + b.size);
    if (b.init !== undefined) t.arena.u8.set(b.init, off);
    bufOffsets.push(off);
  }
  return bufOffsets;
}

/**
 * Write `plan`'s atoms, literals, variables and buffer table into entry `idx`'s data area (the
 * header is written apart: writeHeader). `bufOffsets` are allocateBuffers' blocks.
 */
export function writeChainData(
  t: ExecViews,
  idx: number,
  plan: Plan,
  varInit: readonly number[],
  bufOffsets: readonly number[] | undefined,
): void {
  const i32 = t.i32;
  const f64 = t.f64;
  const L = t.layout;
  const db = L.data(idx);
  const d8 = L.dataByte(idx);
  const d64 = d8 / 8;

  const natoms = plan.atoms.length;
  const nvars = plan.varInit.length;
  i32[db + D.NATOMS] = natoms;
  i32[db + D.NVARS] = nvars;
  i32[db + D.LITS] = plan.litsAt;
  i32[db + D.VARS] = plan.varsAt;
  i32[db + D.ASSIGNED] = plan.assignedAt;
  i32[db + D.STRS] = plan.strsAt;
  const grants = plan.grantFds;
  if (grants === undefined || grants.length === 0) {
    i32[db + D.VALUES] = plan.valuesAt;
    i32[db + D.GRANTS] = 0;
  } else {
    // forSubmission() checked they fit in the slot.
    const gw = plan.valuesAt / 4;
    i32[db + gw] = grants.length;
    for (let k = 0; k < grants.length; k++) i32[db + gw + 1 + k] = grants[k]!;
    i32[db + D.GRANTS] = gw;
    i32[db + D.VALUES] = plan.valuesAt + grantBytes(grants.length);
  }
  i32[db + D.NBUFS] = plan.buffers.length;
  i32[db + D.BUFS] = plan.bufsAt;

  const u8 = t.buf;
  const strBase = d8 + plan.strsAt;
  let at = plan.atomsAt;
  for (let a = 0; a < natoms; a++) {
    const atom = plan.atoms[a]!;
    let w = db + at;
    i32[db + D.ATOM_TABLE + a] = at;
    at += 5 + 3 * atom.args.length;
    i32[w] = atom.code;
    i32[w + 1] = atom.flags;
    i32[w + 2] = atom.next;
    i32[w + 3] = atom.into;
    i32[w + 4] = atom.args.length;
    w += 5;
    for (const arg of atom.args) {
      i32[w] = arg.kind;
      i32[w + 1] = arg.a;
      i32[w + 2] = arg.b;
      if (arg.kind === ArgKind.STR) {
        const p = strBase + arg.a;
        if (arg.utf8 !== undefined) u8.set(arg.utf8, p);
        else u8.write(arg.str!, p, arg.b, 'latin1');
      } else if (arg.kind === ArgKind.BUF && arg.decl >= 0) {
        i32[w + 1] = bufOffsets![arg.decl]! + arg.a;
      }
      w += 3;
    }
  }
  const lits = plan.lits;
  for (let k = 0; k < lits.length; k++) f64[d64 + plan.litsAt + k] = lits[k]!;
  for (let k = 0; k < nvars; k++) {
    const v = varInit[k]!;
    const assigned = v === v; // not NaN
    f64[d64 + plan.varsAt + k] = assigned ? v : 0;
    i32[db + plan.assignedAt + k] = assigned ? 1 : 0;
  }
  if (bufOffsets !== undefined) {
    for (let k = 0; k < bufOffsets.length; k++) {
      i32[db + plan.bufsAt + 2 * k] = bufOffsets[k]!;
      i32[db + plan.bufsAt + 2 * k + 1] = plan.buffers[k]!.size;
    }
  }
}

/** Read the completion of entry `idx` (the chain ended). Does not release anything. */
export function readCompletion(t: ExecViews, idx: number, shape: Shape, id: number): Completion {
  const i32 = t.i32;
  const f64 = t.f64;
  const L = t.layout;
  const eb = L.base(idx);
  const db = L.data(idx);
  const d64 = L.dataByte(idx) / 8;
  const names = shape.varNames;
  let vars = NO_VARS;
  if (names.length > 0) {
    const assignedAt = db + i32[db + D.ASSIGNED]!;
    const varsAt = d64 + i32[db + D.VARS]!;
    for (let k = 0; k < names.length; k++) {
      if (i32[assignedAt + k] === 1) {
        if (vars === NO_VARS) vars = {};
        vars[names[k]!] = f64[varsAt + k]!;
      }
    }
  }
  const flags = i32[eb + E.FLAGS]!;
  const len = i32[eb + E.VALUES_LEN]!;
  // Every completion has the same fields, in the same order (one hidden class for V8).
  const c: Completion = {
    id,
    status: STATUS_NAMES[i32[eb + E.STATUS]!] ?? 'failed',
    atom: i32[eb + E.ATOM]!,
    result: f64[L.base64(idx) + F.RESULT]!,
    value: undefined,
    vars,
    values: NO_VALUES,
    buffers: undefined,
    steps: i32[eb + E.STEPS]!,
    noComplete: (flags & RequestFlag.NO_COMPLETE) !== 0,
    valuesLost: len < 0,
    udata: undefined,
  };
  if (len > 0) {
    const heap = i32[eb + E.VALUES_HEAP]!;
    const src = heap !== 0 ? t.arena.buffer : t.buf;
    const s32 = heap !== 0 ? t.arena.view32 : i32;
    const s64 = heap !== 0 ? t.arena.view64 : f64;
    let at = heap !== 0 ? heap : L.dataByte(idx) + i32[db + D.VALUES]!;
    const end = at + len;
    while (at < end) {
      const slot = s32[at / 4]!;
      const v = readValue(src, s32, s64, at);
      if (slot === FINAL_VALUE_SLOT) c.value = v;
      else {
        if (c.values === NO_VALUES) c.values = {};
        c.values[names[slot]!] = v;
      }
      at = nextRecord(s32, at);
    }
  }
  if ((flags & RequestFlag.HAS_BUFFERS) !== 0) {
    const out: Record<string, Buffer> = {};
    const bufsAt = db + i32[db + D.BUFS]!;
    for (let k = 0; k < shape.bufferNames.length; k++) {
      const off = i32[bufsAt + 2 * k]!;
      const size = i32[bufsAt + 2 * k + 1]!;
      out[shape.bufferNames[k]!] = Buffer.from(t.arena.buffer.subarray(off, off + size));
    }
    c.buffers = out;
  }
  return c;
}

/** Free what entry `idx` holds in the arena (spilled values, declared buffers). */
export function releaseEntry(t: ExecViews, idx: number): void {
  const i32 = t.i32;
  const eb = t.layout.base(idx);
  const heap = i32[eb + E.VALUES_HEAP]!;
  if (heap !== 0) {
    t.arena.free(heap);
    i32[eb + E.VALUES_HEAP] = 0;
  }
  if ((i32[eb + E.FLAGS]! & RequestFlag.HAS_BUFFERS) !== 0) {
    const db = t.layout.data(idx);
    const n = i32[db + D.NBUFS]!;
    const at = i32[db + D.BUFS]!;
    for (let k = 0; k < n; k++) t.arena.free(i32[db + at + 2 * k]!);
    i32[eb + E.FLAGS]! &= ~RequestFlag.HAS_BUFFERS;
  }
}
