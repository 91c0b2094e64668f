/**
 * Named scenarios, each against its baselines in one run, reported as ratios.
 *
 *   stat storm       10,000 cached files, one single-atom chain per file submitted back to back
 *                    (and, for comparison, the same stats batched 250 to a chain), against
 *                    fs.statSync in a loop, fs.promises.stat at concurrency 64 and piscina with one
 *                    task per file
 *   small-file read  open+read+close of 10,000 4 KiB files as chains, against fs.readFileSync,
 *                    fs.promises.readFile at concurrency 64 and piscina with one task per file
 *   round trip       one single-atom chain at a time (p50, p99), against fs.promises.stat and
 *                    piscina.run
 *   sporadic         calls at a server's pace (2 ms, 20 ms apart), CPU per call, an idle runtime's
 *                    CPU, and the wake primitives (sporadic.ts)
 *   blocking         a pool whose workers block: stats behind sleeps, and a legacy server wrapped
 *                    as a threadlet against its async rewrite, sync original and piscina
 *                    (blocking.ts)
 *
 *   fs ...           syslet/fs as users write it (src/bench/fs.ts)
 *
 * Usage: syslet bench [--json] [--quick] [--only stat|read|roundtrip|kqueue|fs|sporadic|blocking]
 *        (npm run bench -- ... from a checkout)
 * --quick: about 10 s in all (1,000 files, short timing windows, the four engine scenarios; the
 * paced fs, sporadic and blocking ones only with --only): a first look, not a measurement.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { Bench } from 'tinybench';
import { Runtime, sharedNow } from '../index.js';
import { machine } from './machine.js';
import { withConcurrency } from './concurrency.js';
import { sporadicScenarios } from './sporadic.js';
import { blockingScenarios } from './blocking.js';
import { chain, v, SYSLET_STOP_ON_NEGATIVE, type Atom, type Chain } from '../index.js';
import { parseCommandLine, UsageError, type Command } from '../cli/command.js';
import { makeTempDir } from '../cli/process.js';
import { fsScenarios } from './fs.js';

const SCENARIOS = ['stat', 'read', 'roundtrip', 'kqueue', 'fs', 'sporadic', 'blocking'] as const;
let JSON_OUT = false;
let QUICK = false;
let ONLY: string | undefined;
let OUT: (s: string) => void = (s) => process.stdout.write(s);
/** Files in the tree: 10,000, or 1,000 with --quick. */
let FILES = 10_000;
const FILE_BYTES = 4096;
const WORKERS = os.availableParallelism();

export interface Result {
  scenario: string;
  contender: string;
  /** Operations per second (throughput scenarios). */
  opsPerSec?: number;
  /** Microseconds (µs, latency scenarios). */
  p50us?: number;
  p99us?: number;
  /** CPU microseconds per call, every thread of the process. */
  cpuUs?: number;
  /** CPU time over wall time, percent of one core. */
  cpuPercent?: number;
  /** Milliseconds (time-to-finish scenarios). */
  ms?: number;
  /** The server thread's event-loop delay, p99, milliseconds. */
  loopDelayP99ms?: number;
  /** Requests that failed. */
  errors?: number;
  samples: number;
}

const T0 = performance.now();
const log = (s: string): void => {
  if (!JSON_OUT) process.stderr.write(`${s} (at ${((performance.now() - T0) / 1000).toFixed(1)} s)\n`);
};

export { machine } from './machine.js';
export { rng, xorshift32 } from './rng.js';
export { withConcurrency } from './concurrency.js';

export const BENCH_HELP = `usage: syslet bench [--quick] [--json] [--only ${SCENARIOS.join('|')}]

The benchmark scenarios (stat storm, small-file read, round trip, kqueue, syslet/fs, sporadic and
blocking calls), each beside its baselines in the same run (fs sync and promise APIs, piscina), reported as ratios.
  --quick      about 10 s: stat, read, roundtrip and kqueue on 1,000 files with short timing
               windows (a first look, not a measurement); the paced fs, sporadic and blocking
               scenarios only with --only
  --json       the figures as JSON
  --only NAME  one scenario: ${SCENARIOS.join(', ')}
  -h, --help   this text
`;

