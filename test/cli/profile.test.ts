/**
 * `syslet profile`: short runs of the real command (child processes, stdout not a terminal), the
 * structure of each output, exact counts that must agree with each other, and precise usage
 * errors. No assertion is about time: a loaded machine changes the figures, never the counts.
 *
 * The counts that must hold after every run (nop chains go through the rings one way each):
 *   submitted = completed = Σ producers = Σ workers' chains = submission pushes = submission pops
 *   Σ completion-ring pushes + Σ overflow = completed, and each completion ring is drained
 *   latency counts = chains (latencySample 1 times every chain)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { PointResult, ProfileResult } from '../../dist/cli/profile.js';
import { parseProfileArgs, profileCommand } from '../../dist/cli/profile-command.js';
import { UsageError } from '../../dist/cli/command.js';
import { findings } from '../../dist/cli/report/findings.js';
import { bar, renderTerminal, sparkline } from '../../dist/cli/report/terminal.js';
import { tempDir } from '../helpers.js';
import { expectWellFormed, type TraceEvent } from '../trace.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const tmp = tempDir('syslet-profile-test-');
afterAll(() => tmp.cleanup());

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Run `syslet profile ...` with its own TMPDIR (to see that its tree is removed). */
function profile(args: string[], tmpdir = tmp.dir): Run {
  const r = spawnSync(process.execPath, [MAIN, 'profile', ...args], {
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, TMPDIR: tmpdir },
  });
  if (r.error !== undefined) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** Short, small runs: a few hundred milliseconds of 2 workers. */
const SHORT = ['--duration', '0.25', '--workers', '2', '--batch', '16'];

function checkCounts(p: PointResult): void {
  const c = p.chains;
  const label = p.label;
  expect(c.failed, label).toBe(0);
  expect(c.submitted, label).toBeGreaterThan(0);
  expect(c.completed, label).toBe(c.submitted);
  expect(p.producers).toHaveLength(p.config.producers);
  expect(p.producers.reduce((s, q) => s + q.submitted, 0), label).toBe(c.submitted);
  expect(p.producers.reduce((s, q) => s + q.completed, 0), label).toBe(c.completed);
  for (const q of p.producers) expect(q.completed, `${label} producer ${q.producer}`).toBe(q.submitted);
  expect(p.workers.reduce((s, w) => s + w.chains, 0), label).toBe(c.submitted);
  expect(p.atoms.executed, label).toBe(c.submitted * p.config.atoms);

  const sq = p.rings.submission;
  expect(sq.capacity).toBe(p.config.ring);
  expect(sq.pushes, label).toBe(c.submitted);
  expect(sq.pops, label).toBe(c.submitted);
  expect(sq.occupancy.final).toBe(0);
  expect(p.rings.free.capacity).toBe(p.config.ring);

  // One completion queue per producer, each drained, none of their records lost or doubled.
  const cqs = p.rings.completion;
  expect(cqs.map((q) => q.producer)).toEqual(p.producers.map((q) => q.producer));
  for (const q of cqs) {
    const mine = p.producers.find((x) => x.producer === q.producer)!;
    expect(q.cq).toBe(mine.cq);
    expect(q.capacity).toBe(p.config.completionRing);
    expect(q.pushes + q.overflow!.total, q.name).toBe(mine.completed);
    expect(q.pops, q.name).toBe(q.pushes);
    expect(q.occupancy.final, q.name).toBe(0);
  }

  const L = p.latency;
  expect(L.submitToStart.count, label).toBe(c.submitted);
  expect(L.startToComplete.count, label).toBe(c.submitted);
  expect(L.completeToReap.count, label).toBe(c.completed);
  for (const l of [L.submitToStart, L.startToComplete, L.completeToReap]) {
    expect(l.p50).toBeGreaterThanOrEqual(0);
    expect(l.p50).toBeLessThanOrEqual(l.p90);
    expect(l.p90).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.p999);
    expect(l.p999).toBeLessThanOrEqual(l.max);
  }

  const s = p.samples;
  expect(s.t.length).toBeGreaterThan(0);
  for (const col of [s.submission, s.free, s.completion, s.backlog, s.parkedWorkers, s.workerParks, s.chainsPerSec]) {
    expect(col).toHaveLength(s.t.length);
    for (const x of col) expect(x).toBeGreaterThanOrEqual(0);
  }
  for (let k = 1; k < s.t.length; k++) expect(s.t[k]!).toBeGreaterThanOrEqual(s.t[k - 1]!);
  for (const x of s.submission) expect(x).toBeLessThanOrEqual(p.config.ring);
  for (const x of s.parkedWorkers) expect(x).toBeLessThanOrEqual(p.config.workers);
}

