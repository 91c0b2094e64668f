#!/usr/bin/env node
/**
 * The `syslet` command.
 *
 *   syslet demo [--files N] [--rounds N]   stat storm and small-file read beside fs.promises
 *   syslet du [-abchks] [-d N] [FILE]...    disk usage, GNU du's output, walked with syslet chains
 *   syslet profile [options]                ring contention profiler: report, --html, --trace
 *   syslet record [options] -- COMMAND      record a program's own runtimes (syslet/profile preload)
 *   syslet run [--root DIR] FILE.json       run a chain file under a root policy
 *   syslet bench [--quick] [--json]         the benchmark scenarios and their ratios
 *
 * Every subcommand answers --help with its own usage (exit 0); a command-line mistake prints the
 * message and that usage to stderr (exit 2), and so does `syslet` without a command (as the
 * subcommands treat a missing operand); `syslet --help` (`-h`, `help`) prints the usage to stdout
 * (exit 0), `syslet --version` (`-V`) the version. SIGINT and SIGTERM remove temp dirs, finish a
 * progress line and exit 130 and 143; output errors are reported as GNU's close_stdout does
 * (process.ts).
 */
import { readFileSync } from 'node:fs';
import { UsageError, type Command, type CommandIo } from './command.js';
import { installSignalHandlers, processOutput, runCleanups } from './process.js';

const HELP = `usage: syslet <command> [options]
       syslet -V | --version
       syslet -h | --help

commands:
  tour                            what npm start runs: syslet du on this package's dependencies,
                                  a short profile run, the recording of the du run itself (HTML
                                  reports and traces written), then syslet/fs beside fs.promises
  demo [--files N] [--rounds N]   a stat storm and a small-file read through syslet chains on a
                                  tree created under the OS temp dir, beside fs.promises
  du [-abchks] [-d N] [FILE]...   disk usage of each FILE (default .), like GNU du, walked with
                                  batched readdir and lstat chains
  profile [options]               drive a contention workload through the rings and report
                                  throughput, CAS retries, parks, occupancy and latency; --html,
                                  --trace, --json, --sweep
  record [options] -- COMMAND ...
                                  run a program with every syslet runtime it makes recorded
                                  (rings over time, chain spans per thread, threadlets); prints
                                  the summary and where the HTML report and trace are
  run [--root DIR] [--allow OP,...] [--var NAME=N]... [--timeout MS] [--json] FILE.json
                                  run a chain file, paths confined to the current directory
                                  (or DIR, where relative paths resolve); prints the completion
  bench [--quick] [--json] [--only stat|read|roundtrip|kqueue|fs|sporadic|blocking]
                                  the benchmark scenarios beside their baselines: ratios table
  help                            this text

syslet COMMAND --help shows a command's options. Exit status: 0 success, 1 failure, 2 usage error,
130 and 143 interrupted (SIGINT, SIGTERM).
`;

/**
 * Each command is loaded when it runs: `syslet du` on a small tree must not pay for loading the
 * runtime, piscina and tinybench (du loads the runtime itself when the tree proves big).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  tour: async () => (await import('./tour.js')).TOUR_COMMAND,
  demo: async () => (await import('./demo.js')).DEMO_COMMAND,
  du: async () => (await import('./du.js')).DU_COMMAND,
  profile: async () => (await import('./profile-command.js')).PROFILE_COMMAND,
  record: async () => (await import('./record-command.js')).RECORD_COMMAND,
  run: async () => (await import('./run.js')).RUN_COMMAND,
  bench: async () => (await import('../bench/run.js')).BENCH_COMMAND,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `syslet ${pkg.version}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd = '', ...rest] = argv;
  installSignalHandlers();
  // du's messages are GNU du's (`du: write error`); the others name themselves.
  const out = processOutput(cmd === 'du' ? 'du' : COMMANDS[cmd] === undefined ? 'syslet' : `syslet ${cmd}`);
  // A terminal's width (80 when it does not report one); no width for a file or a pipe.
  const io: CommandIo = {
    out: out.out,
    err: out.err,
    isTTY: process.stdout.isTTY === true,
    columns: process.stdout.isTTY === true ? process.stdout.columns || 80 : Infinity,
  };
  const command = await COMMANDS[cmd]?.();
  try {
    if (command !== undefined) {
      const code = await command.run(rest, io);
      if (code !== 'help') return code;
      io.out(command.usage);
      return 0;
    }
    switch (cmd) {
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return 0;
      case '--version':
      case '-V':
        io.out(version());
        return 0;
      case '':
        throw new UsageError('', 'missing command');
      default:
        throw new UsageError('', `unknown command "${cmd}"`);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const usage = e.command === '' ? HELP : (await COMMANDS[e.command]!()).usage;
    io.err(`syslet${e.command === '' ? '' : ` ${e.command}`}: ${e.message}\n${e.showUsage ? `\n${usage}` : ''}`);
    return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    runCleanups();
    process.exitCode = code;
  },
  (err: unknown) => {
    runCleanups();
    process.stderr.write(`syslet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
