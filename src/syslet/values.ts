/**
 * Rich values that travel beside an atom's number: a stat, directory names, a path. The worker
 * writes them once, when the chain ends, as records in the entry's values area (or in an arena
 * block when they do not fit); the reaper decodes them.
 *
 * Record: [variable i32, kind i32, bytes i32, pad i32] then `bytes` of payload, padded to 8; the
 * variable is the index of the one the value belongs to, or FINAL_VALUE_VAR for the final atom's.
 *   STAT    14 Float64: dev ino mode nlink uid gid rdev size blksize blocks atimeMs mtimeMs ctimeMs birthtimeMs
 *   NAMES   UTF-8 of the names joined by NUL (names cannot contain NUL)
 *   STRING  UTF-8
 *   BIGSTAT 18 BigInt64: STAT's first 10 fields, then seconds and nanoseconds of atime, mtime,
 *           ctime, birthtime (the timespecs Node builds fs.Stats and fs.BigIntStats from)
 *   BYTES   the bytes
 *   DIRENTS count i32, then count type bytes (UV_DIRENT_*), then the names' UTF-8 joined by NUL
 */
import { isUtf8 } from 'node:buffer';
import type { BigIntStats, Stats } from 'node:fs';
import { alignUp } from 'atomics-sync';
import { ValueKind } from './ops.js';
import { VALUE_HEADER_BYTES } from './table.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

export const STAT_FIELDS = 14;
export const BIGSTAT_FIELDS = 18;
const NS_PER_S = 1_000_000_000n;

/** A stat result, with the fields and predicates of fs.Stats. */
export class SysletStat {
  constructor(
    readonly dev: number,
    readonly ino: number,
    readonly mode: number,
    readonly nlink: number,
    readonly uid: number,
    readonly gid: number,
    readonly rdev: number,
    readonly size: number,
    readonly blksize: number,
    readonly blocks: number,
    readonly atimeMs: number,
    readonly mtimeMs: number,
    readonly ctimeMs: number,
    readonly birthtimeMs: number,
  ) {}

  isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === S_IFIFO;
  }
  isSocket(): boolean {
    return (this.mode & S_IFMT) === S_IFSOCK;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === S_IFCHR;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === S_IFBLK;
  }
  get atime(): Date {
    return new Date(this.atimeMs);
  }
  get mtime(): Date {
    return new Date(this.mtimeMs);
  }
  get ctime(): Date {
    return new Date(this.ctimeMs);
  }
  get birthtime(): Date {
    return new Date(this.birthtimeMs);
  }
}

/** Directory entries and their types (UV_DIRENT_* numbers, as fs.constants names them). */
export class DirentList {
  constructor(
    readonly names: readonly string[],
    readonly types: Uint8Array,
  ) {}
}

/**
 * A decoded value. BIGSTAT decodes to a BigInt64Array of its 18 fields in the record's order; the
 * fs facade (src/fs) reads records itself and makes fs.Stats, fs.BigIntStats and fs.Dirent.
 */
export type Value = SysletStat | (string | Buffer)[] | string | BigInt64Array | Buffer | DirentList;

/** A value held on the worker until the chain ends. */
export type RawValue = Stats | BigIntStats | (string | Buffer)[] | string | Uint8Array | DirentList;

export function kindOf(v: RawValue): number {
  if (typeof v === 'string') return ValueKind.STRING;
  if (Array.isArray(v)) return ValueKind.NAMES;
  if (v instanceof Uint8Array) return ValueKind.BYTES;
  if (v instanceof DirentList) return ValueKind.DIRENTS;
  return typeof (v as Stats | BigIntStats).dev === 'bigint' ? ValueKind.BIGSTAT : ValueKind.STAT;
}

/**
 * A NAMES value's payload: the names joined by NUL, as a string when every name is one, else as
 * bytes (readdir returns names that are not valid UTF-8 as Buffers).
 */
