/**
 * Values across threads: what a threadlet's arguments, its result, its error and the results of its
 * journaled calls become on the way to another thread, and back.
 *
 * The transport is pack.ts, with what v8.serialize (the structured-clone algorithm, its fallback)
 * carries: primitives, Buffers and typed arrays, Dates, RegExps, Maps, Sets, arrays and plain
 * objects. It loses what a threadlet's calls return most often: class instances (fs.Stats, Dirent,
 * a URL) and errors' class, `code`, `errno`, `syscall` and `path`. So values are first turned into
 * their *wire* form, where such objects are tagged records, and rebuilt from it on the other side:
 *
 *   tagged record   { [TAG]: kind, v: ... }       kind in WireKind
 *   plain object    as is (a plain object that happens to own the TAG key is escaped as ESCAPED)
 *
 * There are two modes. EXACT is for values that are rebuilt (arguments, results): every value must
 * travel or toWire throws a WireError naming where it is. COMPARE is for the arguments of journaled
 * calls, which are only compared with the re-run's arguments: functions, SharedArrayBuffers and
 * output buffers become descriptions, buffers are copied (the caller may reuse them).
 */
import fs from 'node:fs';
import { inspect } from 'node:util';
import { original } from './original.js';

export const TAG = '__syslet$';

const WireKind = {
  ERROR: 'err',
  STATS: 'stats',
  BIGINT_STATS: 'bstats',
  DIRENT: 'dirent',
  STATFS: 'statfs',
  URL: 'url',
  MAP: 'map',
  SET: 'set',
  /** A plain object that owns the TAG key itself. */
  ESCAPED: 'obj',
  /** COMPARE mode only: a function, described by name. */
  FUNCTION: 'fn',
  /** COMPARE mode only: a view of a SharedArrayBuffer, or an output buffer: its type and length. */
  OPAQUE: 'opaque',
  /** COMPARE mode only: an object met before in the same value (a cycle, a shared reference): its visit number. */
  REF: 'ref',
} as const;

export const WireMode = { EXACT: 0, COMPARE: 1 } as const;
export type WireMode = (typeof WireMode)[keyof typeof WireMode];

/** A value that cannot travel to another thread. */
export class WireError extends TypeError {
  override name = 'WireError';
  /** Where in the value: '[0]', '.options', ... (outermost first). */
  readonly path: string[] = [];
}

type Tagged = { [TAG]: string; v?: unknown; [k: string]: unknown };

/**
 * Nesting deeper than this fails (a WireError) rather than overflowing the stack. Cycles and shared
 * references do not nest: they are kept as structured clone keeps them (see toWire).
 */
const MAX_DEPTH = 1000;

/**
 * Objects met so far in the value toWire is walking, each with its wire form (EXACT) or its visit
 * number (COMPARE): a second meeting returns the same wire object, so v8.serialize keeps the cycle or
 * the shared reference. A short list scanned in order while small (most values hold a few objects:
 * cheaper than a Map), a Map past SMALL.
 */
class Visited {
  static readonly SMALL = 16;
  /** The first `n` entries are in use (reused arrays: truncating them costs more than the walk). */
  readonly objs: (object | undefined)[] = [];
  readonly outs: unknown[] = [];
  n = 0;
  map: Map<object, unknown> | undefined;

  get(v: object): unknown {
    if (this.map !== undefined) return this.map.get(v);
    const objs = this.objs;
    for (let i = 0; i < this.n; i++) if (objs[i] === v) return this.outs[i];
    return undefined;
  }

  set(v: object, out: unknown): void {
    if (this.map !== undefined) {
      this.map.set(v, out);
      return;
    }
    const i = this.n++;
    this.objs[i] = v;
    this.outs[i] = out;
    if (this.n > Visited.SMALL) {
      this.map = new Map();
      for (let k = 0; k < this.n; k++) this.map.set(this.objs[k]!, this.outs[k]);
    }
  }