/** The options of `syslet bench`; 'help' for --help. */
function parseBenchArgs(args: readonly string[]): { json: boolean; quick: boolean; only: string | undefined } | 'help' {
  const cl = parseCommandLine('bench', args, {
    json: { type: 'boolean' },
    quick: { type: 'boolean' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (cl.help) return 'help';
  if (cl.operands.length > 0) throw new UsageError('bench', `takes no operands, got "${cl.operands[0]}"`);
  const o = { json: false, quick: false, only: undefined as string | undefined };
  for (const opt of cl.options) {
    if (opt.name === 'json') o.json = true;
    else if (opt.name === 'quick') o.quick = true;
    else {
      if (!(SCENARIOS as readonly string[]).includes(opt.value!)) {
        throw new UsageError('bench', `--only: expected one of ${SCENARIOS.join(', ')}, got "${opt.value}"`);
      }
      o.only = opt.value;
    }
  }
  return o;
}

/** Parse `syslet bench` arguments, run the scenarios, print the table (or JSON). */
export async function benchMain(args: readonly string[], out: (s: string) => void = OUT): Promise<Result[]> {
  const o = parseBenchArgs(args);
  if (o === 'help') {
    out(BENCH_HELP);
    return [];
  }
  JSON_OUT = o.json;
  QUICK = o.quick;
  ONLY = o.only;
  FILES = QUICK ? 1_000 : 10_000;
  OUT = out;
  return main();
}

export const BENCH_COMMAND: Command = {
  usage: BENCH_HELP,
  async run(argv, io) {
    await benchMain(argv, io.out);
    return 0;
  },
};

function makeTree(): { dir: string; files: string[]; remove: () => void } {
  const { dir, remove } = makeTempDir('syslet-bench-');
  const files: string[] = [];
  const data = Buffer.alloc(FILE_BYTES, 'x');
  for (let i = 0; i < FILES; i++) {
    const sub = path.join(dir, `d${Math.floor(i / 1000)}`);
    if (i % 1000 === 0) fs.mkdirSync(sub);
    const f = path.join(sub, `f${i}`);
    fs.writeFileSync(f, data);
    files.push(f);
  }
  // Warm the page and dentry caches: the scenarios measure cached files.
  for (const f of files) fs.readFileSync(f);
  return { dir, files, remove };
}

/** Throughput of one batch function (ops per call), from tinybench's median batch time. */
async function throughput(
  scenario: string,
  ops: number,
  contenders: Record<string, () => unknown>,
): Promise<Result[]> {
  const bench = new Bench({
    name: scenario,
    time: QUICK ? 100 : 3000,
    iterations: QUICK ? 2 : 10,
    warmupTime: QUICK ? 30 : 1000,
    warmupIterations: QUICK ? 1 : 5,
  });
  for (const [name, fn] of Object.entries(contenders)) bench.add(name, fn);
  log(`running ${scenario} ...`);
  await bench.run();
  return bench.tasks.map((t) => {
    const r = t.result as { latency?: { p50: number }; state?: string } | undefined;
    const ms = r?.latency?.p50 ?? Number.NaN;
    return { scenario, contender: t.name, opsPerSec: (ops / ms) * 1000, samples: t.runs };
  });
}

async function latency(scenario: string, contenders: Record<string, () => unknown>): Promise<Result[]> {
  const bench = new Bench({
    name: scenario,
    time: QUICK ? 200 : 3000,
    iterations: QUICK ? 200 : 5000,
    warmupTime: QUICK ? 50 : 1000,
    warmupIterations: QUICK ? 200 : 1000,
  });
  for (const [name, fn] of Object.entries(contenders)) bench.add(name, fn);
  log(`running ${scenario} ...`);
  await bench.run();
  return bench.tasks.map((t) => {
    const r = t.result as { latency?: { p50: number; p99: number } } | undefined;
    return {
      scenario,
      contender: t.name,
      p50us: (r?.latency?.p50 ?? Number.NaN) * 1000,
      p99us: (r?.latency?.p99 ?? Number.NaN) * 1000,
      samples: t.runs,
    };
  });
}

const NOP: Chain = { atoms: [{ op: 'nop' }] };
const BATCH = 250;
const VARS = Array.from({ length: BATCH }, (_, i) => `s${i}`);

/**
 * Completion API scenarios.
 *   kqueue reap      a kqueue's ring holding N completions of trivial chains (2 workers produced
 *                    them); the time kevent(null, 1024) takes to reap them all
 *   kqueue end to end  N trivial chains submitted and reaped through kevent, against one Promise
 *                    per chain (rt.run) and piscina.run per task
 *   kqueue wake      from idle, a kevent parked on an empty kqueue, woken by a worker's completion
 *                    of a stat chain: p50/p99 of worker completion to kevent returning, and the
 *                    round trip, beside libuv's wake (an fs.promises.stat round trip from idle)
 */
async function kqueueScenarios(rt: Runtime, pool: Piscina, file: string): Promise<Result[]> {
  const out: Result[] = [];
  const N = QUICK ? 10_000 : 50_000;
  log('running kqueue reap ...');
  {
    // A dedicated runtime whose kqueue ring holds N records: the kqueue is shared, so nothing but
    // kevent reaps it, and the records wait in the ring until the timed loop.
    const big = await Runtime.create({ workers: WORKERS, ringSize: QUICK ? 16384 : 65536, latencySample: 1 << 20 });
    const kq = big.kqueue();
    kq.share();
    const rates: number[] = [];
    for (let round = 0; round < (QUICK ? 3 : 10); round++) {
      for (let i = 0; i < N; i++) big.submit(NOP, { kq });
      while (big.stats().rings.queues.find((q) => q.cq === kq.cq)!.occupancy < N) {
        await new Promise((r) => setTimeout(r, 5));
      }
      const t = performance.now();
      let n = 0;
      while (n < N) n += (await kq.kevent(null, 1024, 0)).length;
      rates.push((N / (performance.now() - t)) * 1000);
    }
    rates.sort((a, b) => a - b);
    out.push({ scenario: 'kqueue reap (ring full)', contender: 'syslet: kevent(null, 1024)', opsPerSec: rates[rates.length >> 1]!, samples: rates.length });
    kq.close();
    await big.close();
  }
  {
    const kq = rt.kqueue();
    // Quick: fewer chains per call (piscina.run per task is the slow contender here).
    const E = QUICK ? 2_000 : N;
    const ends = await throughput('kqueue end to end', E, {
      'syslet: submit with { kq }, reap with kevent': async () => {
        for (let i = 0; i < E; i++) rt.submit(NOP, { kq });
        let n = 0;
        while (n < E) n += (await kq.kevent(null, 1024)).length;
      },
      'one Promise per chain (syslet rt.run)': () => Promise.all(Array.from({ length: E }, () => rt.run(NOP))),
      'piscina.run per task': () => Promise.all(Array.from({ length: E }, () => pool.run({ op: 'nop', path: '' }))),
    });
    out.push(...ends);
    kq.close();
  }
  log('running kqueue wake ...');
  {
    // Wake-up from idle, ours beside libuv's, sample by sample in alternation so both see the same
    // machine: each sample starts after a 1 ms sleep (the event loop parked in epoll, the workers
    // parked). Ours: a stat chain submitted with { kq } while a kevent is parked; measured from the
    // worker's completion stamp to the moment the kevent's promise resumes its awaiter, and the whole
    // round trip. libuv's: an fs.promises.stat round trip (threadpool stat, then uv_async_send wakes
    // the loop). The runtime's own complete-to-reap histogram is reported too.
    const lat = await Runtime.create({ workers: WORKERS, latencySample: 1 });
    const kq = lat.kqueue();
    const statOne = lat.prepare({ atoms: [{ op: 'stat', args: [file] }] });
    const wake: number[] = [];
    const ours: number[] = [];
    const uv: number[] = [];
    const idle = (): Promise<void> => new Promise((r) => setTimeout(r, 1));
    const rounds = QUICK ? 200 : 3000;
    for (let i = 0; i < rounds + 50; i++) {
      await idle();
      const t0 = sharedNow();
      const waiting = kq.kevent(null, 1);
      const sub = lat.submit(statOne, { kq });
      await waiting;
      const t1 = sharedNow();
      const completed = (await sub).timing?.completed;
      await idle();
      const t2 = performance.now();
      await fs.promises.stat(file);
      const t3 = performance.now();
      if (i < 50) continue; // warm-up
      if (completed !== undefined) wake.push((t1 - completed) * 1000);
      ours.push((t1 - t0) * 1000);
      uv.push((t3 - t2) * 1000);
    }
    const h = lat.stats().latency.completeToReap;
    out.push({ scenario: 'kqueue wake', contender: 'syslet: worker completion -> parked kevent returns', ...percentiles(wake) });
    out.push({ scenario: 'kqueue wake', contender: 'syslet: complete -> reap (runtime histogram)', p50us: h.p50 / 1000, p99us: h.p99 / 1000, samples: h.count });
    out.push({ scenario: 'kqueue wake', contender: 'syslet: stat chain round trip from idle, kevent', ...percentiles(ours) });
    out.push({ scenario: 'kqueue wake', contender: 'libuv: fs.promises.stat round trip from idle', ...percentiles(uv) });
    kq.close();
    await lat.close();
  }
  return out;
}

async function main(): Promise<Result[]> {
  const { files, remove } = makeTree();
  const rt = await Runtime.create({ workers: WORKERS });
  // Batched chains carry hundreds of atoms: a runtime with slots to match.
  const big = await Runtime.create({ workers: WORKERS, slotBytes: 65536, ringSize: 256 });
  const pool = new Piscina({
    filename: fileURLToPath(new URL('./piscina-worker.js', import.meta.url)),
    minThreads: WORKERS,
    maxThreads: WORKERS,
  });
  const results: Result[] = [];
  try {
    if (ONLY === undefined || ONLY === 'stat') {
      results.push(
        ...(await throughput('stat storm', FILES, {
          'syslet: one chain per file': async () => {
            const subs = new Array<Promise<unknown>>(files.length);
            for (let i = 0; i < files.length; i++) {
              subs[i] = rt.submit({ atoms: [{ op: 'stat', args: [files[i]!] }] }).promise;
            }
            await Promise.all(subs);
          },
          'syslet: 250-stat chains (batched)': async () => {
            const subs: Promise<unknown>[] = [];
            for (let i = 0; i < files.length; i += BATCH) {
              const atoms: Atom[] = [];
              for (let k = i; k < Math.min(i + BATCH, files.length); k++) {
                atoms.push({ op: 'stat', args: [files[k]!], into: VARS[k - i]! });
              }
              subs.push(big.submit({ atoms }).promise);
            }
            await Promise.all(subs);
          },
          'fs.statSync loop': () => {
            for (const f of files) fs.statSync(f);
          },
          'fs.promises.stat, concurrency 64': () => withConcurrency(files, 64, (f) => fs.promises.stat(f)),
          'piscina, one task per file': () => Promise.all(files.map((f) => pool.run({ op: 'stat', path: f }))),
        })),
      );
    }
    if (ONLY === undefined || ONLY === 'read') {
      const arena = rt.alloc(FILES * FILE_BYTES);
      const readChain = (f: string, i: number): Chain =>
        chain()
          .open(f, 'r', undefined, { into: 'fd', flags: SYSLET_STOP_ON_NEGATIVE })
          .read(v('fd'), { buf: arena.byteOffset + i * FILE_BYTES, length: FILE_BYTES }, FILE_BYTES, { into: 'n' })
          .close(v('fd'))
          .build();
      results.push(
        ...(await throughput('small-file read', FILES, {
          'syslet: open+read+close chain per file': async () => {
            const subs = new Array<Promise<unknown>>(files.length);
            for (let i = 0; i < files.length; i++) subs[i] = rt.submit(readChain(files[i]!, i)).promise;
            await Promise.all(subs);
          },
          'fs.readFileSync loop': () => {
            for (const f of files) fs.readFileSync(f);
          },
          'fs.promises.readFile, concurrency 64': () => withConcurrency(files, 64, (f) => fs.promises.readFile(f)),
          'piscina, one task per file': () => Promise.all(files.map((f) => pool.run({ op: 'read', path: f }))),
        })),
      );
      rt.free(arena);
    }
    if (ONLY === undefined || ONLY === 'roundtrip') {
      const f = files[0]!;
      const statOne = rt.prepare({ atoms: [{ op: 'stat', args: [f] }] });
      results.push(
        ...(await latency('round trip', {
          'syslet: rt.run(stat chain)': () => rt.run(statOne),
          'fs.promises.stat': () => fs.promises.stat(f),
          'piscina.run(stat)': () => pool.run({ op: 'stat', path: f }),
        })),
      );
    }
    if (ONLY === undefined || ONLY === 'kqueue') results.push(...(await kqueueScenarios(rt, pool, files[0]!)));
    // The paced and timed scenarios (a call every 2 or 20 ms, seconds of idle CPU) cannot be quick:
    // --quick leaves them to --only, to stay near its 10 s.
    const all = ONLY === undefined && !QUICK;
    if (ONLY === undefined && QUICK) log('--quick: fs, sporadic and blocking left out (run them with --only NAME)');
    if (all || ONLY === 'fs') results.push(...(await fsScenarios(files, { quick: QUICK, log })));
    if (all || ONLY === 'sporadic') results.push(...(await sporadicScenarios(files[0]!, WORKERS, QUICK, log)));
    if (all || ONLY === 'blocking') results.push(...(await blockingScenarios(files[0]!, WORKERS, QUICK, log)));
  } finally {
    await rt.close();
    await big.close();
    await pool.destroy();
    remove();
  }
  report(results, machine({ workers: WORKERS }));
  return results;
}

/** p50 / p99 of samples in µs. */
function percentiles(us: number[]): { p50us: number; p99us: number; samples: number } {
  const sorted = [...us].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50us: at(0.5), p99us: at(0.99), samples: sorted.length };
}

function report(results: Result[], m: Record<string, string | number>): void {
  if (JSON_OUT) {
    OUT(`${JSON.stringify({ machine: m, results }, null, 2)}\n`);
    return;
  }
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const lines: string[] = [];
  lines.push(`machine: ${m.cpu} x${m.cores}, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, commit ${m.commit}, ${m.workers} workers`);
  for (const scenario of [...new Set(results.map((r) => r.scenario))]) {
    const rows = results.filter((r) => r.scenario === scenario);
    const ours = rows[0]!;
    const batched = rows.find((r) => r !== ours && r.contender.startsWith('syslet'));
    lines.push('');
    lines.push(scenario);
    for (const r of rows) {
      if (r.loopDelayP99ms !== undefined) {
        const ratio = r === ours ? '' : `   syslet's req/s ${(ours.opsPerSec! / r.opsPerSec!).toFixed(2)}x (higher is better), its loop delay ${(ours.loopDelayP99ms! / r.loopDelayP99ms).toFixed(2)}x (lower is better)`;
        lines.push(
          `  ${r.contender.padEnd(42)} ${fmt(r.opsPerSec!).padStart(7)} req/s  p50 ${(r.p50us! / 1000).toFixed(1).padStart(6)} ms  p99 ${(r.p99us! / 1000).toFixed(1).padStart(6)} ms  loop delay p99 ${r.loopDelayP99ms.toFixed(1).padStart(5)} ms${r.errors ? `  ${r.errors} errors` : ''}${ratio}`,
        );
      } else if (r.ms !== undefined) {
        lines.push(`  ${r.contender.padEnd(42)} ${r.ms.toFixed(1).padStart(8)} ms`);
      } else if (r.cpuUs !== undefined) {
        const base = rows.find((b) => b.contender.startsWith('fs.')) ?? rows.find((b) => !b.contender.startsWith('syslet'));
        const ratio = base === undefined || r === base ? '' : `   ${(r.cpuUs / base.cpuUs!).toFixed(2)}x of ${base.contender}`;
        lines.push(`  ${r.contender.padEnd(42)} ${r.cpuUs.toFixed(1).padStart(8)} µs CPU per call${ratio}`);
      } else if (r.cpuPercent !== undefined) {
        lines.push(`  ${r.contender.padEnd(42)} ${r.cpuPercent.toFixed(2).padStart(8)} %`);
      } else if (r.opsPerSec !== undefined) {
        let ratio = '';
        if (!r.contender.startsWith('syslet')) {
          ratio = `   syslet is ${(ours.opsPerSec! / r.opsPerSec).toFixed(2)}x`;
          if (batched !== undefined) ratio += `, batched ${(batched.opsPerSec! / r.opsPerSec).toFixed(2)}x`;
        }
        lines.push(`  ${r.contender.padEnd(42)} ${fmt(r.opsPerSec).padStart(10)} ops/s${ratio}`);
      } else {
        const base = rows.find((b) => b.contender.startsWith('fs.')) ?? rows.find((b) => !b.contender.startsWith('syslet'));
        const ratio =
          base === undefined || r === base
            ? ''
            : `   p50 ${(r.p50us! / base.p50us!).toFixed(2)}x, p99 ${(r.p99us! / base.p99us!).toFixed(2)}x of ${base.contender}`;
        lines.push(`  ${r.contender.padEnd(42)} p50 ${r.p50us!.toFixed(1).padStart(7)} µs  p99 ${r.p99us!.toFixed(1).padStart(7)} µs${ratio}`);
      }
    }
  }
  OUT(`${lines.join('\n')}\n`);
}
