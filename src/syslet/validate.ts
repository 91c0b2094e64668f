/**
 * Validation: a chain (plain data) becomes a Plan (resolved opcodes, variable indices, literal and
 * string pools, layout of the encoded form), or a ChainError that names the atom, the argument,
 * what was expected and what was got. Nothing is refused later for a reason knowable here.
 */
import { constants as fsConstants } from 'node:fs';
import { type Arena, alignUp } from 'atomics-sync';
import { kBufferOrigins } from './chain.js';
import { SYSLET_ASYNC, SYSLET_FLAGS_MASK, SYSLET_SYNC } from './flags.js';
import { OP_BY_NAME, OPS, Op, openFlagsFromString, type OpSpec } from './ops.js';
import { granted, type GrantSpec } from './policy.js';
import { ARG_WORDS, ATOM_HEADER_WORDS, ArgKind, DataWord } from './table.js';

/** A chain refused at submission. */
export class ChainError extends TypeError {
  override name = 'ChainError';
  constructor(
    message: string,
    /** Index of the atom at fault, when one is. */
    readonly atom?: number,
    /** Its operation. */
    readonly op?: string,
    /** Index of the argument at fault, when one is. */
    readonly argument?: number,
  ) {
    super(message);
  }
}

export interface PlanArg {
  kind: number;
  a: number;
  b: number;
  /** STR: the string, and its UTF-8 bytes when not ASCII. */
  str: string | undefined;
  utf8: Uint8Array | undefined;
  /** BUF on a declared buffer: the declaration's index (the address is known at encode time), or -1. */
  decl: number;
}

/** Every PlanArg has the same fields (one hidden class: the encoder's loop stays monomorphic). */
export function pa(kind: number, a: number, b: number, str?: string, utf8?: Uint8Array, decl = -1): PlanArg {
  return { kind, a, b, str, utf8, decl };
}

export interface PlanAtom {
  code: number;
  flags: number;
  next: number;
  into: number;
  args: PlanArg[];
}

export interface BufferPlan {
  name: string;
  size: number;
  init?: Uint8Array;
}

/**
 * What the reaper needs to decode a completion. Kept for every outstanding chain, so it is small,
 * and chains without variables or buffers share one.
 */
export interface Shape {
  readonly varNames: readonly string[];
  readonly bufferNames: readonly string[];
}

export const EMPTY_SHAPE: Shape = Object.freeze({ varNames: Object.freeze([]), bufferNames: Object.freeze([]) });

/** Where each part of an encoded chain starts, relative to the data area (chainLayout). */
export interface ChainLayout {
  /** Word offset (relative to the data area) of the first atom; atoms follow back to back. */
  atomsAt: number;
  /** Float64 index of the literal pool, of the variables; word index of assigned flags, buffers. */
  litsAt: number;
  varsAt: number;
  assignedAt: number;
  bufsAt: number;
  /** Byte offset of the strings, of the values area; total bytes of the encoded chain. */
  strsAt: number;
  valuesAt: number;
}

export interface Plan extends ChainLayout {
  shape: Shape;
  atoms: PlanAtom[];
  varIndex: ReadonlyMap<string, number>;
  /** Initial values; NaN = not assigned. */
  varInit: readonly number[];
  lits: readonly number[];
  buffers: readonly BufferPlan[];
  /** The first atom carries SYSLET_SYNC: the chain starts inline on the submitting thread. */
  startsInline: boolean;
  /**
   * Buffer arguments given as bare arena addresses (numbers: forgeable, unlike a Buffer object
   * or a declared name). Under a policy each must lie in a buffer the submission grants.
   */
  addresses: readonly AddressArg[];
  /** Descriptors the submission grants (set per submission by forSubmission()). */
  grantFds?: readonly number[];
  /** The submission keeps what the chain leaves open (grant.keepFds). */
  keepFds?: boolean;
}

export interface AddressArg {
  atom: number;
  arg: number;
  start: number;
  length: number;
}

