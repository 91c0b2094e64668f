/**
 * `syslet du`'s walk: lstat and readdir everything under the operands and collect the tree.
 *
 * Every directory needs one `readdir`, every name in it one `lstat`. Those are tasks in two queues,
 * run in batches (readdirs first, then lstats) by one of two executors:
 *
 * - inline, on the calling thread, with fs's synchronous calls: the start of every walk. A small
 *   tree (a few thousand names) is done before worker threads would have started, so it costs
 *   little more than Node's own start-up (the threadlet idea: run inline, go to workers only when
 *   the work turns out to be big). After `inlineOps` calls with work left, the runtime is started;
 *   the inline walk goes on, in slices that let the event loop in, until its workers are up. (A
 *   count, not a time: on a loaded machine a time budget runs out on small trees too, and starting
 *   the runtime for them costs more than it gives.)
 * - chains on the runtime's workers, once they are up: a chain takes a batch (up to MAX_ATOMS or
 *   the slot's byte budget), each atom `into` its own variable and without STOP flags, so one
 *   failing lstat leaves the rest of its batch alone. Up to `concurrency` chains are in flight;
 *   each completion feeds the queues and tops the flight up again.
 *
 * Completions arrive in any order, so the walk only collects: per directory its own stat, the
 * bytes of its plain files, and the children whose place in the order matters (subdirectories,
 * errors, files with several links, every file with -a or with several operands). The report
 * (du-report.ts) prints in du's order afterwards.
 *
 * Names that are not valid UTF-8 travel as Buffers (readdir returns them so, lstat takes them), so
 * they are stat'ed and counted like any other. A directory with the device and inode of one of its
 * ancestors (a bind mount of a directory inside itself) is a cycle: gnulib's fts reports it as
 * FTS_DC and du, walking physically, skips it without a word; so does this walk (not read, not
 * counted, not printed).
 */
import fs from 'node:fs';
import type { Atom, Chain, Completion, Runtime } from '../index.js';
import { readdirInOrder } from '../syslet/readdir.js';
import { VARIABLE_BYTES, atomBytes } from '../syslet/table.js';
import { childPrefix, joinPath, maxBytes, type DuPath } from './du-format.js';

/** The fields of a stat du uses (fs.Stats and SysletStat both have them). */
export interface DuStat {
  dev: number;
  ino: number;
  nlink: number;
  size: number;
  blocks: number;
  isDirectory(): boolean;
}

export interface Dir {
  /** The path du prints (fts_path). */
  path: DuPath;
  stat: DuStat;
  /** The directory this one is in (undefined for an operand). */
  parent: Dir | undefined;
  /** errno of a readdir that failed, else 0. */
  readErr: number;
  /** Bytes of children that need no place in the order (single-link non-directories). */
  plain: number;
  /** Children that do: subdirectories, failures, multi-link files; everything with -a or hashAll. */
  kids: Kid[];
}

export interface Kid {
  name: DuPath;
  /** Position in its directory's readdir order. */
  order: number;
  /** errno of a failed lstat, else 0. */
  err: number;
  stat: DuStat | undefined;
  dir: Dir | undefined;
  /** A directory that is one of its own ancestors (same st_dev and st_ino): skipped, as du does. */
  cycle: boolean;
}

export interface Root {
  /** Tells an operand from a Dir among the parents of stat tasks. */
  operand: true;
  /** The path lstat'ed, printed and named in messages (the operand, trailing slashes cut to one). */
  path: string;
  err: number;
  stat: DuStat | undefined;
  dir: Dir | undefined;
}

interface StatTask {
  path: DuPath;
  name: DuPath;
  /** Position in its directory's readdir order. */
  order: number;
  /** The directory the name is in, or the operand it is. */
  parent: Dir | Root;
}

/** Options for the runtime the walk starts: big slots, so one chain carries a big batch. */
export const DU_RUNTIME_OPTIONS = { slotBytes: 65536, ringSize: 64 } as const;

