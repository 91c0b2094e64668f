/**
 * The bytes of a threadlet's request and result: a compact tagged encoding of wire values
 * (wire.ts), written straight into a request slot, with v8.serialize as the fallback.
 *
 * Why not v8.serialize for everything: on the round trip of a small threadlet it is most of the
 * cost (a few microseconds per call to serialize and as many to deserialize, four times per round
 * trip). Wire values are mostly primitives, strings, arrays, plain objects and byte buffers; those
 * this encoder writes directly. Anything else (other typed arrays, ArrayBuffer, DataView, RegExp,
 * boxed primitives) makes the whole record fall back to v8.serialize; the first byte says which.
 *
 *   record   FORMAT_PACK value | FORMAT_V8 v8-bytes
 *   value    T.UNDEFINED | T.NULL | T.FALSE | T.TRUE
 *            | T.INT i32 | T.F64 f64 | T.BIGINT len utf8 | T.DATE f64
 *            | T.STRING len utf8 | T.BYTES len bytes (a Buffer) | T.U8 len bytes (a Uint8Array)
 *            | T.ARRAY n value* | T.OBJECT n (len utf8 value)*
 *   len, n   u32 little-endian
 */
import v8 from 'node:v8';

const FORMAT_PACK = 0x50; // 'P'
const FORMAT_V8 = 0x56; // 'V'

const T = {
  UNDEFINED: 0,
  NULL: 1,
  FALSE: 2,
  TRUE: 3,
  INT: 4,
  F64: 5,
  STRING: 6,
  ARRAY: 7,
  OBJECT: 8,
  BYTES: 9,
  U8: 10,
  DATE: 11,
  BIGINT: 12,
} as const;

/** Thrown inside the encoder when a value needs v8.serialize. */
const FALLBACK = Symbol('fallback');

// Numbers go through these (Buffer's read/write methods validate their arguments on every call).
const f64 = new Float64Array(1);
const f64bytes = new Uint8Array(f64.buffer);

function u32(b: Uint8Array, i: number, n: number): void {
  b[i] = n & 0xff;
  b[i + 1] = (n >>> 8) & 0xff;
  b[i + 2] = (n >>> 16) & 0xff;
  b[i + 3] = n >>> 24;
}

function readU32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)) + b[i + 3]! * 0x1000000;
}

function f64put(b: Uint8Array, i: number, v: number): void {
  f64[0] = v;
  b.set(f64bytes, i);
}

function f64get(b: Uint8Array, i: number): number {
  for (let k = 0; k < 8; k++) f64bytes[k] = b[i + k]!;
  return f64[0]!;
}

/** This thread's scratch buffer: records are built here, then copied into the slot. */
let scratch = Buffer.allocUnsafeSlow(4096);
let at = 0;

function reserve(n: number): void {
  if (at + n <= scratch.length) return;
  let size = scratch.length * 2;
  while (size < at + n) size *= 2;
  const next = Buffer.allocUnsafeSlow(size);
  scratch.copy(next, 0, 0, at);
  scratch = next;
}

/** Strings up to this long are tried as ASCII, byte by byte (Buffer.write costs more than that). */
const SHORT = 64;

function putString(s: string): void {
  // UTF-8 needs at most 3 bytes per UTF-16 unit.
  reserve(4 + s.length * 3);
  const len = s.length;
  if (len <= SHORT) {
    const b = scratch;
    const base = at + 4;
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      b[base + i] = c;
    }
    if (i === len) {
      u32(b, at, len);
      at = base + len;
      return;
    }
  }
  const n = scratch.write(s, at + 4, 'utf8');
  u32(scratch, at, n);
  at += 4 + n;
}

function putBytes(tag: number, b: Uint8Array): void {
  reserve(5 + b.byteLength);
  scratch[at] = tag;
  u32(scratch, at + 1, b.byteLength);
  scratch.set(b, at + 5);
  at += 5 + b.byteLength;
}

