/**
 * `--only blocking`: a pool whose workers block (issue 19).
 *
 *   sleeps then stats   as many 200 ms nanosleep chains in flight as there are base workers, then
 *                       1,000 single-stat chains: milliseconds until the last stat completes, with
 *                       the default pool (it grows) and with a fixed one (maxWorkers = workers);
 *                       the process's first burst (cold code) on its own row, then each contender
 *                       warmed with 5,000 stats before its timed rounds (median of 5)
 *   server              a legacy page handler (read a config, stat five files, read a template,
 *                       gzip the page, all synchronous; on the slow workload one request in 20 also
 *                       runs a 50 ms child process) served over loopback HTTP four ways: wrapped
 *                       unchanged as a threadlet (default runtime options), a hand-written async
 *                       rewrite (fs.promises, zlib.gzip, child_process.execFile), the legacy
 *                       synchronous server, and piscina running the same function. The load comes
 *                       from a worker thread (node:http, keep-alive agent, 32 connections, a fixed
 *                       time per run); the server's thread samples its event-loop delay.
 *
 * This module is also what the workers import to find the threadlet (and piscina's task), so its
 * benchmark code runs only when called.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { Piscina } from 'piscina';
import { Runtime } from '../runtime.js';
import { threadlet } from '../threadlet/index.js';
import type { Result } from './run.js';

// ---- the page handler, as a legacy server has it ------------------------------------------------

interface Site {
  config: string;
  files: string[];
  template: string;
}

/** One page: synchronous, as written before anyone thought of the event loop. */
export function legacyPage(site: Site, slow: boolean): number {
  const config = JSON.parse(fs.readFileSync(site.config, 'utf8')) as { title: string };
  let bytes = 0;
  for (const f of site.files) bytes += fs.statSync(f).size;
  if (slow) execFileSync('sleep', ['0.05']);
  const page = fs.readFileSync(site.template, 'utf8').replace('{{title}}', config.title).replace('{{bytes}}', String(bytes));
  return zlib.gzipSync(page).length;
}

const execFileAsync = promisify(execFile);
const gzipAsync = promisify(zlib.gzip);

/** The same page, rewritten by hand for the event loop. */
async function asyncPage(site: Site, slow: boolean): Promise<number> {
  const config = JSON.parse(await fs.promises.readFile(site.config, 'utf8')) as { title: string };
  const sizes = await Promise.all(site.files.map((f) => fs.promises.stat(f)));
  let bytes = 0;
  for (const s of sizes) bytes += s.size;
  if (slow) await execFileAsync('sleep', ['0.05']);
  const page = (await fs.promises.readFile(site.template, 'utf8')).replace('{{title}}', config.title).replace('{{bytes}}', String(bytes));
  return (await gzipAsync(page)).length;
}

/** The legacy handler, unchanged, as a threadlet. */
export const pageThreadlet = threadlet(import.meta.url, 'legacyPage', legacyPage);

/** piscina's task: the same function. */
export function piscinaPage(a: { site: Site; slow: boolean }): number {
  return legacyPage(a.site, a.slow);
}

// ---- the benchmark --------------------------------------------------------------------------------

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

const SLEEPS_THEN_STATS = 'sleeps then stats: ms until 1,000 stats complete behind 200 ms sleeps';
/** Bursts of 1,000 stats (nothing blocked) that warm each contender's path before its timed rounds. */
const WARM_BURSTS = 5;

async function sleepsThenStats(file: string, workers: number, quick: boolean, log: (s: string) => void): Promise<Result[]> {
  const out: Result[] = [];
  let cold = true;
  const sleep = { atoms: [{ op: 'nanosleep' as const, args: [200e6] }] };
  const stat = { atoms: [{ op: 'stat' as const, args: [file] }] };
  for (const [name, opts] of [
    ['syslet, default pool (grows)', {}],
    ['syslet, fixed pool (maxWorkers = workers)', { maxWorkers: workers }],
  ] as const) {
    log(`running sleeps then stats (${name}) ...`);
    const rt = await Runtime.create({ workers, ...opts });
    try {
      // A server that has blocked before has a spare parked: block (the spare starts when a worker
      // is first seen blocked; a short sleep may end before a late tick sees it on a loaded machine)
      // until it is parked, up to 10 s (it boots a Node worker and warms up first), then go on.
      if (opts.maxWorkers === undefined) {
        const gate = rt.submit({ atoms: [{ op: 'nanosleep', args: [10e9] }] });
        for (let i = 0; i < 2000 && (rt.stats().pool?.spares ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 5));
        rt.cancel(gate.id);
        await gate.promise;
      }
      const round = async (): Promise<number> => {
        const sleeps = Array.from({ length: workers }, () => rt.submit(sleep));
        // Let the sleeps reach the workers, as in-flight work would have.
        await new Promise((r) => setTimeout(r, 5));
        const t = performance.now();
        await Promise.all(Array.from({ length: 1000 }, () => rt.run(stat)));
        const took = performance.now() - t;
        await Promise.all(sleeps.map((s) => s.promise));
        return took;
      };
      // The process's first burst runs the caller's submit path in V8's interpreter (it tiers code
      // up by call count): reported on its own, then every contender is warmed alike, as a server
      // that has run for a while is (the sporadic scenario does the same).
      if (cold) {
        cold = false;
        out.push({ scenario: SLEEPS_THEN_STATS, contender: 'syslet, default pool, first burst (cold)', ms: await round(), samples: 1 });
      }
      for (let i = 0; i < WARM_BURSTS; i++) await Promise.all(Array.from({ length: 1000 }, () => rt.run(stat)));
      const ms: number[] = [];
      for (let r = 0; r < (quick ? 2 : 5); r++) ms.push(await round());
      out.push({ scenario: SLEEPS_THEN_STATS, contender: name, ms: median(ms), samples: ms.length });
    } finally {
      await rt.close();
    }
  }
  return out;
}

