/**
 * `syslet demo`: a short end-to-end run on a tree it creates under the OS temp dir. A stat storm
 * and a small-file read through syslet chains, each beside the fs.promises way of doing it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Runtime, chain, v, SYSLET_STOP_ON_NEGATIVE } from '../index.js';
import { withConcurrency } from '../bench/concurrency.js';
import { parseCommandLine, positiveInt, UsageError, type Command } from './command.js';
import { makeTempDir } from './process.js';

export const DEMO_HELP = `usage: syslet demo [--files N] [--rounds N]

A stat storm and a small-file read through syslet chains on a tree of N 4 KiB files created under
the OS temp dir (and removed afterwards), each beside the fs.promises way of doing it. Each of the
rounds times both sides one after the other; the report gives the median ratio and the spread of
the rounds (a wide spread means a noisy machine: other work, frequency scaling).
  --files N    files in the tree                                   [5000]
  --rounds N   timed rounds, after one untimed warm-up round       [5]
  -h, --help   this text
`;

export interface DemoOptions {
  files: number;
  rounds: number;
  out: (line: string) => void;
}

export interface DemoRow {
  what: string;
  baseline: string;
  /** Operations per second of each round, syslet and baseline (same round, same index). */
  syslet: number[];
  base: number[];
  /** Median of the per-round ratios syslet / baseline, and their least and greatest. */
  ratio: number;
  low: number;
  high: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * `rounds` interleaved timings of `ours` and `theirs` (ops per second each), after one untimed
 * warm-up of both (JIT, caches). Interleaved, so a burst of outside load hits both sides.
 */
async function rounds(
  n: number,
  ops: number,
  ours: () => Promise<unknown>,
  theirs: () => Promise<unknown>,
): Promise<{ ours: number[]; theirs: number[] }> {
  await ours();
  await theirs();
  const r = { ours: [] as number[], theirs: [] as number[] };
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    await ours();
    r.ours.push((ops / (performance.now() - t)) * 1000);
    t = performance.now();
    await theirs();
    r.theirs.push((ops / (performance.now() - t)) * 1000);
  }
  return r;
}

function row(what: string, baseline: string, r: { ours: number[]; theirs: number[] }): DemoRow {
  const ratios = r.ours.map((x, i) => x / r.theirs[i]!);
  return { what, baseline, syslet: r.ours, base: r.theirs, ratio: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) };
}

export async function demo(o: DemoOptions): Promise<DemoRow[]> {
  const tmp = makeTempDir('syslet-demo-');
  const dir = tmp.dir;
  const rt = await Runtime.create();
  try {
    const files: string[] = [];
    const data = Buffer.alloc(4096, 'syslet ');
    for (let i = 0; i < o.files; i++) {
      const sub = path.join(dir, `d${Math.floor(i / 500)}`);
      if (i % 500 === 0) fs.mkdirSync(sub);
      files.push(path.join(sub, `f${i}`));
      fs.writeFileSync(files[i]!, data);
    }
    o.out(`syslet demo: ${o.files.toLocaleString('en-US')} files of 4 KiB under ${dir}, ${rt.workers} workers, ${o.rounds} rounds`);
    const rows: DemoRow[] = [];

    const statStorm = async (): Promise<void> => {
      const subs = files.map((f) => rt.submit({ atoms: [{ op: 'stat', args: [f] }] }).promise);
      const done = await Promise.all(subs);
      if (done.some((c) => c.result !== 0)) throw new Error('a stat failed');
    };
    const stats = await rounds(o.rounds, o.files, statStorm, () => withConcurrency(files, 64, (f) => fs.promises.stat(f)));
    rows.push(row('stat storm', 'fs.promises.stat, 64 at a time', stats));

    const arena = rt.alloc(files.length * 4096);
    const readAll = async (): Promise<void> => {
      const subs = files.map((f, i) =>
        rt.submit(
          chain()
            .open(f, 'r', undefined, { into: 'fd', flags: SYSLET_STOP_ON_NEGATIVE })
            .read(v('fd'), { buf: arena.byteOffset + i * 4096, length: 4096 }, 4096, { into: 'n' })
            .close(v('fd'))
            .build(),
        ).promise,
      );
      const done = await Promise.all(subs);
      if (done.some((c) => c.vars.n !== 4096)) throw new Error('a read came up short');
    };
    const reads = await rounds(o.rounds, o.files, readAll, () => withConcurrency(files, 64, (f) => fs.promises.readFile(f)));
    if (!arena.subarray(4096 * (files.length - 1), 4096 * files.length).equals(data)) {
      throw new Error('read data differs from the file');
    }
    rt.free(arena);
    rows.push(row('small-file read', 'fs.promises.readFile, 64 at a time', reads));

    const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(14);
    o.out('');
    o.out(`${''.padEnd(16)}${'syslet ops/s'.padStart(14)}${'baseline ops/s'.padStart(16)}   syslet/baseline: median (least to most of ${o.rounds} rounds)`);
    for (const r of rows) {
      o.out(`${r.what.padEnd(16)}${fmt(median(r.syslet))}${fmt(median(r.base)).padStart(16)}   ${r.ratio.toFixed(2)}x (${r.low.toFixed(2)}x to ${r.high.toFixed(2)}x)`);
      o.out(`${''.padEnd(16)}baseline: ${r.baseline}`);
    }
    const wide = rows.some((r) => r.high / r.low > 1.5);
    o.out('');
    o.out(
      wide
        ? 'The rounds disagree by more than 1.5x: the machine is noisy (other work, frequency scaling).\n' +
            'Compare medians of more rounds (--rounds 11) on a quiet machine before drawing conclusions.'
        : 'Ratios from one machine at one moment: other load on the machine moves them; the spread shows by how much.',
    );
    return rows;
  } finally {
    await rt.close();
    tmp.remove();
  }
}

export const DEMO_COMMAND: Command = {
  usage: DEMO_HELP,
  async run(argv, io) {
    const cl = parseCommandLine('demo', argv, { files: { type: 'string' }, rounds: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (cl.help) return 'help';
    if (cl.operands.length > 0) throw new UsageError('demo', `takes no operands, got "${cl.operands[0]}"`);
    let files = 5000;
    let roundsN = 5;
    for (const opt of cl.options) {
      if (opt.name === 'files') files = positiveInt('demo', opt);
      else roundsN = positiveInt('demo', opt);
    }
    await demo({ files, rounds: roundsN, out: (l) => io.out(`${l}\n`) });
    return 0;
  },
};
