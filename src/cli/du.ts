/**
 * `syslet du`: disk usage of file trees, with GNU du's output, walked with batched syslet chains.
 *
 * The walk: every directory needs one `readdir`, every name in it one `lstat`. Those are tasks in
 * two queues; a chain takes a batch of them (readdirs first, then lstats, up to MAX_ATOMS or the
 * slot's byte budget), each atom `into` its own variable and without STOP flags, so one failing
 * lstat leaves the rest of its batch alone. Up to `concurrency` chains are in flight; each
 * completion feeds the queues (a directory's names become lstat tasks, a subdirectory's stat a
 * readdir task) and tops the flight up again. Directories from anywhere in the tree, and of every
 * operand, are in flight together; the main thread never awaits a single file.
 *
 * Completions arrive in any order, so the walk only collects: per directory its own stat, the
 * bytes of its plain files, and the children whose place in the order matters (subdirectories,
 * errors, files with several links, every file with -a or with several operands). Printing is a
 * second, sequential pass in du's post-order, siblings in their directory's own order (readdir's,
 * which is the order du's fts visits them in). That pass
 * also does the hard-link bookkeeping, so which of several links counts is decided by the printed
 * order, as in du, and not by which lstat happened to finish first. (So output comes at the end,
 * not as the walk goes, and the tree's directories stay in memory until then.)
 *
 * GNU du semantics followed (coreutils 9.1: du.c, gnulib fts, human, quotearg):
 * - size: st_blocks * 512 (disk usage) or max(0, st_size) (--apparent-size, -b), printed in
 *   1024-byte units rounded up, bytes (-b), or human units (-h: powers of 1024, K M G T..., one
 *   decimal below 10, rounded up, as gnulib's human_readable does);
 * - symlinks are not followed, operands included (lstat: the link's own size counts);
 * - a non-directory with st_nlink > 1 counts once, by (st_dev, st_ino);
 * - several operands: each in command-line order, with its own lines; as du's hash_all, every
 *   file and directory counts once over all of them (the first operand that reaches it wins, so in
 *   `du a a/b` the second prints nothing); -c adds one grand total line;
 * - a directory that cannot be read: `du: cannot read directory 'X': <strerror>` on stderr, its
 *   own size still counted and printed, exit status 1; a name that cannot be stat'ed:
 *   `du: cannot access 'X': <strerror>`, not counted, exit status 1 (names quoted as quoteaf does,
 *   down to 9.1's quirks);
 * - paths printed as fts builds them: the operand as given (two or more trailing slashes cut to
 *   one), then `/name` per level (no doubled slash after an operand ending in `/`).
 * Not reproduced:
 * - names that are not valid UTF-8 (the `readdir` atom decodes names as UTF-8: such a name comes
 *   back altered and its lstat fails), and paths longer than PATH_MAX (atoms take whole paths; du
 *   walks with openat/fstatat relative to a directory descriptor);
 * - DU_BLOCK_SIZE, BLOCK_SIZE, BLOCKSIZE and POSIXLY_CORRECT (the units are du's defaults), and
 *   options other than those in DU_HELP. Usage errors exit 2 (syslet's convention), not 1.
 */
import { Runtime } from '../runtime.js';
import type { Atom, Chain } from '../syslet/chain.js';
import type { Completion } from '../syslet/encode.js';
import { errno, errnoName } from '../syslet/errno.js';
import type { SysletStat, Value } from '../syslet/values.js';

export interface DuOptions {
  /** Files and directories to measure, as given on the command line. @default ['.'] */
  paths?: readonly string[];
  /** -s: one line per operand. @default false */
  summarize?: boolean;
  /** -a: a line for every file too, not just directories. @default false */
  all?: boolean;
  /** -c: a last line with the grand total. @default false */
  total?: boolean;
  /** --apparent-size: st_size instead of allocated blocks. @default false */
  apparentSize?: boolean;
  /** Output unit in bytes (1 for -b, 1024 for -k), or 'human' (-h). @default 1024 */
  blockSize?: number | 'human';
  /** -d N: print lines only down to this depth (operands are depth 0). @default Infinity */
  maxDepth?: number;
  /** Receives standard output text, whole lines. */
  out: (text: string) => void;
  /** Receives standard error text, whole lines. */
  err: (text: string) => void;
  /** Walk on this runtime (left open) instead of creating one and closing it. */
  runtime?: Runtime;
  /** Chains in flight at once. @default 4 per worker */
  concurrency?: number;
  /**
   * Environment whose LC_ALL, LC_CTYPE or LANG says whether non-ASCII characters are printable when
   * names are quoted in messages (UTF-8 locale) or shown as octal escapes. @default process.env
   */
  env?: Record<string, string | undefined>;
}