  get size(): number {
    return this.map?.size ?? this.n;
  }

  /** Forget everything (and hold on to nothing the caller gave). */
  clear(): void {
    for (let i = 0; i < this.n; i++) {
      this.objs[i] = undefined;
      this.outs[i] = undefined;
    }
    this.n = 0;
    this.map = undefined;
  }
}

/** This thread's visited set, reused by each toWire (one of its own for a toWire a getter starts inside another). */
let visited = new Visited();
let walking = false;
/** Whether the last toWire met an object twice (its wire form is then a graph, not a tree). */
let sharedSeen = false;

/** Remember `v`'s wire form before walking into it (a cycle back to `v` then finds it). */
function remember<T>(v: object, out: T): T {
  visited.set(v, out);
  return out;
}

// Prototypes of fs classes that are not exported: taken from one instance, when first needed.
let bigIntStatsProto: object | undefined;
let statFsProto: object | undefined;

function bigIntStatsPrototype(): object {
  return (bigIntStatsProto ??= Object.getPrototypeOf(original(fs.statSync)('/', { bigint: true })) as object);
}

function statFsPrototype(): object | undefined {
  if (statFsProto === undefined && typeof fs.statfsSync === 'function') {
    statFsProto = Object.getPrototypeOf(original(fs.statfsSync)('/')) as object;
  }
  return statFsProto;
}

function isStatFs(v: object): boolean {
  const c = (v as { constructor?: { name?: string } }).constructor;
  return c?.name === 'StatFs';
}

function isBigIntStats(v: object): boolean {
  const c = (v as { constructor?: { name?: string } }).constructor;
  return c?.name === 'BigIntStats';
}

/**
 * Where in a value a WireError happened: each level that catches it prepends its key on the way
 * out, so the path costs nothing unless something cannot travel.
 */
function located<T>(key: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WireError) e.path.unshift(key);
    throw e;
  }
}

function ownProps(v: object, mode: WireMode, depth: number, out: Record<string, unknown> = {}): Record<string, unknown> {
  const keys = Object.keys(v);
  let k = '';
  try {
    for (let i = 0; i < keys.length; i++) {
      k = keys[i]!;
      out[k] = toWireAt((v as Record<string, unknown>)[k], mode, depth + 1);
    }
  } catch (e) {
    if (e instanceof WireError) e.path.unshift(`.${k}`);
    throw e;
  }
  return out;
}

/**
 * An error's own properties that can travel: one that cannot (a function, a symbol, a socket
 * holding one) is left out, as structured clone leaves out all of them, so that the error itself
 * (class, message, code, errno, path) still arrives, wherever it was thrown.
 */
function errorProps(e: object, mode: WireMode, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(e)) {
    if (ERROR_OWN.has(k)) continue;
    try {
      out[k] = toWireAt((e as Record<string, unknown>)[k], mode, depth + 1);
    } catch (x) {
      if (!(x instanceof WireError)) throw x;
    }
  }
  return out;
}

const BUILTIN_ERRORS = new Map<string, ErrorConstructor>([
  ['Error', Error],
  ['TypeError', TypeError],
  ['RangeError', RangeError],
  ['SyntaxError', SyntaxError],
  ['ReferenceError', ReferenceError],
  ['EvalError', EvalError],
  ['URIError', URIError],
  ['AggregateError', AggregateError as unknown as ErrorConstructor],
]);

const ERROR_OWN = new Set(['name', 'message', 'stack', 'cause']);

/** The first constructor in `e`'s prototype chain that is a global Error class (TypeError, ...). */
function builtinBase(e: object): string {
  for (let p = Object.getPrototypeOf(e) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    const c = (p as { constructor?: { name?: string } }).constructor;
    if (c?.name !== undefined && BUILTIN_ERRORS.get(c.name) === c) return c.name;
  }
  return 'Error';
}

