/**
 * `syslet profile`'s command line: options (each validated with a message that names it), the
 * progress bar, and the outputs (terminal report, --json, --html, --trace). The run is profile.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { OpKind } from './profile-protocol.js';
import {
  DEFAULT_OPTIONS,
  OP_KINDS,
  pointConfigs,
  runProfile,
  SWEEP_PARAMS,
  type PointRun,
  type ProfileOptions,
  type ProfileResult,
  type SweepParam,
} from './profile.js';
import { parseCommandLine, UsageError, type Command, type CommandIo, type OptionSpec } from './command.js';
import { atExit } from './process.js';
import { bar, renderTerminal } from './report/terminal.js';
import { renderHtml } from './report/html.js';
import { buildTrace } from './report/trace.js';

export const PROFILE_HELP = `usage: syslet profile [options]

Drives a contention workload through the runtime's rings: producer threads attach to one runtime
and submit bursts of chains in a loop; every chain is timed (latencySample 1). Reports, per ring,
throughput, CAS retries per operation, full and empty events, parks and wake-ups, occupancy over
time, and submit-to-start, start-to-complete and complete-to-reap latency percentiles.

workload:                                                                     [default]
  -p, --producers N        producer threads (worker threads that submit)         [2]
  -w, --workers N          worker threads that run the chains      [available parallelism]
  -r, --ring N             submission ring capacity (request slots), a power of 2 [4096]
      --completion-ring N  capacity of each completion ring, a power of 2         [--ring]
  -m, --mix SPEC           atoms: nop, stat, read (4 KiB pread), comma-separated,
                           optionally weighted: nop=2,stat=1,read=1               [nop]
  -b, --batch N            chains a producer submits back to back per burst; it
                           keeps two bursts in flight                             [64]
  -a, --atoms N            atoms per chain, each drawn from the mix               [1]
  -d, --duration T         per run: seconds (3, 0.5) or with a unit (500ms, 2s)   [3s]
      --interval MS        sampling interval for occupancy over time [duration/200, >= 10]
      --sweep P=V1,V2,...  one run per value of P: producers, workers, ring, batch or atoms
output:
      --json               print the raw figures as JSON instead of the report
      --html FILE          write a self-contained HTML report with plots
      --trace FILE         write a Chrome trace-event JSON file (open it in ui.perfetto.dev)
      --trace-spans N      chains recorded as spans in the trace, over all runs   [10000]
  -h, --help               this text

stat and read atoms go to 64 files of 4 KiB that the profiler creates under the OS temp dir and
removes afterwards.
`;

/** The options: long name, type and short letter (parseArgs' spec). */
const OPTIONS = {
  producers: { type: 'string', short: 'p' },
  workers: { type: 'string', short: 'w' },
  ring: { type: 'string', short: 'r' },
  'completion-ring': { type: 'string' },
  mix: { type: 'string', short: 'm' },
  batch: { type: 'string', short: 'b' },
  atoms: { type: 'string', short: 'a' },
  duration: { type: 'string', short: 'd' },
  interval: { type: 'string' },
  sweep: { type: 'string' },
  json: { type: 'boolean' },
  html: { type: 'string' },
  trace: { type: 'string' },
  'trace-spans': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>;

function show(v: string): string {
  return JSON.stringify(v);
}

function parseInteger(name: string, v: string, min: number, max: number): number {
  const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError('profile', `${name}: expected an integer from ${min} to ${max}, got ${show(v)}`);
  }
  return n;
}

function parsePow2(name: string, v: string): number {
  const n = parseInteger(name, v, 2, 1 << 20);
  if ((n & (n - 1)) !== 0) throw new UsageError('profile', `${name}: expected a power of two from 2 to 1048576, got ${show(v)}`);
  return n;
}

const PARAM_PARSERS: Record<SweepParam, (name: string, v: string) => number> = {
  producers: (n, v) => parseInteger(n, v, 1, 256),
  workers: (n, v) => parseInteger(n, v, 1, 256),
  ring: parsePow2,
  batch: (n, v) => parseInteger(n, v, 1, 65536),
  atoms: (n, v) => parseInteger(n, v, 1, 256),
};