export interface DuResult {
  /** 0, or 1 when some file could not be read or stat'ed (as du). */
  exitCode: 0 | 1;
  /** Names stat'ed (operands included). */
  entries: number;
  /** Directories read. */
  directories: number;
  /** Chains submitted, and the atoms in them. */
  chains: number;
  atoms: number;
}

/** Options for the runtime `du` creates for itself: big slots, so one chain carries a big batch. */
export const DU_RUNTIME_OPTIONS = { slotBytes: 65536, ringSize: 64 } as const;

/** Atoms per chain at most, and the encoded bytes we allow a batch (the slot, with room to spare). */
const MAX_ATOMS = 256;
const BATCH_BYTES = DU_RUNTIME_OPTIONS.slotBytes - 4096;
/**
 * Encoded bytes per lstat/readdir atom besides its path: table word, header, one arg, variable.
 * A path counts 3 bytes per UTF-16 unit, an upper bound of its UTF-8 length that needs no scan.
 */
const ATOM_BYTES = 4 + 20 + 12 + 12;
/** Fewest atoms in a chain while more are queued (spreading work thinner costs more per atom). */
const MIN_ATOMS = 16;

/** Variable names v0, v1, ...: one per atom of a batch. */
const VAR = Array.from({ length: MAX_ATOMS }, (_, i) => `v${i}`);

interface Dir {
  /** The path du prints (fts_path). */
  path: string;
  stat: SysletStat;
  /** errno of a readdir that failed, else 0. */
  readErr: number;
  /** Bytes of children that need no place in the order (single-link non-directories). */
  plain: number;
  /** Children that do: subdirectories, failures, multi-link files; everything with -a or hashAll. */
  kids: Kid[];
}

interface Kid {
  name: string;
  /** Position in its directory's readdir order. */
  order: number;
  /** errno of a failed lstat, else 0. */
  err: number;
  stat: SysletStat | undefined;
  dir: Dir | undefined;
}

interface Root {
  /** Tells an operand from a Dir among the parents of stat tasks. */
  operand: true;
  /** The path lstat'ed, printed and named in messages (the operand, trailing slashes cut to one). */
  path: string;
  err: number;
  stat: SysletStat | undefined;
  dir: Dir | undefined;
}

interface StatTask {
  path: string;
  name: string;
  /** Position in its directory's readdir order. */
  order: number;
  /** The directory the name is in, or the operand it is. */
  parent: Dir | Root;
}

/** glibc's strerror texts for the errors a walk meets; others print their errno name. */
const STRERROR: Record<number, string> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  5: 'Input/output error',
  12: 'Cannot allocate memory',
  13: 'Permission denied',
  20: 'Not a directory',
  23: 'Too many open files in system',
  24: 'Too many open files',
  36: 'File name too long',
  40: 'Too many levels of symbolic links',
  75: 'Value too large for defined data type',
  116: 'Stale file handle',
};

export function strerror(e: number): string {
  return STRERROR[e] ?? errnoName(e) ?? `Unknown error ${e}`;
}

/**
 * `path` the way gnulib's fts keeps an operand: two or more trailing slashes become one
 * ("a//" → "a/"; "//" stays "//").
 */
export function ftsRootPath(arg: string): string {
  let len = arg.length;
  if (len > 2 && arg[len - 1] === '/') {
    while (len > 1 && arg[len - 2] === '/') len--;
  }
  return arg.slice(0, len);
}

/** The prefix of a child's path: fts appends "/name", without doubling a trailing slash. */
function childPrefix(dirPath: string): string {
  return dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
}

/**
 * A number of bytes as du prints it: `human_readable()` of gnulib with du's options, ceiling
 * rounding, exactly in integers. `blockSize` 'human' is -h (autoscale, powers of 1024, SI letters).
 */
