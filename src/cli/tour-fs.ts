/**
 * The tour's syslet/fs step: a stat storm and a readFile storm written as users write them
 * (`Promise.all(files.map((f) => fs.stat(f)))`), through syslet/fs and through node:fs/promises,
 * on a tree of small files made for it; rounds interleaved, medians compared.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FsTourResult {
  files: number;
  /** Operations per second, median of the rounds: [syslet/fs, node:fs/promises]. */
  stat: [number, number];
  readFile: [number, number];
}

export async function fsStorms(files = 5000, rounds = 5): Promise<FsTourResult> {
  const sfs = await import('../fs/index.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-tour-fs-'));
  try {
    const names: string[] = [];
    const data = Buffer.alloc(4096, 'x');
    for (let i = 0; i < files; i++) {
      const f = path.join(dir, `f${i}`);
      fs.writeFileSync(f, data);
      names.push(f);
    }
    await sfs.ready();
    const rate = async (fn: () => Promise<unknown>): Promise<number> => {
      const t = performance.now();
      await fn();
      return (files / (performance.now() - t)) * 1000;
    };
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const runs = { s: [] as number[], sn: [] as number[], r: [] as number[], rn: [] as number[] };
    for (let k = 0; k <= rounds; k++) {
      const s = await rate(() => Promise.all(names.map((f) => sfs.stat(f))));
      const sn = await rate(() => Promise.all(names.map((f) => fs.promises.stat(f))));
      const r = await rate(() => Promise.all(names.map((f) => sfs.readFile(f))));
      const rn = await rate(() => Promise.all(names.map((f) => fs.promises.readFile(f))));
      if (k === 0) continue; // warm-up
      runs.s.push(s);
      runs.sn.push(sn);
      runs.r.push(r);
      runs.rn.push(rn);
    }
    return { files, stat: [median(runs.s), median(runs.sn)], readFile: [median(runs.r), median(runs.rn)] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