export interface ValidateContext {
  arena: Arena;
  /** Data bytes per request entry (option slotBytes). */
  slotBytes: number;
  /** Most atoms a chain may have. */
  maxAtoms?: number;
  /** Most bytes a declared buffer may have. */
  maxBufferBytes?: number;
}

const OP_NAMES = OPS.map((o) => o.name).join(', ');

/** Short, exact description of a value for an error message. */
export function describe(x: unknown): string {
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  if (typeof x === 'string') return JSON.stringify(x.length > 60 ? `${x.slice(0, 57)}...` : x);
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return String(x);
  if (x instanceof Uint8Array) return `a ${x.constructor.name} of ${x.byteLength} bytes`;
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (typeof x === 'object') {
    let s: string;
    try {
      s = JSON.stringify(x);
    } catch {
      s = Object.prototype.toString.call(x);
    }
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  }
  return typeof x;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Expected arguments, for arity messages: "(fd, buf, count)". */
function signature(op: OpSpec): string {
  return `(${op.params.map((p) => (p.optional === true ? `${p.name}?` : p.name)).join(', ')})`;
}

function arity(op: OpSpec): string {
  const max = op.params.length;
  return op.minArgs === max
    ? `${max} argument${max === 1 ? '' : 's'}`
    : `${op.minArgs} to ${max} arguments`;
}

/**
 * Working state of one validation (no closures on the hot path). Arrays stay the shared empty
 * ones until something is added: most chains have no variables, buffers or float literals, and
 * every byte allocated per submission is a byte the scavenger copies while the chain is in flight.
 */
interface Scope {
  varNames: string[];
  varIndex: Map<string, number> | undefined;
  varInit: number[];
  buffers: BufferPlan[];
  bufferIndex: Map<string, number> | undefined;
  lits: number[];
  addresses: AddressArg[];
  ctx: ValidateContext;
}

const NONE: never[] = Object.freeze([]) as unknown as never[];

/**
 * Names a variable or buffer may not have: completion.vars, .values and .buffers are plain objects,
 * where `__proto__` would set the prototype instead of a property (the value would vanish).
 */
function checkName(name: string, where: string): void {
  if (name === '__proto__') {
    throw new ChainError(`${where}: "__proto__" cannot name a variable or buffer (completion.vars would drop it)`);
  }
}

function addVar(sc: Scope, name: string): number {
  const map = (sc.varIndex ??= new Map());
  let i = map.get(name);
  if (i === undefined) {
    if (sc.varNames === NONE) {
      sc.varNames = [];
      sc.varInit = [];
    }
    i = sc.varNames.length;
    sc.varNames.push(name);
    map.set(name, i);
    sc.varInit.push(Number.NaN);
  }
  return i;
}

function addLit(sc: Scope, x: number): number {
  if (sc.lits === NONE) sc.lits = [];
  sc.lits.push(x);
  return sc.lits.length - 1;
}

/** Validate `chain` and lay out its encoded form. */
export function validate(chain: unknown, ctx: ValidateContext): Plan {
  if (!isObject(chain)) {
    throw new ChainError(`chain: expected an object { atoms: [...] }, got ${describe(chain)}`);
  }
  for (const k in chain) {
    if (k !== 'atoms' && k !== 'vars' && k !== 'buffers') {
      throw new ChainError(`chain: unknown field "${k}"; expected atoms, vars, buffers`);
    }
  }
  const atomsIn = chain.atoms;
  if (!Array.isArray(atomsIn) || atomsIn.length === 0) {
    throw new ChainError(`chain.atoms: expected a non-empty array of atoms, got ${describe(atomsIn)}`);
  }
  if (ctx.maxAtoms !== undefined && atomsIn.length > ctx.maxAtoms) {
    throw new ChainError(
      `chain.atoms: ${atomsIn.length} atoms exceed the limit of ${ctx.maxAtoms} (option maxAtoms)`,
    );
  }
  const origins = (chain as { [kBufferOrigins]?: readonly ArrayBufferLike[] })[kBufferOrigins];
  if (origins !== undefined) {
    for (const o of origins) {
      if (o !== ctx.arena.sab) {
        throw new ChainError(
          'chain: a Buffer given to the builder was not allocated by this runtime (use rt.alloc())',
        );
      }
    }
  }
  const sc: Scope = {
    varNames: NONE,
    varIndex: undefined,
    varInit: NONE,
    buffers: NONE,
    bufferIndex: undefined,
    lits: NONE,
    addresses: NONE,
    ctx,
  };

  // Variables: declared with initial values, or assigned by some atom's `into`.
  if (chain.vars !== undefined) {
    if (!isObject(chain.vars)) {
      throw new ChainError(`chain.vars: expected an object of numbers, got ${describe(chain.vars)}`);
    }
    for (const name in chain.vars) {
      const value = chain.vars[name];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new ChainError(`chain.vars.${name}: expected a finite number, got ${describe(value)}`);
      }
      checkName(name, `chain.vars.${name}`);
      const k = addVar(sc, name);
      sc.varInit[k] = value;
    }
  }
  if (chain.buffers !== undefined) {
    if (!isObject(chain.buffers)) {
      throw new ChainError(`chain.buffers: expected an object, got ${describe(chain.buffers)}`);
    }
    sc.bufferIndex = new Map();
    sc.buffers = [];
    for (const name in chain.buffers) {
      checkName(name, `chain.buffers.${name}`);
      sc.bufferIndex.set(name, sc.buffers.length);
      sc.buffers.push(bufferPlan(name, chain.buffers[name], ctx));
    }
  }
  const n = atomsIn.length;
  for (let i = 0; i < n; i++) {
    const a: unknown = atomsIn[i];
    if (isObject(a) && typeof a.into === 'string' && a.into.length > 0) {
      checkName(a.into, `chain.atoms[${i}]: into`);
      addVar(sc, a.into);
    }
  }

  const atoms: PlanAtom[] = new Array<PlanAtom>(n);
  let strBytes = 0;
  for (let i = 0; i < n; i++) {
    const atom = planAtom(atomsIn[i], i, n, sc);
    atoms[i] = atom;
    for (const arg of atom.args) {
      if (arg.kind === ArgKind.STR) {
        arg.a = strBytes;
        strBytes += arg.b;
      }
    }
  }

  const shape: Shape =
    sc.varNames.length === 0 && sc.buffers.length === 0
      ? EMPTY_SHAPE
      : { varNames: sc.varNames, bufferNames: sc.buffers.map((b) => b.name) };
  const plan = layOut(atoms, strBytes, shape, sc.varIndex ?? NO_VAR_INDEX, sc.varInit, sc.lits, sc.buffers, sc.addresses);
  if (plan.valuesAt > ctx.slotBytes) {
    throw new ChainError(
      `chain: larger than the ring can hold: it encodes to ${plan.valuesAt} bytes, a ring slot holds ${ctx.slotBytes} (option slotBytes)`,
    );
  }
  return plan;
}

