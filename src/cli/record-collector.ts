/**
 * The collector behind `syslet/profile` (record-preload.ts, the entry that installs it): records
 * every runtime the main thread makes, merges what the threads that attached left in the
 * directory, and writes the report, the trace and the figures when the process exits.
 *
 * Each runtime made on the main thread (Runtime.create, the runtime behind a library
 * such as syslet/fs) is recorded from its first submission until rt.close() or the process exit
 * (rt.record(), record/recorder.ts). Threads that attach record their own part (recorder.ts,
 * recordThread: the preload does not run on worker threads, the SYSLET_PROFILE it sets does reach
 * them) and leave it in the directory; it is merged into the runtime's report here.
 *
 * When the process exits, if any runtime was recorded, three files go into the directory
 * (SYSLET_PROFILE, default ./syslet-profile), named after the process id so that the processes of
 * one command do not overwrite each other:
 *   syslet-profile-PID.html        the report (the same page as syslet profile --html)
 *   syslet-profile-PID.trace.json  the Chrome trace-event file (ui.perfetto.dev)
 *   syslet-profile-PID.json        the figures (the same shape as syslet profile --json)
 * and where they are is printed on stderr (SYSLET_PROFILE_QUIET=1: not printed). The program's
 * stdout and exit code are untouched.
 *
 * Options, from the environment: SYSLET_PROFILE_INTERVAL (ms between samples, default 50),
 * SYSLET_PROFILE_SPANS (chains kept as spans per thread and runtime, default 100000).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { runtimeKey, startRecording, THREAD_REPORTS_DIR, type RecordHost, type Recording, type ThreadReport } from '../record/recorder.js';
import type { PointResult, PointTrace, ProfileResult, RecordedProgram } from '../record/result.js';
import { renderHtml } from './report/html.js';
import { buildTrace } from './report/trace.js';

/** The files a recorded process writes, in `dir`. */
export function profileFiles(dir: string, pid: number): { html: string; trace: string; json: string } {
  const base = path.join(dir, `syslet-profile-${pid}`);
  return { html: `${base}.html`, trace: `${base}.trace.json`, json: `${base}.json` };
}

/** A command line quoted for a POSIX shell. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function envInt(name: string, fallback: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`syslet/profile: ${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}; using ${fallback}\n`);
    return fallback;
  }
  return n;
}

interface Recorded {
  rec: Recording;
  key: number;
}

/** Merge the threads' recordings of a runtime into the main thread's point (and trace). */
function mergeThread(point: PointResult, trace: PointTrace, r: ThreadReport): void {
  const their = r.result.points[0]!;
  for (const q of their.producers) {
    const producer = point.producers.length + 1;
    point.producers.push({ ...q, producer });
    // The thread's completion queue, as its own recording saw it (it was released at its close).
    const ring = their.rings.completion.find((c) => c.cq === q.cq);
    if (ring !== undefined && !point.rings.completion.some((c) => c.cq === q.cq)) point.rings.completion.push({ ...ring, producer });
  }
  point.chains.submitted += their.chains.submitted;
  point.chains.completed += their.chains.completed;
  point.chains.failed += their.chains.failed;
  point.config.producers = point.producers.length;
  point.chains.perSec = point.elapsedMs > 0 ? point.chains.completed / (point.elapsedMs / 1000) : 0;
  for (const t of r.trace.producers) {
    trace.producers.push({ ...t, spans: Float64Array.from(t.spans as unknown as number[]), bursts: new Float64Array(0) });
  }
}