/** Numbers in a table cell ("12,345", "1.5e-3", "12.3k", "0/15"). */
const NUM = String.raw`[0-9][0-9.,e+-]*[kMG]?`;

describe('syslet profile: the terminal report', () => {
  it('prints the header, every ring, the samples, every percentile line, the workers and the producers', () => {
    const r = profile([...SHORT, '--producers', '2', '--ring', '256']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout;
    // Not a terminal: no progress bar, no colour.
    expect(out).not.toMatch(/[\r\x1b]/);
    const lines = out.split('\n');
    expect(lines[0]).toBe(
      'syslet profile: 2 producers · 2 workers · ring 256 · completion ring 256 · mix nop · 16 chains per burst · 1 atom per chain',
    );
    expect(lines[1]).toMatch(/^machine: .+, \d+ CPUs?, \w+ \w+, Node v\d+\.\d+\.\d+; 250 ms per run$/);
    const chains = /^chains: (\S+) submitted, (\S+) completed, 0 errors in \d+ ms: \S+ chains\/s, \S+ atoms\/s$/m.exec(out);
    expect(chains).not.toBeNull();
    const n = (s: string): number => Number(s.replaceAll(',', ''));
    expect(n(chains![1]!)).toBe(n(chains![2]!));

    const header = lines.findIndex((l) => l.startsWith('ring '));
    expect(lines[header]!.split(/\s{2,}/)).toEqual([
      'ring',
      'cap',
      'push/s',
      'pop/s',
      'retry/push',
      'retry/pop',
      'full',
      'empty',
      'parks P/C',
      'wakes P/C',
      'overflow',
    ]);
    const ringRow = (name: string, cap: number, overflow: string): RegExp =>
      new RegExp(`^${name}\\s+${cap}(\\s+${NUM}){6}\\s+${NUM}/${NUM}\\s+${NUM}/${NUM}\\s+${overflow}$`);
    expect(lines[header + 1]).toMatch(ringRow('submission', 256, '-'));
    expect(lines[header + 2]).toMatch(ringRow('free', 256, '-'));
    expect(lines[header + 3]).toMatch(ringRow('completion · producer 1', 256, NUM));
    expect(lines[header + 4]).toMatch(ringRow('completion · producer 2', 256, NUM));

    const over = lines.findIndex((l) => l.startsWith('over time ('));
    expect(lines[over]).toMatch(/^over time \(\d+ samples, \d+ ms apart\)\s+mean\s+max$/);
    const series = ['submission ring', 'free ring', 'completion rings', 'overflow backlog', 'parked workers', 'chains/s'];
    series.forEach((name, i) => {
      expect(lines[over + 1 + i]).toMatch(new RegExp(`^${name}\\s+${NUM}\\s+${NUM}\\s+[▁▂▃▄▅▆▇█]+$`));
    });

    const lat = lines.findIndex((l) => l.startsWith('latency (µs)'));
    expect(lines[lat]!.split(/\s{2,}/)).toEqual(['latency (µs)', 'count', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max', 'where']);
    const stages = [
      ['submit → start', 'queued in the submission ring'],
      ['start → complete', 'running on a worker'],
      ['complete → reap', 'waiting in a completion queue'],
    ];
    stages.forEach(([stage, where], i) => {
      const row = lines[lat + 1 + i]!;
      expect(row).toMatch(new RegExp(`^${stage}(\\s+${NUM}){7}\\s+${where}$`));
      // Every chain is timed: each stage counts all of them.
      expect(n(row.slice(stage!.length).trim().split(/\s+/)[0]!)).toBe(n(chains![1]!));
    });

    const w = lines.findIndex((l) => l.startsWith('worker slot'));
    expect(lines[w]!.split(/\s{2,}/)).toEqual(['worker slot', 'chains', 'share', 'atoms', 'parks', 'spin hits']);
    const workerRows = lines.slice(w + 1, w + 3);
    for (const row of workerRows) expect(row).toMatch(new RegExp(`^\\d+(\\s+${NUM}){2}%(\\s+${NUM}){3}\\s+[█▏▎▍▌▋▊▉]*$`));
    const workerChains = workerRows.reduce((s, row) => s + n(row.split(/\s+/)[1]!), 0);
    expect(workerChains).toBe(n(chains![1]!));

    const pr = lines.findIndex((l) => l.startsWith('producer '));
    expect(lines[pr]!.split(/\s{2,}/)).toEqual(['producer', 'submitted', 'completed', 'errors', 'bursts', 'queue']);
    let submitted = 0;
    for (const row of lines.slice(pr + 1, pr + 3)) {
      const [, sub, done, failed] = row.trim().split(/\s+/);
      expect(n(done!)).toBe(n(sub!));
      expect(failed).toBe('0');
      submitted += n(sub!);
    }
    expect(submitted).toBe(n(chains![1]!));
    expect(lines.slice(pr + 3).join('')).toBe('');
  });

  it('draws a progress bar and colour only on a terminal (and no colour with NO_COLOR)', async () => {
    const run = async (env: Record<string, string | undefined>): Promise<string> => {
      let out = '';
      const code = await profileCommand([...SHORT, '--producers', '1'], {
        out: (s) => (out += s),
        err: (s) => (out += s),
        isTTY: true,
        columns: 100,
        env,
      });
      expect(code).toBe(0);
      return out;
    };
    const tty = await run({});
    expect(tty).toMatch(/\r\x1b\[2Kprofiling ▕[█▏▎▍▌▋▊▉ ]+▏ \d+% {2}[\d,]+ chains/);
    // Cleared before the report.
    expect(tty).toMatch(/\r\x1b\[2K\x1b\[1msyslet profile: 1 producer · 2 workers/);
    expect(tty).toContain('\x1b[36m');
    const plain = await run({ NO_COLOR: '1' });
    expect(plain).toContain('\rprofiling ▕'.slice(1));
    expect(plain).not.toMatch(/\x1b\[(1|2|36)m/);
  });
});

describe('syslet profile --json', () => {
  it('prints the raw figures, and every count agrees', () => {
    const r = profile([...SHORT, '--producers', '2', '--ring', '64', '--completion-ring', '8', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as ProfileResult;
    expect(j.tool).toBe('syslet profile');
    expect(j.version).toBe(1);
    expect(Object.keys(j.machine).sort()).toEqual(['arch', 'cpuModel', 'cpus', 'node', 'platform', 'release', 'totalMemBytes']);
    expect(j.options.sweep).toBeNull();
    expect(j.options.durationMs).toBe(250);
    expect(j.options.config).toEqual({
      producers: 2,
      workers: 2,
      ring: 64,
      completionRing: 8,
      batch: 16,
      atoms: 1,
      mix: { nop: 1, stat: 0, read: 0 },
    });
    expect(j.points).toHaveLength(1);
    const p = j.points[0]!;
    expect(p.label).toBe('run');
    expect(Object.keys(p).sort()).toEqual(
      ['atoms', 'chains', 'config', 'elapsedMs', 'label', 'latency', 'producers', 'rings', 'samples', 'workerDeaths', 'workers'].sort(),
    );
    expect(Object.keys(p.rings.submission).sort()).toEqual(
      [
        'capacity',
        'consumerParks',
        'consumerWakes',
        'emptyEvents',
        'fullEvents',
        'name',
        'occupancy',
        'popRetries',
        'pops',
        'popsPerSec',
        'producerParks',
        'producerWakes',
        'pushRetries',
        'pushes',
        'pushesPerSec',
        'retriesPerPop',
        'retriesPerPush',
        'ring',
      ].sort(),
    );
    for (const stage of ['submitToStart', 'startToComplete', 'completeToReap'] as const) {
      expect(Object.keys(p.latency[stage]).sort()).toEqual(['count', 'max', 'mean', 'p50', 'p90', 'p99', 'p999']);
    }
    expect(p.workerDeaths).toBe(0);
    checkCounts(p);
  });

  it('runs stat and 4 KiB read atoms on a tree it creates under TMPDIR and removes', () => {
    const own = fs.mkdtempSync(path.join(tmp.dir, 'tmpdir-'));
    const r = profile([...SHORT, '--producers', '1', '--mix', 'nop=1,stat=1,read=2', '--atoms', '3', '--json'], own);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const p = (JSON.parse(r.stdout) as ProfileResult).points[0]!;
    expect(p.config.mix).toEqual({ nop: 1, stat: 1, read: 2 });
    expect(p.config.atoms).toBe(3);
    checkCounts(p);
    expect(fs.readdirSync(own)).toEqual([]);
  });
});

describe('syslet profile: findings', () => {
  it('a recording with no chains has no parks-per-chain ratio and flags nothing about it', () => {
    const r = profile([...SHORT, '--json']);
    expect(r.status).toBe(0);
    const point = (JSON.parse(r.stdout) as ProfileResult).points[0]!;
    // As a recorded program that started a runtime and ran nothing: its workers parked twice.
    const idle: PointResult = {
      ...point,
      chains: { ...point.chains, submitted: 0, completed: 0, failed: 0 },
      rings: { ...point.rings, submission: { ...point.rings.submission, consumerParks: 2 } },
    };
    const parks = findings(idle).find((f) => f.figure === 'worker parks per 1,000 chains')!;
    expect([parks.value, parks.high]).toEqual(['no chains', false]);
    // The same parks over 10 chains are 200 per 1,000: high.
    const ten = findings({ ...idle, chains: { ...idle.chains, submitted: 10, completed: 10 } });
    expect(ten.find((f) => f.figure === 'worker parks per 1,000 chains')).toMatchObject({ value: '200.0', high: true });
  });
});

describe('syslet profile --sweep', () => {
  it('gives one point per value, in the terminal and in JSON', () => {
    const r = profile([...SHORT, '--sweep', 'producers=1,2', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as ProfileResult;
    expect(j.options.sweep).toEqual({ param: 'producers', values: [1, 2] });
    expect(j.points.map((p) => [p.label, p.param, p.value, p.config.producers])).toEqual([
      ['producers=1', 'producers', 1, 1],
      ['producers=2', 'producers', 2, 2],
    ]);
    for (const p of j.points) checkCounts(p);

    // In a narrow terminal nothing overflows: wide tables split (first column repeated), notes wrap,
    // sparklines and bars shrink; every figure is still there.
    const wide = renderTerminal(j, { color: false, columns: Infinity });
    for (const columns of [100, 80, 60]) {
      const narrow = renderTerminal(j, { color: false, columns });
      const long = narrow.split('\n').filter((l) => [...l].length > columns);
      expect(long, `${columns} columns`).toEqual([]);
      // The same figures (as a set: split tables repeat their first column).
      const cells = (text: string) => [...new Set(text.split(/\s+/).filter((w) => /\d/.test(w) && !/[▁▂▃▄▅▆▇█▏▎▍▌▋▊▉]/.test(w)))].sort();
      expect(cells(narrow), `${columns} columns`).toEqual(cells(wide));
    }

    const t = profile([...SHORT, '--sweep', 'ring=16,64']);
    expect(t.status).toBe(0);
    const lines = t.stdout.split('\n');
    expect(lines[0]).toBe('syslet profile: sweep ring=16,64');
    expect(lines.filter((l) => /^── ring=(16|64) ─+$/.test(l))).toHaveLength(2);
    expect(t.stdout).toMatch(/ring 16 · completion ring 16 ·/);
    expect(t.stdout).toMatch(/ring 64 · completion ring 64 ·/);
    // Every run has its three latency lines.
    for (const stage of ['submit → start', 'start → complete', 'complete → reap']) {
      expect(lines.filter((l) => l.startsWith(`${stage} `))).toHaveLength(2);
    }
    const sweep = lines.findIndex((l) => /^── sweep: ring ─+$/.test(l));
    expect(sweep).toBeGreaterThan(0);
    expect(lines[sweep + 1]!.split(/\s{2,}/)).toEqual([
      'ring',
      'chains/s',
      'retry/push',
      'retry/pop',
      'overflow',
      'parks',
      's→s p50',
      's→s p99',
      's→c p50',
      's→c p99',
      'c→r p50',
      'c→r p99',
    ]);
    expect(lines[sweep + 2]).toMatch(new RegExp(`^16(\\s+${NUM}){11}\\s+[█▏▎▍▌▋▊▉]+$`));
    expect(lines[sweep + 3]).toMatch(new RegExp(`^64(\\s+${NUM}){11}\\s+[█▏▎▍▌▋▊▉]+$`));
  });
});

describe('syslet profile --trace', () => {
  it('writes trace-event JSON: a track per producer and worker slot, spans per chain, counter tracks', () => {
    const file = path.join(tmp.dir, 'trace.json');
    const r = profile([...SHORT, '--producers', '2', '--trace', file, '--trace-spans', '400', '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`trace: ${file} (open it in https://ui.perfetto.dev)\n`);
    const result = JSON.parse(r.stdout) as ProfileResult;
    const p = result.points[0]!;
    const t = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      traceEvents: TraceEvent[];
      displayTimeUnit: string;
      metadata: { spans: { recorded: number; chains: number; cap: number; complete: boolean; note: string } };
    };
    expect(t.displayTimeUnit).toBe('ms');
    const ev = t.traceEvents;
    expectWellFormed(ev, ['M', 'X', 'b', 'e', 'C'], 1);
    const threads = new Map(ev.filter((e) => e.name === 'thread_name').map((e) => [e.tid, (e.args as { name: string }).name]));
    const names = [...threads.values()];
    expect(names.filter((n) => /^producer \d$/.test(n)).sort()).toEqual(['producer 1', 'producer 2']);
    expect(names.filter((n) => /^worker slot \d+ \(thread \d+\)$/.test(n))).toHaveLength(2);
    expect(names).toContain('main (sampler)');

    // Spans: capped at 400 (200 per producer), each a b/e pair on its producer's track, with a
    // worker slice inside it on the worker's track.
    const { spans } = t.metadata;
    expect(spans.cap).toBe(400);
    expect(spans.chains).toBe(p.chains.submitted);
    expect(spans.recorded).toBe(p.producers.reduce((a, q) => a + Math.min(200, q.submitted), 0));
    expect(spans.complete).toBe(spans.recorded === spans.chains);
    expect(spans.note).toMatch(/capped|every chain/);
    const begins = ev.filter((e) => e.ph === 'b');
    const ends = ev.filter((e) => e.ph === 'e');
    expect(begins).toHaveLength(spans.recorded);
    expect(ends).toHaveLength(spans.recorded);
    const open = new Map<string, TraceEvent>();
    for (const e of ev.filter((x) => x.ph === 'b' || x.ph === 'e')) {
      expect(typeof e.id).toBe('number');
      const key = `${e.cat}/${e.id}`;
      expect(threads.get(e.tid)).toMatch(/^producer \d$/);
      expect(e.name).toBe(`${threads.get(e.tid)} chain`);
      if (e.ph === 'b') {
        expect(open.has(key)).toBe(false);
        open.set(key, e);
      } else {
        const b = open.get(key)!;
        expect(b).toBeDefined();
        expect(e.ts!).toBeGreaterThanOrEqual(b.ts!);
        open.delete(key);
      }
    }
    expect(open.size).toBe(0);
    const runs = ev.filter((e) => e.ph === 'X' && e.cat === 'worker');
    expect(runs).toHaveLength(spans.recorded);
    const byWorker = new Map<number, TraceEvent[]>();
    for (const e of runs) {
      expect(threads.get(e.tid)).toMatch(/^worker slot/);
      byWorker.set(e.tid, [...(byWorker.get(e.tid) ?? []), e]);
    }
    // A worker runs one chain at a time: its slices never overlap (thread slices must nest).
    for (const list of byWorker.values()) {
      list.sort((a, b) => a.ts! - b.ts!);
      for (let k = 1; k < list.length; k++) expect(list[k]!.ts!).toBeGreaterThanOrEqual(list[k - 1]!.ts! + list[k - 1]!.dur! - 1e-6);
    }
    expect(ev.filter((e) => e.ph === 'X' && e.name === 'submit burst').length).toBeGreaterThan(0);

    const counters = ev.filter((e) => e.ph === 'C');
    expect([...new Set(counters.map((e) => e.name))].sort()).toEqual(['chains/s', 'free slots', 'parked workers', 'pool size', 'ring depth']);
    expect(counters.filter((e) => e.name === 'ring depth')).toHaveLength(p.samples.t.length);
    for (const e of counters.filter((x) => x.name === 'ring depth')) {
      expect(Object.keys(e.args!).sort()).toEqual(['backlog', 'completion', 'submission']);
    }
  });
});

describe('syslet profile: the HTML report', () => {
  it('is one self-contained page with a plot per figure', () => {
    const file = path.join(tmp.dir, 'report.html');
    const r = profile([...SHORT, '--producers', '1', '--html', file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`HTML report: ${file}`);
    const html = fs.readFileSync(file, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const ids = [...html.matchAll(/<svg class="plot" data-plot="([^"]+)"/g)].map((m) => m[1]);
    expect(ids).toEqual(['occupancy-0', 'completion-0', 'free-0', 'throughput-0', 'parked-0', 'pool-0', 'latency-0', 'workers-0']);
  });
});

describe('syslet profile: usage errors', () => {
  const cases: [string[], string][] = [
    [['--producers', '0'], '--producers: expected an integer from 1 to 256, got "0"'],
    [['-p', 'x'], '--producers: expected an integer from 1 to 256, got "x"'],
    [['--workers', '1.5'], '--workers: expected an integer from 1 to 256, got "1.5"'],
    [['--ring', '100'], '--ring: expected a power of two from 2 to 1048576, got "100"'],
    [['--ring=1'], '--ring: expected an integer from 2 to 1048576, got "1"'],
    [['--completion-ring', '3'], '--completion-ring: expected a power of two from 2 to 1048576, got "3"'],
    [['--mix', 'nop,open'], '--mix: expected OP or OP=WEIGHT with OP one of nop, stat, read, got "open"'],
    [['--mix', 'stat,stat'], '--mix: stat is given twice in "stat,stat"'],
    [['--mix', 'read=0'], '--mix: read weight: expected an integer from 1 to 1000, got "0"'],
    [['--batch', '-3'], '--batch: expected an integer from 1 to 65536, got "-3"'],
    [['--atoms', '257'], '--atoms: expected an integer from 1 to 256, got "257"'],
    [['--duration', '5m'], '--duration: expected a duration from 10ms to 3600s (seconds, or a number with ms or s), got "5m"'],
    [['--duration', '1ms'], '--duration: expected a duration from 10ms to 3600s (seconds, or a number with ms or s), got "1ms"'],
    [['--sweep', 'threads=1,2'], '--sweep: expected PARAM=V1,V2,... with PARAM one of producers, workers, ring, batch, atoms, got "threads=1,2"'],
    [['--sweep', 'ring=64,65'], '--sweep: ring: expected a power of two from 2 to 1048576, got "65"'],
    [['--sweep', 'producers=1,2,1'], '--sweep: producers=1 is given twice'],
    [['--sweep', 'producers=1,2', '-p', '2'], '--sweep: producers is swept, so --producers cannot be given too'],
    [['--html'], "option '--html' requires an argument"],
    [['-p'], "option requires an argument -- 'p'"],
    [['--trace', '--json'], '--trace: expected a file name, got "--json"'],
    [['--html', 'a.html', '--trace', 'a.html'], '--html and --trace: both name "a.html"'],
    [['--trace-spans', 'many'], '--trace-spans: expected an integer from 0 to 1000000, got "many"'],
    [['--json=yes'], "option '--json' doesn't allow an argument"],
    [['--producers', '2', '--producers', '3'], '--producers: given twice'],
    [['--frobnicate'], "unrecognized option '--frobnicate'"],
    [['-q'], "invalid option -- 'q'"],
    [['--tr', 'x'], "option '--tr' is ambiguous; possibilities: '--trace' '--trace-spans'"],
    [['extra'], 'unexpected argument "extra"'],
  ];
  it.each(cases)('%j', (args, message) => {
    expect(() => parseProfileArgs(args)).toThrow(UsageError);
    expect(() => parseProfileArgs(args)).toThrow(message);
  });

  it('exit with status 2 and the message from the command', () => {
    const r = profile(['--ring', '100']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe('syslet profile: --ring: expected a power of two from 2 to 1048576, got "100"');
    // Then profile's own usage, not the top-level one.
    expect(r.stderr).toContain('\nusage: syslet profile [options]\n');
    const h = profile(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^usage: syslet profile \[options\]/);
  });

  it('parses the defaults and both option spellings', () => {
    const d = parseProfileArgs([]);
    expect(d).not.toBe('help');
    if (d === 'help') return;
    expect(d.config).toMatchObject({ producers: 2, ring: 4096, completionRing: 4096, batch: 64, atoms: 1, mix: { nop: 1, stat: 0, read: 0 } });
    expect(d.durationMs).toBe(3000);
    // An unambiguous prefix of a long option is that option, as getopt_long takes it.
    const w = parseProfileArgs(['--work', '3']);
    if (w === 'help') throw new Error('help');
    expect(w.config.workers).toBe(3);
    expect(d.traceSpans).toBe(10_000);
    const o = parseProfileArgs(['-p', '3', '--ring=1024', '--duration', '500ms', '--mix=stat,read=3', '--sweep', 'batch=8,16']);
    if (o === 'help') throw new Error('help');
    expect(o.config).toMatchObject({ producers: 3, ring: 1024, completionRing: 1024, mix: { nop: 0, stat: 1, read: 3 } });
    expect(o.durationMs).toBe(500);
    expect(o.sweep).toEqual({ param: 'batch', values: [8, 16] });
  });
});

describe('terminal charts', () => {
  it('sparklines scale 0..max and average into at most `width` cells; bars fill in eighths', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8, 7)).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([0, 0, 7, 7], 2, 7)).toBe('▁█');
    expect(sparkline([0, 0, 0], 10)).toBe('▁▁▁');
    expect(sparkline([], 10)).toBe('');
    expect(bar(1, 4)).toBe('████');
    expect(bar(0.5, 3)).toBe('█▌');
    expect(bar(0, 4)).toBe('');
  });
});
