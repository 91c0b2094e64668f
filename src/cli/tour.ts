/**
 * `syslet tour` (what `npm start` runs): a short look at what the runtime does, on an input that
 * needs nothing else.
 *
 *   1. `syslet du` on this package's own installed dependencies (node_modules): the largest
 *      packages, the total, how many chains and atoms the walk took, and GNU du's figure beside it
 *      when GNU du is installed;
 *   2. a short `syslet profile` run: the ring contention report, with the HTML report and the
 *      Chrome trace written under ./syslet-report/;
 *   3. the recording of step 1's own du run (rt.record(), what `syslet record` and
 *      `node --import syslet/profile` do for any program): its report, HTML report and trace;
 *   4. syslet/fs beside node:fs/promises: a stat storm and a readFile storm (tour-fs.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Runtime } from '../index.js';
import { parseCommandLine, UsageError, type Command, type CommandIo } from './command.js';
import { du, DU_RUNTIME_OPTIONS } from './du.js';
import { profileCommand } from './profile-command.js';
import { fsStorms } from './tour-fs.js';
import { renderHtml } from './report/html.js';
import { renderTerminal } from './report/terminal.js';
import { buildTrace } from './report/trace.js';

export const TOUR_HELP = `usage: syslet tour

What npm start runs: syslet du on this package's installed dependencies (the largest packages,
the total, the chains the walk took, GNU du's figure beside it when GNU du is installed), then a
2-second syslet profile run whose HTML report and Chrome trace are written under ./syslet-report/,
the recording of that du run (rt.record(): its own report and trace), and last a stat storm and a
readFile storm through syslet/fs beside node:fs/promises on a tree it creates, with their ratios.
  -h, --help   this text
`;

export interface TourOptions extends CommandIo {
  /** Where the HTML report and the trace go. @default ./syslet-report */
  reportDir?: string;
  /** Profile duration. @default '2s' */
  duration?: string;
  /** The tree to measure. @default this package's node_modules */
  tree?: string;
}