/** Atoms per chain at most, and the encoded bytes we allow a batch (the slot, with room to spare). */
const MAX_ATOMS = 256;
const BATCH_BYTES = DU_RUNTIME_OPTIONS.slotBytes - 4096;
/** Encoded bytes per lstat/readdir atom besides its path: the atom with its one argument, its variable. */
const ATOM_BYTES = atomBytes(1) + VARIABLE_BYTES;
/** Fewest atoms in a chain while more are queued (spreading work thinner costs more per atom). */
const MIN_ATOMS = 16;
/** Tasks per inline slice while the runtime starts (a slice then lets the event loop in). */
const INLINE_SLICE = 64;

/** Variable names v0, v1, ...: one per atom of a batch. */
const VAR = Array.from({ length: MAX_ATOMS }, (_, i) => `v${i}`);

/** `syscall`'s errno from a failed fs call (Node's err.errno is negative), else rethrow. */
function errnoOf(e: unknown): number {
  const n = (e as { errno?: unknown }).errno;
  if (typeof n === 'number' && n < 0) return -n;
  throw e;
}

const ENOMEM = 12;
/** A directory's names in its own order, or -errno (as the readdir atom gives them). */
function readNames(path: DuPath): DuPath[] | number {
  try {
    return readdirInOrder(path);
  } catch (e) {
    return -errnoOf(e);
  }
}

function lstatInline(path: DuPath): DuStat | number {
  try {
    return fs.lstatSync(path);
  } catch (e) {
    return -errnoOf(e);
  }
}

export interface WalkOptions {
  apparent: boolean;
  /** Keep every child (for its place in the order), not only those that need it. */
  keepAll: boolean;
  /** A runtime to walk on from the start (no inline phase), left open. */
  runtime: Runtime | undefined;
  /** readdir and lstat calls made inline before the runtime is started; Infinity never starts one. */
  inlineOps: number;
  /** Create the runtime, without waiting for its workers (called at most once). */
  startRuntime: () => Promise<Runtime>;
  /** Chains in flight at once. @default 4 per worker */
  concurrency: number | undefined;
}

/** The concurrent part: lstat and readdir everything, in batches, and collect the tree. */
export class Walk {
  readonly roots: Root[];
  /** Names stat'ed (operands included), directories read. */
  entries = 0;
  directories = 0;
  /** Chains submitted and the atoms in them; the readdir and lstat calls made inline. */
  chains = 0;
  atoms = 0;
  inline = 0;
  /** The runtime the walk started (the caller closes it), if it started one. */
  started: Runtime | undefined;

  readonly #o: WalkOptions;
  #rt: Runtime | undefined;
  #maxInFlight = 1;
  readonly #stats: StatTask[] = [];
  #statsHead = 0;
  readonly #dirs: Dir[] = [];
  #dirsHead = 0;
  #inFlight = 0;
  /** Batches whose values did not fit in the arena: each runs again, alone. */
  readonly #retry: { dirs: Dir[]; stats: StatTask[] }[] = [];
  #done!: () => void;
  #fail!: (e: unknown) => void;

  constructor(paths: readonly string[], o: WalkOptions) {
    this.#o = o;
    this.roots = paths.map((path) => ({ operand: true, path, err: 0, stat: undefined, dir: undefined }));
    // An empty operand is refused by the report (du's "invalid zero-length file name"): not stat'ed.
    for (const root of this.roots) if (root.path !== '') this.#stats.push({ path: root.path, name: root.path, order: 0, parent: root });
  }