export function formatSize(bytes: number, blockSize: number | 'human'): string {
  if (blockSize !== 'human') return String(Math.ceil(bytes / blockSize));
  const base = 1024;
  let amt = bytes;
  let tenths = 0;
  // 0: exact; 1: less than half a tenth left over; 2: exactly half; 3: more than half.
  let rounding = 0;
  let exponent = 0;
  let frac = '';
  if (amt >= base) {
    do {
      const r10 = (amt % base) * 10 + tenths;
      const r2 = (r10 % base) * 2 + (rounding >> 1);
      amt = Math.floor(amt / base);
      tenths = Math.floor(r10 / base);
      rounding = r2 < base ? (r2 + rounding !== 0 ? 1 : 0) : 2 + (base < r2 + rounding ? 1 : 0);
      exponent++;
    } while (amt >= base && exponent < POWER_LETTERS.length);
    if (amt < 10) {
      if (rounding > 0) {
        tenths++;
        rounding = 0;
        if (tenths === 10) {
          amt++;
          tenths = 0;
        }
      }
      if (amt < 10) {
        frac = `.${tenths}`;
        tenths = 0;
        rounding = 0;
      }
    }
  }
  if (tenths + rounding > 0) {
    amt++;
    if (amt === base && exponent < POWER_LETTERS.length) {
      exponent++;
      frac = '.0';
      amt = 1;
    }
  }
  return `${amt}${frac}${exponent > 0 ? POWER_LETTERS[exponent - 1]! : ''}`;
}

const POWER_LETTERS = 'KMGTPEZYRQ';

/**
 * A file name quoted as du's `quoteaf()` does (gnulib quotearg, shell-escape-always style):
 * 'name'; a name whose only trouble is a single quote goes in double quotes; a single quote
 * elsewhere becomes '\''; control characters become $'\n' or $'\ooo' segments. In a UTF-8
 * locale other characters print as they are; in a single-byte locale non-ASCII bytes are octal.
 */
export function quoteName(name: string, utf8Locale: boolean): string {
  const first = quotePass(name, utf8Locale, false);
  if (!first.sawQuote) return `'${first.text}'`;
  if (first.allCompat) return `"${name}"`;
  // A single quote made quotearg scan once and then write in a second pass. In coreutils 9.1's
  // gnulib that pass starts with the first one's "escape still open" state instead of a fresh one,
  // so a name ending in an escape gets an empty '' after its opening quote. Reproduced on purpose.
  return `'${quotePass(name, utf8Locale, first.pendingEnd).text}'`;
}

/** One pass of quotearg_buffer_restyled over `name`, without the outer quotes. */
function quotePass(
  name: string,
  utf8Locale: boolean,
  pendingAtStart: boolean,
): { text: string; pendingEnd: boolean; sawQuote: boolean; allCompat: boolean } {
  let s = '';
  let pendingEnd = pendingAtStart;
  let sawQuote = false;
  let allCompat = true;
  const escape = (octets: string[]): void => {
    if (!pendingEnd) {
      s += "'$'";
      pendingEnd = true;
    }
    for (const o of octets) s += `\\${o}`;
    allCompat = false;
  };
  const bytes = utf8Locale ? undefined : Buffer.from(name, 'utf8');
  const n = bytes === undefined ? name.length : bytes.length;
  for (let i = 0; i < n; i++) {
    let ch: string;
    let code: number;
    if (bytes === undefined) {
      code = name.codePointAt(i)!;
      ch = String.fromCodePoint(code);
      if (code > 0xffff) i++;
    } else {
      code = bytes[i]!;
      ch = String.fromCharCode(code);
    }
    let compat = false;
    switch (ch) {
      case '\x07': escape(['a']); continue;
      case '\b': escape(['b']); continue;
      case '\f': escape(['f']); continue;
      case '\n': escape(['n']); continue;
      case '\r': escape(['r']); continue;
      case '\t': escape(['t']); continue;
      case '\v': escape(['v']); continue;
      case ' ':
        compat = true;
        break;
      case '#':
      case '~':
        compat = i === 0;
        break;
      case '{':
      case '}':
        compat = n === 1;
        break;
      case "'":
        sawQuote = true;
        compat = true;
        s += "'\\'";
        pendingEnd = false;
        break;
      default:
        if (/^[%+,\-./0-9:@A-Z\]_a-z]$/.test(ch)) compat = true;
        else if ('\\!"$&()*;<=>[^`|?'.includes(ch)) compat = false;
        else if (code < 0x20 || (code >= 0x7f && code < 0xa0) || (bytes !== undefined && code >= 0x80)) {
          // Not printable: every byte of it in octal.
          escape([...Buffer.from(ch, bytes === undefined ? 'utf8' : 'latin1')].map((b) => b.toString(8).padStart(3, '0')));
          continue;
        } else compat = true;
    }
    if (pendingEnd) {
      s += "''";
      pendingEnd = false;
    }
    s += ch;
    if (!compat) allCompat = false;
  }
  return { text: s, pendingEnd, sawQuote, allCompat };
}