/**
 * The layout of a chain of `natoms` atoms whose headers and arguments take `atomWords` words, with
 * `nlits` float literals, `nvars` variables, `nbufs` declared buffers and `strBytes` of strings.
 */
export function chainLayout(natoms: number, atomWords: number, nlits: number, nvars: number, nbufs: number, strBytes: number): ChainLayout {
  const atomsAt = DataWord.ATOM_TABLE + natoms;
  const litsAt = alignUp((atomsAt + atomWords) * 4, 8) / 8;
  const varsAt = litsAt + nlits;
  const assignedAt = (varsAt + nvars) * 2;
  const bufsAt = assignedAt + nvars;
  const strsAt = (bufsAt + nbufs * 2) * 4;
  const valuesAt = alignUp(strsAt + strBytes, 8);
  return { atomsAt, litsAt, varsAt, assignedAt, bufsAt, strsAt, valuesAt };
}

/**
 * The encoded form's layout for `atoms` (their string arguments' offsets `a` already assigned,
 * `strBytes` in all), relative to the data area. The caller checks `valuesAt` against the entry's data area.
 */
export function layOut(
  atoms: PlanAtom[],
  strBytes: number,
  shape: Shape,
  varIndex: ReadonlyMap<string, number>,
  varInit: readonly number[],
  lits: readonly number[],
  buffers: readonly BufferPlan[],
  addresses: readonly AddressArg[],
): Plan {
  const n = atoms.length;
  let argWords = 0;
  for (let i = 0; i < n; i++) argWords += ATOM_HEADER_WORDS + ARG_WORDS * atoms[i]!.args.length;
  const l = chainLayout(n, argWords, lits.length, varInit.length, buffers.length, strBytes);
  // Field by field, not a spread of `l`: V8 copies a spread through a slow generic path (about
  // 5 µs a call here, most of what validating a one-atom chain cost).
  return {
    atomsAt: l.atomsAt,
    litsAt: l.litsAt,
    varsAt: l.varsAt,
    assignedAt: l.assignedAt,
    bufsAt: l.bufsAt,
    strsAt: l.strsAt,
    valuesAt: l.valuesAt,
    shape,
    atoms,
    varIndex,
    varInit,
    lits,
    buffers,
    startsInline: (atoms[0]!.flags & SYSLET_SYNC) !== 0,
    addresses,
  };
}