function errorToWire(e: Error, mode: WireMode, depth: number): Tagged {
  const out: Tagged = keep(e, {
    [TAG]: WireKind.ERROR,
    ctor: (e as { constructor?: { name?: string } }).constructor?.name ?? 'Error',
    base: builtinBase(e),
    name: String(e.name),
    message: String(e.message),
    stack: typeof e.stack === 'string' ? e.stack : undefined,
    props: undefined,
  }, mode);
  out.props = errorProps(e, mode, depth);
  if ('cause' in e) {
    try {
      out.cause = toWireAt(e.cause, mode, depth + 1);
    } catch (x) {
      if (!(x instanceof WireError)) throw x; // A cause that cannot travel is left out, as a property is.
    }
  }
  if (e instanceof AggregateError) out.errors = located('.errors', () => toWireAt(e.errors, mode, depth + 1));
  return out;
}

/** Numeric fields of fs.Stats / BigIntStats, sent as they are. */
const STATS_FIELDS = [
  'dev', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'blksize', 'ino', 'size', 'blocks',
  'atimeMs', 'mtimeMs', 'ctimeMs', 'birthtimeMs',
] as const;
const BIGINT_STATS_FIELDS = [...STATS_FIELDS, 'atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs'] as const;
/**
 * The Date fields. Node 20's constructor sets them as own properties; Node 22 and later compute
 * each from its *Ms field on first read (an accessor on the prototype) and keep it as an own
 * property from then on (enumerable from Node 24 on). Each travels after the numeric fields as its
 * time when the Stats owns it, or null when it is still to be computed, so that the rebuilt Stats
 * owns the same properties and computes the rest as Node does.
 */
const STATS_DATE_FIELDS = ['atime', 'mtime', 'ctime', 'birthtime'] as const;

/**
 * Node's own symbol-keyed fields of a Stats (Node 26 keeps the sub-millisecond part of each time
 * under internal symbols, read by the *Instant accessors), by description: taken from Stats made
 * on this thread, when first needed. They travel after the Date fields as [description, value]
 * pairs.
 */
let statsSymbols: Map<string, symbol> | undefined;

function statsSymbol(description: string): symbol {
  statsSymbols ??= new Map(
    [original(fs.statSync)('/'), original(fs.statSync)('/', { bigint: true })]
      .flatMap((st) => Object.getOwnPropertySymbols(st))
      .map((sym) => [sym.description ?? '', sym]),
  );
  const sym = statsSymbols.get(description);
  if (sym === undefined) throw new WireError(`has a field Symbol(${description}) that this thread's fs.Stats do not have`);
  return sym;
}

function statsToWire(v: object, kind: string, fields: readonly string[], mode: WireMode): Tagged {
  const o = v as Record<string, unknown>;
  const n = fields.length;
  const out = new Array<unknown>(n + STATS_DATE_FIELDS.length);
  for (let i = 0; i < n; i++) out[i] = o[fields[i]!];
  for (let j = 0; j < STATS_DATE_FIELDS.length; j++) {
    const k = STATS_DATE_FIELDS[j]!;
    if (!Object.hasOwn(v, k)) {
      out[n + j] = null;
      continue;
    }
    const d = o[k];
    if (d instanceof Date) out[n + j] = d.getTime();
    else if (mode === WireMode.COMPARE) out[n + j] = { [TAG]: WireKind.OPAQUE, v: String(d) };
    else throw new WireError(`.${k} is not a Date (got ${typeof d}): an fs.Stats with a replaced date field cannot be rebuilt`);
  }
  for (const sym of Object.getOwnPropertySymbols(v)) {
    out.push(sym.description ?? '', toWireAt((v as Record<symbol, unknown>)[sym], mode, 1));
  }
  return { [TAG]: kind, v: out };
}

/** The symbol under which a Dirent keeps its type (internal to Node: found on an instance). */
let direntTypeKey: symbol | undefined;