/** Whether the environment's LC_CTYPE is a UTF-8 locale (multibyte characters are printable). */
function isUtf8Locale(env: Record<string, string | undefined>): boolean {
  const ctype = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /utf-?8/i.test(ctype);
}

/** Siblings in their directory's own order (readdir's), as du's fts visits them. */
function kidOrder(a: Kid, b: Kid): number {
  return a.order - b.order;
}

/** The bytes du counts for a file: allocated (st_blocks * 512), or apparent (st_size). */
function sizeOf(st: SysletStat, apparent: boolean): number {
  return apparent ? Math.max(0, st.size) : st.blocks * 512;
}

/** Run du. Resolves when all output has been handed to `out` and `err`. */
export async function du(o: DuOptions): Promise<DuResult> {
  const paths = o.paths === undefined || o.paths.length === 0 ? ['.'] : o.paths;
  const blockSize = o.blockSize ?? 1024;
  if (blockSize !== 'human' && !(Number.isInteger(blockSize) && blockSize >= 1)) {
    throw new TypeError(`du: blockSize: expected a positive integer or 'human', got ${String(blockSize)}`);
  }
  const maxDepth = o.summarize === true ? 0 : (o.maxDepth ?? Infinity);
  if (o.summarize === true && o.all === true) {
    throw new TypeError('du: cannot both summarize and show all entries');
  }
  // Not Runtime.create(): the walk starts at once and its chains wait in the ring while the
  // workers boot, so their start-up overlaps the first batches instead of preceding them.
  const rt = o.runtime ?? new Runtime(DU_RUNTIME_OPTIONS);
  try {
    const keepAll = o.all === true || paths.length > 1;
    const walk = new Walk(rt, paths, o.apparentSize === true, keepAll, o.concurrency ?? rt.workers * 4);
    await walk.run();
    const report = new Report(o, blockSize, maxDepth, paths.length > 1);
    for (const root of walk.roots) report.root(root);
    if (o.total === true) report.line(report.grand, 'total');
    report.flush();
    return {
      exitCode: report.ok ? 0 : 1,
      entries: walk.entries,
      directories: walk.directories,
      chains: walk.chains,
      atoms: walk.atoms,
    };
  } finally {
    if (o.runtime === undefined) await rt.close();
  }
}

/** The concurrent part: lstat and readdir everything, in batches, and collect the tree. */
class Walk {
  readonly roots: Root[];
  entries = 0;
  directories = 0;
  chains = 0;
  atoms = 0;

  readonly #rt: Runtime;
  readonly #apparent: boolean;
  /** Keep every child (for its place in the order), not only those that need it. */
  readonly #keepAll: boolean;
  readonly #maxInFlight: number;
  readonly #stats: StatTask[] = [];
  #statsHead = 0;
  readonly #dirs: Dir[] = [];
  #dirsHead = 0;
  #inFlight = 0;
  /** Batches whose values did not fit in the arena: each runs again, alone. */
  readonly #retry: { dirs: Dir[]; stats: StatTask[] }[] = [];
  #done!: () => void;
  #fail!: (e: unknown) => void;

