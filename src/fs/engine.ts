/**
 * The batcher: fs calls become atoms, the calls of a tick (and those made while earlier batches are
 * in flight) become one chain per batch, one request entry and one completion each.
 *
 *   submit(call) ──► pending ──microtask──► flush: up to `maxInFlight` batches of up to MAX_ATOMS
 *                                           atoms (each `into` its own variable, no STOP flags, so
 *                                           one failure is one result, not the end of the batch)
 *   completion ──► decode: each atom's variable and value record ──► settle(call, result, value)
 *
 * A batch is submitted as a request whose codec writes the chain straight into its entry (no chain
 * objects, no validation: every argument comes from api.ts, which checked it) and reads each atom's
 * result back from the entry (no Completion records per variable). Loaded lazily by index.ts.
 */
import type { Runtime } from '../runtime.js';
import type { RequestCodec, Submission } from '../syslet/client.js';
import { entryRelease, valueRecords } from '../syslet/encode.js';
import {
  NO_VARS,
  RequestFlag,
  RequestKind,
  completionRead,
  entryFlagsAdd,
  entryResult,
  entryValuesLen,
  type Completion,
} from '../syslet/entry.js';
import { errno } from '../syslet/errno.js';
import { OPS, ValueKind } from '../syslet/ops.js';
import { ControlWord, type SharedState } from '../syslet/shared.js';
import {
  ARG_WORDS,
  ATOM_HEADER_WORDS,
  ArgKind,
  ArgWord,
  AtomWord,
  DataWord,
  VALUE_HEADER_BYTES,
  VARIABLE_BYTES,
  atomBytes,
} from '../syslet/table.js';
import { chainLayout, grantBytes } from '../syslet/validate.js';
import { Op } from '../syslet/ops.js';
import { bigView, nextRecord, readDirents } from '../syslet/values.js';
import { FsCall, LOST, NOT_RUN, makeBigIntStats, makeStats, makeStatsMs, type Backend, type Settle } from './call.js';

const K_PATH = 0;
const K_BUF = 1;
const K_NUM = 2;
/** Per opcode, its parameters' kinds: a path string, a buffer, or a number. */
const PARAM_KINDS: readonly Uint8Array[] = OPS.map((o) =>
  Uint8Array.from(o.params, (q) => (q.kind === 'path' ? K_PATH : q.kind === 'buf' ? K_BUF : K_NUM)),
);

/** Operations whose first argument is a descriptor (granted to the batch that uses it). */
const FD_OPS: ReadonlySet<number> = new Set([Op.READ, Op.WRITE, Op.PREAD, Op.PWRITE, Op.CLOSE, Op.FSTAT]);

/** Most atoms in one batch. */
const MAX_ATOMS = 256;
/** Data-area bytes a batch leaves free (alignment, the values area's first records). */
const SLACK_BYTES = 256;
/** Fixed words of an encoded chain before its atoms (DataWord.ATOM_TABLE). */
const CHAIN_HEADER_BYTES = DataWord.ATOM_TABLE * 4 + 8;

export interface EngineOptions {
  /** Batches in flight at once. @default twice the workers, at least 2 */
  maxInFlight?: number;
  /** Stop the runtime when the engine closes (it made the runtime). */
  ownsRuntime?: boolean;
  /**
   * A call that would travel alone (nothing else pending, no batch in flight) goes to
   * node:fs/promises instead, when it has a Node equivalent: a batch of one gains nothing from
   * the rings, and waking an idle worker and then the idle event loop costs more than libuv's own
   * wake-up. Only for a runtime without a policy (Node's calls are not confined).
   * @default false
   */
  loneToNode?: boolean;
}

/** Bytes of a call's buffer parameter (data to write, or room to read into), or -1 for none. */
function bufBytes(c: FsCall): number {
  if (c.data !== undefined) return c.data.byteLength;
  return c.out === undefined ? -1 : c.out.byteLength;
}