function packageRoot(): string {
  // dist/cli/tour.js -> the package root.
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** GNU du -sk's figure for `dir`, or undefined when GNU du is not here. */
function gnuDuKiB(dir: string): { kib: number; ms: number } | undefined {
  const t = performance.now();
  const r = spawnSync('du', ['-sk', dir], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0 || r.error !== undefined) return undefined;
  const kib = Number(r.stdout.split('\t')[0]);
  return Number.isFinite(kib) ? { kib, ms: performance.now() - t } : undefined;
}

function human(kib: number): string {
  if (kib < 1024) return `${kib} KiB`;
  if (kib < 1024 * 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${(kib / 1024 / 1024).toFixed(2)} GiB`;
}

export async function tour(o: TourOptions): Promise<number> {
  const out = o.out;
  const tree = o.tree ?? path.join(packageRoot(), 'node_modules');
  if (!fs.existsSync(tree)) {
    o.err(`syslet tour: ${tree} does not exist (run npm ci first)\n`);
    return 1;
  }
  out(`syslet tour\n\n1. syslet du on this package's installed dependencies\n   ${tree}\n\n`);
  let text = '';
  const t = performance.now();
  // du's own runtime, recorded from its first chain to its close (step 3 shows the recording).
  const rt = Runtime._startUnwaited(DU_RUNTIME_OPTIONS);
  const rec = rt.record({ intervalMs: 10 });
  let r: Awaited<ReturnType<typeof du>>;
  try {
    r = await du({ paths: [tree], maxDepth: 1, out: (s) => (text += s), err: (s) => o.err(s), runtime: rt });
  } finally {
    await rt.close();
  }
  const ms = performance.now() - t;
  const recorded = await rec.stop();
  recorded.program = {
    argv: [...process.argv],
    execArgv: [...process.execArgv],
    command: `syslet du -d 1 ${tree} (step 1 of syslet tour)`,
    pid: process.pid,
    cwd: process.cwd(),
  };
  const lines = text
    .trim()
    .split('\n')
    .map((l) => {
      const tab = l.indexOf('\t');
      return { kib: Number(l.slice(0, tab)), name: path.relative(tree, l.slice(tab + 1)) || '(total)' };
    });
  const total = lines.find((l) => l.name === '(total)');
  const largest = lines.filter((l) => l.name !== '(total)').sort((a, b) => b.kib - a.kib).slice(0, 8);
  for (const l of largest) out(`   ${human(l.kib).padStart(10)}  ${l.name}\n`);
  out(`   ${human(total?.kib ?? 0).padStart(10)}  in all (${lines.length - 1} top-level entries)\n\n`);
  out(
    `   ${r.entries.toLocaleString('en-US')} files and directories in ${ms.toFixed(0)} ms` +
      ` (${Math.round((r.entries / ms) * 1000).toLocaleString('en-US')}/s, runtime start included):` +
      ` ${r.chains.toLocaleString('en-US')} chains carrying ${r.atoms.toLocaleString('en-US')} readdir and lstat atoms,` +
      ` ${(r.atoms / Math.max(1, r.chains)).toFixed(0)} per chain\n`,
  );
  const gnu = gnuDuKiB(tree);
  if (gnu !== undefined) {
    const same = gnu.kib === total?.kib;
    out(`   GNU du -sk says ${gnu.kib.toLocaleString('en-US')} KiB (${same ? 'the same' : 'a different figure'}), in ${gnu.ms.toFixed(0)} ms\n`);
  }

  const dir = o.reportDir ?? path.join(process.cwd(), 'syslet-report');
  fs.mkdirSync(dir, { recursive: true });
  const html = path.join(dir, 'profile.html');
  const trace = path.join(dir, 'profile.trace.json');
  const duration = o.duration ?? '2s';
  out(`\n2. syslet profile: ${duration} of no-op, stat and 4 KiB read chains from 2 producer threads\n\n`);
  const code = await profileCommand(['--duration', duration, '--mix', 'nop=2,stat=1,read=1', '--html', html, '--trace', trace], o);

  const duHtml = path.join(dir, 'du-record.html');
  const duTrace = path.join(dir, 'du-record.trace.json');
  fs.writeFileSync(duHtml, renderHtml(recorded));
  fs.writeFileSync(duTrace, buildTrace(recorded, [rec.trace!]));
  out(`\n3. the recorder on step 1's own syslet du run (rt.record(); for any program: syslet record -- node app.js)\n\n`);
  const env = o.env ?? process.env;
  out(renderTerminal(recorded, { color: o.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb', columns: o.columns ?? Infinity }));
  out(`\nHTML report: ${duHtml}\ntrace: ${duTrace}\n`);
  out(`\nThe HTML reports and the traces are in ${dir}; open the traces at https://ui.perfetto.dev.\n`);
  const f = await fsStorms();
  const ops = (n: number): string => Math.round(n).toLocaleString('en-US');
  out(`\n4. syslet/fs: Promise.all(files.map((f) => fs.stat(f))) over ${f.files.toLocaleString('en-US')} files of 4 KiB, unchanged code\n\n`);
  out(`   stat      syslet/fs ${ops(f.stat[0])}/s, node:fs/promises ${ops(f.stat[1])}/s: ${(f.stat[0] / f.stat[1]).toFixed(2)}x\n`);
  out(`   readFile  syslet/fs ${ops(f.readFile[0])}/s, node:fs/promises ${ops(f.readFile[1])}/s: ${(f.readFile[0] / f.readFile[1]).toFixed(2)}x\n`);
  return r.exitCode === 0 ? code : r.exitCode;
}

export const TOUR_COMMAND: Command = {
  usage: TOUR_HELP,
  async run(argv, io) {
    const cl = parseCommandLine('tour', argv, { help: { type: 'boolean', short: 'h' } });
    if (cl.help) return 'help';
    if (cl.operands.length > 0) throw new UsageError('tour', `takes no operands, got "${cl.operands[0]}"`);
    return tour(io);
  },
};