function isSweepParam(p: string): p is SweepParam {
  return (SWEEP_PARAMS as readonly string[]).includes(p);
}

export function parseDuration(name: string, v: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(ms|s)?$/.exec(v);
  const ms = m === null ? NaN : Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
  if (!(ms >= 10 && ms <= 3_600_000)) {
    throw new UsageError('profile', `${name}: expected a duration from 10ms to 3600s (seconds, or a number with ms or s), got ${show(v)}`);
  }
  return ms;
}

export function parseMix(name: string, v: string): Record<OpKind, number> {
  const mix: Record<OpKind, number> = { nop: 0, stat: 0, read: 0 };
  if (v === '') throw new UsageError('profile', `${name}: expected operations among ${OP_KINDS.join(', ')}, got ""`);
  for (const part of v.split(',')) {
    const m = /^([a-z]+)(?:=([0-9]+))?$/.exec(part);
    const op = m?.[1] as OpKind | undefined;
    if (m === null || op === undefined || !OP_KINDS.includes(op)) {
      throw new UsageError('profile', 
        `${name}: expected OP or OP=WEIGHT with OP one of ${OP_KINDS.join(', ')}, got ${show(part)}`,
      );
    }
    if (mix[op] !== 0) throw new UsageError('profile', `${name}: ${op} is given twice in ${show(v)}`);
    mix[op] = m[2] === undefined ? 1 : parseInteger(`${name}: ${op} weight`, m[2], 1, 1000);
  }
  return mix;
}

export function parseSweep(name: string, v: string): { param: SweepParam; values: number[] } {
  const m = /^([a-z]+)=(.*)$/.exec(v);
  const param = m?.[1] as SweepParam | undefined;
  if (m === null || param === undefined || !SWEEP_PARAMS.includes(param)) {
    throw new UsageError('profile', 
      `${name}: expected PARAM=V1,V2,... with PARAM one of ${SWEEP_PARAMS.join(', ')}, got ${show(v)}`,
    );
  }
  const raw = m[2]!.split(',');
  if (raw.length > 32) throw new UsageError('profile', `${name}: at most 32 values, got ${raw.length}`);
  const values = raw.map((x) => PARAM_PARSERS[param](`${name}: ${param}`, x));
  const dup = values.find((x, i) => values.indexOf(x) !== i);
  if (dup !== undefined) throw new UsageError('profile', `${name}: ${param}=${dup} is given twice`);
  return { param, values };
}

/** Parse `syslet profile`'s arguments; 'help' for --help. */
export function parseProfileArgs(argv: readonly string[]): ProfileOptions | 'help' {
  const o: ProfileOptions = {
    ...DEFAULT_OPTIONS,
    config: { ...DEFAULT_OPTIONS.config, mix: { ...DEFAULT_OPTIONS.config.mix }, workers: os.availableParallelism() },
  };
  let completionRing: number | undefined;
  const seen = new Set<string>();
  const cl = parseCommandLine('profile', argv, OPTIONS);
  if (cl.help) return 'help';
  if (cl.operands.length > 0) throw new UsageError('profile', `unexpected argument ${show(cl.operands[0]!)}`);
  for (const opt of cl.options) {
    const name = `--${opt.name}`;
    if (opt.name === 'json') {
      o.json = true;
      continue;
    }
    const value = opt.value!;
    if (seen.has(name)) throw new UsageError('profile', `${name}: given twice`);
    seen.add(name);
    // The options that are also sweep parameters: one parser each, shared with --sweep's values.
    const param = name.slice(2);
    if (isSweepParam(param)) {
      o.config[param] = PARAM_PARSERS[param](name, value);
      continue;
    }
    switch (name) {
      case '--completion-ring':
        completionRing = parsePow2(name, value);
        break;
      case '--mix':
        o.config.mix = parseMix(name, value);
        break;
      case '--duration':
        o.durationMs = parseDuration(name, value);
        break;
      case '--interval':
        o.intervalMs = parseInteger(name, value, 1, 60_000);
        break;
      case '--sweep':
        o.sweep = parseSweep(name, value);
        break;
      case '--html':
      case '--trace':
        if (value === '' || value.startsWith('-')) throw new UsageError('profile', `${name}: expected a file name, got ${show(value)}`);
        if (name === '--html') o.html = value;
        else o.trace = value;
        break;
      case '--trace-spans':
        o.traceSpans = parseInteger(name, value, 0, 1_000_000);
        break;
    }
  }
  if (o.sweep !== undefined && seen.has(`--${o.sweep.param}`)) {
    throw new UsageError('profile', `--sweep: ${o.sweep.param} is swept, so --${o.sweep.param} cannot be given too`);
  }
  if (o.html !== undefined && o.html === o.trace) {
    throw new UsageError('profile', `--html and --trace: both name ${show(o.html)}`);
  }
  o.completionRingGiven = completionRing !== undefined;
  o.config.completionRing = completionRing ?? o.config.ring;
  return o;
}

