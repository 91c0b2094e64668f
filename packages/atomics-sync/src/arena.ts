/**
 * A shared arena: one SharedArrayBuffer from which any thread allocates blocks, so that atoms on a
 * worker read into and write from caller-visible memory without copying.
 *
 * Allocator: binary buddy system (Knowlton 1965) over a power-of-two heap, minimum block 64 bytes.
 * Block metadata lives outside the blocks (one tag byte per 64-byte unit), so a 4096-byte request
 * takes exactly a 4096-byte block. Free blocks are kept on per-order doubly linked lists whose links
 * are stored in the free blocks themselves. One SharedMutex guards all of it: allocation is off the
 * hot path (buffers are allocated once and reused; values too large for a request slot spill here).
 */
import { CACHE_LINE_WORDS, WORD_BYTES, alignUp, isPowerOfTwo } from './layout.js';
import { SharedMutex } from './lock.js';

export const MIN_ORDER = 6;
const UNIT = 1 << MIN_ORDER;
const MAX_ORDERS = 32;

/** Header word indices (Int32). */
export const ArenaField = {
  LOCK: 0,
  MAGIC: 1,
  HEAP_ORDER: 2,
  /** Byte offset of the first heap byte within the SharedArrayBuffer. */
  DATA_OFFSET: 3,
  /** Byte offset of the tag bytes. */
  TAGS_OFFSET: 4,
  S_ALLOCS: CACHE_LINE_WORDS,
  S_FREES: CACHE_LINE_WORDS + 1,
  S_FAILS: CACHE_LINE_WORDS + 2,
  /** Bytes in allocated blocks (block sizes, not request sizes). */
  S_IN_USE: CACHE_LINE_WORDS + 3,
  S_PEAK: CACHE_LINE_WORDS + 4,
  S_CONTENDED: CACHE_LINE_WORDS + 5,
  /** Free-list heads, one per order: unit index or -1. */
  FREE_HEADS: 2 * CACHE_LINE_WORDS,
  HEADER_WORDS: 2 * CACHE_LINE_WORDS + MAX_ORDERS,
} as const;

const ARENA_MAGIC = 0x4152454e; // "AREN"
const TAG_FREE = 0x40;
const TAG_USED = 0x80;
const TAG_ORDER = 0x3f;

export interface ArenaStats {
  bytes: number;
  inUse: number;
  peakInUse: number;
  allocs: number;
  frees: number;
  failures: number;
  lockContended: number;
}

export class Arena {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly tags: Uint8Array;
  readonly u8: Uint8Array;
  /** The whole SharedArrayBuffer as words (free-list links; values written by workers). */
  readonly #words: Int32Array;
  /** The whole SharedArrayBuffer as Int32 / Float64 words, for records written into blocks. */
  readonly view32: Int32Array;
  readonly view64: Float64Array;
  /** The whole SharedArrayBuffer as a Buffer (atoms pass it to fs calls with an offset). */
  readonly buffer: Buffer;
  readonly heapOrder: number;
  readonly dataOffset: number;
  readonly heapBytes: number;
  readonly #mutex: SharedMutex;

