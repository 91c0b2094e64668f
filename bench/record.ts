/**
 * What the recorder costs (issue 15): the stat storm (one single-atom chain per file, 10,000 cached
 * files, submitted back to back and awaited) in three arms, interleaved round by round in one
 * process (in a rotating order), reported as medians of the per-round ratios between arms:
 *
 *   base            the runtime built from another checkout without the recorder's hooks
 *                   (SYSLET_BASE_DIST=/path/to/that/dist; skipped when not given)
 *   not recording   this build, no recording: the hooks are there, idle
 *   recording       this build, rt.record() running (samples every 50 ms, every chain timed and
 *                   kept as a span, up to 100,000 per recording; a new recording per round)
 *
 * and the same with the 250-stat batched chains. Each arm has its own runtime (2 workers).
 *
 * Usage: SYSLET_BASE_DIST=/path/to/other/dist npm run bench:record [-- --rounds N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Runtime, type Chain } from 'syslet';
import { machine } from 'syslet/bench';

const FILES = 10_000;
const BATCH = 250;
const WORKERS = 2;
const argRounds = process.argv.indexOf('--rounds');
const ROUNDS = argRounds > 0 ? Number(process.argv[argRounds + 1]) : 9;

interface Arm {
  name: string;
  rt: Runtime;
  big: Runtime;
  record: boolean;
  storm: number[];
  batched: number[];
  /** Process CPU time (user + system, every thread) per stat, µs, for the storm. */
  stormCpu: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

let lastCpuUs = 0;

/** Wall milliseconds; the process CPU microseconds it took are left in lastCpuUs. */
async function timed(f: () => Promise<unknown>): Promise<number> {
  const c = process.cpuUsage();
  const t = performance.now();
  await f();
  const ms = performance.now() - t;
  const d = process.cpuUsage(c);
  lastCpuUs = d.user + d.system;
  return ms;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-bench-record-'));
  const files: string[] = [];
  for (let i = 0; i < FILES; i++) {
    const f = path.join(dir, `f${i}`);
    fs.writeFileSync(f, 'x');
    files.push(f);
  }
  const stormChains: Chain[] = files.map((f) => ({ atoms: [{ op: 'stat', args: [f] }] }));
  const batchedChains: Chain[] = [];
  for (let i = 0; i < FILES; i += BATCH) {
    batchedChains.push({ atoms: files.slice(i, i + BATCH).map((f, k) => ({ op: 'stat' as const, args: [f], into: `s${k}` })) });
  }
  const make = async (R: typeof Runtime): Promise<{ rt: Runtime; big: Runtime }> => ({
    rt: await R.create({ workers: WORKERS }),
    big: await R.create({ workers: WORKERS, slotBytes: 65536, ringSize: 256 }),
  });
  const arms: Arm[] = [];
  const baseDist = process.env.SYSLET_BASE_DIST;
  if (baseDist !== undefined) {
    const base = (await import(pathToFileURL(path.join(baseDist, 'index.js')).href)) as { Runtime: typeof Runtime };
    arms.push({ name: 'base (no recorder hooks)', ...(await make(base.Runtime)), record: false, storm: [], batched: [], stormCpu: [] });
  }
  arms.push({ name: 'not recording', ...(await make(Runtime)), record: false, storm: [], batched: [], stormCpu: [] });
  arms.push({ name: 'recording', ...(await make(Runtime)), record: true, storm: [], batched: [], stormCpu: [] });
  let spans = 0;
  // One warm-up round, not counted.
  for (let round = -1; round < ROUNDS; round++) {
    // A different order each round: no arm always runs right after another.
    const order = arms.map((_, k) => arms[(k + round + 1) % arms.length]!);
    for (const a of order) {
      const recs = a.record ? [a.rt.record(), a.big.record()] : [];
      const storm = await timed(() => Promise.all(stormChains.map((c) => a.rt.submit(c).promise)));
      const stormCpu = lastCpuUs / FILES;
      const batched = await timed(() => Promise.all(batchedChains.map((c) => a.big.submit(c).promise)));
      for (const r of recs) {
        const res = await r.stop();
        spans += r.trace!.producers[0]!.spans.length / 6;
        if (res.points[0]!.chains.completed === 0) throw new Error('recording saw nothing');
      }
      if (round >= 0) {
        a.storm.push(FILES / (storm / 1000));
        a.stormCpu.push(stormCpu);
        a.batched.push(FILES / (batched / 1000));
      }
    }
  }
  const m = machine();
  console.log(`recorder cost: ${ROUNDS} rounds, arms interleaved in rotating order; ${JSON.stringify(m)}`);
  // Ratios of arms measured in the same round (seconds apart), then their median: the machine's
  // load moves slowly, so paired ratios hold far better than ratios of medians.
  const ref = arms.find((x) => x.name === 'not recording')!;
  const paired = (a: Arm, b: Arm, k: 'storm' | 'batched' | 'stormCpu'): string =>
    median(a[k].map((x, i) => x / b[k][i]!)).toFixed(3);
  for (const a of arms) {
    const s = median(a.storm);
    const b = median(a.batched);
    console.log(
      `${a.name.padEnd(26)} storm ${Math.round(s).toLocaleString('en-US').padStart(9)} stats/s, ${paired(a, ref, 'storm')}x not recording, ${paired(a, arms[0]!, 'storm')}x ${arms[0]!.name} (rounds ${a.storm.map((x) => Math.round(x / 1000)).join(',')}k)\n` +
        `${''.padEnd(26)} storm CPU ${median(a.stormCpu).toFixed(2)} µs per stat (all threads), ${paired(a, ref, 'stormCpu')}x not recording, ${paired(a, arms[0]!, 'stormCpu')}x ${arms[0]!.name}\n` +
        `${''.padEnd(26)} batched ${Math.round(b).toLocaleString('en-US').padStart(9)} stats/s, ${paired(a, ref, 'batched')}x not recording, ${paired(a, arms[0]!, 'batched')}x ${arms[0]!.name}`,
    );
  }
  console.log(`spans kept while recording: ${spans.toLocaleString('en-US')}`);
  for (const a of arms) {
    await a.rt.close();
    await a.big.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