/**
 * The plan to encode for one submission: under a policy (`confined`), every bare arena address
 * must lie inside a buffer the submission grants (ChainError naming the atom otherwise); granted
 * descriptors travel with the chain. Throws TypeError when they do not fit in the entry.
 */
export function forSubmission(planIn: Plan, confined: boolean, grant: GrantSpec, slotBytes: number): Plan {
  let plan = planIn;
  if (confined) {
    for (const a of plan.addresses) {
      if (granted(grant, a.start, a.length)) continue;
      const op = OPS[plan.atoms[a.atom]!.code]!;
      throw new ChainError(
        `chain.atoms[${a.atom}] (${op.name}): argument ${a.arg} (${op.params[a.arg]!.name}): arena address ${a.start} (${a.length} bytes) is not a buffer the chain declares or the submission grants; under a policy a chain names only those (submit option grant.buffers)`,
        a.atom,
        op.name,
        a.arg,
      );
    }
  }
  if (grant.keepFds) plan = { ...plan, keepFds: true };
  if (grant.fds.length === 0) return plan;
  const need = plan.valuesAt + grantBytes(grant.fds.length);
  if (need > slotBytes) {
    throw new TypeError(
      `submit: grant.fds: the chain and ${grant.fds.length} granted descriptors need ${need} bytes, a ring slot holds ${slotBytes} (option slotBytes)`,
    );
  }
  return { ...plan, grantFds: grant.fds };
}

/** Bytes the granted descriptor list takes in the data area: a count, then the descriptors. */
export function grantBytes(n: number): number {
  return alignUp((n + 1) * 4, 8);
}

