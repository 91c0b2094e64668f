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
 */
import { demo } from './demo.js';
import { DuUsageError, duCommand } from './du.js';
import { ProfileUsageError, profileCommand, type CommandIo } from './profile-command.js';
import { RecordUsageError, recordCommand } from './record-command.js';
import { RUN_HELP, RunUsageError, parseRunArgs, runChainFile } from './run.js';
import { BenchUsageError, benchMain } from '../bench/run.js';
import { tour } from './tour.js';

const HELP = `usage: syslet <command> [options]

commands:
  tour                            what npm start runs: syslet du on this package's dependencies,
                                  a short profile run, and the recording of the du run itself
                                  (HTML reports and traces written)
  demo [--files N] [--rounds N]   a stat storm and a small-file read through syslet chains on a
                                  tree created under the OS temp dir, beside fs.promises
  du [-abchks] [-d N] [FILE]...   disk usage of each FILE (default .), like GNU du, walked with
                                  batched readdir and lstat chains (syslet du --help for options)
  profile [options]               drive a contention workload through the rings and report
                                  throughput, CAS retries, parks, occupancy and latency; --html,
                                  --trace, --json, --sweep (syslet profile --help for options)
  record [options] -- COMMAND ...  run a program with every syslet runtime it makes recorded
                                  (rings over time, chain spans per thread, threadlets); prints
                                  the summary and where the HTML report and trace are
                                  (syslet record --help for options)
  run [--root DIR] [--json] FILE.json
                                  run a chain file, paths confined to the current directory
                                  (or DIR); prints the completion (syslet run --help)
  bench [--quick] [--json] [--only stat|read|roundtrip|kqueue]
                                  the benchmark scenarios beside their baselines: ratios table
  help                            this text
`;

function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    throw new UsageError(`${name}: expected a positive integer, got ${args[i + 1] ?? 'nothing'}`);
  }
  return v;
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [cmd = 'help', ...rest] = argv;
  // What profile and tour write to. columns is 0 or undefined when stdout is not a terminal that
  // reports a size: 100 then.
  const io: CommandIo = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    isTTY: process.stdout.isTTY === true,
    columns: process.stdout.columns || 100,
  };
  switch (cmd) {
    case 'demo':
      await demo({
        files: intFlag(rest, '--files', 5000),
        rounds: intFlag(rest, '--rounds', 3),
        out: (l) => process.stdout.write(`${l}\n`),
      });
      return 0;
    case 'du':
      try {
        return await duCommand(rest);
      } catch (e) {
        if (e instanceof DuUsageError) throw new UsageError(`du: ${e.message}`);
        throw e;
      }
    case 'run':
      try {
        return await runChainFile(parseRunArgs(rest), (s) => process.stdout.write(s));
      } catch (e) {
        if (!(e instanceof RunUsageError)) throw e;
        if (e.message === '') {
          process.stdout.write(RUN_HELP);
          return 0;
        }
        process.stderr.write(`syslet: run: ${e.message}\n`);
        return 2;
      }
    case 'profile':
      try {
        return await profileCommand(rest, io);
      } catch (e) {
        if (e instanceof ProfileUsageError) throw new UsageError(`profile: ${e.message}`);
        throw e;
      }
    case 'record':
      try {
        return await recordCommand(rest, io);
      } catch (e) {
        if (e instanceof RecordUsageError) throw new UsageError(`record: ${e.message}`);
        throw e;
      }
    case 'tour':
      if (rest.length > 0) throw new UsageError(`tour: takes no arguments, got "${rest[0]}"`);
      return tour(io);
    case 'bench':
      try {
        await benchMain(rest, (s) => process.stdout.write(s));
        return 0;
      } catch (e) {
        if (e instanceof BenchUsageError) throw new UsageError(`bench: ${e.message}`);
        throw e;
      }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`syslet: ${err.message}\n\n${HELP}`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`syslet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