  async run(): Promise<void> {
    if (this.#o.runtime === undefined) await this.#inlinePhase();
    else this.#rt = this.#o.runtime;
    if (this.#queued() === 0) return;
    const rt = this.#rt!;
    this.#maxInFlight = Math.max(1, this.#o.concurrency ?? rt.workers * 4);
    await new Promise<void>((resolve, reject) => {
      this.#done = resolve;
      this.#fail = reject;
      this.#pump();
    });
  }

  /** Inline until the tree is done or the runtime (started after inlineOps calls) has its workers up. */
  async #inlinePhase(): Promise<void> {
    let starting: Promise<void> | undefined;
    let up = false;
    let failed: unknown;
    while (this.#queued() > 0) {
      if (starting === undefined && this.inline >= this.#o.inlineOps) {
        starting = this.#o.startRuntime().then(
          (rt) => {
            this.started = rt;
            rt.ready().then(
              () => {
                this.#rt = rt;
                up = true;
              },
              (e: unknown) => {
                failed = e;
              },
            );
          },
          (e: unknown) => {
            failed = e;
          },
        );
      }
      if (starting === undefined) {
        // Alone, at full speed, until the budget is spent.
        this.#inlineSlice(Math.min(INLINE_SLICE * 16, Math.max(1, this.#o.inlineOps - this.inline)));
        continue;
      }
      if (failed !== undefined) throw failed;
      if (up) return;
      this.#inlineSlice(INLINE_SLICE);
      // Let the runtime's start-up (module loading, worker messages) run between slices.
      await new Promise<void>((r) => setImmediate(r));
    }
    // Done inline. A runtime still starting is the caller's to close (`started`).
    if (starting !== undefined) await starting;
  }

