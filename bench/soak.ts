/**
 * Soak: the runtime under load for a while, with workers dying (injected faults), random
 * cancellations and deadlines, tiny rings, promises and a kqueue; every request must complete
 * exactly once. Prints requests, faults injected, lost (must be 0), peak RSS and RSS growth after
 * warm-up.
 *
 * Then the edges of a runtime's life (issue 12), round after round for --lifecycle-seconds: an
 * owner and attached threads storm one runtime, the owner closes it mid-storm (gracefully, forced,
 * or graceful escalated to forced) while chains are also stuck in reads of a pipe nobody writes
 * (ended by their deadline or the forced close), with injected worker deaths in half the rounds;
 * and start-up failures are injected (workers that cannot start in time, a deleted current
 * directory, refused resource limits). Every submission on every thread must settle exactly once,
 * every request slot must come back, and every failed start must reject (none may hang).
 *
 * Usage: npm run soak [-- --seconds N] [-- --lifecycle-seconds N] [-- --json]
 * Environment: SOAK_SECONDS (default 60), SOAK_LIFECYCLE_SECONDS (default 30).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EVFILT_AIO, Runtime, SysletStartError, chain, type Chain, type Completion, type Submission } from 'syslet';
import { rng } from 'syslet/bench';

const args = process.argv.slice(2);
const JSON_OUT = args.includes('--json');
const SECONDS = Number(args.includes('--seconds') ? args[args.indexOf('--seconds') + 1] : (process.env.SOAK_SECONDS ?? 60));
if (!(SECONDS > 0)) throw new TypeError(`--seconds: expected a positive number, got ${String(SECONDS)}`);
const LIFE_SECONDS = Number(
  args.includes('--lifecycle-seconds') ? args[args.indexOf('--lifecycle-seconds') + 1] : (process.env.SOAK_LIFECYCLE_SECONDS ?? 30),
);
if (!(LIFE_SECONDS >= 0)) throw new TypeError(`--lifecycle-seconds: expected a non-negative number, got ${String(LIFE_SECONDS)}`);
const ATTACHED = fileURLToPath(new URL('./soak-attached.js', import.meta.url));

interface AttachedReport {
  submitted: number;
  completed: number;
  duplicates: number;
  mismatched: number;
  statuses: Record<string, number>;
  refusedAttach: boolean;
}

/** Totals of the lifecycle phase. */
const life = {
  rounds: 0,
  closes: { graceful: 0, forced: 0, escalated: 0 },
  requests: 0,
  completed: 0,
  duplicates: 0,
  mismatched: 0,
  attachedThreads: 0,
  attachRefused: 0,
  attachedRequests: 0,
  cancelled: 0,
  stuckChains: 0,
  stuckEnded: 0,
  workerDeaths: 0,
  slotsLeaked: 0,
  startFailuresInjected: 0,
  startFailuresRejected: 0,
  startHangs: 0,
  maxCloseMs: 0,
};

/** A FIFO opened read-write: it has a writer that never writes, so a read on it blocks. */
function neverPipe(): { path: string; fd: number; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-soak-'));
  const p = path.join(dir, 'never');
  const r = spawnSync('mkfifo', [p]);
  if (r.status !== 0) throw new Error(`mkfifo: ${String(r.stderr)}`);
  return { path: p, fd: fs.openSync(p, fs.constants.O_RDWR), dir };
}

