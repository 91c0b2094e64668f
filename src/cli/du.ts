/**
 * `syslet du`: disk usage of file trees, with GNU du's output, walked with batched syslet chains.
 *
 * Four parts: du-walk.ts (lstat and readdir everything: inline on this thread first, then in
 * batched chains on the runtime's workers once the tree proves big), du-report.ts (du's post-order
 * over the collected tree, with the hard-link set), du-format.ts (GNU's text: sizes, quoting,
 * strerror, fts paths) and du-args.ts (the command line). Output comes at the end, not as the walk
 * goes, and the tree's directories stay in memory until then.
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
 * - names that are not valid UTF-8 are carried as bytes and printed as bytes; a directory that is
 *   its own ancestor (bind mount) is skipped silently, as du's physical walk does; an empty
 *   operand is `invalid zero-length file name`;
 * Not reproduced:
 * - paths longer than PATH_MAX (atoms take whole paths; du walks with openat/fstatat relative to
 *   a directory descriptor);
 * - DU_BLOCK_SIZE, BLOCK_SIZE, BLOCKSIZE and POSIXLY_CORRECT (the units are du's defaults), and
 *   options other than those in DU_HELP. Usage errors exit 2 (syslet's convention), not 1.
 */
import type { Runtime } from '../index.js';
import type { Command } from './command.js';
import { DU_HELP, parseDuArgs } from './du-args.js';
import { ftsRootPath, isUtf8Locale } from './du-format.js';
import { Report } from './du-report.js';
import { DU_RUNTIME_OPTIONS, Walk } from './du-walk.js';

export { formatSize, quoteName, strerror, ftsRootPath, type DuPath } from './du-format.js';
export { DU_HELP, parseDuArgs } from './du-args.js';
export { DU_RUNTIME_OPTIONS } from './du-walk.js';

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
  /**
   * Receives standard output, whole lines: a string, or a Buffer for lines whose path is not valid
   * UTF-8 (du writes such names as the bytes they are).
   */
  out: (text: string | Buffer) => void;
  /** Receives standard error text, whole lines. */
  err: (text: string) => void;
  /** Walk on this runtime (left open) from the start, instead of inline first. */
  runtime?: Runtime;
  /**
   * readdir and lstat calls made on the calling thread before a runtime is started for the rest
   * (its workers take over once up; the inline walk goes on meanwhile). A tree smaller than this
   * never loads the runtime. 0 starts it at once; Infinity never. @default 5000
   */
  inlineOps?: number;
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
  /** readdir and lstat calls made on the calling thread (the inline start of the walk). */
  inline: number;
}

/** Whether the current directory still exists (Node's worker threads cannot start without it). */
function cwdExists(): boolean {
  try {
    process.cwd();
    return true;
  } catch {
    return false;
  }
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
  // A deleted current directory: worker threads fail to start (Node's bootstrap reads the cwd),
  // the calling thread can still walk (relative operands included, as du does): inline only.
  const inlineOps = cwdExists() ? (o.inlineOps ?? 5000) : Infinity;
  const walk = new Walk(paths.map(ftsRootPath), {
    apparent: o.apparentSize === true,
    keepAll: o.all === true || paths.length > 1,
    runtime: o.runtime,
    inlineOps,
    concurrency: o.concurrency,
    // Loaded only for a tree that outlasts the inline budget: a small one never pays for it.
    startRuntime: async () => (await import('../index.js')).Runtime._startUnwaited(DU_RUNTIME_OPTIONS),
  });
  try {
    await walk.run();
  } finally {
    const rt = walk.started;
    if (rt !== undefined) {
      // A runtime closed before its workers are up keeps the process alive (the pool's start-up
      // outlives close()): let it come up first.
      await rt.ready().catch(() => {});
      await rt.close();
    }
  }
  const report = new Report({
    blockSize,
    maxDepth,
    hashAll: paths.length > 1,
    apparent: o.apparentSize === true,
    all: o.all === true,
    utf8: isUtf8Locale(o.env ?? process.env),
    out: o.out,
    err: o.err,
  });
  for (const root of walk.roots) report.root(root);
  if (o.total === true) report.line(report.grand, 'total');
  report.flush();
  return {
    exitCode: report.ok ? 0 : 1,
    entries: walk.entries,
    directories: walk.directories,
    chains: walk.chains,
    atoms: walk.atoms,
    inline: walk.inline,
  };
}

/** `syslet du ARGS`: parse, run, write. Returns the exit status. */
export const DU_COMMAND: Command = {
  usage: DU_HELP,
  async run(argv, io) {
    const parsed = parseDuArgs(argv);
    if (parsed === 'help') return 'help';
    for (const w of parsed.warnings) io.err(`du: ${w}\n`);
    const r = await du({ ...parsed.options, out: io.out, err: io.err });
    return r.exitCode;
  },
};
