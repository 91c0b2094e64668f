/**
 * Scenario "du, 100,000 files": disk usage of one tree, three ways, in one run.
 *
 *   syslet du            the `syslet du` implementation, in-process (du() from dist/cli/du.js),
 *                        default output (a line per directory) into a string sink; measured with
 *                        a fresh runtime per run (as the command does: worker start-up included)
 *                        and on a runtime created once
 *   syslet du CLI        `node dist/cli/main.js du DIR` spawned, output to /dev/null (node start-up,
 *                        module loading, worker start-up and cold JIT included)
 *   GNU du               /usr/bin/du (or `du` on PATH) spawned, default output to /dev/null
 *   fs.promises walk     a plain recursive walk: fs.promises.readdir per directory and
 *                        fs.promises.lstat per name, at most 64 calls in flight, summing
 *                        st_blocks per directory (hard links once) into the same lines
 *
 * The tree: 50 directories x 20 subdirectories x 100 files = 100,000 files (1,051 directories),
 * sizes 0 to 5,000 bytes, under the OS temp dir; every contender walks it once untimed (caches
 * warm), then each runs ROUNDS times, interleaved; the median is reported.
 *
 * Usage: npm run build && npx tsc -p bench/tsconfig.json && node build/bench/du.js [--json]
 *        [--rounds N] [--keep DIR] (reuse or keep a tree at DIR)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Runtime } from 'syslet';
import { machine } from 'syslet/bench';
import type * as DuModule from '../dist/cli/du.js';

const args = process.argv.slice(2);
const JSON_OUT = args.includes('--json');
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 7;
const KEEP = args.includes('--keep') ? args[args.indexOf('--keep') + 1] : undefined;
const TOP = 50;
const MID = 20;
const LEAF_FILES = 100;
const FILES = TOP * MID * LEAF_FILES;
const DIRS = 1 + TOP + TOP * MID;

// The command's module, from the build next to this package's own dist/ (it is not a public export).
const { du, DU_RUNTIME_OPTIONS } = (await import(
  new URL('../../dist/cli/du.js', import.meta.url).href
)) as typeof DuModule;

const SYSLET_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

const log = (s: string): void => {
  if (!JSON_OUT) process.stderr.write(`${s}\n`);
};

function makeTree(dir: string): void {
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) return;
  fs.mkdirSync(dir, { recursive: true });
  const data = Buffer.alloc(5000, 'x');
  let i = 0;
  for (let t = 0; t < TOP; t++) {
    for (let m = 0; m < MID; m++) {
      const sub = path.join(dir, `top${t}`, `mid${m}`);
      fs.mkdirSync(sub, { recursive: true });
      for (let f = 0; f < LEAF_FILES; f++, i++) {
        const size = i % 10 === 0 ? 5000 : (i * 37) % 600;
        fs.writeFileSync(path.join(sub, `file${f}.dat`), data.subarray(0, size));
      }
    }
  }
  fs.writeFileSync(marker, '');
}

/**
 * The baseline: a recursive walk with fs.promises, `limit` workers pulling from one queue of paths
 * (lstat each; readdir the directories and queue their names), summing st_blocks (hard links once)
 * into a line per directory once its last child is counted (post-order).
 */
async function promisesWalk(root: string, limit: number): Promise<string> {
  interface Dir {
    path: string;
    total: number;
    /** Children not yet counted, plus one until the directory's own names are queued. */
    pending: number;
    parent: Dir | undefined;
  }
  const lines: string[] = [];
  const seen = new Set<string>();
  const queue: { path: string; parent: Dir | undefined }[] = [{ path: root, parent: undefined }];
  let head = 0;
  let busy = 0;
  // Workers waiting for the queue to grow (or the walk to end).
  let sleepers: (() => void)[] = [];
  const wakeAll = (): void => {
    const s = sleepers;
    sleepers = [];
    for (const w of s) w();
  };
  const settle = (d: Dir): void => {
    for (let x: Dir | undefined = d; x !== undefined && --x.pending === 0; x = x.parent) {
      lines.push(`${Math.ceil(x.total / 1024)}\t${x.path}`);
      if (x.parent !== undefined) x.parent.total += x.total;
    }
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      if (head === queue.length) {
        if (busy === 0) {
          wakeAll();
          return;
        }
        await new Promise<void>((r) => sleepers.push(r));
        continue;
      }
      const t = queue[head++]!;
      busy++;
      const st = await fs.promises.lstat(t.path);
      const bytes = st.blocks * 512;
      if (st.isDirectory()) {
        const d: Dir = { path: t.path, total: bytes, pending: 1, parent: t.parent };
        const names = await fs.promises.readdir(t.path);
        d.pending += names.length;
        for (const n of names) queue.push({ path: `${t.path}/${n}`, parent: d });
        settle(d);
        wakeAll();
      } else {
        let counted = true;
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          counted = !seen.has(key);
          seen.add(key);
        }
        if (counted) t.parent!.total += bytes;
        settle(t.parent!);
      }
      busy--;
      if (busy === 0 && head === queue.length) wakeAll();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return lines.join('\n');
}