function direntType(d: object): unknown {
  direntTypeKey ??= Object.getOwnPropertySymbols(d).find((s) => s.description === 'type');
  return direntTypeKey === undefined ? 0 : (d as Record<symbol, unknown>)[direntTypeKey];
}

/**
 * Turn `v` into its wire form (see the file header). Throws a WireError in EXACT mode. Cycles and
 * shared references are kept: the wire form then shares the same objects (see wireShared()).
 */
export function toWire(v: unknown, mode: WireMode, at = 'value'): unknown {
  if (typeof v !== 'object' || v === null) {
    sharedSeen = false;
    return toWireAt(v, mode, 0);
  }
  // Re-entered (a getter in the value made a journaled call): a visited set of its own.
  const outer = walking ? visited : undefined;
  const outerShared = sharedSeen;
  if (outer !== undefined) visited = new Visited();
  walking = true;
  sharedSeen = false;
  try {
    return toWireAt(v, mode, 0);
  } catch (e) {
    if (e instanceof WireError) e.message = `${at}${e.path.join('')} ${e.message}`;
    throw e;
  } finally {
    visited.clear();
    if (outer === undefined) walking = false;
    else {
      visited = outer;
      sharedSeen = outerShared;
    }
  }
}

/** Values stableValue() looks at before it gives up (a large value goes through the wire). */
const STABLE_BUDGET = 256;
let stableLeft = 0;

/**
 * Whether `v` comes back from the wire (toWire, then fromWire) as the same kind of value, equal:
 * primitives, and plain objects, arrays, Buffers and Uint8Arrays (not over a SharedArrayBuffer) and
 * Dates made of those. Then a run that finished inline may hand back `v` itself, as a direct call
 * does, where a moved one hands back an equal copy. Anything else (a class instance, an error, a Map,
 * a function, a value the walk does not finish within STABLE_BUDGET values or 32 levels: a cycle, a
 * large graph) is not: it goes through the wire, which makes it what a move would.
 */
export function stableValue(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return typeof v !== 'function' && typeof v !== 'symbol';
  stableLeft = STABLE_BUDGET;
  return stableAt(v, 0);
}

function stableAt(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return typeof v !== 'function' && typeof v !== 'symbol';
  if (--stableLeft < 0 || depth > 32) return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === Object.prototype) {
    if (Object.hasOwn(v, TAG)) return false;
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) if (!stableAt((v as Record<string, unknown>)[keys[i]!], depth + 1)) return false;
    return true;
  }
  if (proto === Array.prototype) {
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) if (!stableAt(a[i], depth + 1)) return false;
    return true;
  }
  if (proto === Buffer.prototype || proto === Uint8Array.prototype) return !((v as Uint8Array).buffer instanceof SharedArrayBuffer);
  return proto === Date.prototype;
}

/**
 * Whether the value the last toWire() walked met an object twice (a cycle or a shared reference):
 * its wire form is a graph, which only v8.serialize carries (pack's `graph` argument).
 */
export function wireShared(): boolean {
  return sharedSeen;
}

function toWireAt(v: unknown, mode: WireMode, depth: number): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'function') {
      if (mode === WireMode.COMPARE) return { [TAG]: WireKind.FUNCTION, v: v.name };
      throw new WireError(`is a function (${v.name || 'anonymous'}): it cannot be sent to another thread`);
    }
    if (typeof v === 'symbol') {
      if (mode === WireMode.COMPARE) return { [TAG]: WireKind.FUNCTION, v: String(v) };
      throw new WireError('is a symbol: it cannot be sent to another thread');
    }
    return v;
  }
  const met = visited.get(v);
  if (met !== undefined) {
    sharedSeen = true;
    return mode === WireMode.COMPARE ? { [TAG]: WireKind.REF, v: met } : met;
  }
  if (depth > MAX_DEPTH) throw new WireError(`is nested more than ${MAX_DEPTH} levels deep`);
  // COMPARE: the visit number stands for the object (equal on both runs when the shapes are equal).
  if (mode === WireMode.COMPARE) remember(v, visited.size);
  return objectToWire(v, mode, depth);
}

