/**
 * Scenario "du start-up": `syslet du -s` as a user runs it, a spawned command, beside GNU du and
 * Node's own start-up, on a small tree (this package's node_modules, about 2,000 names) and on the
 * 100,000-file tree of bench/du.ts.
 *
 *   GNU du -s              /usr/bin/du (or du on PATH), output to /dev/null
 *   node -e 0              Node's own start-up: the floor for any Node command
 *   syslet du -s           node dist/cli/main.js du -s (this build)
 *   syslet du -s, before   another build's main.js given with --before FILE (e.g. the main branch's)
 *
 * Each contender runs once untimed (caches warm), then ROUNDS times, interleaved; medians.
 *
 * Usage: npm run build && npx tsc -p bench/tsconfig.json && node build/bench/du-startup.js
 *        [--rounds N] [--before MAIN.js] [--big DIR] (the 100,000-file tree: made there if missing)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const ROUNDS = Number(opt('--rounds') ?? 7);
const BEFORE = opt('--before');
const BIG = opt('--big') ?? path.join(os.tmpdir(), 'syslet-du-bench-100k');
const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const SMALL = fileURLToPath(new URL('../../node_modules', import.meta.url));

/** The tree of bench/du.ts: 50 x 20 directories x 100 files. */
function makeBig(dir: string): void {
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) return;
  const data = Buffer.alloc(5000, 'x');
  let i = 0;
  for (let t = 0; t < 50; t++) {
    for (let m = 0; m < 20; m++) {
      const sub = path.join(dir, `top${t}`, `mid${m}`);
      fs.mkdirSync(sub, { recursive: true });
      for (let f = 0; f < 100; f++, i++) fs.writeFileSync(path.join(sub, `file${f}.dat`), data.subarray(0, i % 10 === 0 ? 5000 : (i * 37) % 600));
    }
  }
  fs.writeFileSync(marker, '');
}

function timeMs(cmd: string, argv: string[]): number {
  const t = performance.now();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')}: exit ${r.status}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

makeBig(BIG);
const gnu = ['/usr/bin/du', '/bin/du'].find((p) => fs.existsSync(p)) ?? 'du';
for (const [label, tree] of [['small (node_modules)', SMALL], ['100,000 files', BIG]] as const) {
  const contenders: [string, string, string[]][] = [
    ['GNU du -s', gnu, ['-s', tree]],
    ['node -e 0', process.execPath, ['-e', '0']],
    ['syslet du -s', process.execPath, [MAIN, 'du', '-s', tree]],
  ];
  if (BEFORE !== undefined) contenders.push(['syslet du -s, before', process.execPath, [BEFORE, 'du', '-s', tree]]);
  for (const [, cmd, argv] of contenders) timeMs(cmd, argv);
  const times = contenders.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) contenders.forEach(([, cmd, argv], i) => times[i]!.push(timeMs(cmd, argv)));
  const gnuMs = median(times[0]!);
  console.log(`\n${label}: ${tree}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  contenders.forEach(([name], i) => {
    const m = median(times[i]!);
    console.log(`  ${name.padEnd(24)} median ${m.toFixed(0).padStart(6)} ms   (${Math.min(...times[i]!).toFixed(0)} to ${Math.max(...times[i]!).toFixed(0)})   ${(m / gnuMs).toFixed(1)}x GNU du`);
  });
}