function gnuDu(): string {
  for (const p of ['/usr/bin/du', '/bin/du']) if (fs.existsSync(p)) return p;
  return 'du';
}

function duMachine(): Record<string, string | number> {
  const duVersion = spawnSync(gnuDu(), ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? 'unknown';
  return machine({ du: duVersion });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const dir = KEEP ?? fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-du-bench-'));
  log(`building the tree: ${FILES.toLocaleString('en-US')} files in ${DIRS.toLocaleString('en-US')} directories under ${dir} ...`);
  makeTree(dir);
  const du1 = gnuDu();
  const shared = await Runtime.create(DU_RUNTIME_OPTIONS);
  let sink = 0;
  const sinkOut = (s: string | Buffer): void => {
    sink += s.length;
  };
  const sinkErr = (s: string): void => {
    throw new Error(`unexpected stderr: ${s}`);
  };
  const contenders: Record<string, () => Promise<void> | void> = {
    'syslet du (runtime per run)': async () => {
      const r = await du({ paths: [dir], out: sinkOut, err: sinkErr });
      if (r.entries !== FILES + DIRS + 1) throw new Error(`syslet du saw ${r.entries} entries`); // + .complete
    },
    'syslet du (runtime reused)': async () => {
      await du({ paths: [dir], out: sinkOut, err: sinkErr, runtime: shared });
    },
    'GNU du (spawned)': () => {
      const r = spawnSync(du1, [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`du exited ${r.status}: ${r.stderr}`);
    },
    'syslet du CLI (spawned)': () => {
      const r = spawnSync(process.execPath, [SYSLET_MAIN, 'du', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`syslet du exited ${r.status}: ${r.stderr}`);
    },
    'fs.promises walk (64 in flight)': async () => {
      sink += (await promisesWalk(dir, 64)).length;
    },
  };
  const times: Record<string, number[]> = {};
  try {
    // Same answer first: the figures of the three agree (order aside).
    let ours = '';
    await du({ paths: [dir], out: (s) => (ours += s), err: sinkErr, runtime: shared });
    const theirs = spawnSync(du1, [dir], { encoding: 'utf8' }).stdout;
    const walk = `${await promisesWalk(dir, 64)}\n`;
    const sorted = (s: string): string => s.split('\n').sort().join('\n');
    if (sorted(ours) !== sorted(theirs) || sorted(walk) !== sorted(theirs)) {
      throw new Error('the three walks disagree about the tree');
    }
    for (const [name, fn] of Object.entries(contenders)) {
      times[name] = [];
      await fn(); // warm-up
    }
    log(`running ${ROUNDS} rounds ...`);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, fn] of Object.entries(contenders)) {
        const t = performance.now();
        await fn();
        times[name]!.push(performance.now() - t);
      }
    }
  } finally {
    await shared.close();
    if (KEEP === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
  const m = duMachine();
  const rows = Object.entries(times).map(([name, ts]) => ({
    contender: name,
    medianMs: median(ts),
    minMs: Math.min(...ts),
    filesPerSec: (FILES / median(ts)) * 1000,
  }));
  const ms = (name: string): number => rows.find((r) => r.contender === name)!.medianMs;
  const ratios = {
    'fs.promises walk / syslet du': ms('fs.promises walk (64 in flight)') / ms('syslet du (runtime per run)'),
    'syslet du / GNU du': ms('syslet du (runtime per run)') / ms('GNU du (spawned)'),
    'fs.promises walk / syslet du (reused runtime)': ms('fs.promises walk (64 in flight)') / ms('syslet du (runtime reused)'),
    'syslet du (reused runtime) / GNU du': ms('syslet du (runtime reused)') / ms('GNU du (spawned)'),
    'syslet du CLI / GNU du (both spawned)': ms('syslet du CLI (spawned)') / ms('GNU du (spawned)'),
  };
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify({ scenario: 'du, 100,000 files', machine: m, files: FILES, directories: DIRS, rounds: ROUNDS, rows, ratios }, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  lines.push(`machine: ${m.cpu} x${m.cores}, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, commit ${m.commit}, ${m.du}`);
  lines.push('');
  lines.push(`du, ${FILES.toLocaleString('en-US')} files in ${DIRS.toLocaleString('en-US')} directories (median of ${ROUNDS}, warm caches)`);
  for (const r of rows) {
    lines.push(
      `  ${r.contender.padEnd(34)} ${r.medianMs.toFixed(1).padStart(8)} ms (min ${r.minMs.toFixed(1).padStart(7)})  ${Math.round(r.filesPerSec).toLocaleString('en-US').padStart(10)} files/s`,
    );
  }
  lines.push('');
  for (const [k, v] of Object.entries(ratios)) lines.push(`  ${k.padEnd(46)} ${v.toFixed(2)}x`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