/** Remember `out` as `v`'s wire form before walking into `v` (EXACT; COMPARE remembered its number). */
function keep<T>(v: object, out: T, mode: WireMode): T {
  return mode === WireMode.EXACT ? remember(v, out) : out;
}

function objectToWire(v: object, mode: WireMode, depth: number): unknown {
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === Object.prototype || proto === null) return plainToWire(v, mode, depth);
  if (Array.isArray(v)) {
    const out = keep(v, new Array<unknown>(v.length), mode);
    let i = 0;
    try {
      for (; i < v.length; i++) out[i] = toWireAt(v[i], mode, depth + 1);
    } catch (e) {
      if (e instanceof WireError) e.path.unshift(`[${i}]`);
      throw e;
    }
    return out;
  }
  if (ArrayBuffer.isView(v)) {
    if (v.buffer instanceof SharedArrayBuffer) {
      if (mode === WireMode.COMPARE) return { [TAG]: WireKind.OPAQUE, v: `${v.constructor.name}(${v.byteLength})` };
      throw new WireError('is a view of a SharedArrayBuffer: it cannot be copied to another thread');
    }
    // A copy: the caller may reuse or change the buffer after the call (and v8.serialize of a view
    // would otherwise carry its whole underlying ArrayBuffer).
    if (Buffer.isBuffer(v)) return keep(v, Buffer.from(v), mode);
    if (v instanceof DataView) return keep(v, new DataView(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)), mode);
    return keep(v, (v as unknown as { slice(): unknown }).slice(), mode);
  }
  if (v instanceof fs.Stats) return keep(v, statsToWire(v, WireKind.STATS, STATS_FIELDS, mode), mode);
  if (v instanceof fs.Dirent) {
    const out: Tagged = keep(v, { [TAG]: WireKind.DIRENT, v: undefined, type: direntType(v) }, mode);
    out.v = ownProps(v, mode, depth);
    return out;
  }
  if (v instanceof Error) return errorToWire(v, mode, depth);
  // Copies, as structured clone makes them: the caller must not share the threadlet's own object.
  if (v instanceof Date) return keep(v, mode === WireMode.EXACT ? new Date(v.getTime()) : v, mode);
  if (v instanceof RegExp) return keep(v, mode === WireMode.EXACT ? new RegExp(v.source, v.flags) : v, mode);
  if (v instanceof ArrayBuffer) return keep(v, v.slice(0), mode);
  if (v instanceof SharedArrayBuffer) {
    if (mode === WireMode.COMPARE) return { [TAG]: WireKind.OPAQUE, v: `SharedArrayBuffer(${v.byteLength})` };
    throw new WireError('is a SharedArrayBuffer: it cannot be copied to another thread');
  }
  if (v instanceof Map) {
    const out: unknown[] = [];
    const rec = keep(v, { [TAG]: WireKind.MAP, v: out }, mode);
    let i = 0;
    for (const [k, x] of v) {
      out.push(located(`.key(${i})`, () => toWireAt(k, mode, depth + 1)), located(`.get(${i})`, () => toWireAt(x, mode, depth + 1)));
      i++;
    }
    return rec;
  }
  if (v instanceof Set) {
    const out: unknown[] = [];
    const rec = keep(v, { [TAG]: WireKind.SET, v: out }, mode);
    let i = 0;
    for (const x of v) out.push(located(`.item(${i++})`, () => toWireAt(x, mode, depth + 1)));
    return rec;
  }
  if (v instanceof URL) return keep(v, { [TAG]: WireKind.URL, v: v.href }, mode);
  if (isBigIntStats(v)) return keep(v, statsToWire(v, WireKind.BIGINT_STATS, BIGINT_STATS_FIELDS, mode), mode);
  if (isStatFs(v)) {
    const out: Tagged = keep(v, { [TAG]: WireKind.STATFS, v: undefined }, mode);
    out.v = ownProps(v, mode, depth);
    return out;
  }
  if (v instanceof Boolean || v instanceof Number || v instanceof String) return keep(v, v, mode);
  // Any other class instance: its own enumerable properties, as structured clone does.
  return plainToWire(v, mode, depth);
}

