/**
 * syslet/fs scenarios (issue 17): code written as users write it, against its baselines and its
 * ceiling in the same run, contenders interleaved round by round, medians reported.
 *
 *   fs stat storm        Promise.all(files.map((f) => fs.stat(f))) over 10,000 cached files
 *   fs readFile storm    the same with readFile (4 KiB files)
 *   fs readdir recursive readdir(root, { recursive: true }) over a 20,000-file tree
 *   fs sporadic stat     one stat every 2 ms (a server's pace): p50 / p99 latency
 *   fs start-up          a whole process that imports the module and does 50 stats
 *
 * The ceiling: two threads doing nothing but statSync / readFileSync over halves of the files (no
 * rings, no promises), timed from the go signal to both done.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { withConcurrency } from './concurrency.js';

import type { Result as FsResult } from './run.js';

const FS_INDEX = fileURLToPath(new URL('../fs/index.js', import.meta.url));

const CEILING_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { files, op, flag } = workerData;
parentPort.on('message', () => {
  const i32 = new Int32Array(flag);
  if (op === 'stat') for (const f of files) fs.statSync(f);
  else if (op === 'read') for (const f of files) fs.readFileSync(f);
  else fs.readdirSync(files[0], { recursive: true });
  Atomics.add(i32, 0, 1);
  Atomics.notify(i32, 0);
});
parentPort.postMessage('ready');
`;

/** Two threads doing `op` over halves of `files`: a function that runs them once and resolves when both are done. */
async function ceiling(files: readonly string[], op: 'stat' | 'read'): Promise<{ run: () => Promise<void>; close: () => Promise<void> }> {
  const half = Math.ceil(files.length / 2);
  const flag = new SharedArrayBuffer(4);
  const i32 = new Int32Array(flag);
  const workers = [files.slice(0, half), files.slice(half)].map(
    (part) => new Worker(CEILING_WORKER, { eval: true, workerData: { files: part, op, flag } }),
  );
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  return {
    run: async () => {
      Atomics.store(i32, 0, 0);
      for (const w of workers) w.postMessage('go');
      for (;;) {
        const v = Atomics.load(i32, 0);
        if (v >= 2) return;
        const r = Atomics.waitAsync(i32, 0, v);
        if (r.async) await r.value;
      }
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Run each contender once per round, rounds interleaved; ops/s from the median round. */
async function interleaved(
  scenario: string,
  ops: number,
  rounds: number,
  contenders: Record<string, () => unknown>,
  log: (s: string) => void,
): Promise<FsResult[]> {
  log(`running ${scenario} ...`);
  const times = new Map<string, number[]>(Object.keys(contenders).map((k) => [k, []]));
  for (const fn of Object.values(contenders)) await fn(); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const t = performance.now();
      await fn();
      times.get(name)!.push(performance.now() - t);
    }
  }
  return Object.keys(contenders).map((name) => ({
    scenario,
    contender: name,
    opsPerSec: (ops / median(times.get(name)!)) * 1000,
    samples: rounds,
  }));
}

function makeReaddirTree(root: string, files: number): void {
  // 20 directories of 10 subdirectories of 100 files.
  let n = 0;
  for (let a = 0; n < files; a++) {
    for (let b = 0; b < 10 && n < files; b++) {
      const d = path.join(root, `a${a}`, `b${b}`);
      fs.mkdirSync(d, { recursive: true });
      for (let c = 0; c < 100 && n < files; c++, n++) fs.writeFileSync(path.join(d, `f${c}`), '');
    }
  }
}

/** The fs scenarios over `files` (cached, 4 KiB each). */
export async function fsScenarios(files: readonly string[], opts: { quick: boolean; log: (s: string) => void }): Promise<FsResult[]> {
  const { quick, log } = opts;
  const rounds = quick ? 3 : 9;
  const sfs = (await import('../fs/index.js')) as typeof import('../fs/index.js');
  await sfs.ready();
  const out: FsResult[] = [];

  {
    const c = await ceiling(files, 'stat');
    out.push(
      ...(await interleaved('fs stat storm', files.length, rounds, {
        'syslet/fs: Promise.all(files.map(stat))': () => Promise.all(files.map((f) => sfs.stat(f))),
        'fs.statSync loop': () => {
          for (const f of files) fs.statSync(f);
        },
        'fs.promises.stat, concurrency 64': () => withConcurrency(files, 64, (f) => fs.promises.stat(f)),
        'fs.promises: Promise.all(files.map(stat))': () => Promise.all(files.map((f) => fs.promises.stat(f))),
        'ceiling: 2 threads of statSync': () => c.run(),
      }, log)),
    );
    await c.close();
  }
  {
    const c = await ceiling(files, 'read');
    out.push(
      ...(await interleaved('fs readFile storm', files.length, rounds, {
        'syslet/fs: Promise.all(files.map(readFile))': () => Promise.all(files.map((f) => sfs.readFile(f))),
        'fs.readFileSync loop': () => {
          for (const f of files) fs.readFileSync(f);
        },
        'fs.promises.readFile, concurrency 64': () => withConcurrency(files, 64, (f) => fs.promises.readFile(f)),
        'fs.promises: Promise.all(files.map(readFile))': () => Promise.all(files.map((f) => fs.promises.readFile(f))),
        'ceiling: 2 threads of readFileSync': () => c.run(),
      }, log)),
    );
    await c.close();
  }
  {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-bench-readdir-'));
    const n = 20_000;
    makeReaddirTree(root, n);
    try {
      const count = fs.readdirSync(root, { recursive: true }).length;
      out.push(
        ...(await interleaved('fs readdir recursive', count, quick ? 3 : 7, {
          'syslet/fs: readdir(root, { recursive: true })': () => sfs.readdir(root, { recursive: true }),
          'fs.readdirSync recursive': () => fs.readdirSync(root, { recursive: true }),
          'fs.promises.readdir recursive': () => fs.promises.readdir(root, { recursive: true }),
        }, log)),
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  {
    log('running fs sporadic stat ...');
    // The default facade sends a call that would travel alone to node:fs/promises; a facade bound
    // to a runtime (createFs) sends it through the ring: both are measured.
    const { Runtime } = await import('../runtime.js');
    const rt = await Runtime.create({ workers: 2 });
    const ringFs = await sfs.createFs(rt);
    const f = files[0]!;
    const samples = quick ? 150 : 600;
    const lat = { mine: [] as number[], ring: [] as number[], theirs: [] as number[] };
    const sleep = (): Promise<void> => new Promise((r) => setTimeout(r, 2));
    const contenders = [
      ['mine', (p: string) => sfs.stat(p)],
      ['ring', (p: string) => ringFs.stat(p)],
      ['theirs', (p: string) => fs.promises.stat(p)],
    ] as const;
    for (let i = 0; i < samples; i++) {
      for (const [key, fn] of contenders) {
        await sleep();
        const t = performance.now();
        await fn(f);
        lat[key].push((performance.now() - t) * 1000);
      }
    }
    await rt.close();
    const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)]!;
    const sc = 'fs sporadic stat (one every 2 ms)';
    out.push({ scenario: sc, contender: 'syslet/fs: stat (a lone call goes to Node)', p50us: pct(lat.mine, 0.5), p99us: pct(lat.mine, 0.99), samples });
    out.push({ scenario: sc, contender: 'syslet/fs bound to a runtime: through the ring', p50us: pct(lat.ring, 0.5), p99us: pct(lat.ring, 0.99), samples });
    out.push({ scenario: sc, contender: 'fs.promises.stat', p50us: pct(lat.theirs, 0.5), p99us: pct(lat.theirs, 0.99), samples });
  }
  {
    log('running fs start-up ...');
    // A whole process: a script file that imports the module, then does 50 stats one after
    // another, as a short script does (the script is a module file either way, so both pay for
    // Node's ESM loader alike).
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-bench-startup-'));
    const script = (mod: string): string => {
      const file = path.join(tmp, `${mod.startsWith('node:') ? 'node' : 'syslet'}.mjs`);
      fs.writeFileSync(
        file,
        `const t0 = performance.now(); const m = await import(${JSON.stringify(mod)}); const t1 = performance.now();\n` +
          `for (const f of ${JSON.stringify(files.slice(0, 50))}) await m.stat(f);\n` +
          `process.stdout.write(JSON.stringify([t1 - t0, performance.now() - t1]));\n`,
      );
      return file;
    };
    const files2 = { mine: script(pathToFileUrl(FS_INDEX)), theirs: script('node:fs/promises') };
    const runs = quick ? 5 : 15;
    const wall = { mine: [] as number[], theirs: [] as number[] };
    const imp = { mine: [] as number[], theirs: [] as number[] };
    try {
      for (let r = 0; r < runs; r++) {
        for (const key of ['mine', 'theirs'] as const) {
          const t = performance.now();
          const p = spawnSync(process.execPath, [files2[key]], { encoding: 'utf8' });
          wall[key].push((performance.now() - t) * 1000);
          if (p.status === 0) imp[key].push(JSON.parse(p.stdout)[0] * 1000);
        }
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const sc = 'fs start-up: a process doing 50 stats';
    out.push({ scenario: sc, contender: 'syslet/fs (whole process)', p50us: median(wall.mine), p99us: Math.max(...wall.mine), samples: runs });
    out.push({ scenario: sc, contender: 'node:fs/promises (whole process)', p50us: median(wall.theirs), p99us: Math.max(...wall.theirs), samples: runs });
    out.push({ scenario: sc, contender: 'import syslet/fs', p50us: median(imp.mine), p99us: Math.max(...imp.mine), samples: runs });
    out.push({ scenario: sc, contender: 'import node:fs/promises', p50us: median(imp.theirs), p99us: Math.max(...imp.theirs), samples: runs });
  }
  return out;
}

function pathToFileUrl(p: string): string {
  return new URL(`file://${p}`).href;
}