function planAtom(a: unknown, i: number, n: number, sc: Scope): PlanAtom {
  if (!isObject(a)) {
    throw new ChainError(`chain.atoms[${i}]: expected an atom object { op, args }, got ${describe(a)}`, i);
  }
  for (const k in a) {
    if (k !== 'op' && k !== 'args' && k !== 'into' && k !== 'flags' && k !== 'next') {
      throw new ChainError(`chain.atoms[${i}]: unknown field "${k}"; expected op, args, into, flags, next`, i);
    }
  }
  const op = typeof a.op === 'string' ? OP_BY_NAME.get(a.op) : undefined;
  if (op === undefined) {
    throw new ChainError(`chain.atoms[${i}]: unknown operation ${describe(a.op)}; expected one of ${OP_NAMES}`, i);
  }
  const argsIn = a.args ?? EMPTY_ARGS;
  if (!Array.isArray(argsIn)) {
    throw new ChainError(`chain.atoms[${i}] (${op.name}): args: expected an array, got ${describe(argsIn)}`, i, op.name);
  }
  if (argsIn.length < op.minArgs || argsIn.length > op.params.length) {
    throw new ChainError(
      `chain.atoms[${i}] (${op.name}): expected ${arity(op)} ${signature(op)}, got ${argsIn.length}`,
      i,
      op.name,
    );
  }

  let into = -1;
  if (a.into !== undefined) {
    if (typeof a.into !== 'string' || a.into.length === 0) {
      throw new ChainError(
        `chain.atoms[${i}] (${op.name}): into: expected a variable name (a non-empty string), got ${describe(a.into)}`,
        i,
        op.name,
      );
    }
    into = sc.varIndex!.get(a.into)!;
  }

  let flags = 0;
  if (a.flags !== undefined) {
    const f = a.flags;
    if (typeof f !== 'number' || !Number.isInteger(f) || f < 0 || (f & ~SYSLET_FLAGS_MASK) !== 0) {
      throw new ChainError(
        `chain.atoms[${i}] (${op.name}): flags: expected SYSLET_* bits (an integer within 0xff), got ${describe(f)}`,
        i,
        op.name,
      );
    }
    if ((f & SYSLET_SYNC) !== 0 && (f & SYSLET_ASYNC) !== 0) {
      throw new ChainError(
        `chain.atoms[${i}] (${op.name}): flags: SYSLET_SYNC and SYSLET_ASYNC exclude each other, got both (${f})`,
        i,
        op.name,
      );
    }
    flags = f;
  }

  let next: number;
  const nx = a.next;
  if (nx === undefined) next = i + 1 < n ? i + 1 : -1;
  else if (nx === null) next = -1;
  else if (typeof nx === 'number' && Number.isInteger(nx) && nx >= 0 && nx < n) next = nx;
  else {
    throw new ChainError(
      `chain.atoms[${i}] (${op.name}): next: expected an atom index from 0 to ${n - 1}, or null to end, got ${describe(nx)}`,
      i,
      op.name,
    );
  }

  const np = op.params.length;
  const args: PlanArg[] = new Array<PlanArg>(np);
  for (let k = 0; k < np; k++) args[k] = planArg(argsIn[k], op, k, i, sc);
  if (op.code === Op.READ || op.code === Op.PREAD || op.code === Op.WRITE || op.code === Op.PWRITE) {
    checkCount(op, args, i, sc.lits);
  }
  return { code: op.code, flags, next, into, args };
}

const EMPTY_ARGS: readonly unknown[] = [];
/** The variable index of a chain that names none (never written). */
const NO_VAR_INDEX: ReadonlyMap<string, number> = new Map();

function argError(op: OpSpec, k: number, i: number, expected: string, x: unknown): ChainError {
  return new ChainError(
    `chain.atoms[${i}] (${op.name}): argument ${k} (${op.params[k]!.name}): expected ${expected}, got ${describe(x)}`,
    i,
    op.name,
    k,
  );
}

function varOf(ref: Record<string, unknown>, op: OpSpec, k: number, i: number, sc: Scope): number {
  const name = ref.var;
  let keys = 0;
  for (const key in ref) keys++;
  if (typeof name !== 'string' || keys !== 1) throw argError(op, k, i, '{ var: name }', ref);
  const idx = sc.varIndex?.get(name);
  if (idx === undefined) {
    throw new ChainError(
      `chain.atoms[${i}] (${op.name}): argument ${k} (${op.params[k]!.name}): variable "${name}" is undefined: no atom assigns it with into and chain.vars does not declare it`,
      i,
      op.name,
      k,
    );
  }
  return idx;
}