/** A plain object (or a class instance, as structured clone sees it): its own enumerable properties. */
function plainToWire(v: object, mode: WireMode, depth: number): unknown {
  const out: Record<string, unknown> = {};
  if (!Object.hasOwn(v, TAG)) return ownProps(v, mode, depth, keep(v, out, mode));
  const rec = keep(v, { [TAG]: WireKind.ESCAPED, v: out }, mode);
  ownProps(v, mode, depth, out);
  return rec;
}

/** The first bytes, so that two buffers that differ read differently: text when it is printable, else hex. */
function bytesPreview(b: Buffer): string {
  if (b.length === 0) return '';
  const head = b.subarray(0, 24);
  const more = b.length > head.length ? '…' : '';
  const text = head.toString('latin1');
  return /^[\x20-\x7e\t\n\r]*$/.test(text) ? `: ${JSON.stringify(text)}${more}` : `: ${head.toString('hex').replace(/(..)(?!$)/g, '$1 ')}${more}`;
}

/**
 * A compact, faithful description of a wire value (COMPARE or EXACT form), for messages:
 * `fs.utimesSync("/tmp/a", 2026-11-30T10:53:34.120Z, <Buffer 5 bytes: "hello">)`. Dates, RegExps, numbers
 * and boxed values print as util.inspect prints them; records print as what they stand for.
 */
export function describeWire(v: unknown, depth = 0): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v !== 'object' || v === null) return Object.is(v, -0) ? '-0' : String(v);
  if (ArrayBuffer.isView(v)) {
    return `<${Buffer.isBuffer(v) ? 'Buffer' : v.constructor.name} ${v.byteLength} bytes${bytesPreview(Buffer.from(v.buffer, v.byteOffset, v.byteLength))}>`;
  }
  if (v instanceof ArrayBuffer) return `<ArrayBuffer ${v.byteLength} bytes${bytesPreview(Buffer.from(v))}>`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  const proto = Object.getPrototypeOf(v) as object | null;
  if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) return inspect(v, { depth: 1, breakLength: Infinity });
  if (depth > 2) return '…';
  if (Array.isArray(v)) return `[${v.map((x) => describeWire(x, depth + 1)).join(', ')}]`;
  const w = v as Tagged;
  switch (w[TAG]) {
    case undefined:
      break;
    case WireKind.FUNCTION:
      return `<function ${String(w.v) || 'anonymous'}>`;
    case WireKind.OPAQUE:
      return `<${String(w.v)}>`;
    case WireKind.REF:
      return `<the object met ${String(w.v)}th>`;
    case WireKind.URL:
      return `URL(${String(w.v)})`;
    case WireKind.ERROR:
      return `${String(w.ctor)}(${JSON.stringify(w.message)})`;
    case WireKind.MAP:
    case WireKind.SET:
      return `${w[TAG] === WireKind.MAP ? 'Map' : 'Set'}(${describeWire(w.v, depth + 1)})`;
    case WireKind.ESCAPED:
      return describeWire(w.v, depth);
    default:
      return `<${String(w[TAG])}>`;
  }
  const keys = Object.keys(v);
  return `{ ${keys.map((k) => `${k}: ${describeWire((v as Record<string, unknown>)[k], depth + 1)}`).join(', ')} }`;
}

