/**
 * The command line of every `syslet` subcommand: what a command is given (CommandIo), one parser (node:util parseArgs, in its token
 * mode) and one error type.
 *
 * parseArgs is Node's own (no dependency, kept with Node) and splits argv the way getopt_long does:
 * bundled short options (`-ad5`), `-d 5` and `-d5`, `--name=value` and `--name value`, options
 * after operands, `--` ending options. Its strict mode's messages are Node's; so it runs non-strict
 * with tokens, and this module checks each token and words the mistakes as GNU getopt does
 * (`unrecognized option '--x'`, `invalid option -- 'q'`, `option '--all' doesn't allow an
 * argument`). Unambiguous prefixes of long options are accepted, as getopt_long accepts them
 * (`--max=2` is `--max-depth=2`).
 */
import { parseArgs } from 'node:util';

/**
 * A command-line mistake in `command` ('' for the top level): main prints `syslet COMMAND:
 * MESSAGE`, then that command's usage (unless `showUsage` is false: an input file it cannot use,
 * where the usage would only bury the message), to stderr and exits 2.
 */
export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'boolean' | 'string';
  /** One letter: `-x`. */
  short?: string;
}

/** One option as given, in command-line order. */
export interface GivenOption {
  /** The long name. */
  name: string;
  /** As written: `-d` or `--max-depth`. */
  raw: string;
  /** The value of a string option; undefined for a boolean one. */
  value: string | undefined;
}

export interface CommandLine {
  /** Options in the order given (a later one overrides an earlier one where that matters). */
  options: GivenOption[];
  operands: string[];
  /** --help was given (and -h, when the command's spec maps -h to help). */
  help: boolean;
}

/**
 * Split `argv` by `spec` (long name -> type and short letter). `help` is always a boolean long
 * option. Throws UsageError(command, ...) for an unknown option, a missing value, a value given to
 * a boolean option or an ambiguous prefix.
 */
export function parseCommandLine(command: string, argv: readonly string[], spec: Record<string, OptionSpec>): CommandLine {
  const options = { help: { type: 'boolean' as const }, ...spec };
  const longs = Object.keys(options);
  const args = expandPrefixes(command, argv, longs, options);
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const out: CommandLine = { options: [], operands: [], help: false };
  for (const t of tokens) {
    if (t.kind === 'positional') {
      out.operands.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    const s = (options as Record<string, OptionSpec>)[t.name];
    const isShort = !t.rawName.startsWith('--');
    if (s === undefined) {
      throw new UsageError(command, isShort ? `invalid option -- '${t.rawName.slice(1)}'` : `unrecognized option '${t.rawName}'`);
    }
    if (s.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(command, `option '${t.rawName}' doesn't allow an argument`);
      if (t.name === 'help') out.help = true;
      else out.options.push({ name: t.name, raw: t.rawName, value: undefined });
      continue;
    }
    if (t.value === undefined) {
      throw new UsageError(
        command,
        isShort ? `option requires an argument -- '${t.rawName.slice(1)}'` : `option '${t.rawName}' requires an argument`,
      );
    }
    out.options.push({ name: t.name, raw: t.rawName, value: t.value });
  }
  return out;
}

/** `--pre` and `--pre=v` with `pre` an unambiguous prefix of a long option, written out in full. */
function expandPrefixes(command: string, argv: readonly string[], longs: string[], spec: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!a.startsWith('--')) {
      out.push(a);
      // A bundle whose last letter takes a value (`-d`, `-ad`): the next word is that value.
      if (a.length >= 2 && a[0] === '-' && shortValueIsNext(a, spec) && i + 1 < argv.length) out.push(argv[++i]!);
      continue;
    }
    const eq = a.indexOf('=');
    const key = a.slice(2, eq < 0 ? undefined : eq);
    if (longs.includes(key)) {
      out.push(a);
      if (eq < 0 && spec[key]?.type === 'string' && i + 1 < argv.length) out.push(argv[++i]!);
      continue;
    }
    const matches = longs.filter((l) => l.startsWith(key));
    if (matches.length > 1) {
      throw new UsageError(command, `option '${a.slice(0, eq < 0 ? undefined : eq)}' is ambiguous; possibilities: ${matches.map((m) => `'--${m}'`).join(' ')}`);
    }
    if (matches.length === 0) {
      out.push(a);
      continue;
    }
    const full = matches[0]!;
    out.push(`--${full}${eq < 0 ? '' : a.slice(eq)}`);
    if (eq < 0 && spec[full]?.type === 'string' && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}

function shortValueIsNext(bundle: string, spec: Record<string, OptionSpec>): boolean {
  for (let j = 1; j < bundle.length; j++) {
    const takesValue = Object.values(spec).some((s) => s.short === bundle[j] && s.type === 'string');
    if (takesValue) return j === bundle.length - 1;
  }
  return false;
}

/** A positive integer option value, or a UsageError naming the option. */
export function positiveInt(command: string, o: GivenOption): number {
  const v = o.value ?? '';
  const n = /^[0-9]+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(command, `${o.raw}: expected a positive integer, got "${v}"`);
  return n;
}

/** Where a command writes, and what it knows of the terminal. */
export interface CommandIo {
  /** Standard output: text, or bytes (du's names that are not valid UTF-8). */
  out: (s: string | Uint8Array) => void;
  err: (s: string) => void;
  /** stdout is a terminal: progress bar and colour (colour unless NO_COLOR is set). */
  isTTY: boolean;
  /** Terminal width: reports fit in it. @default Infinity (not a terminal: lines of any length) */
  columns?: number;
  env?: Record<string, string | undefined>;
}

/** A subcommand: its usage text (--help, and after a usage error) and its run. */
export interface Command {
  usage: string;
  /**
   * Returns the exit status, or 'help' for --help (main prints the usage, exit 0); throws
   * UsageError for a command-line mistake.
   */
  run: (argv: readonly string[], io: CommandIo) => Promise<number | 'help'>;
}
