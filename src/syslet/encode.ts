/**
 * Writing a validated chain into a request entry (submitting thread) and reading its completion
 * back out (reaping thread). The layout is table.ts's; the plan's offsets come from validate.ts.
 */
import {
  NO_VALUES,
  NO_VARS,
  RequestFlag,
  RequestKind,
  STATUS_NAMES,
  Status,
  completionRead,
  entryFlags,
  entryFlagsClear,
  entryValuesHeap,
  entryValuesLen,
  entryValuesSet,
  entryWrite,
  isStuckState,
  stuckStatus,
  type Completion,
  type RequestHeader,
} from './entry.js';
import { errno } from './errno.js';
import type { ExecViews } from './interp.js';
import { ARG_WORDS, ATOM_HEADER_WORDS, ArgKind, ArgWord, AtomWord, DataWord, FINAL_VALUE_VAR } from './table.js';
import { grantBytes, type Plan, type Shape } from './validate.js';
import { nextRecord, readValue } from './values.js';

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
  entryWrite(t, idx, h, RequestKind.CHAIN, flags);
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
 * header is written apart: entryWrite). `bufOffsets` are allocateBuffers' blocks.
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
  i32[db + DataWord.NATOMS] = natoms;
  i32[db + DataWord.LITS] = plan.litsAt;
  i32[db + DataWord.VARS] = plan.varsAt;
  i32[db + DataWord.ASSIGNED] = plan.assignedAt;
  i32[db + DataWord.STRS] = plan.strsAt;
  const grants = plan.grantFds;
  if (grants === undefined || grants.length === 0) {
    i32[db + DataWord.VALUES] = plan.valuesAt;
    i32[db + DataWord.GRANTS] = 0;
  } else {
    // forSubmission() checked they fit in the entry.
    const gw = plan.valuesAt / 4;
    i32[db + gw] = grants.length;
    for (let k = 0; k < grants.length; k++) i32[db + gw + 1 + k] = grants[k]!;
    i32[db + DataWord.GRANTS] = gw;
    i32[db + DataWord.VALUES] = plan.valuesAt + grantBytes(grants.length);
  }
  i32[db + DataWord.NBUFS] = plan.buffers.length;
  i32[db + DataWord.BUFS] = plan.bufsAt;

  const u8 = t.buf;
  const strBase = d8 + plan.strsAt;
  let at = plan.atomsAt;
  for (let a = 0; a < natoms; a++) {
    const atom = plan.atoms[a]!;
    let w = db + at;
    i32[db + DataWord.ATOM_TABLE + a] = at;
    at += ATOM_HEADER_WORDS + ARG_WORDS * atom.args.length;
    i32[w + AtomWord.OP] = atom.code;
    i32[w + AtomWord.FLAGS] = atom.flags;
    i32[w + AtomWord.NEXT] = atom.next;
    i32[w + AtomWord.INTO] = atom.into;
    w += ATOM_HEADER_WORDS;
    for (const arg of atom.args) {
      i32[w + ArgWord.KIND] = arg.kind;
      i32[w + ArgWord.A] = arg.a;
      i32[w + ArgWord.B] = arg.b;
      if (arg.kind === ArgKind.STR) {
        const p = strBase + arg.a;
        if (arg.utf8 !== undefined) u8.set(arg.utf8, p);
        else u8.write(arg.str!, p, arg.b, 'latin1');
      } else if (arg.kind === ArgKind.BUF && arg.decl >= 0) {
        i32[w + ArgWord.A] = bufOffsets![arg.decl]! + arg.a;
      }
      w += ARG_WORDS;
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

/** Read the completion of entry `idx` (the chain ended; `state` is its state word, entryState). Does not release anything. */
export function readCompletion(t: ExecViews, idx: number, shape: Shape, id: number, state: number): Completion {
  const i32 = t.i32;
  const f64 = t.f64;
  const L = t.layout;
  const db = L.data(idx);
  const d64 = L.dataByte(idx) / 8;
  const names = shape.varNames;
  let vars = NO_VARS;
  if (names.length > 0) {
    const assignedAt = db + i32[db + DataWord.ASSIGNED]!;
    const varsAt = d64 + i32[db + DataWord.VARS]!;
    for (let k = 0; k < names.length; k++) {
      if (i32[assignedAt + k] === 1) {
        if (vars === NO_VARS) vars = {};
        vars[names[k]!] = f64[varsAt + k]!;
      }
    }
  }
  if (isStuckState(state)) return stuckCompletion(t, idx, id, state, names, vars);
  const c = completionRead(t, idx, id, vars);
  const r = valueRecords(t, idx);
  if (r !== undefined) {
    const s32 = r.i32;
    for (let at = r.at; at < r.end; at = nextRecord(s32, at)) {
      const variable = s32[at / 4]!;
      const v = readValue(r.buf, s32, r.f64, at);
      if (variable === FINAL_VALUE_VAR) c.value = v;
      else {
        if (c.values === NO_VALUES) c.values = {};
        c.values[names[variable]!] = v;
      }
    }
  }
  if ((entryFlags(t, idx) & RequestFlag.HAS_BUFFERS) !== 0) {
    const out: Record<string, Buffer> = {};
    const bufsAt = db + i32[db + DataWord.BUFS]!;
    for (let k = 0; k < shape.bufferNames.length; k++) {
      const off = i32[bufsAt + 2 * k]!;
      const size = i32[bufsAt + 2 * k + 1]!;
      out[shape.bufferNames[k]!] = Buffer.from(t.arena.buffer.subarray(off, off + size));
    }
    c.buffers = out;
  }
  return c;
}

/** Where an entry's value records are: views of the memory they are in, and their byte range. */
export interface ValueRecords {
  buf: Buffer;
  i32: Int32Array;
  f64: Float64Array;
  at: number;
  end: number;
}

/**
 * Entry `idx`'s value records (writeRecord's, values.ts): in its data area, or in the arena block
 * they spilled to; undefined when there are none (or they were lost: entryValuesLen < 0).
 */
export function valueRecords(t: ExecViews, idx: number): ValueRecords | undefined {
  const len = entryValuesLen(t, idx);
  if (len <= 0) return undefined;
  const heap = entryValuesHeap(t, idx);
  if (heap !== 0) return { buf: t.arena.buffer, i32: t.arena.view32, f64: t.arena.view64, at: heap, end: heap + len };
  const at = t.layout.dataByte(idx) + t.i32[t.layout.data(idx) + DataWord.VALUES]!;
  return { buf: t.buf, i32: t.i32, f64: t.f64, at, end: at + len };
}

/**
 * The completion of an entry the runtime ended while its worker was stuck in a call (entry.ts,
 * EntryState.STUCK_*): status and result come from the state word, which the terminated worker can
 * no longer change; the atom and steps are those the interpreter published when the stuck atom
 * began. Values and declared buffers are not read: the worker's thread may still write them.
 */
function stuckCompletion(
  t: ExecViews,
  idx: number,
  id: number,
  state: number,
  names: readonly string[],
  vars: Record<string, number>,
): Completion {
  const db = t.layout.data(idx);
  const status = stuckStatus(state);
  // The atom and steps as the interpreter published them; the rest from the state.
  const c = completionRead(t, idx, id, vars);
  c.status = STATUS_NAMES[status]!;
  c.result = status === Status.TIMEDOUT ? -errno.ETIME : -errno.ECANCELED;
  c.noComplete = false;
  c.valuesLost = false;
  // The stuck atom's own variable: its call may return (and store it) at any moment. Variables of
  // the atoms before it are final.
  const into = t.i32[db + t.i32[db + DataWord.ATOM_TABLE + c.atom]! + AtomWord.INTO]!;
  if (into >= 0 && names[into] !== undefined && names[into]! in vars) {
    c.vars = { ...vars };
    delete c.vars[names[into]!];
  }
  return c;
}

/** Free what entry `idx` holds in the arena (spilled values, declared buffers). */
export function entryRelease(t: ExecViews, idx: number): void {
  const i32 = t.i32;
  const heap = entryValuesHeap(t, idx);
  if (heap !== 0) {
    t.arena.free(heap);
    entryValuesSet(t, idx, 0, entryValuesLen(t, idx));
  }
  if ((entryFlags(t, idx) & RequestFlag.HAS_BUFFERS) !== 0) {
    const db = t.layout.data(idx);
    const n = i32[db + DataWord.NBUFS]!;
    const at = i32[db + DataWord.BUFS]!;
    for (let k = 0; k < n; k++) t.arena.free(i32[db + at + 2 * k]!);
    entryFlagsClear(t, idx, RequestFlag.HAS_BUFFERS);
  }
}