  constructor(rt: Runtime, paths: readonly string[], apparent: boolean, keepAll: boolean, concurrency: number) {
    this.#rt = rt;
    this.#apparent = apparent;
    this.#keepAll = keepAll;
    this.#maxInFlight = Math.max(1, concurrency);
    this.roots = paths.map((arg) => ({ operand: true, path: ftsRootPath(arg), err: 0, stat: undefined, dir: undefined }));
    for (const root of this.roots) this.#stats.push({ path: root.path, name: root.path, order: 0, parent: root });
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#done = resolve;
      this.#fail = reject;
      this.#pump();
    });
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
      const b = ATOM_BYTES + 3 * d.path.length;
      if (dirs.length > 0 && bytes + b > BATCH_BYTES) break;
      bytes += b;
      dirs.push(d);
      this.#dirs[this.#dirsHead++] = undefined as unknown as Dir;
    }
    while (dirs.length + stats.length < want && this.#statsHead < this.#stats.length) {
      const t = this.#stats[this.#statsHead]!;
      const b = ATOM_BYTES + 3 * t.path.length;
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
    this.#rt.submit(c).promise.then(
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
      const names = values[name] as Value | undefined;
      this.directories++;
      if (r < 0 || !Array.isArray(names)) {
        // valuesLost on a retry: the arena cannot hold this directory's names at all.
        d.readErr = r < 0 ? -r : errno.ENOMEM;
        continue;
      }
      const prefix = childPrefix(d.path);
      for (let i = 0; i < names.length; i++) {
        const n = names[i]!;
        this.#stats.push({ path: prefix + n, name: n, order: i, parent: d });
      }
    }
    for (const t of stats) {
      const name = VAR[k++]!;
      const r = vars[name]!;
      const st = values[name] as SysletStat | undefined;
      this.entries++;
      const err = r < 0 ? -r : st === undefined ? errno.ENOMEM : 0;
      const parent = t.parent;
      if ('operand' in parent) {
        parent.err = err;
        parent.stat = st;
        if (err === 0 && st!.isDirectory()) parent.dir = this.#newDir(parent.path, st!);
        continue;
      }
      if (err !== 0) {
        parent.kids.push({ name: t.name, order: t.order, err, stat: undefined, dir: undefined });
      } else if (st!.isDirectory()) {
        parent.kids.push({ name: t.name, order: t.order, err: 0, stat: st, dir: this.#newDir(t.path, st!) });
      } else if (this.#keepAll || st!.nlink > 1) {
        parent.kids.push({ name: t.name, order: t.order, err: 0, stat: st, dir: undefined });
      } else {
        parent.plain += sizeOf(st!, this.#apparent);
      }
    }
  }

  #newDir(path: string, stat: SysletStat): Dir {
    const d: Dir = { path, stat, readErr: 0, plain: 0, kids: [] };
    this.#dirs.push(d);
    return d;
  }
}

/** The sequential part: du's post-order over the collected tree, with its hard-link set. */
class Report {
  ok = true;
  grand = 0;
  readonly #o: DuOptions;
  readonly #blockSize: number | 'human';
  readonly #maxDepth: number;
  readonly #hashAll: boolean;
  readonly #apparent: boolean;
  readonly #all: boolean;
  readonly #utf8: boolean;
  /** (st_dev, st_ino) pairs counted so far. */
  readonly #seen = new Map<number, Set<number>>();
  #buf = '';

  constructor(o: DuOptions, blockSize: number | 'human', maxDepth: number, hashAll: boolean) {
    this.#o = o;
    this.#blockSize = blockSize;
    this.#maxDepth = maxDepth;
    this.#hashAll = hashAll;
    this.#apparent = o.apparentSize === true;
    this.#all = o.all === true;
    this.#utf8 = isUtf8Locale(o.env ?? process.env);
  }