function planArg(x: unknown, op: OpSpec, k: number, i: number, sc: Scope): PlanArg {
  const spec = op.params[k]!;
  if (x === undefined) {
    if (spec.optional === true) return pa(ArgKind.NONE, 0, 0);
    throw argError(op, k, i, 'a value', x);
  }
  switch (spec.kind) {
    case 'path': {
      if (x instanceof Uint8Array) {
        // A path as bytes (a file name that is not valid UTF-8, as readdir returns it).
        if (x.includes(0)) throw argError(op, k, i, 'a path without NUL bytes', x);
        return pa(ArgKind.STR, 0, x.byteLength, undefined, x);
      }
      if (typeof x !== 'string') throw argError(op, k, i, 'a path string (or its bytes, a Buffer)', x);
      let ascii = true;
      for (let c = 0; c < x.length; c++) {
        const ch = x.charCodeAt(c);
        if (ch > 0x7f || ch === 0) {
          if (ch === 0) throw argError(op, k, i, 'a path string without NUL bytes', x);
          ascii = false;
        }
      }
      if (ascii) return pa(ArgKind.STR, 0, x.length, x);
      const utf8 = Buffer.from(x, 'utf8');
      return pa(ArgKind.STR, 0, utf8.length, x, utf8);
    }
    case 'var': {
      if (!isObject(x) || !('var' in x)) throw argError(op, k, i, 'a variable { var: name }', x);
      return pa(ArgKind.VARREF, varOf(x, op, k, i, sc), 0);
    }
    case 'buf':
      return bufArg(x, op, k, i, sc);
    default: {
      // fd, int, oflags, num
      if (typeof x === 'number') {
        if (!Number.isFinite(x) || (spec.kind !== 'num' && !Number.isSafeInteger(x))) {
          throw argError(op, k, i, spec.kind === 'num' ? 'a finite number or { var }' : 'an integer or { var }', x);
        }
        if ((x | 0) === x && !Object.is(x, -0)) return pa(ArgKind.INT, x, 0);
        return pa(ArgKind.NUM, addLit(sc, x), 0);
      }
      if (isObject(x) && 'var' in x) return pa(ArgKind.VAR, varOf(x, op, k, i, sc), 0);
      if (spec.kind === 'oflags' && typeof x === 'string') {
        const f = openFlagsFromString(x, fsConstants);
        if (f === undefined) {
          throw argError(op, k, i, "open flags: an integer or one of 'r', 'r+', 'w', 'wx', 'w+', 'a', 'ax', 'a+' ...", x);
        }
        return pa(ArgKind.INT, f, 0);
      }
      throw argError(op, k, i, spec.kind === 'num' ? 'a finite number or { var }' : 'an integer or { var }', x);
    }
  }
}

function bufferPlan(name: string, decl: unknown, ctx: ValidateContext): BufferPlan {
  const where = `chain.buffers.${name}`;
  const max = Math.min(ctx.arena.heapBytes, ctx.maxBufferBytes ?? Infinity);
  const checkSize = (size: unknown): number => {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > max) {
      const why = max === ctx.arena.heapBytes ? 'the arena' : 'option maxBufferBytes';
      throw new ChainError(`${where}: expected a size in bytes from 1 to ${max} (${why}), got ${describe(size)}`);
    }
    return size;
  };
  if (typeof decl === 'number') return { name, size: checkSize(decl) };
  if (isObject(decl) && typeof decl.data === 'string') {
    const enc = decl.encoding ?? 'utf8';
    if (enc !== 'utf8' && enc !== 'base64' && enc !== 'hex') {
      throw new ChainError(`${where}.encoding: expected "utf8", "base64" or "hex", got ${describe(enc)}`);
    }
    const init = Buffer.from(decl.data, enc);
    const size = decl.size === undefined ? Math.max(1, init.length) : checkSize(decl.size);
    if (init.length > size) {
      throw new ChainError(`${where}: data is ${init.length} bytes, more than its size ${size}`);
    }
    return { name, size, init };
  }
  throw new ChainError(
    `${where}: expected a size in bytes or { size?, data, encoding? }, got ${describe(decl)}`,
  );
}

