/**
 * `syslet du`'s command line, GNU getopt style (node:util parseArgs through command.ts: bundled
 * short options, options after operands, unambiguous prefixes of long options, `--`), with du's
 * own checks and warnings.
 */
import { parseCommandLine, UsageError } from './command.js';
import type { DuOptions } from './du.js';

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

/**
 * Parse du's command line. Returns the options and du's warnings (`warning: summarizing is the
 * same as using --max-depth=0`), or 'help'. Throws UsageError('du', ...).
 */
export function parseDuArgs(argv: readonly string[]): { options: Omit<DuOptions, 'out' | 'err'>; warnings: string[] } | 'help' {
  const cl = parseCommandLine('du', argv, {
    all: { type: 'boolean', short: 'a' },
    'apparent-size': { type: 'boolean' },
    bytes: { type: 'boolean', short: 'b' },
    total: { type: 'boolean', short: 'c' },
    'max-depth': { type: 'string', short: 'd' },
    'human-readable': { type: 'boolean', short: 'h' },
    k: { type: 'boolean', short: 'k' },
    summarize: { type: 'boolean', short: 's' },
  });
  if (cl.help) return 'help';
  const o: Omit<DuOptions, 'out' | 'err'> = { paths: cl.operands };
  let maxDepthGiven = false;
  for (const { name, value } of cl.options) {
    switch (name) {
      case 'all': o.all = true; break;
      case 'apparent-size': o.apparentSize = true; break;
      case 'bytes': o.apparentSize = true; o.blockSize = 1; break;
      case 'human-readable': o.blockSize = 'human'; break;
      case 'k': o.blockSize = 1024; break;
      case 'summarize': o.summarize = true; break;
      case 'total': o.total = true; break;
      case 'max-depth':
        if (!/^\d+$/.test(value!)) throw new UsageError('du', `invalid maximum depth '${value}'`);
        o.maxDepth = Number(value);
        maxDepthGiven = true;
        break;
    }
  }
  if (o.all === true && o.summarize === true) throw new UsageError('du', 'cannot both summarize and show all entries');
  const warnings: string[] = [];
  if (o.summarize === true && maxDepthGiven) {
    if (o.maxDepth !== 0) throw new UsageError('du', `warning: summarizing conflicts with --max-depth=${o.maxDepth}`);
    warnings.push('warning: summarizing is the same as using --max-depth=0');
  }
  return { options: o, warnings };
}
