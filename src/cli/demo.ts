/**
 * `syslet demo`: a short end-to-end run on a tree it creates under the OS temp dir. A stat storm
 * and a small-file read through syslet chains, each beside the fs.promises way of doing it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Runtime } from '../runtime.js';
import { chain, v } from '../syslet/chain.js';
import { SYSLET_STOP_ON_NEGATIVE } from '../syslet/flags.js';
import { withConcurrency } from '../bench/concurrency.js';

export interface DemoOptions {
  files: number;
  rounds: number;
  out: (line: string) => void;
}

interface Row {
  what: string;
  syslet: number;
  baseline: string;
  base: number;
}

/** Fastest of `rounds` timed runs, after one untimed warm-up run (JIT, caches). */
async function best(rounds: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn();
  let min = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

export async function demo(o: DemoOptions): Promise<Row[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-demo-'));
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
    o.out(`syslet demo: ${o.files.toLocaleString('en-US')} files of 4 KiB under ${dir}, ${rt.workers} workers`);
    const rows: Row[] = [];

    const statStorm = async (): Promise<void> => {
      const subs = files.map((f) => rt.submit({ atoms: [{ op: 'stat', args: [f] }] }).promise);
      const done = await Promise.all(subs);
      if (done.some((c) => c.result !== 0)) throw new Error('a stat failed');
    };
    const sMs = await best(o.rounds, statStorm);
    const pMs = await best(o.rounds, () => withConcurrency(files, 64, (f) => fs.promises.stat(f)));
    rows.push({ what: 'stat storm', syslet: o.files / sMs * 1000, baseline: 'fs.promises.stat, 64 at a time', base: o.files / pMs * 1000 });

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
    const rMs = await best(o.rounds, readAll);
    const qMs = await best(o.rounds, () => withConcurrency(files, 64, (f) => fs.promises.readFile(f)));
    if (!arena.subarray(4096 * (files.length - 1), 4096 * files.length).equals(data)) {
      throw new Error('read data differs from the file');
    }
    rt.free(arena);
    rows.push({ what: 'small-file read', syslet: o.files / rMs * 1000, baseline: 'fs.promises.readFile, 64 at a time', base: o.files / qMs * 1000 });

    const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(9);
    o.out('');
    for (const r of rows) {
      o.out(`${r.what.padEnd(16)} syslet ${fmt(r.syslet)} ops/s   ${r.baseline} ${fmt(r.base)} ops/s   ${(r.syslet / r.base).toFixed(1)}x`);
    }
    return rows;
  } finally {
    await rt.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
