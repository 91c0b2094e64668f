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

const MAX_DEPTH = 64;

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

function ownProps(v: object, mode: WireMode, depth: number, skip?: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(v);
  let k = '';
  try {
    for (let i = 0; i < keys.length; i++) {
      k = keys[i]!;
      if (skip !== undefined && skip.has(k)) continue;
      out[k] = toWireAt((v as Record<string, unknown>)[k], mode, depth + 1);
    }
  } catch (e) {
    if (e instanceof WireError) e.path.unshift(`.${k}`);
    throw e;
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
  const out: Tagged = {
    [TAG]: WireKind.ERROR,
    ctor: (e as { constructor?: { name?: string } }).constructor?.name ?? 'Error',
    base: builtinBase(e),
    name: String(e.name),
    message: String(e.message),
    stack: typeof e.stack === 'string' ? e.stack : undefined,
    props: ownProps(e, mode, depth, ERROR_OWN),
  };
  if ('cause' in e) out.cause = located('.cause', () => toWireAt(e.cause, mode, depth + 1));
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

/** Turn `v` into its wire form (see the file header). Throws a WireError in EXACT mode. */
export function toWire(v: unknown, mode: WireMode, at = 'value'): unknown {
  try {
    return toWireAt(v, mode, 0);
  } catch (e) {
    if (e instanceof WireError) e.message = `${at}${e.path.join('')} ${e.message}`;
    throw e;
  }
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
  if (depth > MAX_DEPTH) throw new WireError(`is nested more than ${MAX_DEPTH} levels deep (a cycle?)`);
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === Object.prototype || proto === null) {
    const out = ownProps(v, mode, depth);
    return Object.hasOwn(v, TAG) ? { [TAG]: WireKind.ESCAPED, v: out } : out;
  }
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
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
    if (Buffer.isBuffer(v)) return Buffer.from(v);
    if (v instanceof DataView) return new DataView(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
    return (v as unknown as { slice(): unknown }).slice();
  }
  if (v instanceof fs.Stats) return statsToWire(v, WireKind.STATS, STATS_FIELDS, mode);
  if (v instanceof fs.Dirent) {
    const rest = ownProps(v, mode, depth);
    return { [TAG]: WireKind.DIRENT, v: rest, type: direntType(v) };
  }
  if (v instanceof Error) return errorToWire(v, mode, depth);
  if (v instanceof Date || v instanceof RegExp) return v;
  if (v instanceof ArrayBuffer) return v.slice(0);
  if (v instanceof SharedArrayBuffer) {
    if (mode === WireMode.COMPARE) return { [TAG]: WireKind.OPAQUE, v: `SharedArrayBuffer(${v.byteLength})` };
    throw new WireError('is a SharedArrayBuffer: it cannot be copied to another thread');
  }
  if (v instanceof Map) {
    const out: unknown[] = [];
    let i = 0;
    for (const [k, x] of v) {
      out.push(located(`.key(${i})`, () => toWireAt(k, mode, depth + 1)), located(`.get(${i})`, () => toWireAt(x, mode, depth + 1)));
      i++;
    }
    return { [TAG]: WireKind.MAP, v: out };
  }
  if (v instanceof Set) {
    const out: unknown[] = [];
    let i = 0;
    for (const x of v) out.push(located(`.item(${i++})`, () => toWireAt(x, mode, depth + 1)));
    return { [TAG]: WireKind.SET, v: out };
  }
  if (v instanceof URL) return { [TAG]: WireKind.URL, v: v.href };
  if (isBigIntStats(v)) return statsToWire(v, WireKind.BIGINT_STATS, BIGINT_STATS_FIELDS, mode);
  if (isStatFs(v)) return { [TAG]: WireKind.STATFS, v: ownProps(v, mode, depth) };
  if (v instanceof Boolean || v instanceof Number || v instanceof String) return v;
  // Any other class instance: its own enumerable properties, as structured clone does.
  const out = ownProps(v, mode, depth);
  return Object.hasOwn(v, TAG) ? { [TAG]: WireKind.ESCAPED, v: out } : out;
}

/** A compact description of a wire value, for messages ("fs.writeFileSync('/tmp/a', <Buffer 5 bytes>)"). */
export function describeWire(v: unknown, depth = 0): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v !== 'object' || v === null) return String(v);
  if (ArrayBuffer.isView(v)) return `<${Buffer.isBuffer(v) ? 'Buffer' : v.constructor.name} ${v.byteLength} bytes>`;
  if (v instanceof ArrayBuffer) return `<ArrayBuffer ${v.byteLength} bytes>`;
  if (depth > 2) return '…';
  if (Array.isArray(v)) return `[${v.map((x) => describeWire(x, depth + 1)).join(', ')}]`;
  const t = (v as Tagged)[TAG];
  if (t === WireKind.FUNCTION) return `<function ${String((v as Tagged).v) || 'anonymous'}>`;
  if (t === WireKind.OPAQUE) return `<${String((v as Tagged).v)}>`;
  if (t === WireKind.URL) return `URL(${String((v as Tagged).v)})`;
  if (t !== undefined) return `<${t}>`;
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

