/**
 * What the calling thread and the worker share about a threadlet entry: its data-area words and the
 * request and result records. The only file both sides of a threadlet import (with table.ts).
 *
 * Data area of an entry of kind RequestKind.THREADLET (Int32 words from its first word):
 *
 *   ThreadletData.REQ_AT   arena offset of the request bytes, or 0: they follow the header in the data area
 *   ThreadletData.REQ_LEN  their length
 *   ThreadletData.RES_AT   arena offset of the result bytes, or 0: in the data area (over the request)
 *   ThreadletData.RES_LEN  their length; 0 when there is no result record
 *
 * Ownership follows the entry: the submitter writes the request and frees its arena block when it
 * reaps the entry; the worker reads the request (copying it out) before writing the result, and
 * allocates the result's arena block, which the submitter frees after reading it.
 */
import { errno } from '../syslet/errno.js';
import type { SharedState } from '../syslet/shared.js';
import type { JournalEntry, Pending } from './journal.js';
import type { LoaderEntry } from './loaders.js';

/** Int32 words at the start of a threadlet entry's data area (see the layout above). */
export const ThreadletData = { REQ_AT: 0, REQ_LEN: 1, RES_AT: 2, RES_LEN: 3 } as const;
export const THREADLET_DATA_HEADER_BYTES = 16;

/** The request, as v8-serialized into the entry. */
export interface ThreadletRequest {
  /** Module URL. */
  u: string;
  /** Threadlet name. */
  n: string;
  /** Arguments, EXACT wire form. */
  a: unknown[];
  /** Journal of the inline run (empty when it started on a worker). */
  j: JournalEntry[];
  /** Where the inline run stopped, or null. */
  p: Pending | null;
  /** process.cwd() of the caller at the call (what process.cwd() returns during the run). */
  c: string;
  /** module.register() calls on the caller since syslet was imported (loaders.ts), when there are any. */
  l?: LoaderEntry[];
  /** Set by the worker, not sent: the record came through v8.serialize (it may hold shared objects). */
  g?: boolean;
}

/**
 * The result of a threadlet that threw something other than an error with a Linux errno `code`
 * (one that did: -errno, resultOfCode).
 */
export const THREADLET_THREW = -errno.EIO;
/** The result when the runtime could not run it (module or name not found, a value that cannot travel, divergence). */
export const THREADLET_UNRUNNABLE = -errno.EINVAL;

/** Write `bytes` as the entry's request or result. Returns 0, or -ENOMEM (the arena is full). */
export function writeRecord(s: SharedState, idx: number, which: 'req' | 'res', bytes: Uint8Array): number {
  const db = s.layout.data(idx);
  const at = which === 'req' ? ThreadletData.REQ_AT : ThreadletData.RES_AT;
  const len = which === 'req' ? ThreadletData.REQ_LEN : ThreadletData.RES_LEN;
  if (bytes.byteLength <= s.layout.dataBytes - THREADLET_DATA_HEADER_BYTES) {
    s.buf.set(bytes, s.layout.dataByte(idx) + THREADLET_DATA_HEADER_BYTES);
    s.i32[db + at] = 0;
  } else {
    const off = s.arena.allocate(bytes.byteLength);
    if (off < 0) {
      s.i32[db + at] = 0;
      s.i32[db + len] = 0;
      return -errno.ENOMEM;
    }
    s.arena.u8.set(bytes, off);
    s.i32[db + at] = off;
  }
  s.i32[db + len] = bytes.byteLength;
  return 0;
}

/** The entry's request or result bytes (a view of shared memory; undefined when there are none). */
export function recordBytes(s: SharedState, idx: number, which: 'req' | 'res'): Uint8Array | undefined {
  const db = s.layout.data(idx);
  const off = s.i32[db + (which === 'req' ? ThreadletData.REQ_AT : ThreadletData.RES_AT)]!;
  const n = s.i32[db + (which === 'req' ? ThreadletData.REQ_LEN : ThreadletData.RES_LEN)]!;
  if (n <= 0) return undefined;
  return off === 0
    ? s.buf.subarray(s.layout.dataByte(idx) + THREADLET_DATA_HEADER_BYTES, s.layout.dataByte(idx) + THREADLET_DATA_HEADER_BYTES + n)
    : s.arena.u8.subarray(off, off + n);
}

/** Free the request's or result's arena block, if it has one. */
export function freeRecord(s: SharedState, idx: number, which: 'req' | 'res'): void {
  const db = s.layout.data(idx);
  const at = db + (which === 'req' ? ThreadletData.REQ_AT : ThreadletData.RES_AT);
  const off = s.i32[at]!;
  if (off !== 0) {
    s.arena.free(off);
    s.i32[at] = 0;
  }
}