/** Build the report of everything recorded, write it, and say where. Runs in process 'exit'. */
function writeReport(dir: string, recorded: Recorded[], started: string): void {
  const threadDir = path.join(dir, THREAD_REPORTS_DIR);
  const reports: ThreadReport[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(threadDir).filter((n) => n.startsWith(`${process.pid}-`) && n.endsWith('.json'));
  } catch {
    // No thread left a recording.
  }
  for (const n of names) {
    const file = path.join(threadDir, n);
    reports.push(JSON.parse(fs.readFileSync(file, 'utf8')) as ThreadReport);
    fs.rmSync(file, { force: true });
  }
  try {
    fs.rmdirSync(threadDir);
  } catch {
    // Other processes' recordings are still there.
  }
  if (recorded.length === 0 && reports.length === 0) return;
  const points: PointResult[] = [];
  const traces: PointTrace[] = [];
  const byKey = new Map<number, { point: PointResult; trace: PointTrace }>();
  for (const { rec, key } of recorded) {
    const result = rec._stop('exit');
    const point = result.points[0]!;
    const trace = rec.trace!;
    points.push(point);
    traces.push(trace);
    if (!byKey.has(key)) byKey.set(key, { point, trace });
  }
  for (const r of reports) {
    const into = byKey.get(r.key);
    if (into !== undefined) {
      mergeThread(into.point, into.trace, r);
      continue;
    }
    // A runtime made on another thread (or on the main one before the preload ran): its own point.
    const point = r.result.points[0]!;
    const trace: PointTrace = { ...r.trace, producers: [] };
    point.producers = [];
    point.chains = { submitted: 0, completed: 0, failed: 0, perSec: 0 };
    mergeThread(point, trace, r);
    points.push(point);
    traces.push(trace);
    byKey.set(r.key, { point, trace });
  }
  const program: RecordedProgram = {
    argv: [...process.argv],
    execArgv: [...process.execArgv],
    command: shellQuote([path.basename(process.argv[0] ?? 'node'), ...process.execArgv, ...process.argv.slice(1)]),
    pid: process.pid,
    cwd: process.cwd(),
  };
  const first = points[0]!;
  const result: ProfileResult = {
    tool: 'syslet record',
    version: 1,
    generated: started,
    machine: recorded[0]?.rec._stop('exit').machine ?? reports[0]!.result.machine,
    options: {
      durationMs: Math.max(...points.map((p) => p.elapsedMs)),
      intervalMs: first.samples.intervalMs,
      sweep: null,
      config: first.config,
    },
    points,
    program,
  };
  const files = profileFiles(dir, process.pid);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(files.json, `${JSON.stringify(result, null, 1)}\n`);
  fs.writeFileSync(files.html, renderHtml(result));
  fs.writeFileSync(files.trace, buildTrace(result, traces));
  if (process.env.SYSLET_PROFILE_QUIET !== '1') {
    const chains = points.reduce((a, p) => a + p.chains.completed, 0);
    process.stderr.write(
      `syslet/profile: recorded ${points.length} runtime${points.length === 1 ? '' : 's'} (${chains.toLocaleString('en-US')} chains) of ${program.command}\n` +
        `  report:  ${files.html}\n` +
        `  trace:   ${files.trace} (open it in https://ui.perfetto.dev)\n` +
        `  figures: ${files.json}\n`,
    );
  }
}

/** Record every runtime this (main) thread makes from now on, and write the report on exit. */
export function installCollector(): void {
  const dir = path.resolve(process.env.SYSLET_PROFILE || 'syslet-profile');
  // Threads (and child processes) inherit it: their runtimes record themselves into `dir`.
  process.env.SYSLET_PROFILE = dir;
  const opts = {
    intervalMs: envInt('SYSLET_PROFILE_INTERVAL', 50, 1, 60_000),
    traceSpans: envInt('SYSLET_PROFILE_SPANS', 100_000, 0, 10_000_000),
  };
  const started = new Date().toISOString();
  const recorded: Recorded[] = [];
  diagnostics_channel.subscribe('syslet:runtime', (m) => {
    const host = m as RecordHost;
    recorded.push({ rec: startRecording(host, opts), key: runtimeKey(host) });
  });
  process.once('exit', () => {
    try {
      writeReport(dir, recorded, started);
    } catch (e) {
      // Never the program's exit code: only a word on stderr.
      process.stderr.write(`syslet/profile: could not write the report: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
  });
}