/** A call's bytes in an entry: its atom (atomBytes), variable, strings and a literal. */
function callBytes(c: FsCall, nparams: number): number {
  let b = atomBytes(nparams) + VARIABLE_BYTES + 8;
  b += c.p1.length * 3;
  if (c.p2 !== undefined) b += c.p2.length * 3;
  return b;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

class Batch implements RequestCodec {
  readonly kind = RequestKind.CHAIN;
  constructor(
    readonly engine: Engine,
    readonly calls: FsCall[],
  ) {}

  encode(s: SharedState, idx: number): number {
    return this.engine._encode(s, idx, this.calls);
  }

  decode(s: SharedState, idx: number, sub: Submission): Completion {
    this.engine._decode(s, idx, this.calls);
    // The batch's own completion, as the entry's header has it (each call settled from its own
    // result above): what rt.stats(), the recorder and a kqueue see of it.
    return completionRead(s, idx, sub.id, NO_VARS);
  }

  release(s: SharedState, idx: number): void {
    entryRelease(s, idx);
  }

  unstarted(c: Completion): void {
    this.engine._unstarted(this.calls, c.result);
  }
}

export class Engine implements Backend {
  readonly #rt: Runtime;
  readonly #settle: Settle;
  readonly #slotBytes: number;
  readonly #maxInFlight: number;
  readonly #owns: boolean;
  readonly #loneToNode: boolean;
  #pending: FsCall[] = [];
  #inFlight = 0;
  #scheduled = false;
  #closed = false;

  constructor(rt: Runtime, settle: Settle, opts: EngineOptions = {}) {
    this.#rt = rt;
    this.#settle = settle;
    this.#slotBytes = new Int32Array(rt.share().handles.ctl)[ControlWord.SLOT_BYTES]!;
    this.#maxInFlight = opts.maxInFlight ?? Math.max(2, 2 * rt.workers);
    this.#owns = opts.ownsRuntime === true;
    this.#loneToNode = opts.loneToNode === true;
  }

  get runtime(): Runtime {
    return this.#rt;
  }

  /** Calls queued and not yet in a batch. */
  get pending(): number {
    return this.#pending.length;
  }

  submit(c: FsCall): void {
    this.#pending.push(c);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Submit what is pending, in batches, while fewer than maxInFlight are in flight. */
  readonly #flush = (): void => {
    this.#scheduled = false;
    const pending = this.#pending;
    if (this.#loneToNode && pending.length === 1 && this.#inFlight === 0 && pending[0]!.nodeFn !== undefined) {
      const c = pending[0]!;
      this.#pending = [];
      c.resolve(c.nodeFn!(c.a0 as never, c.a1 as never, c.a2 as never));
      return;
    }
    let at = 0;
    while (at < pending.length && this.#inFlight < this.#maxInFlight) {
      // Spread what is pending over the free batch places, so every worker gets a share.
      const free = this.#maxInFlight - this.#inFlight;
      const want = Math.min(MAX_ATOMS, Math.max(16, Math.ceil((pending.length - at) / free)));
      const budget = this.#slotBytes - CHAIN_HEADER_BYTES - SLACK_BYTES;
      let bytes = 0;
      let end = at;
      while (end < pending.length && end - at < want) {
        const c = pending[end]!;
        const b = callBytes(c, OPS[c.op]!.params.length);
        if (end > at && bytes + b > budget) break;
        bytes += b;
        end++;
      }
      this.#start(pending.slice(at, end));
      at = end;
    }
    this.#pending = at === 0 ? pending : pending.slice(at);
  };

  #start(calls: FsCall[]): void {
    this.#inFlight++;
    try {
      this.#rt._submitRequest(new Batch(this, calls));
    } catch (err) {
      // The runtime refused (closed): the calls fail as Node's would not, loudly.
      this.#inFlight--;
      for (const c of calls) c.reject(err);
    }
  }

  #batchDone(): void {
    this.#inFlight--;
    if (this.#pending.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      // Not from inside the reaper's loop: the next flush submits, which may reap.
      queueMicrotask(this.#flush);
    }
  }

  /**
   * @internal Write `calls` as a chain into entry `idx` (Batch.encode): atom k is call k, `into`
   * variable k, next k + 1, no flags; the layout is validate.ts's chainLayout, written straight
   * from the calls (no chain objects). Returns 0, -E2BIG (does not fit the entry) or -ENOMEM.
   */
  _encode(s: SharedState, idx: number, calls: FsCall[]): number {
    const n = calls.length;
    // Pass 1: sizes. Strings that are not ASCII travel as their UTF-8 bytes.
    let atomWords = 0;
    let strBytes = 0;
    let nlits = 0;
    let nbufs = 0;
    let utf8: Map<string, Buffer> | undefined;
    for (let k = 0; k < n; k++) {
      const c = calls[k]!;
      const kinds = PARAM_KINDS[c.op]!;
      atomWords += ATOM_HEADER_WORDS + ARG_WORDS * kinds.length;
      let nums = 0;
      let paths = 0;
      for (let q = 0; q < kinds.length; q++) {
        const kind = kinds[q]!;
        if (kind === K_PATH) {
          const str = paths++ === 0 ? c.p1 : c.p2!;
          if (isAscii(str)) strBytes += str.length;
          else {
            utf8 ??= new Map();
            let b = utf8.get(str);
            if (b === undefined) utf8.set(str, (b = Buffer.from(str, 'utf8')));
            strBytes += b.length;
          }
        } else if (kind === K_BUF) nbufs++;
        else {
          const x = nums === 0 ? c.n1 : nums === 1 ? c.n2 : c.n3;
          nums++;
          if (x !== undefined && (x | 0) !== x) nlits++;
        }
      }
    }
    const L = chainLayout(n, atomWords, nlits, n, nbufs, strBytes);
    // Chunked reads and writes (chunked.ts) use a descriptor across batches: a batch that opens one
    // keeps it (under a policy a chain's descriptors close when it ends unless kept), and a batch
    // that uses one is granted it (under a policy a chain may use only its own and those granted).
    let grants: number[] | undefined;
    let keepFds = false;
    for (const c of calls) {
      if (c.op === Op.OPEN) keepFds = true;
      else if (FD_OPS.has(c.op) && c.n1 !== undefined) (grants ??= []).push(c.n1);
    }
    const valuesAt = L.valuesAt + (grants === undefined ? 0 : grantBytes(grants.length));
    if (valuesAt > s.layout.dataBytes) return -errno.E2BIG;

    // The data of writes, into arena blocks (freed by entryRelease through the buffer table).
    let blocks: number[] | undefined;
    if (nbufs > 0) {
      blocks = [];
      for (const c of calls) {
        const bytes = bufBytes(c);
        if (bytes < 0) continue;
        const off = s.arena.allocate(Math.max(1, bytes));
        if (off < 0) {
          for (const o of blocks) s.arena.free(o);
          return -errno.ENOMEM;
        }
        if (c.data !== undefined) s.arena.u8.set(c.data, off);
        blocks.push(off);
      }
      entryFlagsAdd(s, idx, RequestFlag.HAS_BUFFERS);
    }

    // Pass 2: the words.
    const i32 = s.i32;
    const f64 = s.f64;
    const u8 = s.buf;
    const db = s.layout.data(idx);
    const d8 = s.layout.dataByte(idx);
    const d64 = d8 / 8;
    i32[db + DataWord.NATOMS] = n;
    i32[db + DataWord.LITS] = L.litsAt;
    i32[db + DataWord.VARS] = L.varsAt;
    i32[db + DataWord.ASSIGNED] = L.assignedAt;
    i32[db + DataWord.STRS] = L.strsAt;
    i32[db + DataWord.VALUES] = valuesAt;
    if (grants === undefined) i32[db + DataWord.GRANTS] = 0;
    else {
      const gw = L.valuesAt / 4;
      i32[db + gw] = grants.length;
      for (let k = 0; k < grants.length; k++) i32[db + gw + 1 + k] = grants[k]!;
      i32[db + DataWord.GRANTS] = gw;
    }
    if (keepFds) entryFlagsAdd(s, idx, RequestFlag.KEEP_FDS);
    i32[db + DataWord.NBUFS] = nbufs;
    i32[db + DataWord.BUFS] = L.bufsAt;
    const strBase = d8 + L.strsAt;
    let str = 0;
    let lit = 0;
    let buf = 0;
    let at = L.atomsAt;
    for (let k = 0; k < n; k++) {
      const c = calls[k]!;
      const kinds = PARAM_KINDS[c.op]!;
      i32[db + DataWord.ATOM_TABLE + k] = at;
      let w = db + at;
      at += ATOM_HEADER_WORDS + ARG_WORDS * kinds.length;
      i32[w + AtomWord.OP] = c.op;
      i32[w + AtomWord.FLAGS] = 0;
      i32[w + AtomWord.NEXT] = k + 1 < n ? k + 1 : -1;
      i32[w + AtomWord.INTO] = k;
      w += ATOM_HEADER_WORDS;
      let paths = 0;
      let nums = 0;
      for (let q = 0; q < kinds.length; q++, w += ARG_WORDS) {
        const kind = kinds[q]!;
        if (kind === K_PATH) {
          const p = paths++ === 0 ? c.p1 : c.p2!;
          const bytes = utf8?.get(p);
          let len: number;
          if (bytes === undefined) len = u8.write(p, strBase + str, p.length, 'latin1');
          else {
            u8.set(bytes, strBase + str);
            len = bytes.length;
          }
          i32[w + ArgWord.KIND] = ArgKind.STR;
          i32[w + ArgWord.A] = str;
          i32[w + ArgWord.B] = len;
          str += len;
        } else if (kind === K_BUF) {
          const bytes = bufBytes(c);
          i32[w + ArgWord.KIND] = ArgKind.BUF;
          i32[w + ArgWord.A] = blocks![buf]!;
          i32[w + ArgWord.B] = bytes;
          i32[db + L.bufsAt + 2 * buf] = blocks![buf]!;
          i32[db + L.bufsAt + 2 * buf + 1] = Math.max(1, bytes);
          buf++;
        } else {
          const x = nums === 0 ? c.n1 : nums === 1 ? c.n2 : c.n3;
          nums++;
          if (x === undefined) {
            i32[w + ArgWord.KIND] = ArgKind.NONE;
            i32[w + ArgWord.A] = 0;
          } else if ((x | 0) === x) {
            i32[w + ArgWord.KIND] = ArgKind.INT;
            i32[w + ArgWord.A] = x;
          } else {
            i32[w + ArgWord.KIND] = ArgKind.NUM;
            i32[w + ArgWord.A] = lit;
            f64[d64 + L.litsAt + lit++] = x;
          }
          i32[w + ArgWord.B] = 0;
        }
      }
      // Variable k: unassigned until atom k runs.
      f64[d64 + L.varsAt + k] = 0;
      i32[db + L.assignedAt + k] = 0;
    }
    return 0;
  }

  /** @internal Settle every call of a batch that ran (Batch.decode). */
  _decode(s: SharedState, idx: number, calls: FsCall[]): void {
    const i32 = s.i32;
    const f64 = s.f64;
    const L = s.layout;
    const db = L.data(idx);
    const d64 = L.dataByte(idx) / 8;
    const n = calls.length;
    const values: unknown[] = new Array<unknown>(n);
    const len = entryValuesLen(s, idx);
    const r = valueRecords(s, idx);
    if (r !== undefined) {
      const s32 = r.i32;
      for (let at = r.at; at < r.end; at = nextRecord(s32, at)) {
        const variable = s32[at / 4]!;
        if (variable >= 0 && variable < n) values[variable] = readAtomValue(r.buf, s32, at, calls[variable]!);
      }
    } else if (len < 0) {
      values.fill(LOST);
    }
    const assignedAt = db + i32[db + DataWord.ASSIGNED]!;
    const varsAt = d64 + i32[db + DataWord.VARS]!;
    const failure = entryResult(s, idx); // how the chain ended
    const nbufs = i32[db + DataWord.NBUFS]!;
    if (nbufs > 0) {
      // Reads into arena blocks: copy what was read out before the blocks are freed.
      const bufsAt = db + i32[db + DataWord.BUFS]!;
      let b = 0;
      for (let k = 0; k < n; k++) {
        const c = calls[k]!;
        if (bufBytes(c) < 0) continue;
        const r = f64[varsAt + k]!;
        if (c.out !== undefined && i32[assignedAt + k] === 1 && r > 0) {
          const off = i32[bufsAt + 2 * b]!;
          c.out.set(s.arena.u8.subarray(off, off + r));
        }
        b++;
      }
    }
    for (let k = 0; k < n; k++) {
      const c = calls[k]!;
      if (i32[assignedAt + k] === 1) this.#settle(c, f64[varsAt + k]!, len < 0 ? LOST : values[k]);
      // The atom never ran (its worker died, or the chain was cancelled): the chain's result says why.
      else this.#settle(c, failure < 0 ? failure : -errno.ECANCELED, NOT_RUN);
    }
    this.#batchDone();
  }

  /** @internal The batch never reached a worker (Batch.unstarted). */
  _unstarted(calls: FsCall[], result: number): void {
    if (result === -errno.E2BIG && calls.length > 1) {
      // It did not fit its entry after all: run it as two (not from inside the client's submit).
      const half = calls.length >> 1;
      queueMicrotask(() => {
        this.#inFlight--;
        this.#start(calls.slice(0, half));
        this.#start(calls.slice(half));
      });
      return;
    }
    for (const c of calls) this.#settle(c, result, NOT_RUN);
    this.#batchDone();
  }

  /** Stop taking calls; close the runtime when the engine made it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owns) await this.#rt.close();
  }
}


let lastSrc: Buffer | undefined;
let lastF64: Float64Array | undefined;
function f64Of(src: Buffer): Float64Array {
  lastSrc = src;
  lastF64 = new Float64Array(src.buffer, 0, src.buffer.byteLength >> 3);
  return lastF64;
}

/** The value record at byte `at`, as the call's answer needs it. */
function readAtomValue(src: Buffer, s32: Int32Array, at: number, c: FsCall): unknown {
  const w = at / 4;
  const kind = s32[w + 1]!;
  const bytes = s32[w + 2]!;
  const payload = at + VALUE_HEADER_BYTES;
  switch (kind) {
    case ValueKind.STAT:
      return makeStatsMs(src === lastSrc ? lastF64! : f64Of(src), payload / 8);
    case ValueKind.BIGSTAT:
      return c.extra === true ? makeBigIntStats(bigView(src), payload / 8) : makeStats(s32, payload / 4);
    case ValueKind.STRING:
      return bytes === 0 ? '' : src.toString('utf8', payload, payload + bytes);
    case ValueKind.BYTES: {
      const out = Buffer.allocUnsafeSlow(bytes);
      src.copy(out, 0, payload, payload + bytes);
      return out;
    }
    case ValueKind.DIRENTS:
      return readDirents(src, s32, payload, bytes);
    default:
      return undefined;
  }
}