function bufArg(x: unknown, op: OpSpec, k: number, i: number, sc: Scope): PlanArg {
  const err = (msg: string): ChainError =>
    new ChainError(`chain.atoms[${i}] (${op.name}): argument ${k} (${op.params[k]!.name}): ${msg}`, i, op.name, k);
  const expected = 'a buffer reference { buf: name | address, offset?, length? } or a Buffer from rt.alloc()';
  let ref: { buf: unknown; offset?: unknown; length?: unknown };
  // A Buffer object is the submitter's own (no chain from data can hold one); a number is not.
  const object = x instanceof Uint8Array;
  if (object) {
    if (x.buffer !== sc.ctx.arena.sab) {
      throw err(`expected ${expected}, got ${describe(x)} that rt.alloc() did not return`);
    }
    ref = { buf: x.byteOffset, length: x.byteLength };
  } else if (isObject(x) && 'buf' in x) {
    for (const key in x) {
      if (key !== 'buf' && key !== 'offset' && key !== 'length') {
        throw err(`unknown field "${key}" in a buffer reference; expected buf, offset, length`);
      }
    }
    ref = x as typeof ref;
  } else {
    throw err(`expected ${expected}, got ${describe(x)}`);
  }
  const offset = ref.offset ?? 0;
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw err(`offset: expected a non-negative integer, got ${describe(ref.offset)}`);
  }
  let start: number;
  let size: number;
  let decl: number | undefined;
  if (typeof ref.buf === 'string') {
    decl = sc.bufferIndex?.get(ref.buf);
    if (decl === undefined) throw err(`buffer "${ref.buf}" is undefined: chain.buffers does not declare it`);
    start = 0;
    size = sc.buffers[decl]!.size;
  } else if (typeof ref.buf === 'number') {
    const block = sc.ctx.arena.blockContaining(ref.buf);
    if (block === undefined) {
      throw err(`buffer address ${ref.buf} is not inside a live rt.alloc() allocation`);
    }
    start = ref.buf;
    size = block.end - ref.buf;
  } else {
    throw err(`expected ${expected}, got ${describe(x)}`);
  }
  if (offset > size) throw err(`offset ${offset} is past the buffer's end (${size} bytes)`);
  let length = size - offset;
  if (ref.length !== undefined) {
    const l = ref.length;
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 0) {
      throw err(`length: expected a non-negative integer, got ${describe(l)}`);
    }
    if (l > length) {
      throw err(`length ${l} runs past the buffer's end (${length} bytes from offset ${offset})`);
    }
    length = l;
  }
  if (decl !== undefined) return pa(ArgKind.BUF, offset, length, undefined, undefined, decl);
  if (!object) {
    if (sc.addresses === NONE) sc.addresses = [];
    sc.addresses.push({ atom: i, arg: k, start: start + offset, length });
  }
  return pa(ArgKind.BUF, start + offset, length);
}

/** A literal count larger than its buffer can never be right: refuse it now. */
function checkCount(op: OpSpec, args: PlanArg[], i: number, lits: readonly number[]): void {
  const b = args[1]!;
  const c = args[2]!;
  if (c.kind !== ArgKind.INT && c.kind !== ArgKind.NUM) return;
  const count = c.kind === ArgKind.INT ? c.a : lits[c.a]!;
  const at = `chain.atoms[${i}] (${op.name}): argument 2 (count)`;
  if (count < 0) {
    throw new ChainError(`${at}: expected a non-negative integer, got ${count}`, i, op.name, 2);
  }
  if (count > b.b) {
    throw new ChainError(`${at}: ${count} bytes exceed the buffer's ${b.b} bytes`, i, op.name, 2);
  }
}