/** A one-line progress bar redrawn in place with \r; cleared with clear(). */
class ProgressBar {
  #shown = false;
  #last = 0;
  constructor(
    readonly write: (s: string) => void,
    readonly width: number,
  ) {}

  update(point: number, points: number, fraction: number, label: string, chains: number): void {
    const now = performance.now();
    if (now - this.#last < 100 && fraction < 1) return;
    this.#last = now;
    const total = (point + fraction) / points;
    const barWidth = Math.max(10, Math.min(40, this.width - 50));
    const what = points > 1 ? `  ${label} (${point + 1}/${points})` : '';
    this.write(`\r\x1b[2Kprofiling ▕${bar(total, barWidth).padEnd(barWidth)}▏ ${Math.floor(total * 100)}%${what}  ${chains.toLocaleString('en-US')} chains`);
    this.#shown = true;
  }

  clear(): void {
    if (this.#shown) this.write('\r\x1b[2K');
    this.#shown = false;
  }
}

/** `syslet profile ...`: returns the exit status. Usage errors throw UsageError('profile', ...). */
export async function profileCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const o = parseProfileArgs(argv);
  if (o === 'help') {
    io.out(PROFILE_HELP);
    return 0;
  }
  const env = io.env ?? process.env;
  const color = io.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb';
  // Not a terminal: no width to fit (a file or a pipe takes lines of any length).
  const columns = io.columns ?? Infinity;
  const progress = io.isTTY ? new ProgressBar(io.out, Math.min(columns, 200)) : undefined;
  // An interrupted run (SIGINT, SIGTERM) finishes the line so the shell's prompt starts clean.
  const unregister = atExit(() => progress?.clear());
  const labels = pointConfigs(o).map((c) => c.label);
  let result: ProfileResult;
  let runs: PointRun[];
  try {
    ({ result, runs } = await runProfile(o, {
      onProgress: (i, n, f, chains) => progress?.update(i, n, f, labels[i] ?? '', chains),
    }));
  } finally {
    unregister();
    progress?.clear();
  }
  const written: string[] = [];
  if (o.html !== undefined) {
    fs.writeFileSync(o.html, renderHtml(result));
    written.push(`HTML report: ${o.html}`);
  }
  if (o.trace !== undefined) {
    fs.writeFileSync(o.trace, buildTrace(result, runs.map((r) => r.trace)));
    written.push(`trace: ${o.trace} (open it in https://ui.perfetto.dev)`);
  }
  if (o.json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    for (const w of written) io.err(`${w}\n`);
  } else {
    io.out(renderTerminal(result, { color, columns }));
    if (written.length > 0) io.out(`\n${written.join('\n')}\n`);
  }
  const failed = result.points.reduce((s, p) => s + p.chains.failed, 0);
  if (failed > 0) {
    io.err(`syslet profile: ${failed} chains failed (a status other than done, or a negative result)\n`);
    return 1;
  }
  return 0;
}

export const PROFILE_COMMAND: Command = { usage: PROFILE_HELP, run: profileCommand };
