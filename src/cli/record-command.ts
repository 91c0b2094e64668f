/**
 * `syslet record -- COMMAND [ARG]...`: run a program under the recorder's preload
 * (record-preload.ts, `syslet/profile`), then print where its reports are and the terminal summary
 * of each recorded process. Opens nothing. The program's output goes through untouched; the exit
 * status is the program's.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProfileResult } from '../index.js';
import { UsageError, type Command, type CommandIo } from './command.js';
import { foregroundChild } from './process.js';
import { profileFiles } from './record-collector.js';
import { renderTerminal } from './report/terminal.js';

export const RECORD_HELP = `usage: syslet record [options] -- COMMAND [ARG]...

Runs COMMAND (usually node, or npm, or anything that starts node) with the recorder preloaded
(NODE_OPTIONS=--import syslet/profile): every syslet runtime its Node processes make is recorded
from creation to close or exit: ring occupancy, parked workers and throughput over time, every
chain timed and kept as a span per thread, threadlets where they ran. Then prints where the
reports are and the terminal summary. The program's output and exit status are its own.

options:                                                                      [default]
      --dir DIR            where the reports go                        [./syslet-profile]
      --interval MS        milliseconds between samples of the rings               [50]
      --trace-spans N      chains kept as spans, per thread and runtime        [100000]
      --json               print the figures as JSON (an array, one per process)
  -h, --help               this text

Each recorded process writes DIR/syslet-profile-PID.html (the report), .trace.json (open it in
https://ui.perfetto.dev) and .json (the figures, as syslet profile --json). Without syslet record:
  SYSLET_PROFILE=DIR node --import syslet/profile app.js
`;

export interface RecordArgs {
  dir: string;
  intervalMs: number | undefined;
  traceSpans: number | undefined;
  json: boolean;
  command: string[];
}

function intArg(name: string, v: string | undefined, min: number, max: number): number {
  const n = v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError('record', `${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v ?? '')}`);
  }
  return n;
}

/** Parse `syslet record`'s arguments; 'help' for --help. */
export function parseRecordArgs(argv: readonly string[]): RecordArgs | 'help' {
  const o: RecordArgs = { dir: 'syslet-profile', intervalMs: undefined, traceSpans: undefined, json: false, command: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case '-h':
      case '--help':
        return 'help';
      case '--json':
        o.json = true;
        break;
      case '--dir': {
        const v = value();
        if (v === undefined || v === '') throw new UsageError('record', '--dir: expected a directory');
        o.dir = v;
        break;
      }
      case '--interval':
        o.intervalMs = intArg(name, value(), 1, 60_000);
        break;
      case '--trace-spans':
        o.traceSpans = intArg(name, value(), 0, 10_000_000);
        break;
      default:
        if (a.startsWith('--')) throw new UsageError('record', `unrecognized option '${name}'`);
        if (a.startsWith('-') && a !== '-') throw new UsageError('record', `invalid option -- '${a.slice(1)}'`);
        // The command starts at the first argument that is not an option ("--" is optional).
        o.command = argv.slice(i);
        return o;
    }
  }
  o.command = argv.slice(i);
  if (o.command.length === 0) throw new UsageError('record', 'expected a command to run: syslet record -- node app.js');
  return o;
}

const PRELOAD = new URL('./record-preload.js', import.meta.url).href;

/** Run the command under the preload; resolves with its exit status (128 + signal number if killed). */
function runUnderPreload(a: RecordArgs, dir: string): Promise<number> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import ${PRELOAD}`].filter((x) => x !== undefined && x !== '').join(' '),
    SYSLET_PROFILE: dir,
    SYSLET_PROFILE_QUIET: '1',
  };
  if (a.intervalMs !== undefined) env.SYSLET_PROFILE_INTERVAL = String(a.intervalMs);
  if (a.traceSpans !== undefined) env.SYSLET_PROFILE_SPANS = String(a.traceSpans);
  return new Promise((resolve, reject) => {
    const child = spawn(a.command[0]!, a.command.slice(1), { stdio: 'inherit', env });
    // Ctrl-C is the program's to handle (it writes its report on the way out); SIGTERM goes to it.
    const fg = foregroundChild((signal) => child.kill(signal));
    child.once('error', (e) => {
      fg.done();
      reject(new UsageError('record', `cannot run ${JSON.stringify(a.command[0])}: ${e.message}`, false));
    });
    child.once('exit', (code, signal) => {
      fg.done();
      resolve(code ?? 128 + (signal === null ? 0 : os.constants.signals[signal]));
    });
  });
}

/** `syslet record ...`: returns the program's exit status. Usage errors throw UsageError('record', ...). */
export async function recordCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const a = parseRecordArgs(argv);
  if (a === 'help') {
    io.out(RECORD_HELP);
    return 0;
  }
  const dir = path.resolve(a.dir);
  fs.mkdirSync(dir, { recursive: true });
  const before = new Set(fs.readdirSync(dir));
  const status = await runUnderPreload(a, dir);
  const written = fs
    .readdirSync(dir)
    .filter((n) => /^syslet-profile-[0-9]+\.json$/.test(n) && !before.has(n))
    .map((n) => Number(/[0-9]+/.exec(n)![0]))
    .sort((x, y) => x - y);
  const results = written.map((pid) => ({ pid, files: profileFiles(dir, pid), result: JSON.parse(fs.readFileSync(profileFiles(dir, pid).json, 'utf8')) as ProfileResult }));
  if (a.json) {
    io.out(`${JSON.stringify(results.map((r) => r.result), null, 2)}\n`);
  } else {
    const env = io.env ?? process.env;
    const color = io.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb';
    for (const r of results) {
      io.out(`\n${renderTerminal(r.result, { color, columns: io.columns ?? Infinity })}`);
      io.out(`\nHTML report: ${r.files.html}\ntrace: ${r.files.trace} (open it in https://ui.perfetto.dev)\nfigures: ${r.files.json}\n`);
    }
  }
  if (results.length === 0) io.err(`syslet record: no syslet runtime was made by ${a.command.join(' ')}; nothing recorded\n`);
  return status;
}

/**
 * Its own parser, not parseCommandLine: options end at the first operand, which starts the
 * command (`syslet record node --inspect app.js` passes --inspect to node), as getopt does with
 * POSIXLY_CORRECT.
 */
export const RECORD_COMMAND: Command = { usage: RECORD_HELP, run: recordCommand };

/** The preload's file, for callers that start node themselves. */
export const PRELOAD_FILE = fileURLToPath(PRELOAD);