  /** Run up to `n` queued tasks on this thread, directories first. */
  #inlineSlice(n: number): void {
    for (let k = 0; k < n; k++) {
      if (this.#dirsHead < this.#dirs.length) {
        const d = this.#dirs[this.#dirsHead]!;
        this.#dirs[this.#dirsHead++] = undefined as unknown as Dir;
        this.inline++;
        this.#readDone(d, readNames(d.path));
      } else if (this.#statsHead < this.#stats.length) {
        const t = this.#stats[this.#statsHead]!;
        this.#stats[this.#statsHead++] = undefined as unknown as StatTask;
        this.inline++;
        const r = lstatInline(t.path);
        if (typeof r === 'number') this.#statDone(t, -r, undefined);
        else this.#statDone(t, 0, r);
      } else break;
    }
    this.#compactQueues();
  }

  #queued(): number {
    return this.#stats.length - this.#statsHead + this.#dirs.length - this.#dirsHead;
  }

  /** Keep up to #maxInFlight chains running while there is work. */
  #pump(): void {
    try {
      while (this.#inFlight < this.#maxInFlight && (this.#queued() > 0 || this.#retry.length > 0)) {
        if (this.#retry.length > 0) {
          // Alone, so the arena has the most room for its values.
          if (this.#inFlight > 0) break;
          const { dirs, stats } = this.#retry.shift()!;
          this.#submit(dirs, stats, true);
          continue;
        }
        this.#submitBatch();
      }
      if (this.#inFlight === 0 && this.#queued() === 0 && this.#retry.length === 0) {
        this.#compactQueues();
        this.#done();
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  #submitBatch(): void {
    const free = this.#maxInFlight - this.#inFlight;
    const queued = this.#queued();
    const want = Math.min(MAX_ATOMS, queued, Math.max(MIN_ATOMS, Math.ceil(queued / free)));
    const dirs: Dir[] = [];
    const stats: StatTask[] = [];
    let bytes = 0;
    // Directories first: their names are the next work.
    while (dirs.length < want && this.#dirsHead < this.#dirs.length) {
      const d = this.#dirs[this.#dirsHead]!;
      const b = ATOM_BYTES + maxBytes(d.path);
      if (dirs.length > 0 && bytes + b > BATCH_BYTES) break;
      bytes += b;
      dirs.push(d);
      this.#dirs[this.#dirsHead++] = undefined as unknown as Dir;
    }
    while (dirs.length + stats.length < want && this.#statsHead < this.#stats.length) {
      const t = this.#stats[this.#statsHead]!;
      const b = ATOM_BYTES + maxBytes(t.path);
      if (dirs.length + stats.length > 0 && bytes + b > BATCH_BYTES) break;
      bytes += b;
      stats.push(t);
      this.#stats[this.#statsHead++] = undefined as unknown as StatTask;
    }
    this.#compactQueues();
    this.#submit(dirs, stats, false);
  }

  /** Drop the consumed front of the queues once it is most of them. */
  #compactQueues(): void {
    if (this.#statsHead > 4096 && this.#statsHead * 2 > this.#stats.length) {
      this.#stats.splice(0, this.#statsHead);
      this.#statsHead = 0;
    }
    if (this.#dirsHead > 4096 && this.#dirsHead * 2 > this.#dirs.length) {
      this.#dirs.splice(0, this.#dirsHead);
      this.#dirsHead = 0;
    }
  }

  #submit(dirs: Dir[], stats: StatTask[], isRetry: boolean): void {
    const atoms: Atom[] = new Array<Atom>(dirs.length + stats.length);
    let k = 0;
    for (const d of dirs) atoms[k] = { op: 'readdir', args: [d.path], into: VAR[k++]! };
    for (const t of stats) atoms[k] = { op: 'lstat', args: [t.path], into: VAR[k++]! };
    const c: Chain = { atoms };
    this.#inFlight++;
    this.chains++;
    this.atoms += atoms.length;
    this.#rt!.submit(c).promise.then(
      (done) => {
        this.#inFlight--;
        try {
          this.#complete(done, dirs, stats, isRetry);
        } catch (e) {
          this.#fail(e);
          return;
        }
        this.#pump();
      },
      (e: unknown) => this.#fail(e),
    );
  }

  #complete(c: Completion, dirs: Dir[], stats: StatTask[], isRetry: boolean): void {
    if (c.status !== 'done') {
      throw new Error(`du: a batch chain ended ${c.status} at atom ${c.atom} with result ${c.result}`);
    }
    if (c.valuesLost && !isRetry) {
      // The arena had no room for this batch's values (stats, names): run it again, alone.
      this.#retry.push({ dirs, stats });
      return;
    }
    const vars = c.vars;
    const values = c.values;
    let k = 0;
    for (const d of dirs) {
      const name = VAR[k++]!;
      const r = vars[name]!;
      const names = values[name];
      // valuesLost on a retry: the arena cannot hold this directory's names at all.
      this.#readDone(d, r < 0 ? r : Array.isArray(names) ? names : -ENOMEM);
    }
    for (const t of stats) {
      const name = VAR[k++]!;
      const r = vars[name]!;
      const st = values[name] as DuStat | undefined;
      this.#statDone(t, r < 0 ? -r : st === undefined ? ENOMEM : 0, st);
    }
  }

  /** A directory's names (or -errno): each becomes an lstat task. */
  #readDone(d: Dir, names: readonly DuPath[] | number): void {
    this.directories++;
    if (typeof names === 'number') {
      d.readErr = -names;
      return;
    }
    const prefix = childPrefix(d.path);
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      this.#stats.push({ path: joinPath(prefix, n), name: n, order: i, parent: d });
    }
  }

  /** A name's lstat (err 0 and its stat, or an errno). */
  #statDone(t: StatTask, err: number, st: DuStat | undefined): void {
    this.entries++;
    const parent = t.parent;
    if ('operand' in parent) {
      parent.err = err;
      parent.stat = st;
      if (err === 0 && st!.isDirectory()) parent.dir = this.#newDir(parent.path, st!, undefined);
      return;
    }
    if (err !== 0) {
      parent.kids.push({ name: t.name, order: t.order, err, stat: undefined, dir: undefined, cycle: false });
    } else if (st!.isDirectory()) {
      const cycle = isAncestor(parent, st!);
      const dir = cycle ? undefined : this.#newDir(t.path, st!, parent);
      parent.kids.push({ name: t.name, order: t.order, err: 0, stat: st, dir, cycle });
    } else if (this.#o.keepAll || st!.nlink > 1) {
      parent.kids.push({ name: t.name, order: t.order, err: 0, stat: st, dir: undefined, cycle: false });
    } else {
      parent.plain += this.#o.apparent ? Math.max(0, st!.size) : st!.blocks * 512;
    }
  }

  #newDir(path: DuPath, stat: DuStat, parent: Dir | undefined): Dir {
    const d: Dir = { path, stat, parent, readErr: 0, plain: 0, kids: [] };
    this.#dirs.push(d);
    return d;
  }
}

/** Whether `st` is `dir` or one of its ancestors (same st_dev and st_ino): a directory cycle. */
function isAncestor(dir: Dir | undefined, st: DuStat): boolean {
  for (let d = dir; d !== undefined; d = d.parent) {
    if (d.stat.ino === st.ino && d.stat.dev === st.dev) return true;
  }
  return false;
}