function put(v: unknown): void {
  switch (typeof v) {
    case 'undefined':
      reserve(1);
      scratch[at++] = T.UNDEFINED;
      return;
    case 'boolean':
      reserve(1);
      scratch[at++] = v ? T.TRUE : T.FALSE;
      return;
    case 'number':
      reserve(9);
      if ((v | 0) === v && !Object.is(v, -0)) {
        scratch[at] = T.INT;
        u32(scratch, at + 1, v);
        at += 5;
      } else {
        scratch[at] = T.F64;
        f64put(scratch, at + 1, v);
        at += 9;
      }
      return;
    case 'string':
      reserve(1);
      scratch[at++] = T.STRING;
      putString(v);
      return;
    case 'bigint':
      reserve(1);
      scratch[at++] = T.BIGINT;
      putString(v.toString());
      return;
    case 'object':
      break;
    default:
      throw FALLBACK;
  }
  if (v === null) {
    reserve(1);
    scratch[at++] = T.NULL;
    return;
  }
  if (Array.isArray(v)) {
    reserve(5);
    scratch[at] = T.ARRAY;
    u32(scratch, at + 1, v.length);
    at += 5;
    for (let i = 0; i < v.length; i++) put(v[i]);
    return;
  }
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(v);
    reserve(5);
    scratch[at] = T.OBJECT;
    u32(scratch, at + 1, keys.length);
    at += 5;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      putString(k);
      put((v as Record<string, unknown>)[k]);
    }
    return;
  }
  if (v instanceof Uint8Array && (proto === Buffer.prototype || proto === Uint8Array.prototype)) {
    putBytes(proto === Buffer.prototype ? T.BYTES : T.U8, v);
    return;
  }
  if (v instanceof Date) {
    reserve(9);
    scratch[at] = T.DATE;
    f64put(scratch, at + 1, v.getTime());
    at += 9;
    return;
  }
  throw FALLBACK;
}

/**
 * The record for wire value `v`. Returns a view of this thread's scratch buffer, valid until the
 * next pack(): copy it out at once. Throws what v8.serialize throws for values it refuses. `graph`:
 * `v` holds an object more than once (a cycle, a shared reference; wireShared()), which only
 * v8.serialize keeps (this encoder would copy it, or recurse without end).
 */
export function pack(v: unknown, graph = false): Uint8Array {
  at = 0;
  reserve(1);
  scratch[at++] = FORMAT_PACK;
  try {
    if (graph) throw FALLBACK;
    put(v);
  } catch (e) {
    if (e !== FALLBACK) throw e;
    const b = v8.serialize(v);
    at = 0;
    reserve(1 + b.length);
    scratch[0] = FORMAT_V8;
    b.copy(scratch, 1);
    at = 1 + b.length;
  }
  return scratch.subarray(0, at);
}

// ---- reading ---------------------------------------------------------------------------------------

const NOTHING = Buffer.alloc(0);
let src: Buffer = NOTHING;
let pos = 0;

function getString(): string {
  const n = readU32(src, pos);
  const start = pos + 4;
  pos = start + n;
  if (n <= SHORT) {
    // Short and ASCII (most keys, names, paths): one char per byte, no decoder call.
    let s = '';
    for (let i = start; i < pos; i++) {
      const c = src[i]!;
      if (c > 0x7f) return src.toString('utf8', start, pos);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return src.toString('utf8', start, pos);
}

function get(): unknown {
  const tag = src[pos++];
  switch (tag) {
    case T.UNDEFINED:
      return undefined;
    case T.NULL:
      return null;
    case T.FALSE:
      return false;
    case T.TRUE:
      return true;
    case T.INT: {
      const v = readU32(src, pos) | 0;
      pos += 4;
      return v;
    }
    case T.F64: {
      const v = f64get(src, pos);
      pos += 8;
      return v;
    }
    case T.STRING:
      return getString();
    case T.BIGINT:
      return BigInt(getString());
    case T.DATE: {
      const v = new Date(f64get(src, pos));
      pos += 8;
      return v;
    }
    case T.BYTES:
    case T.U8: {
      const n = readU32(src, pos);
      // A copy: the record lives in shared memory that is reused once it is read.
      const b = Buffer.from(src.subarray(pos + 4, pos + 4 + n));
      pos += 4 + n;
      return tag === T.BYTES ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case T.ARRAY: {
      const n = readU32(src, pos);
      pos += 4;
      const a = new Array<unknown>(n);
      for (let i = 0; i < n; i++) a[i] = get();
      return a;
    }
    case T.OBJECT: {
      const n = readU32(src, pos);
      pos += 4;
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = getString();
        o[k] = get();
      }
      return o;
    }
    default:
      throw new RangeError(`threadlet record: unknown tag ${String(tag)} at byte ${pos - 1}`);
  }
}

let lastV8 = false;

/**
 * Whether the last unpack() read a v8.serialize record: only those can hold an object twice (a
 * cycle, a shared reference), so fromWire() tracks what it builds for them only (its `graph`).
 */
export function unpackedGraph(): boolean {
  return lastV8;
}

/** The wire value in a record (which may live in shared memory: nothing returned aliases it). */
export function unpack(bytes: Uint8Array): unknown {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  lastV8 = b[0] === FORMAT_V8;
  if (lastV8) return v8.deserialize(Buffer.from(b.subarray(1)));
  if (b[0] !== FORMAT_PACK) throw new RangeError(`threadlet record: unknown format ${String(b[0])}`);
  src = b;
  pos = 1;
  try {
    return get();
  } finally {
    src = NOTHING;
  }
}
