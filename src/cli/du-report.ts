/**
 * `syslet du`'s report: du's post-order over the tree the walk collected, with its hard-link set.
 *
 * Siblings print in their directory's own order (readdir's, which is the order du's fts visits
 * them in). The hard-link bookkeeping happens here, in that order, so which of several links
 * counts is decided by the printed order, as in du, and not by which lstat finished first.
 */
import { asBytes, childPrefix, formatSize, joinPath, quoteName, strerror, type DuPath } from './du-format.js';
import type { Dir, DuStat, Kid, Root } from './du-walk.js';

export interface ReportOptions {
  blockSize: number | 'human';
  maxDepth: number;
  /** Every file and directory counts once over all operands (several operands, as du's hash_all). */
  hashAll: boolean;
  apparent: boolean;
  all: boolean;
  /** Non-ASCII characters print as they are in quoted names (a UTF-8 locale). */
  utf8: boolean;
  out: (text: string | Buffer) => void;
  err: (text: string) => void;
}

/** Siblings in their directory's own order (readdir's), as du's fts visits them. */
function kidOrder(a: Kid, b: Kid): number {
  return a.order - b.order;
}

/** The bytes du counts for a file: allocated (st_blocks * 512), or apparent (st_size). */
export function sizeOf(st: DuStat, apparent: boolean): number {
  return apparent ? Math.max(0, st.size) : st.blocks * 512;
}

export class Report {
  ok = true;
  grand = 0;
  readonly #o: ReportOptions;
  /** (st_dev, st_ino) pairs counted so far. */
  readonly #seen = new Map<number, Set<number>>();
  #buf = '';

  constructor(o: ReportOptions) {
    this.#o = o;
  }

  root(r: Root): void {
    if (r.path === '') {
      this.#error('invalid zero-length file name');
      return;
    }
    if (r.err !== 0) {
      this.#error(`cannot access ${quoteName(r.path, this.#o.utf8)}: ${strerror(r.err)}`);
      return;
    }
    const st = r.stat!;
    if (r.dir !== undefined) {
      if (this.#o.hashAll && !this.#firstSight(st)) return;
      this.grand += this.#dir(r.dir, 0);
      return;
    }
    if ((this.#o.hashAll || st.nlink > 1) && !this.#firstSight(st)) return;
    const size = sizeOf(st, this.#o.apparent);
    this.grand += size;
    this.line(size, r.path);
  }

  #dir(d: Dir, level: number): number {
    let size = sizeOf(d.stat, this.#o.apparent) + d.plain;
    const kids = d.kids.sort(kidOrder);
    const prefix = childPrefix(d.path);
    for (const kid of kids) {
      if (kid.cycle) continue;
      if (kid.err !== 0) {
        this.#error(`cannot access ${quoteName(joinPath(prefix, kid.name), this.#o.utf8)}: ${strerror(kid.err)}`);
        continue;
      }
      const st = kid.stat!;
      if (kid.dir !== undefined) {
        if (this.#o.hashAll && !this.#firstSight(st)) continue;
        size += this.#dir(kid.dir, level + 1);
        continue;
      }
      if ((this.#o.hashAll || st.nlink > 1) && !this.#firstSight(st)) continue;
      const s = sizeOf(st, this.#o.apparent);
      size += s;
      if (this.#o.all && level + 1 <= this.#o.maxDepth) this.line(s, joinPath(prefix, kid.name));
    }
    if (d.readErr !== 0) {
      this.#error(`cannot read directory ${quoteName(d.path, this.#o.utf8)}: ${strerror(d.readErr)}`);
    }
    if (level <= this.#o.maxDepth) this.line(size, d.path);
    return size;
  }

  /** Record (dev, ino); false if it was already there. */
  #firstSight(st: DuStat): boolean {
    let inos = this.#seen.get(st.dev);
    if (inos === undefined) {
      inos = new Set();
      this.#seen.set(st.dev, inos);
    }
    if (inos.has(st.ino)) return false;
    inos.add(st.ino);
    return true;
  }

  /** One output line; a path that is bytes goes out as bytes, as du writes it. */
  line(bytes: number, path: DuPath): void {
    if (typeof path !== 'string') {
      this.flush();
      this.#o.out(Buffer.concat([Buffer.from(`${formatSize(bytes, this.#o.blockSize)}\t`), asBytes(path), NEWLINE]));
      return;
    }
    this.#buf += `${formatSize(bytes, this.#o.blockSize)}\t${path}\n`;
    if (this.#buf.length >= 65536) this.flush();
  }

  #error(msg: string): void {
    this.ok = false;
    // Keep the two streams in du's relative order for a reader that merges them.
    this.flush();
    this.#o.err(`du: ${msg}\n`);
  }

  flush(): void {
    if (this.#buf.length > 0) {
      this.#o.out(this.#buf);
      this.#buf = '';
    }
  }
}

const NEWLINE = Buffer.from('\n');