function namesPayload(v: readonly (string | Buffer)[]): string | Buffer {
  if (v.every((n) => typeof n === 'string')) return (v as string[]).join('\0');
  const parts: Buffer[] = [];
  v.forEach((n, i) => {
    if (i > 0) parts.push(NUL);
    parts.push(typeof n === 'string' ? Buffer.from(n, 'utf8') : n);
  });
  return Buffer.concat(parts);
}

const NUL = Buffer.from([0]);

/** Payload bytes of a value (before padding). */
export function payloadBytes(v: RawValue): number {
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (Array.isArray(v)) {
    if (v.length === 0) return 0;
    const j = namesPayload(v);
    return typeof j === 'string' ? Buffer.byteLength(j, 'utf8') : j.length;
  }
  if (v instanceof Uint8Array) return v.byteLength;
  if (v instanceof DirentList) {
    const n = v.names.length;
    return 4 + n + (n === 0 ? 0 : Buffer.byteLength(v.names.join('\0'), 'utf8'));
  }
  if (typeof (v as Stats | BigIntStats).dev === 'bigint') return BIGSTAT_FIELDS * 8;
  return STAT_FIELDS * 8;
}

/** Nanoseconds since the epoch as a timespec: seconds (floor) and nanoseconds (0 to 1e9 - 1). */
function timespec(b64: BigInt64Array, at: number, ns: bigint): void {
  let sec = ns / NS_PER_S;
  let nsec = ns % NS_PER_S;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS_PER_S;
  }
  b64[at] = sec;
  b64[at + 1] = nsec;
}

export function recordBytes(v: RawValue): number {
  return VALUE_HEADER_BYTES + alignUp(payloadBytes(v), 8);
}

/**
 * Write one record at byte `at` of `buf` (which `i32`/`f64` view too). Returns the next offset.
 */
export function writeRecord(
  buf: Buffer,
  i32: Int32Array,
  f64: Float64Array,
  at: number,
  variable: number,
  v: RawValue,
): number {
  const kind = kindOf(v);
  let bytes: number;
  const payload = at + VALUE_HEADER_BYTES;
  if (kind === ValueKind.BIGSTAT) {
    const s = v as BigIntStats;
    const f = payload / 8;
    const b64 = bigView(buf);
    b64[f] = s.dev;
    b64[f + 1] = s.ino;
    b64[f + 2] = s.mode;
    b64[f + 3] = s.nlink;
    b64[f + 4] = s.uid;
    b64[f + 5] = s.gid;
    b64[f + 6] = s.rdev;
    b64[f + 7] = s.size;
    b64[f + 8] = s.blksize;
    b64[f + 9] = s.blocks;
    timespec(b64, f + 10, s.atimeNs);
    timespec(b64, f + 12, s.mtimeNs);
    timespec(b64, f + 14, s.ctimeNs);
    timespec(b64, f + 16, s.birthtimeNs);
    bytes = BIGSTAT_FIELDS * 8;
  } else if (kind === ValueKind.BYTES) {
    const b = v as Uint8Array;
    buf.set(b, payload);
    bytes = b.byteLength;
  } else if (kind === ValueKind.DIRENTS) {
    const d = v as DirentList;
    const n = d.names.length;
    i32[payload / 4] = n;
    buf.set(d.types, payload + 4);
    bytes = 4 + n + (n === 0 ? 0 : buf.write(d.names.join('\0'), payload + 4 + n, 'utf8'));
  } else if (kind === ValueKind.STAT) {
    const s = v as Stats;
    const f = payload / 8;
    f64[f] = s.dev;
    f64[f + 1] = s.ino;
    f64[f + 2] = s.mode;
    f64[f + 3] = s.nlink;
    f64[f + 4] = s.uid;
    f64[f + 5] = s.gid;
    f64[f + 6] = s.rdev;
    f64[f + 7] = s.size;
    f64[f + 8] = s.blksize;
    f64[f + 9] = s.blocks;
    f64[f + 10] = s.atimeMs;
    f64[f + 11] = s.mtimeMs;
    f64[f + 12] = s.ctimeMs;
    f64[f + 13] = s.birthtimeMs;
    bytes = STAT_FIELDS * 8;
  } else if (kind === ValueKind.NAMES) {
    const j = namesPayload(v as (string | Buffer)[]);
    bytes = typeof j === 'string' ? (j.length === 0 ? 0 : buf.write(j, payload, 'utf8')) : j.copy(buf, payload);
  } else {
    const text = v as string;
    bytes = text.length === 0 ? 0 : buf.write(text, payload, 'utf8');
  }
  const w = at / 4;
  i32[w] = variable;
  i32[w + 1] = kind;
  i32[w + 2] = bytes;
  i32[w + 3] = 0;
  return payload + alignUp(bytes, 8);
}