/** Let terminated stuck threads' reads return, a byte each, so they exit. */
async function releaseStuck(rt: Runtime, pipe: { path: string }): Promise<void> {
  const w = fs.openSync(pipe.path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  for (let i = 0; i < 3000 && rt.stats().stuckThreads > 0; i++) {
    fs.writeSync(w, 'x');
    await new Promise((r) => setTimeout(r, 10));
  }
  fs.closeSync(w);
}

/** Start `n` attached threads on `handle`; resolves once each attached (or was refused). */
async function startAttached(handle: ReturnType<Runtime['share']>, n: number): Promise<{ workers: Worker[]; reports: Promise<AttachedReport>[] }> {
  const workers: Worker[] = [];
  const reports: Promise<AttachedReport>[] = [];
  const attached: Promise<void>[] = [];
  for (let t = 0; t < n; t++) {
    const w = new Worker(ATTACHED, { workerData: { handle } });
    workers.push(w);
    let onAttached: () => void = () => {};
    attached.push(new Promise<void>((r) => (onAttached = r)));
    reports.push(
      new Promise((resolve, reject) => {
        w.on('message', (m: { attached?: boolean } & AttachedReport) => {
          if (m.attached !== undefined) onAttached();
          else resolve(m);
        });
        w.once('error', reject);
      }),
    );
  }
  await Promise.all(attached);
  return { workers, reports };
}

/** Add the attached threads' reports to the totals, then stop the threads. */
async function countAttached(reports: Promise<AttachedReport>[], workers: Worker[]): Promise<void> {
  for (const r of await Promise.all(reports)) {
    life.attachedThreads++;
    if (r.refusedAttach) life.attachRefused++;
    life.attachedRequests += r.submitted;
    life.requests += r.submitted;
    life.completed += r.completed;
    life.duplicates += r.duplicates;
    life.mismatched += r.mismatched;
    life.cancelled += r.statuses.cancelled ?? 0;
  }
  await Promise.all(workers.map((w) => w.terminate()));
}

/** Each injected start-up failure must reject (within 60 s), never hang or resolve. */
async function injectStartFailure(kind: number): Promise<void> {
  life.startFailuresInjected++;
  const home = process.cwd();
  let attempt: Promise<Runtime>;
  if (kind === 0) attempt = Runtime.create({ workers: 2, startTimeoutMs: 1 });
  else if (kind === 1) attempt = Runtime.create({ workers: 1, resourceLimits: { stackSizeMb: 0.01 } });
  else {
    const gone = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-gone-'));
    process.chdir(gone);
    fs.rmdirSync(gone);
    attempt = Runtime.create({ workers: 1 });
  }
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((r) => {
    timer = setTimeout(() => r('hang'), 60_000);
  });
  const outcome = await Promise.race([
    attempt.then(
      async (rt) => {
        await rt.close();
        return 'resolved' as const;
      },
      (e: unknown) => (e instanceof SysletStartError || e instanceof RangeError ? ('rejected' as const) : ('other' as const)),
    ),
    hang,
  ]);
  clearTimeout(timer);
  if (kind === 2) process.chdir(home);
  if (outcome === 'rejected') life.startFailuresRejected++;
  if (outcome === 'hang') life.startHangs++;
}

/** One round: an owner and attached threads storm a runtime, and the owner closes it mid-storm. */
async function lifecycleRound(rand: () => number, pipe: { path: string; fd: number }): Promise<void> {
  life.rounds++;
  const ringSize = 64;
  const faulty = rand() < 0.5;
  const rt = await Runtime.create({
    workers: 3,
    ringSize,
    completionRingSize: 8,
    ...(faulty ? { faults: { pumpError: 0.001, workerExit: 0.001, seed: life.rounds } } : {}),
  });
  const { workers, reports } = await startAttached(rt.share(), 1 + Math.floor(rand() * 2));
  const buf = rt.alloc(16);
  const chains: Chain[] = [
    chain().nop(1).build(),
    chain().nanosleep(200_000).nop(2).build(),
    chain().var('i', 5).umem_add('i', -1, { flags: ['STOP_ON_ZERO'], next: 0 }).build(),
    chain().getpid().build(),
  ];
  const subs: Submission[] = [];
  // One or two reads that never return, first so that workers pick them up: a deadline ends one
  // (the runtime replaces its worker), the forced close ends the other.
  const stuck = 1 + Math.floor(rand() * 2);
  for (let k = 0; k < stuck; k++) {
    subs.push(rt.submit(chain().read(pipe.fd, buf, 16).build(), k === 0 ? { timeoutMs: 10 + rand() * 40 } : {}));
  }
  life.stuckChains += stuck;
  const stormUntil = performance.now() + 20 + rand() * 300;
  while (performance.now() < stormUntil) {
    for (let k = 0; k < 64; k++) {
      const c = chains[Math.floor(rand() * chains.length)]!;
      // A long sleep, now and then: only its deadline or the forced close ends it.
      const long = rand() < 0.002;
      subs.push(rt.submit(long ? chain().nanosleep(5e9).build() : c, long || rand() < 0.05 ? { timeoutMs: rand() * 20 } : {}));
      if (rand() < 0.05) rt.cancel(subs[Math.floor(rand() * subs.length)]!.id);
    }
    await new Promise((r) => setImmediate(r));
  }
  // Untimed stuck reads and sleeps can only be ended by force: a graceful close escalates then.
  const mode = rand();
  const t0 = performance.now();
  let closing: Promise<void>;
  if (mode < 0.4) {
    life.closes.forced++;
    closing = rt.close({ force: true });
  } else {
    life.closes.escalated++;
    closing = rt.close();
    await new Promise((r) => setTimeout(r, rand() * 50));
    void rt.close({ force: true });
  }
  const settledOwn = new Set<number>();
  await Promise.all(
    subs.map((s) =>
      s.promise.then((c: Completion) => {
        if (c.id !== s.id) life.mismatched++;
        if (settledOwn.has(c.id)) life.duplicates++;
        settledOwn.add(c.id);
        if (c.status === 'cancelled') life.cancelled++;
      }),
    ),
  );
  await closing;
  life.maxCloseMs = Math.max(life.maxCloseMs, performance.now() - t0);
  life.requests += subs.length;
  life.completed += settledOwn.size;
  await countAttached(reports, workers);
  await releaseStuck(rt, pipe);
  const st = rt.stats();
  life.stuckEnded += st.stuckWorkersEnded;
  life.workerDeaths += st.workerDeaths;
  // Every request slot is back, each once.
  life.slotsLeaked += ringSize - st.rings.free.occupancy;
}

/** A graceful close alone, with attached threads busy (no chain that only force can end). */
async function gracefulRound(): Promise<void> {
  life.rounds++;
  life.closes.graceful++;
  const rt = await Runtime.create({ workers: 2, ringSize: 64, completionRingSize: 8 });
  const { workers, reports } = await startAttached(rt.share(), 2);
  await new Promise((r) => setTimeout(r, 100));
  const own = [0, 1, 2, 3].map((i) => rt.submit(chain().nanosleep(1e6).nop(i).build()));
  const t0 = performance.now();
  await rt.close();
  life.maxCloseMs = Math.max(life.maxCloseMs, performance.now() - t0);
  for (const s of own) if (s.completion?.status !== 'done') life.mismatched++;
  life.requests += own.length;
  life.completed += own.filter((s) => s.settled).length;
  await countAttached(reports, workers);
  life.slotsLeaked += 64 - rt.stats().rings.free.occupancy;
}

async function lifecycle(): Promise<void> {
  if (LIFE_SECONDS === 0) return;
  const rand = rng(12);
  const pipe = neverPipe();
  const end = performance.now() + LIFE_SECONDS * 1000;
  let round = 0;
  while (performance.now() < end) {
    if (round % 4 === 3) await gracefulRound();
    else await lifecycleRound(rand, pipe);
    // No runtime is starting workers now: a deleted cwd here cannot hurt another one.
    if (round % 3 === 0) await injectStartFailure(round % 9 === 0 ? 2 : (round / 3) % 3 === 1 ? 1 : 0);
    round++;
  }
  fs.closeSync(pipe.fd);
  fs.rmSync(pipe.dir, { recursive: true });
}

async function main(): Promise<void> {
  const rand = rng(42);
  const rt = await Runtime.create({
    workers: os.availableParallelism(),
    ringSize: 64,
    completionRingSize: 8,
    faults: { pumpError: 0.0002, workerExit: 0.0002, seed: 7 },
  });
  const kq = rt.kqueue();
  const chains: Chain[] = [
    chain().nop(1).build(),
    chain().getpid({ into: 'p' }).nop(2).build(),
    chain().var('i', 5).umem_add('i', -1, { flags: ['STOP_ON_ZERO'], next: 0 }).build(),
    chain().nanosleep(50_000).nop(3).build(),
    chain().stat('/').build(),
  ];
  let submitted = 0;
  let completed = 0;
  let viaKq = 0;
  let events = 0;
  let cancels = 0;
  let duplicates = 0;
  const seen = new Set<number>();
  const pendingKq = new Set<number>();
  let peakRss = 0;
  let warmRss = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  const warmAt = start + Math.min(10_000, SECONDS * 100);
  const lines: string[] = [];
  const count = (id: number): void => {
    if (seen.has(id)) duplicates++;
    seen.add(id);
    completed++;
  };
  while (performance.now() < end) {
    const window: Submission[] = [];
    for (let k = 0; k < 2000; k++) {
      const c = chains[Math.floor(rand() * chains.length)]!;
      const useKq = rand() < 0.3;
      const s = rt.submit(c, { ...(useKq ? { kq } : {}), ...(rand() < 0.05 ? { timeoutMs: rand() * 2 } : {}) });
      submitted++;
      if (useKq) {
        viaKq++;
        pendingKq.add(s.id);
      }
      window.push(s);
      if (rand() < 0.05) {
        rt.cancel(window[Math.floor(rand() * window.length)]!.id);
        cancels++;
      }
    }
    // Reap the kqueue's events while the promises settle; both must account for every request.
    const kqDone = (async () => {
      while (pendingKq.size > 0) {
        for (const ev of await kq.kevent(null, 1024, 1000)) {
          if (ev.filter === EVFILT_AIO && !pendingKq.delete(ev.ident as number)) duplicates++;
          events++;
        }
      }
    })();
    await Promise.all(window.map((s) => s.promise.then((c) => count(c.id))));
    await kqDone;
    seen.clear(); // ids are unique per run; keep memory flat
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    if (warmRss === 0 && performance.now() >= warmAt) warmRss = rss;
  }
  const endRss = process.memoryUsage().rss;
  const st = rt.stats();
  kq.close();
  await rt.close();
  const lifeStart = performance.now();
  await lifecycle();
  const result = {
    machine: `${os.cpus()[0]?.model ?? 'unknown'} x${os.availableParallelism()}, node ${process.version}`,
    seconds: Math.round((performance.now() - start) / 100) / 10,
    requests: submitted,
    completed,
    lost: submitted - completed,
    duplicates,
    viaKqueue: viaKq,
    kqueueEvents: events,
    cancelsRequested: cancels,
    faultsInjected: st.workerDeaths,
    ownerDeadCompletions: st.ownerDeadCompletions,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    rssAfterWarmupMiB: Math.round(warmRss / 2 ** 20),
    rssEndMiB: Math.round(endRss / 2 ** 20),
    rssGrowthAfterWarmup: warmRss === 0 ? null : Math.round(((endRss - warmRss) / warmRss) * 1000) / 10,
    lifecycle: {
      seconds: Math.round((performance.now() - lifeStart) / 100) / 10,
      ...life,
      lost: life.requests - life.completed,
      maxCloseMs: Math.round(life.maxCloseMs),
    },
  };
  if (JSON_OUT) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    for (const [k, v] of Object.entries(result)) {
      if (typeof v !== 'object' || v === null) lines.push(`${k.padEnd(22)} ${String(v)}`);
      else for (const [k2, v2] of Object.entries(v)) lines.push(`${`${k}.${k2}`.padEnd(32)} ${JSON.stringify(v2)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  const l = result.lifecycle;
  if (result.lost !== 0 || result.duplicates !== 0) process.exitCode = 1;
  if (l.lost !== 0 || l.duplicates !== 0 || l.mismatched !== 0 || l.slotsLeaked !== 0 || l.startHangs !== 0) process.exitCode = 1;
  if (l.startFailuresRejected !== l.startFailuresInjected) process.exitCode = 1;
}

await main();