function errorFromWire(w: Tagged, classes: ReadonlyMap<string, ErrorClass> | undefined): Error {
  const cls = errorClass(String(w.ctor), String(w.base), classes);
  // Not through the constructor: it would run user code and capture a new stack.
  const e = Object.create(cls.prototype as object) as Error;
  define(e, 'message', w.message);
  if (w.stack !== undefined) define(e, 'stack', w.stack);
  if (e.name !== w.name) define(e, 'name', w.name);
  if ('cause' in w) define(e, 'cause', fromWire(w.cause, classes));
  if ('errors' in w) define(e, 'errors', fromWire(w.errors, classes));
  const props = w.props as Record<string, unknown>;
  for (const k of Object.keys(props)) (e as unknown as Record<string, unknown>)[k] = fromWire(props[k], classes);
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

function withProto(proto: object | undefined, props: unknown, classes: ReadonlyMap<string, ErrorClass> | undefined): object {
  const o = fromWire(props, classes) as object;
  if (proto !== undefined) Object.setPrototypeOf(o, proto);
  return o;
}

/** Rebuild a value from its wire form (EXACT mode). */
export function fromWire(v: unknown, classes?: ReadonlyMap<string, ErrorClass>): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof RegExp) return v;
  if (v instanceof Boolean || v instanceof Number || v instanceof String) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = fromWire(v[i], classes);
    return v;
  }
  const t = (v as Tagged)[TAG];
  if (t === undefined) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = fromWire(o[k], classes);
    return o;
  }
  const w = v as Tagged;
  switch (t) {
    case WireKind.ERROR:
      return errorFromWire(w, classes);
    case WireKind.STATS:
      return statsFromWire(fs.Stats.prototype, STATS_FIELDS, w.v as unknown[]);
    case WireKind.BIGINT_STATS:
      return statsFromWire(bigIntStatsPrototype(), BIGINT_STATS_FIELDS, w.v as unknown[]);
    case WireKind.DIRENT: {
      const rest = fromWire(w.v, classes) as Record<string, unknown>;
      const Dirent = fs.Dirent as unknown as new (name: string, type: unknown, path: string) => Record<string, unknown>;
      const d = new Dirent(String(rest.name), w.type, String(rest.parentPath ?? rest.path));
      for (const k of Object.keys(rest)) d[k] = rest[k];
      return d;
    }
    case WireKind.STATFS:
      return withProto(statFsPrototype(), w.v, classes);
    case WireKind.URL:
      return new URL(String(w.v));
    case WireKind.MAP: {
      const a = w.v as unknown[];
      const m = new Map<unknown, unknown>();
      for (let i = 0; i < a.length; i += 2) m.set(fromWire(a[i], classes), fromWire(a[i + 1], classes));
      return m;
    }
    case WireKind.SET:
      return new Set((w.v as unknown[]).map((x) => fromWire(x, classes)));
    case WireKind.ESCAPED: {
      // A plain object that owns the tag key: its values are wire values, it is not a record.
      const o = w.v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = fromWire(o[k], classes);
      return o;
    }
    default:
      // FUNCTION / OPAQUE only occur in COMPARE mode, which is never rebuilt.
      return v;
  }
}