  root(r: Root): void {
    if (r.err !== 0) {
      this.#error(`cannot access ${quoteName(r.path, this.#utf8)}: ${strerror(r.err)}`);
      return;
    }
    const st = r.stat!;
    if (r.dir !== undefined) {
      if (this.#hashAll && !this.#firstSight(st)) return;
      this.grand += this.#dir(r.dir, 0);
      return;
    }
    if ((this.#hashAll || st.nlink > 1) && !this.#firstSight(st)) return;
    const size = this.#size(st);
    this.grand += size;
    this.line(size, r.path);
  }

  #dir(d: Dir, level: number): number {
    let size = this.#size(d.stat) + d.plain;
    const kids = d.kids.sort(kidOrder);
    const prefix = childPrefix(d.path);
    for (const kid of kids) {
      if (kid.err !== 0) {
        this.#error(`cannot access ${quoteName(prefix + kid.name, this.#utf8)}: ${strerror(kid.err)}`);
        continue;
      }
      const st = kid.stat!;
      if (kid.dir !== undefined) {
        if (this.#hashAll && !this.#firstSight(st)) continue;
        size += this.#dir(kid.dir, level + 1);
        continue;
      }
      if ((this.#hashAll || st.nlink > 1) && !this.#firstSight(st)) continue;
      const s = this.#size(st);
      size += s;
      if (this.#all && level + 1 <= this.#maxDepth) this.line(s, prefix + kid.name);
    }
    if (d.readErr !== 0) {
      this.#error(`cannot read directory ${quoteName(d.path, this.#utf8)}: ${strerror(d.readErr)}`);
    }
    if (level <= this.#maxDepth) this.line(size, d.path);
    return size;
  }

  #size(st: SysletStat): number {
    return sizeOf(st, this.#apparent);
  }

  /** Record (dev, ino); false if it was already there. */
  #firstSight(st: SysletStat): boolean {
    let inos = this.#seen.get(st.dev);
    if (inos === undefined) {
      inos = new Set();
      this.#seen.set(st.dev, inos);
    }
    if (inos.has(st.ino)) return false;
    inos.add(st.ino);
    return true;
  }

  line(bytes: number, path: string): void {
    this.#buf += `${formatSize(bytes, this.#blockSize)}\t${path}\n`;
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

export const DU_HELP = `usage: syslet du [OPTION]... [FILE]...
Disk usage of each FILE (default: the current directory), directories recursively, like GNU du.

  -a, --all             write counts for all files, not just directories
      --apparent-size   print apparent sizes (st_size) rather than disk usage
  -b, --bytes           equivalent to --apparent-size --block-size=1
  -c, --total           produce a grand total
  -d, --max-depth=N     print the total for a directory only if it is N or fewer levels below
                        the command line argument
  -h, --human-readable  print sizes in powers of 1024 (e.g., 1023M)
  -k                    like --block-size=1K (the default)
  -s, --summarize       display only a total for each argument
      --help            this text
`;

/** A command-line mistake: the message, for `syslet du: <message>`. */
export class DuUsageError extends Error {}

const LONG_OPTIONS = ['all', 'apparent-size', 'bytes', 'human-readable', 'max-depth', 'summarize', 'total', 'help'] as const;

/**
 * Parse du's command line (GNU getopt style: bundled short options, options after operands,
 * unambiguous prefixes of long options, `--` ends options). Returns the options, or 'help'.
 */
export function parseDuArgs(argv: readonly string[]): Omit<DuOptions, 'out' | 'err'> | 'help' {
  const o: Omit<DuOptions, 'out' | 'err'> & { paths: string[] } = { paths: [] };
  let maxDepthGiven = false;
  const setDepth = (v: string | undefined, shown: string): void => {
    if (v === undefined || !/^\d+$/.test(v)) throw new DuUsageError(`invalid maximum depth '${v ?? ''}' (${shown})`);
    o.maxDepth = Number(v);
    maxDepthGiven = true;
  };
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      o.paths.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = a.slice(2, eq < 0 ? undefined : eq);
      const exact = LONG_OPTIONS.find((l) => l === key);
      const matches = exact !== undefined ? [exact] : LONG_OPTIONS.filter((l) => l.startsWith(key));
      if (matches.length === 0) throw new DuUsageError(`unrecognized option '${a}'`);
      if (matches.length > 1) throw new DuUsageError(`option '${a}' is ambiguous`);
      const name = matches[0]!;
      const value = eq < 0 ? undefined : a.slice(eq + 1);
      if (name !== 'max-depth' && value !== undefined) {
        throw new DuUsageError(`option '--${name}' doesn't allow an argument`);
      }
      switch (name) {
        case 'all': o.all = true; break;
        case 'apparent-size': o.apparentSize = true; break;
        case 'bytes': o.apparentSize = true; o.blockSize = 1; break;
        case 'human-readable': o.blockSize = 'human'; break;
        case 'summarize': o.summarize = true; break;
        case 'total': o.total = true; break;
        case 'help': help = true; break;
        case 'max-depth': {
          if (value !== undefined) setDepth(value, a);
          else setDepth(argv[++i], a);
          break;
        }
      }
      continue;
    }
    if (a.length < 2 || a[0] !== '-') {
      o.paths.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      switch (c) {
        case 'a': o.all = true; break;
        case 'b': o.apparentSize = true; o.blockSize = 1; break;
        case 'c': o.total = true; break;
        case 'h': o.blockSize = 'human'; break;
        case 'k': o.blockSize = 1024; break;
        case 's': o.summarize = true; break;
        case 'd': {
          const rest = a.slice(j + 1);
          setDepth(rest.length > 0 ? rest : argv[++i], '-d');
          j = a.length;
          break;
        }
        default:
          throw new DuUsageError(`invalid option -- '${c}'`);
      }
    }
  }
  if (help) return 'help';
  if (o.all === true && o.summarize === true) throw new DuUsageError('cannot both summarize and show all entries');
  if (o.summarize === true && maxDepthGiven && o.maxDepth !== 0) {
    throw new DuUsageError(`summarizing conflicts with --max-depth=${o.maxDepth}`);
  }
  return o;
}

/** `syslet du ARGS`: parse, run, write to the process's streams. Returns the exit status. */
export async function duCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseDuArgs(argv);
  if (parsed === 'help') {
    process.stdout.write(DU_HELP);
    return 0;
  }
  // A reader that went away (`syslet du | head`): stop as du does on SIGPIPE (128 + 13).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(141);
  });
  const r = await du({
    ...parsed,
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  });
  return r.exitCode;
}