/** The value of the record at byte `at`. */
export function readValue(buf: Buffer, i32: Int32Array, f64: Float64Array, at: number): Value {
  const w = at / 4;
  const kind = i32[w + 1]!;
  const bytes = i32[w + 2]!;
  const payload = at + VALUE_HEADER_BYTES;
  if (kind === ValueKind.STAT) {
    const f = payload / 8;
    return new SysletStat(
      f64[f]!,
      f64[f + 1]!,
      f64[f + 2]!,
      f64[f + 3]!,
      f64[f + 4]!,
      f64[f + 5]!,
      f64[f + 6]!,
      f64[f + 7]!,
      f64[f + 8]!,
      f64[f + 9]!,
      f64[f + 10]!,
      f64[f + 11]!,
      f64[f + 12]!,
      f64[f + 13]!,
    );
  }
  if (kind === ValueKind.BIGSTAT) return bigView(buf).slice(payload / 8, payload / 8 + BIGSTAT_FIELDS);
  if (kind === ValueKind.BYTES) return Buffer.from(buf.subarray(payload, payload + bytes));
  if (kind === ValueKind.DIRENTS) return readDirents(buf, i32, payload, bytes);
  const text = bytes === 0 ? '' : buf.toString('utf8', payload, payload + bytes);
  if (kind !== ValueKind.NAMES) return text;
  if (text === '') return [];
  if (!text.includes('\ufffd')) return text.split('\0');
  // Some name is not valid UTF-8: split the bytes, keep such names as Buffers.
  const names: (string | Buffer)[] = [];
  for (let at = payload, end = payload + bytes; at <= end; ) {
    let z = buf.indexOf(0, at);
    if (z < 0 || z > end) z = end;
    const b = buf.subarray(at, z);
    names.push(isUtf8(b) ? b.toString('utf8') : Buffer.from(b));
    at = z + 1;
  }
  return names;
}

/** A DIRENTS payload of `bytes` at byte `payload`. */
export function readDirents(buf: Buffer, i32: Int32Array, payload: number, bytes: number): DirentList {
  const n = i32[payload / 4]!;
  const types = Uint8Array.from(buf.subarray(payload + 4, payload + 4 + n));
  const text = n === 0 ? '' : buf.toString('utf8', payload + 4 + n, payload + bytes);
  return new DirentList(n === 0 ? [] : text.split('\0'), types);
}

/** A BigInt64Array over the same memory as `buf` (which starts at its buffer's byte 0). */
const bigViews = new WeakMap<ArrayBufferLike, BigInt64Array>();
export function bigView(buf: Uint8Array): BigInt64Array {
  let v = bigViews.get(buf.buffer);
  if (v === undefined) {
    v = new BigInt64Array(buf.buffer, 0, Math.floor(buf.buffer.byteLength / 8));
    bigViews.set(buf.buffer, v);
  }
  return v;
}

/** Byte offset of the record after the one at `at`. */
export function nextRecord(i32: Int32Array, at: number): number {
  return at + VALUE_HEADER_BYTES + alignUp(i32[at / 4 + 2]!, 8);
}