/** Deep equality of two wire values (COMPARE mode): bytes for buffers, Object.is for numbers. */
export function wireEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  if (a instanceof ArrayBuffer || b instanceof ArrayBuffer) {
    return a instanceof ArrayBuffer && b instanceof ArrayBuffer && Buffer.from(a).equals(Buffer.from(b));
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  }
  if (a instanceof RegExp || b instanceof RegExp) return String(a) === String(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || !wireEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

// ---- back from the wire ------------------------------------------------------------------------

/** Error classes by name that errors are rebuilt as (built-ins, plus those registered). */
export type ErrorClass = abstract new (...args: never[]) => Error;

const registeredErrors = new Map<string, ErrorClass>();
const syntheticErrors = new Map<string, ErrorClass>();

/**
 * Rebuild errors whose class is named `cls.name` as instances of `cls` (so `instanceof` works on
 * the calling thread). Errors of classes not registered keep their class name through a stand-in
 * class of that name that extends the nearest built-in ancestor (TypeError, RangeError, ... Error).
 */
export function registerErrorClass(cls: ErrorClass): void {
  if (typeof cls !== 'function' || !(cls.prototype instanceof Error)) {
    throw new TypeError(`registerErrorClass: expected a class extending Error, got ${String(cls)}`);
  }
  registeredErrors.set(cls.name, cls);
}

function errorClass(ctor: string, base: string, extra: ReadonlyMap<string, ErrorClass> | undefined): ErrorClass {
  const own = extra?.get(ctor) ?? registeredErrors.get(ctor) ?? BUILTIN_ERRORS.get(ctor);
  if (own !== undefined) return own;
  const key = `${ctor}\0${base}`;
  let cls = syntheticErrors.get(key);
  if (cls === undefined) {
    const Base = BUILTIN_ERRORS.get(base) ?? Error;
    // A class whose .name is the original's: `err.constructor.name` reads as it did on the worker.
    cls = { [ctor]: class extends Base {} }[ctor]!;
    syntheticErrors.set(key, cls);
  }
  return cls;
}

function define(o: object, k: string, value: unknown): void {
  Object.defineProperty(o, k, { value, writable: true, configurable: true, enumerable: false });
}

/**
 * Wire objects rebuilt so far by the fromWire() in progress, each with what it became: a cycle or a
 * shared reference in the wire form (v8.serialize keeps them) becomes the same in the value.
 */
let built: Map<object, unknown> | undefined;
/** The fromWire() in progress rebuilds a graph (it tracks what it built); false: a tree. */
let tracking = false;

function made<T>(w: object, v: T): T {
  if (tracking) (built ??= new Map()).set(w, v);
  return v;
}

function errorFromWire(w: Tagged, classes: ReadonlyMap<string, ErrorClass> | undefined): Error {
  const cls = errorClass(String(w.ctor), String(w.base), classes);
  // Not through the constructor: it would run user code and capture a new stack.
  const e = made(w, Object.create(cls.prototype as object) as Error);
  define(e, 'message', w.message);
  if (w.stack !== undefined) define(e, 'stack', w.stack);
  if (e.name !== w.name) define(e, 'name', w.name);
  if ('cause' in w) define(e, 'cause', fromWireAt(w.cause, classes));
  if ('errors' in w) define(e, 'errors', fromWireAt(w.errors, classes));
  const props = w.props as Record<string, unknown>;
  for (const k of Object.keys(props)) (e as unknown as Record<string, unknown>)[k] = fromWireAt(props[k], classes);
  return e;
}

function statsFromWire(proto: object, fields: readonly string[], values: unknown[]): object {
  // Object.create, then the fields in a fixed order: every rebuilt Stats shares one hidden class
  // (setPrototypeOf on a finished object would not).
  const o = Object.create(proto) as Record<string, unknown>;
  const n = fields.length;
  for (let i = 0; i < n; i++) o[fields[i]!] = values[i];
  const syms = n + STATS_DATE_FIELDS.length;
  for (let i = syms; i < values.length; i += 2) {
    (o as Record<symbol, unknown>)[statsSymbol(values[i] as string)] = fromWire(values[i + 1]);
  }
  // The Date fields the sender owned; the others are left to the prototype (see STATS_DATE_FIELDS).
  // On Node 22 and later the assignment goes through the prototype's setter, which defines the own
  // property as Node's getter does when it caches one.
  for (let j = 0; j < STATS_DATE_FIELDS.length; j++) {
    const t = values[n + j];
    if (t !== null) o[STATS_DATE_FIELDS[j]!] = new Date(t as number);
  }
  return o;
}

/**
 * Rebuild a value from its wire form (EXACT mode). Rebuilds in place: `v` is consumed. `graph`: the
 * wire form may hold an object more than once (it came through v8.serialize, or wireShared() said
 * so); false for a tree, which is then rebuilt without tracking what it built.
 */
export function fromWire(v: unknown, classes?: ReadonlyMap<string, ErrorClass>, graph = true): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const outer = tracking;
  const outerBuilt = built;
  tracking = graph;
  built = undefined;
  try {
    return fromWireAt(v, classes);
  } finally {
    tracking = outer;
    built = outerBuilt;
  }
}