  static create(heapBytes: number): Arena {
    if (!isPowerOfTwo(heapBytes) || heapBytes < 4096 || heapBytes > 2 ** 30) {
      throw new RangeError(
        `arenaBytes: expected a power of two from 4096 to 2^30, got ${String(heapBytes)}`,
      );
    }
    const heapOrder = Math.log2(heapBytes);
    const units = heapBytes / UNIT;
    const tagsOffset = ArenaField.HEADER_WORDS * WORD_BYTES;
    const dataOffset = alignUp(tagsOffset + units, 4096);
    const sab = new SharedArrayBuffer(dataOffset + heapBytes);
    const i32 = new Int32Array(sab, 0, ArenaField.HEADER_WORDS);
    i32[ArenaField.HEAP_ORDER] = heapOrder;
    i32[ArenaField.DATA_OFFSET] = dataOffset;
    i32[ArenaField.TAGS_OFFSET] = tagsOffset;
    for (let k = 0; k < MAX_ORDERS; k++) i32[ArenaField.FREE_HEADS + k] = -1;
    // The whole heap is one free block of the top order.
    const tags = new Uint8Array(sab, tagsOffset, units);
    tags[0] = TAG_FREE | heapOrder;
    const links = new Int32Array(sab, dataOffset, 2);
    links[0] = -1; // prev
    links[1] = -1; // next
    i32[ArenaField.FREE_HEADS + heapOrder] = 0;
    Atomics.store(i32, ArenaField.MAGIC, ARENA_MAGIC);
    return new Arena(sab);
  }

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.i32 = new Int32Array(sab, 0, ArenaField.HEADER_WORDS);
    if (Atomics.load(this.i32, ArenaField.MAGIC) !== ARENA_MAGIC) {
      throw new Error('not an arena SharedArrayBuffer');
    }
    this.heapOrder = this.i32[ArenaField.HEAP_ORDER]!;
    this.heapBytes = 2 ** this.heapOrder;
    this.dataOffset = this.i32[ArenaField.DATA_OFFSET]!;
    this.tags = new Uint8Array(sab, this.i32[ArenaField.TAGS_OFFSET]!, this.heapBytes / UNIT);
    this.u8 = new Uint8Array(sab);
    this.#words = new Int32Array(sab, 0, sab.byteLength >> 2);
    this.view32 = this.#words;
    this.view64 = new Float64Array(sab, 0, sab.byteLength >> 3);
    this.buffer = Buffer.from(sab);
    this.#mutex = new SharedMutex(this.i32, ArenaField.LOCK, ArenaField.S_CONTENDED);
  }

  /**
   * Allocate at least `bytes` bytes (a power-of-two block, >= 64). Returns the block's byte offset
   * in the SharedArrayBuffer, or -1 when no block is free (a value, not an error).
   */
  allocate(bytes: number): number {
    const order = Math.max(MIN_ORDER, Math.ceil(Math.log2(Math.max(1, bytes))));
    if (order > this.heapOrder) {
      Atomics.add(this.i32, ArenaField.S_FAILS, 1);
      return -1;
    }
    this.#mutex.lock();
    try {
      let k = order;
      while (k <= this.heapOrder && this.#head(k) === -1) k++;
      if (k > this.heapOrder) {
        this.i32[ArenaField.S_FAILS]!++;
        return -1;
      }
      const unit = this.#head(k);
      this.#unlink(unit, k);
      // Split down to the requested order, returning the upper halves to their free lists.
      while (k > order) {
        k--;
        this.#pushFree(unit + (1 << (k - MIN_ORDER)), k);
      }
      this.tags[unit] = TAG_USED | order;
      const i32 = this.i32;
      i32[ArenaField.S_ALLOCS]!++;
      i32[ArenaField.S_IN_USE]! += 1 << order;
      if (i32[ArenaField.S_IN_USE]! > i32[ArenaField.S_PEAK]!) {
        i32[ArenaField.S_PEAK] = i32[ArenaField.S_IN_USE]!;
      }
      return this.dataOffset + unit * UNIT;
    } finally {
      this.#mutex.unlock();
    }
  }

  /** Return a block obtained from allocate(). Throws on an offset that is not a live block. */
  free(offset: number): void {
    const rel = offset - this.dataOffset;
    if (!Number.isInteger(rel) || rel < 0 || rel >= this.heapBytes || rel % UNIT !== 0) {
      throw new RangeError(`arena free: ${offset} is not the start of an arena block`);
    }
    let unit = rel / UNIT;
    this.#mutex.lock();
    try {
      const tag = this.tags[unit]!;
      if ((tag & TAG_USED) === 0) {
        throw new RangeError(`arena free: block at ${offset} is not allocated (double free?)`);
      }
      let order = tag & TAG_ORDER;
      this.i32[ArenaField.S_FREES]!++;
      this.i32[ArenaField.S_IN_USE]! -= 1 << order;
      this.tags[unit] = 0;
      // Coalesce with free buddies of the same order.
      while (order < this.heapOrder) {
        const buddy = unit ^ (1 << (order - MIN_ORDER));
        if (this.tags[buddy] !== (TAG_FREE | order)) break;
        this.#unlink(buddy, order);
        this.tags[buddy] = 0;
        unit = Math.min(unit, buddy);
        order++;
      }
      this.#pushFree(unit, order);
    } finally {
      this.#mutex.unlock();
    }
  }

  /** Size in bytes of the live block starting at `offset`, or -1. */
  blockSize(offset: number): number {
    const rel = offset - this.dataOffset;
    if (!Number.isInteger(rel) || rel < 0 || rel >= this.heapBytes || rel % UNIT !== 0) return -1;
    const tag = this.tags[rel / UNIT]!;
    return (tag & TAG_USED) === 0 ? -1 : 2 ** (tag & TAG_ORDER);
  }

  /**
   * The live block containing byte offset `offset`: [start, end) in SharedArrayBuffer offsets, or
   * undefined. Reads tags without the lock: exact for blocks the caller owns, which is what
   * validating a buffer reference asks.
   */
  blockContaining(offset: number): { start: number; end: number } | undefined {
    const rel = offset - this.dataOffset;
    if (!Number.isInteger(rel) || rel < 0 || rel >= this.heapBytes) return undefined;
    for (let k = MIN_ORDER; k <= this.heapOrder; k++) {
      const startRel = rel & ~((1 << k) - 1) & 0x7fffffff;
      const unit = Math.floor(startRel / UNIT);
      if (this.tags[unit] === (TAG_USED | k)) {
        return { start: this.dataOffset + startRel, end: this.dataOffset + startRel + 2 ** k };
      }
    }
    return undefined;
  }

  stats(): ArenaStats {
    const i32 = this.i32;
    return {
      bytes: this.heapBytes,
      inUse: Atomics.load(i32, ArenaField.S_IN_USE),
      peakInUse: Atomics.load(i32, ArenaField.S_PEAK),
      allocs: Atomics.load(i32, ArenaField.S_ALLOCS),
      frees: Atomics.load(i32, ArenaField.S_FREES),
      failures: Atomics.load(i32, ArenaField.S_FAILS),
      lockContended: Atomics.load(i32, ArenaField.S_CONTENDED),
    };
  }

  // Free-list plumbing; callers hold the mutex. Links: [prev, next] unit indices in the block.

  #head(order: number): number {
    return this.i32[ArenaField.FREE_HEADS + order]!;
  }

  /** Word index of a free block's [prev, next] links. */
  #link(unit: number): number {
    return (this.dataOffset + unit * UNIT) >> 2;
  }

  #pushFree(unit: number, order: number): void {
    const w = this.#words;
    const head = this.#head(order);
    const l = this.#link(unit);
    w[l] = -1;
    w[l + 1] = head;
    if (head !== -1) w[this.#link(head)] = unit;
    this.i32[ArenaField.FREE_HEADS + order] = unit;
    this.tags[unit] = TAG_FREE | order;
  }

  #unlink(unit: number, order: number): void {
    const w = this.#words;
    const l = this.#link(unit);
    const prev = w[l]!;
    const next = w[l + 1]!;
    if (prev === -1) this.i32[ArenaField.FREE_HEADS + order] = next;
    else w[this.#link(prev) + 1] = next;
    if (next !== -1) w[this.#link(next)] = prev;
  }
}
