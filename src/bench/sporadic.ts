/**
 * `--only sporadic`: calls at a server's pace (issue 14). One call every 2 ms and every 20 ms, so
 * that between calls the pool parks and the event loop sleeps; every call pays the wake-ups a
 * server pays (the futex wake of a parked worker, the completion's wake of this thread's loop).
 *
 *   rt.run(stat)                 one single-atom chain, awaited
 *   kqueue-delivered             kevent(null, 1) parked first, then the chain submitted with { kq }
 *   threadlet on a worker        a threadlet doing one statSync, started with { start: 'worker' }
 *   fs.promises.stat             the baseline: libuv's threadpool and uv_async wake
 *
 * Rounds interleave the contenders call by call (drift on a shared machine hits them alike); each
 * reports the median over rounds of its p50 and p99. CPU per call is process.cpuUsage() (every
 * thread of the process: the caller, the workers, libuv's pool) over a block of calls of one
 * contender at the 2 ms pace, divided by the calls; the idle figure is the same counter over 10 s
 * with a runtime open and nothing outstanding.
 *
 * `legs` traces where one `rt.run(stat)` at the 2 ms pace spends its time, from the completion's
 * `timing` (a runtime of its own that stamps every call, latencySample 1) and this thread's clock:
 * submit (the call until the entry is stamped), to start (encode, the futex wake of the parked
 * worker, its wake-up), run (the worker's interpreter and the stat), to reaped (the completion's
 * wake of this thread's loop through Atomics.waitAsync), to settled (the promise's continuation).
 *
 * `wake primitives` measures the two ways a worker can wake this thread's event loop, stripped of
 * everything else: a worker parked in Atomics.wait is woken with Atomics.notify, runs one statSync,
 * and answers through Atomics.notify to an Atomics.waitAsync here, or through a MessagePort (a
 * uv_async_send), at the same pace, beside fs.promises.stat.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, isMainThread } from 'node:worker_threads';
import { Runtime } from '../runtime.js';
import { threadlet } from '../threadlet/index.js';
import type { Result } from './run.js';

/** A threadlet that blocks once: what a handler moved to a worker does at its smallest. */
export const sporadicStat = threadlet(import.meta.url, 'sporadicStat', (p: string) => fs.statSync(p).size, {
  predict: false,
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

type Contender = () => Promise<unknown>;

/** p50/p99 (microseconds) of each contender, calls interleaved one by one at `paceMs`. */
async function paced(
  paceMs: number,
  calls: number,
  rounds: number,
  contenders: Record<string, Contender>,
): Promise<Map<string, { p50: number[]; p99: number[] }>> {
  const out = new Map<string, { p50: number[]; p99: number[] }>();
  const names = Object.keys(contenders);
  for (const n of names) out.set(n, { p50: [], p99: [] });
  for (let r = 0; r < rounds; r++) {
    const lat = new Map<string, number[]>(names.map((n) => [n, []]));
    for (let i = 0; i < calls; i++) {
      for (const n of names) {
        await sleep(paceMs);
        const t = performance.now();
        await contenders[n]!();
        lat.get(n)!.push((performance.now() - t) * 1000);
      }
    }
    for (const n of names) {
      const s = lat.get(n)!.sort((a, b) => a - b);
      out.get(n)!.p50.push(quantile(s, 0.5));
      out.get(n)!.p99.push(quantile(s, 0.99));
    }
  }
  return out;
}

/** CPU microseconds per call of each contender, in blocks of `calls` at `paceMs`, interleaved by block. */
async function cpuPerCall(paceMs: number, calls: number, rounds: number, contenders: Record<string, Contender>): Promise<Map<string, number>> {
  const per = new Map<string, number[]>(Object.keys(contenders).map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [n, f] of Object.entries(contenders)) {
      await sleep(paceMs);
      const c0 = cpuUs();
      for (let i = 0; i < calls; i++) {
        await sleep(paceMs);
        await f();
      }
      per.get(n)!.push((cpuUs() - c0) / calls);
    }
  }
  return new Map([...per].map(([n, v]) => [n, median(v)]));
}

export async function sporadicScenarios(
  file: string,
  workers: number,
  quick: boolean,
  log: (s: string) => void,
): Promise<Result[]> {
  const results: Result[] = [];
  const rt = await Runtime.create({ workers });
  const kq = rt.kqueue();
  const stat = rt.prepare({ atoms: [{ op: 'stat', args: [file] }] });
  const contenders: Record<string, Contender> = {
    'syslet: rt.run(stat)': () => rt.run(stat),
    'syslet: kqueue-delivered stat (kevent parked first)': async () => {
      const waiting = kq.kevent(null, 1);
      rt.submit(stat, { kq });
      await waiting;
    },
    'syslet: threadlet started on a worker (statSync)': () => sporadicStat.submit(rt, [file], { start: 'worker' }).promise,
    'fs.promises.stat': () => fs.promises.stat(file),
  };
  try {
    // Steady state, as in a server that has run a while: V8 tiers code up by how often it ran, not
    // by how recently, so at a 2 ms pace the first few thousand calls run unoptimized code (that,
    // not the wake-ups, was most of the 3-4x in the issue). Each contender is warmed alike.
    const warm = quick ? 500 : 3000;
    for (let i = 0; i < warm; i++) for (const f of Object.values(contenders)) await f();
    for (const pace of [2, 20]) {
      const calls = quick ? 50 : pace === 2 ? 300 : 100;
      const rounds = quick ? 1 : 3;
      log(`running sporadic, one call every ${pace} ms (${rounds} rounds of ${calls} calls each) ...`);
      const m = await paced(pace, calls, rounds, contenders);
      for (const [n, v] of m) {
        results.push({ scenario: `sporadic, one call every ${pace} ms`, contender: n, p50us: median(v.p50), p99us: median(v.p99), samples: calls * rounds });
      }
    }
    log('running sporadic CPU per call (2 ms pace) ...');
    const cpu = await cpuPerCall(2, quick ? 50 : 200, quick ? 1 : 3, contenders);
    for (const [n, us] of cpu) results.push({ scenario: 'sporadic CPU per call, 2 ms pace', contender: n, cpuUs: us, samples: 1 });
    log('running idle runtime CPU (10 s) ...');
    const seconds = quick ? 2 : 10;
    const c0 = cpuUs();
    await sleep(seconds * 1000);
    results.push({ scenario: 'idle runtime (open, nothing outstanding)', contender: `syslet: CPU over ${seconds} s, % of one core`, cpuPercent: ((cpuUs() - c0) / (seconds * 1e6)) * 100, samples: 1 });
  } finally {
    kq.close();
    await rt.close();
  }
  results.push(...(await legs(file, workers, quick, log)));
  results.push(...(await wakePrimitives(file, quick, log)));
  return results;
}

/** Medians over one paced run of each leg of `rt.run(stat)` (see the header), beside fs.promises.stat. */
async function legs(file: string, workers: number, quick: boolean, log: (s: string) => void): Promise<Result[]> {
  log('running sporadic legs (2 ms pace, every call stamped) ...');
  const rt = await Runtime.create({ workers, latencySample: 1 });
  const stat = rt.prepare({ atoms: [{ op: 'stat', args: [file] }] });
  const now = (): number => performance.timeOrigin + performance.now();
  const names = ['submit', 'to start', 'run', 'to reaped', 'to settled', 'total', 'fs.promises.stat'] as const;
  const v = new Map<string, number[]>(names.map((n) => [n, []]));
  const calls = quick ? 100 : 300;
  try {
    for (let i = 0; i < (quick ? 500 : 3000); i++) {
      await rt.run(stat);
      await fs.promises.stat(file);
    }
    for (let i = 0; i < calls; i++) {
      await sleep(2);
      const t0 = now();
      const c = await rt.run(stat);
      const t1 = now();
      const t = c.timing!;
      const us = (a: number, b: number): number => (b - a) * 1000;
      v.get('submit')!.push(us(t0, t.submitted));
      v.get('to start')!.push(us(t.submitted, t.started));
      v.get('run')!.push(us(t.started, t.completed));
      v.get('to reaped')!.push(us(t.completed, t.reaped));
      v.get('to settled')!.push(us(t.reaped, t1));
      v.get('total')!.push(us(t0, t1));
      await sleep(2);
      const f0 = now();
      await fs.promises.stat(file);
      v.get('fs.promises.stat')!.push(us(f0, now()));
    }
  } finally {
    await rt.close();
  }
  return names.map((n) => {
    const sorted = v.get(n)!.sort((a, b) => a - b);
    return { scenario: 'sporadic legs of rt.run(stat), one call every 2 ms', contender: n, p50us: quantile(sorted, 0.5), p99us: quantile(sorted, 0.99), samples: calls };
  });
}

// ---- wake primitives ---------------------------------------------------------------------------

/** Shared words of the wake-primitive probe. */
const Probe = {
  /** Requests: the worker parks on it. */
  REQUEST: 0,
  /** Answers: this thread's Atomics.waitAsync waits on it. */
  ANSWER: 1,
  /** 1: answer through the MessagePort instead. */
  BY_PORT: 2,
  /** 1: the worker exits. */
  STOP: 3,
  WORDS: 4,
} as const;

async function wakePrimitives(file: string, quick: boolean, log: (s: string) => void): Promise<Result[]> {
  log('running wake primitives ...');
  const i32 = new Int32Array(new SharedArrayBuffer(Probe.WORDS * 4));
  const { port1, port2 } = new MessageChannel();
  const w = new Worker(fileURLToPath(import.meta.url), { workerData: { probe: { i32, port: port2, file } }, transferList: [port2] });
  await new Promise((r) => port1.once('message', r));
  const ask = (byPort: boolean): Promise<unknown> => {
    Atomics.store(i32, Probe.BY_PORT, byPort ? 1 : 0);
    const answered = byPort
      ? new Promise((r) => port1.once('message', r))
      : (Atomics.waitAsync(i32, Probe.ANSWER, Atomics.load(i32, Probe.ANSWER)).value as Promise<unknown>);
    // Pairs with the worker's Atomics.wait on REQUEST.
    Atomics.add(i32, Probe.REQUEST, 1);
    Atomics.notify(i32, Probe.REQUEST);
    return answered;
  };
  const results: Result[] = [];
  try {
    const calls = quick ? 50 : 300;
    const m = await paced(2, calls, quick ? 1 : 3, {
      'Atomics.notify -> worker, Atomics.notify -> Atomics.waitAsync': () => ask(false),
      'Atomics.notify -> worker, MessagePort.postMessage back': () => ask(true),
      'fs.promises.stat': () => fs.promises.stat(file),
    });
    for (const [n, v] of m) {
      results.push({ scenario: 'wake primitives, one call every 2 ms', contender: n, p50us: median(v.p50), p99us: median(v.p99), samples: calls });
    }
  } finally {
    Atomics.store(i32, Probe.STOP, 1);
    Atomics.add(i32, Probe.REQUEST, 1);
    Atomics.notify(i32, Probe.REQUEST);
    await new Promise((r) => w.once('exit', r));
    port1.close();
  }
  return results;
}

/** The probe's worker: park, stat, answer the way it is asked to. */
async function probeWorker(p: { i32: Int32Array; port: import('node:worker_threads').MessagePort; file: string }): Promise<void> {
  const { i32, port, file } = p;
  // k is read before 'ready' and before each answer: the caller asks again only after an answer,
  // so its add always moves REQUEST off k. Read after the answer (as before), a request made while
  // this thread was descheduled between answering and reading was taken for the old value, and
  // the wait never ended (the bench hung once in 'wake primitives' on the shared machine).
  let k = Atomics.load(i32, Probe.REQUEST);
  port.postMessage('ready');
  for (;;) {
    // Pairs with the caller's Atomics.add + notify on REQUEST.
    Atomics.wait(i32, Probe.REQUEST, k);
    k = Atomics.load(i32, Probe.REQUEST);
    if (Atomics.load(i32, Probe.STOP) === 1) break;
    fs.statSync(file);
    if (Atomics.load(i32, Probe.BY_PORT) === 1) port.postMessage(1);
    else {
      // Pairs with the caller's Atomics.waitAsync on ANSWER.
      Atomics.add(i32, Probe.ANSWER, 1);
      Atomics.notify(i32, Probe.ANSWER);
    }
  }
  port.close();
}

if (!isMainThread) {
  const { workerData } = await import('node:worker_threads');
  const probe = (workerData as { probe?: Parameters<typeof probeWorker>[0] } | null)?.probe;
  if (probe !== undefined) await probeWorker(probe);
}