function fromWireAt(v: unknown, classes: ReadonlyMap<string, ErrorClass> | undefined): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof RegExp) return v;
  if (v instanceof Boolean || v instanceof Number || v instanceof String) return v;
  if (built !== undefined) {
    const b = built.get(v);
    if (b !== undefined) return b;
  }
  if (Array.isArray(v)) {
    made(v, v);
    for (let i = 0; i < v.length; i++) v[i] = fromWireAt(v[i], classes);
    return v;
  }
  const t = (v as Tagged)[TAG];
  if (t === undefined) {
    const o = made(v, v as Record<string, unknown>);
    for (const k of Object.keys(o)) o[k] = fromWireAt(o[k], classes);
    return o;
  }
  const w = v as Tagged;
  switch (t) {
    case WireKind.ERROR:
      return errorFromWire(w, classes);
    case WireKind.STATS:
      return made(w, statsFromWire(fs.Stats.prototype, STATS_FIELDS, w.v as unknown[]));
    case WireKind.BIGINT_STATS:
      return made(w, statsFromWire(bigIntStatsPrototype(), BIGINT_STATS_FIELDS, w.v as unknown[]));
    case WireKind.DIRENT: {
      const rest = w.v as Record<string, unknown>;
      const Dirent = fs.Dirent as unknown as new (name: string, type: unknown, path: string) => Record<string, unknown>;
      const d = made(w, new Dirent(String(rest.name), w.type, String(rest.parentPath ?? rest.path)));
      for (const k of Object.keys(rest)) d[k] = fromWireAt(rest[k], classes);
      return d;
    }
    case WireKind.STATFS: {
      const proto = statFsPrototype();
      const o = made(w, (proto === undefined ? {} : Object.create(proto)) as Record<string, unknown>);
      const rest = w.v as Record<string, unknown>;
      for (const k of Object.keys(rest)) o[k] = fromWireAt(rest[k], classes);
      return o;
    }
    case WireKind.URL:
      return made(w, new URL(String(w.v)));
    case WireKind.MAP: {
      const a = w.v as unknown[];
      const m = made(w, new Map<unknown, unknown>());
      for (let i = 0; i < a.length; i += 2) m.set(fromWireAt(a[i], classes), fromWireAt(a[i + 1], classes));
      return m;
    }
    case WireKind.SET: {
      const set = made(w, new Set<unknown>());
      for (const x of w.v as unknown[]) set.add(fromWireAt(x, classes));
      return set;
    }
    case WireKind.ESCAPED: {
      // A plain object that owns the tag key: its values are wire values, it is not a record.
      const o = made(w, w.v as Record<string, unknown>);
      for (const k of Object.keys(o)) o[k] = fromWireAt(o[k], classes);
      return o;
    }
    default:
      // FUNCTION / OPAQUE / REF only occur in COMPARE mode, which is never rebuilt.
      return v;
  }
}