function makeSite(dir: string): Site {
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ title: 'syslet', options: Array.from({ length: 50 }, (_, i) => ({ k: `key${i}`, v: i })) }));
  const files: string[] = [];
  for (let i = 0; i < 5; i++) {
    const f = path.join(dir, `asset${i}.css`);
    fs.writeFileSync(f, 'x'.repeat(1000 * (i + 1)));
    files.push(f);
  }
  const template = path.join(dir, 'page.html');
  const para = '<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n';
  fs.writeFileSync(template, `<html><head><title>{{title}}</title></head><body>${para.repeat(250)}<footer>{{bytes}}</footer></body></html>`);
  return { config, files, template };
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  p50ms: number;
  p99ms: number;
}

/** Serve with `handle` on loopback; load it from a worker for `seconds`; the server's loop delay. */
async function serve(
  handle: (slow: boolean) => Promise<unknown> | unknown,
  seconds: number,
): Promise<LoadResult & { delayP99ms: number }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    // One request in 20 is slow (on the slow workload the handler decides what "slow" does).
    const slow = n++ % 20 === 19;
    Promise.resolve()
      .then(() => handle(slow))
      .then(
        (v) => res.end(String(v)),
        (e: unknown) => {
          res.statusCode = 500;
          res.end(String(e));
        },
      );
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  try {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { blockingLoad: { port, seconds, connections: 32 } } });
    const r = await new Promise<LoadResult>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    return { ...r, delayP99ms: h.percentile(99) / 1e6 };
  } finally {
    h.disable();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

export async function blockingScenarios(file: string, workers: number, quick: boolean, log: (s: string) => void): Promise<Result[]> {
  const out = await sleepsThenStats(file, workers, quick, log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-blocking-'));
  const site = makeSite(dir);
  const rt = await Runtime.create();
  const pool = new Piscina({ filename: fileURLToPath(import.meta.url), name: 'piscinaPage' });
  try {
    for (const workload of ['fast', 'slow'] as const) {
      const slowOn = workload === 'slow';
      const variants: Record<string, (slow: boolean) => unknown> = {
        'threadlet (legacy handler, default runtime)': (slow) => pageThreadlet.run(rt, site, slowOn && slow),
        'hand-written async rewrite': (slow) => asyncPage(site, slowOn && slow),
        'legacy sync server': (slow) => legacyPage(site, slowOn && slow),
        'piscina (same function)': (slow) => pool.run({ site, slow: slowOn && slow }),
      };
      const runs = new Map<string, (LoadResult & { delayP99ms: number })[]>();
      const rounds = quick ? 1 : 2;
      const seconds = quick ? 1 : 4;
      for (let round = 0; round < rounds; round++) {
        for (const [name, f] of Object.entries(variants)) {
          log(`running server, ${workload} workload: ${name} (round ${round + 1}) ...`);
          const r = await serve(f, seconds);
          if (!runs.has(name)) runs.set(name, []);
          runs.get(name)!.push(r);
        }
      }
      const scenario = workload === 'fast' ? 'server, every request fast' : 'server, 1 request in 20 runs a 50 ms child process';
      for (const [name, rs] of runs) {
        out.push({
          scenario,
          contender: name,
          opsPerSec: median(rs.map((r) => r.requests / r.seconds)),
          p50us: median(rs.map((r) => r.p50ms)) * 1000,
          p99us: median(rs.map((r) => r.p99ms)) * 1000,
          loopDelayP99ms: median(rs.map((r) => r.delayP99ms)),
          errors: rs.reduce((a, r) => a + r.errors, 0),
          samples: rs.length,
        });
      }
    }
    const p = rt.stats().pool;
    if (p !== undefined) {
      const grew = p.history.filter((e) => e.change === 'grew').length;
      log(`threadlet runtime's pool: base ${p.base}, max ${p.max}, now ${p.size}; grew ${p.grew} times, retired ${p.retired}, at bound ${p.atBound} (${grew} growths in the last ${p.history.length} events)`);
    }
  } finally {
    await rt.close();
    await pool.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

// ---- the load generator (a worker thread) --------------------------------------------------------

/** Keep `connections` requests in flight over keep-alive connections for `seconds`. */
async function load(o: { port: number; seconds: number; connections: number }): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + o.seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t = performance.now();
      const req = http.get({ host: '127.0.0.1', port: o.port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) lat.push(performance.now() - t);
          else errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: o.connections }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? Number.NaN;
  return { requests: lat.length, errors, seconds, p50ms: q(0.5), p99ms: q(0.99) };
}

if (!isMainThread) {
  const o = (workerData as { blockingLoad?: Parameters<typeof load>[0] } | null)?.blockingLoad;
  if (o !== undefined) parentPort!.postMessage(await load(o));
}
