#!/usr/bin/env node
// Usage: node scripts/bench-lines.mjs [--rounds N] [--raw FILE] [LINE ...]
//        (default: 3 rounds, lines 24 26; --raw writes every run's JSON to FILE)
// Runs the engine benchmark (`syslet bench --quick --json`, as `npm run bench -- --quick` does) on
// the node running this script and on each LINE (fetched by scripts/node-line.sh), interleaved:
// round 1 on every node, then round 2, ... so that a change in the machine's load falls on all of
// them alike. Prints, per scenario and contender, the median across rounds on each node, that
// median against the first node's, and syslet's ratio to each baseline within the same run (median
// across rounds). Build first: npm run build && npx tsc -p bench/tsconfig.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let rounds = 3;
let raw;
const lines = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rounds') rounds = Number(args[++i]);
  else if (args[i] === '--raw') raw = args[++i];
  else lines.push(args[i]);
}
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: expected a positive integer, got ${rounds}`);
if (lines.length === 0) lines.push('24', '26');

const nodes = [process.execPath];
for (const line of lines) {
  const dir = execFileSync(path.join(ROOT, 'scripts/node-line.sh'), [line], { encoding: 'utf8' }).trim();
  nodes.push(path.join(dir, 'node'));
}
const versions = nodes.map((n) => execFileSync(n, ['--version'], { encoding: 'utf8' }).trim());

/** runs[node][round] = results of that run. */
const runs = nodes.map(() => []);
/** The 1-minute load average as each run started (the machine may be shared). */
const loads = [];
for (let r = 0; r < rounds; r++) {
  nodes.forEach((node, i) => {
    loads.push(os.loadavg()[0]);
    process.stderr.write(`round ${r + 1}/${rounds}: ${versions[i]} (load ${loads.at(-1).toFixed(1)}) ...\n`);
    const out = execFileSync(node, [path.join(ROOT, 'build/bench/run.js'), '--quick', '--json'], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    runs[i].push(JSON.parse(out));
  });
}

if (raw !== undefined) fs.writeFileSync(raw, `${JSON.stringify({ versions, loads, runs }, null, 1)}\n`);

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
// Throughput (ops/s, higher is better) or latency (p50 µs, lower is better).
const value = (res) => res.opsPerSec ?? res.p50us;
const unit = (res) => (res.opsPerSec !== undefined ? 'ops/s' : 'p50 µs');
const fmt = (x) => (Number.isFinite(x) ? (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)) : '-');
const find = (run, scenario, contender) => run.results.find((x) => x.scenario === scenario && x.contender === contender);

const first = runs[0][0].results;
const { node: _node, ...machine } = runs[0][0].machine;
process.stdout.write(
  `machine: ${JSON.stringify(machine)}\nnodes: ${versions.join(', ')}; ${rounds} interleaved rounds; ` +
    `1-minute load average at each run's start: ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}\n\n`,
);
process.stdout.write(`| scenario | contender | unit | ${versions.join(' | ')} | ${versions.slice(1).map((v) => `${v} / ${versions[0]}`).join(' | ')} |\n`);
process.stdout.write(`|${'---|'.repeat(3 + versions.length * 2 - 1)}\n`);
for (const res of first) {
  const meds = runs.map((rs) => median(rs.map((run) => value(find(run, res.scenario, res.contender) ?? {}))));
  const rel = meds.slice(1).map((m) => `${(m / meds[0]).toFixed(2)}x`);
  process.stdout.write(`| ${res.scenario} | ${res.contender} | ${unit(res)} | ${meds.map(fmt).join(' | ')} | ${rel.join(' | ')} |\n`);
}
process.stdout.write(`\nsyslet against each baseline in the same run (throughput: syslet / baseline; latency: baseline p50 / syslet p50; median across rounds)\n\n`);
process.stdout.write(`| scenario | syslet | baseline | ${versions.join(' | ')} |\n|${'---|'.repeat(3 + versions.length)}\n`);
for (const scenario of [...new Set(first.map((x) => x.scenario))]) {
  const rows = first.filter((x) => x.scenario === scenario);
  const syslet = rows.filter((x) => x.contender.startsWith('syslet'));
  for (const s of syslet) {
    for (const b of rows.filter((x) => !x.contender.startsWith('syslet'))) {
      const ratios = runs.map((rs) =>
        median(
          rs.map((run) => {
            const sv = value(find(run, scenario, s.contender) ?? {});
            const bv = value(find(run, scenario, b.contender) ?? {});
            return s.opsPerSec !== undefined ? sv / bv : bv / sv;
          }),
        ),
      );
      process.stdout.write(`| ${scenario} | ${s.contender} | ${b.contender} | ${ratios.map((r) => `${r.toFixed(2)}x`).join(' | ')} |\n`);
    }
  }
}
