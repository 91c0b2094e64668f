/**
 * A producer thread of `syslet profile` (loaded by path; profile.ts never imports it).
 *
 * It joins the runtime with Runtime.attach (the same rings, arena and workers, a completion queue
 * of its own), prepares a few chain templates from the operation mix, waits for GO, then submits
 * bursts of `batch` chains back to back, keeping at most two bursts in flight (the next burst is
 * submitted before the previous one is awaited, so the rings never run dry between bursts). When
 * STOP is set it drains what is in flight, reports its counts and the timing of the first
 * `traceSpans` chains, and waits for 'close' so that its completion queue is still counted in
 * the main thread's final rt.stats().
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Runtime, sharedNow, type Atom, type Completion, type PreparedChain, type Submission } from '../index.js';
import { rng } from '../bench/rng.js';
import {
  Burst,
  Ctl,
  Span,
  type OpKind,
  type ProducerData,
  type ProducerDone,
  type ProducerMessage,
  type ProducerReady,
} from './profile-protocol.js';

/** Templates per producer: enough variety of paths and ops, few enough to prepare at once. */
const TEMPLATES = 64;
/** Bursts in flight per producer. */
const IN_FLIGHT = 2;

function send(m: ProducerMessage): void {
  parentPort!.postMessage(m);
}

function templates(rt: Runtime, d: ProducerData): { prepared: PreparedChain[]; buffers: Buffer[] } {
  const kinds = (Object.keys(d.mix) as OpKind[]).filter((k) => d.mix[k] > 0);
  const total = kinds.reduce((s, k) => s + d.mix[k], 0);
  const rand = rng(0x9e3779b9 ^ (d.index + 1));
  const pick = (): OpKind => {
    let r = rand() * total;
    for (const k of kinds) {
      r -= d.mix[k];
      if (r < 0) return k;
    }
    return kinds[kinds.length - 1]!;
  };
  // A template of nop atoms only is the same chain every time: one is enough.
  const n = kinds.length === 1 && kinds[0] === 'nop' ? 1 : TEMPLATES;
  const prepared: PreparedChain[] = [];
  const buffers: Buffer[] = [];
  for (let t = 0; t < n; t++) {
    const atoms: Atom[] = [];
    for (let a = 0; a < d.atoms; a++) {
      const kind = pick();
      const f = Math.floor(rand() * d.paths.length);
      if (kind === 'nop') {
        atoms.push({ op: 'nop', args: [a] });
      } else if (kind === 'stat') {
        atoms.push({ op: 'stat', args: [d.paths[f]!] });
      } else {
        // One 4 KiB arena buffer per read atom of a template. Chains of the same template in
        // flight at once read into it concurrently: the bytes are never looked at.
        const b = rt.alloc(4096);
        buffers.push(b);
        atoms.push({ op: 'pread', args: [d.fds[f]!, { buf: b.byteOffset, length: 4096 }, 4096, 0] });
      }
    }
    prepared.push(rt.prepare({ atoms }));
  }
  return { prepared, buffers };
}

async function main(): Promise<void> {
  const d = workerData as ProducerData;
  const control = new Int32Array(d.control);
  const rt = Runtime.attach(d.handle);
  const { prepared, buffers } = templates(rt, d);
  const ready: ProducerReady = { type: 'ready', cq: rt.stats().rings.completion.cq };
  send(ready);
  while (Atomics.load(control, Ctl.GO) === 0) Atomics.wait(control, Ctl.GO, 0, 1000);

  const cap = d.traceSpans;
  const spans = new Float64Array(cap * Span.FIELDS);
  let nSpans = 0;
  const burstCap = cap === 0 ? 0 : Math.ceil(cap / d.batch) + IN_FLIGHT;
  const burstSpans = new Float64Array(burstCap * Burst.FIELDS);
  let nBursts = 0;
  let submitted = 0;
  let completed = 0;
  let failed = 0;
  let bursts = 0;
  let next = 0;

  const onComplete = (c: Completion): void => {
    completed++;
    if (c.status !== 'done' || c.result < 0) failed++;
    const t = c.timing;
    if (t === undefined) return;
    // Spans are kept in submission order: chain ids grow per submission, and the first `cap`
    // submissions of this producer own the first `cap` span records.
    const k = (c.udata as number) | 0;
    if (k < cap) {
      const o = k * Span.FIELDS;
      spans[o + Span.ID] = c.id;
      spans[o + Span.SUBMITTED] = t.submitted;
      spans[o + Span.STARTED] = t.started;
      spans[o + Span.COMPLETED] = t.completed;
      spans[o + Span.REAPED] = t.reaped;
      spans[o + Span.WORKER] = t.worker;
      if (k >= nSpans) nSpans = k + 1;
    }
  };

  const inFlight: Promise<void>[] = [];
  while (Atomics.load(control, Ctl.STOP) === 0) {
    const t0 = nBursts < burstCap ? sharedNow() : 0;
    const subs: Submission[] = new Array<Submission>(d.batch);
    for (let k = 0; k < d.batch; k++) {
      subs[k] = rt.submit(prepared[next]!, { udata: submitted++ });
      next = next + 1 === prepared.length ? 0 : next + 1;
    }
    if (t0 !== 0) {
      const o = nBursts++ * Burst.FIELDS;
      burstSpans[o + Burst.START] = t0;
      burstSpans[o + Burst.END] = sharedNow();
      burstSpans[o + Burst.CHAINS] = d.batch;
    }
    bursts++;
    inFlight.push(Promise.all(subs.map((s) => s.promise.then(onComplete))).then(() => undefined));
    if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
  }
  await Promise.all(inFlight);

  const spansOut = spans.slice(0, nSpans * Span.FIELDS);
  const burstsOut = burstSpans.slice(0, nBursts * Burst.FIELDS);
  const done: ProducerDone = { type: 'done', submitted, completed, failed, bursts, spans: spansOut, burstSpans: burstsOut };
  // slice() copies into fresh (non-shared) ArrayBuffers: transfer them instead of copying again.
  parentPort!.postMessage(done, [spansOut.buffer as ArrayBuffer, burstsOut.buffer as ArrayBuffer]);
  await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
  for (const b of buffers) rt.free(b);
  await rt.close();
  parentPort!.close();
}

main().catch((e: unknown) => {
  send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  parentPort!.close();
});
