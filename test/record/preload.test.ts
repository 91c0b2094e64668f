// node --import syslet/profile and syslet record: a program recorded with no change to it.
//
// test/fixtures/record/app.mjs does a stat storm through chains, three threadlets (inline, moved,
// on a worker), a kqueue loop, and starts a thread that attaches and submits chains; it prints
// what it did and exits with status 3. Run plainly, then under the preload, then under
// `syslet record`: the same stdout and status each time, and the reports written.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfileResult } from '../../dist/index.js';
import { tempDir } from '../helpers.js';
import { expectWellFormed, type TraceEvent } from '../trace.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP = path.join(ROOT, 'test/fixtures/record/app.mjs');
const MAIN = path.join(ROOT, 'dist/cli/main.js');
/** Chains app.mjs submits: the storm, the kqueue loop, the thread's. */
const CHAINS = 600 + 50 + 40;

function run(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  if (r.error !== undefined) throw r.error;
  return r;
}

describe('node --import syslet/profile', () => {
  const tmp = tempDir('syslet-record-');
  const dir = path.join(tmp.dir, 'out');
  let plain: SpawnSyncReturns<string>;
  let recorded: SpawnSyncReturns<string>;
  let files: { html: string; trace: string; json: string };

  beforeAll(() => {
    plain = run([APP]);
    recorded = run(['--import', 'syslet/profile', APP], { SYSLET_PROFILE: dir });
    const pid = /syslet-profile-([0-9]+)\.html/.exec(recorded.stderr)?.[1];
    const base = path.join(dir, `syslet-profile-${pid}`);
    files = { html: `${base}.html`, trace: `${base}.trace.json`, json: `${base}.json` };
  });
  afterAll(() => tmp.cleanup());

  it("leaves the program's stdout and exit status as they are without it", () => {
    expect(plain.stderr).toBe('');
    expect(plain.status).toBe(3);
    expect(plain.stdout).toContain(`chains submitted: ${CHAINS}\n`);
    expect(recorded.stdout).toBe(plain.stdout);
    expect(recorded.status).toBe(3);
  });

  it('says on stderr where the report, the trace and the figures are, and writes them there', () => {
    expect(recorded.stderr).toBe(
      `syslet/profile: recorded 1 runtime (${CHAINS} chains) of node --import syslet/profile ${APP}\n` +
        `  report:  ${files.html}\n` +
        `  trace:   ${files.trace} (open it in https://ui.perfetto.dev)\n` +
        `  figures: ${files.json}\n`,
    );
    for (const f of Object.values(files)) expect(fs.statSync(f).size).toBeGreaterThan(1000);
    // The threads' recordings were merged and removed.
    expect(fs.readdirSync(dir).sort()).toEqual(Object.values(files).map((f) => path.basename(f)).sort());
  });

  it("figures: the program, its runtime, every chain of both threads that submitted", () => {
    const r = JSON.parse(fs.readFileSync(files.json, 'utf8')) as ProfileResult;
    expect(r.tool).toBe('syslet record');
    expect(r.program).toMatchObject({ argv: [process.execPath, APP], execArgv: ['--import', 'syslet/profile'], pid: expect.any(Number) });
    expect(r.points).toHaveLength(1);
    const p = r.points[0]!;
    expect(p.label).toBe('runtime 1');
    expect(p.runtime).toMatchObject({ index: 1, attached: false, stoppedBy: 'close', latencySample: 1, latencySampleBefore: 8 });
    expect(p.chains).toMatchObject({ submitted: CHAINS, completed: CHAINS, failed: 0 });
    expect(p.producers.map((q) => [q.thread, q.submitted, q.failed])).toEqual([
      ['main thread', 650, 0],
      [expect.stringMatching(/^thread [0-9]+$/), 40, 0],
    ]);
    // Every chain and the two threadlets that ran on a worker went through the rings.
    expect(p.rings.submission.pushes).toBe(CHAINS + 2);
    expect(p.latency.startToComplete.count).toBe(CHAINS + 2);
    expect(p.rings.completion.map((c) => c.name)).toEqual(['completion · main thread', `completion · ${p.producers[1]!.thread}`]);
  });

  it('trace: valid Chrome trace-event JSON, a span per chain submitted, threadlets where they ran', () => {
    const t = JSON.parse(fs.readFileSync(files.trace, 'utf8')) as { traceEvents: TraceEvent[]; displayTimeUnit: string; metadata: Record<string, unknown> };
    expect(t.displayTimeUnit).toBe('ms');
    expectWellFormed(t.traceEvents, ['M', 'X', 'b', 'e', 'C', 'i']);
    // Async spans: each 'b' closed by an 'e' of the same id, never earlier, and lanes never overlap.
    const open = new Map<string, number>();
    let spans = 0;
    for (const e of t.traceEvents.filter((x) => x.cat === 'chain')) {
      const k = `${e.tid}:${e.id}`;
      if (e.ph === 'b') {
        expect(open.has(k)).toBe(false);
        open.set(k, e.ts!);
        spans++;
      } else {
        expect(e.ts!).toBeGreaterThanOrEqual(open.get(k)!);
        open.delete(k);
      }
    }
    expect(open.size).toBe(0);
    expect(spans).toBe(CHAINS);
    expect(t.metadata.spans).toMatchObject({ recorded: CHAINS, chains: CHAINS, complete: true });
    const names = (ph: string, cat: string): string[] => t.traceEvents.filter((e) => e.ph === ph && e.cat === cat).map((e) => e.name);
    expect(names('X', 'threadlet').sort()).toEqual([
      'journal replay',
      'threadlet readAfterStats',
      'threadlet readAfterStats (inline part)',
      'threadlet sizeOf',
      'threadlet sizeOf',
    ]);
    expect(names('i', 'threadlet')).toEqual(['move at fs.readFileSync']);
    const threads = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args!.name as string);
    expect(threads).toEqual(expect.arrayContaining(['main (sampler)', 'main thread', expect.stringMatching(/^thread [0-9]+$/), expect.stringMatching(/^worker slot 0 /), expect.stringMatching(/^worker slot 1 /)]));
    for (const c of ['ring depth', 'free slots', 'parked workers', 'chains/s']) {
      expect(t.traceEvents.filter((e) => e.ph === 'C' && e.name === c).length, c).toBeGreaterThan(0);
    }
  });

  it('syslet record -- node app.mjs: the program as it is, then the summary and the paths', () => {
    const out = path.join(tmp.dir, 'cli');
    const r = run([MAIN, 'record', '--dir', out, '--interval', '20', '--', process.execPath, APP]);
    expect(r.status).toBe(3);
    expect(r.stdout.startsWith(plain.stdout)).toBe(true);
    const rest = r.stdout.slice(plain.stdout.length);
    expect(rest).toContain(`syslet record: node ${APP}\n`);
    expect(rest).toContain(`chains: ${CHAINS} submitted, ${CHAINS} completed, 0 errors`);
    expect(rest).toContain('what the figures say');
    const html = /HTML report: (\S+)/.exec(rest)![1]!;
    const trace = /trace: (\S+)/.exec(rest)![1]!;
    expect(path.dirname(html)).toBe(out);
    expect(fs.existsSync(html) && fs.existsSync(trace)).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('records from creation to exit a runtime nobody closes, and a thread that leaves without closing', () => {
    const out = path.join(tmp.dir, 'noclose');
    const r = run(['--import', 'syslet/profile', path.join(ROOT, 'test/fixtures/record/noclose.mjs')], { SYSLET_PROFILE: out });
    expect(r.stdout).toBe('ok\n');
    expect(r.status).toBe(0);
    const json = fs.readdirSync(out).find((n) => /^syslet-profile-[0-9]+\.json$/.test(n))!;
    const p = (JSON.parse(fs.readFileSync(path.join(out, json), 'utf8')) as ProfileResult).points[0]!;
    expect(p.runtime!.stoppedBy).toBe('exit');
    expect(p.producers.map((q) => [q.thread, q.submitted, q.completed])).toEqual([
      ['main thread', 1, 1],
      [expect.stringMatching(/^thread [0-9]+$/), 7, 7],
    ]);
    expect(p.chains).toMatchObject({ submitted: 8, completed: 8, failed: 0 });
  });

  it('syslet record --json: the figures of each recorded process, after the program\'s own output', () => {
    const out = path.join(tmp.dir, 'json');
    const r = run([MAIN, 'record', '--json', '--dir', out, process.execPath, path.join(ROOT, 'test/fixtures/record/noclose.mjs')]);
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith('ok\n')).toBe(true);
    const results = JSON.parse(r.stdout.slice(3)) as ProfileResult[];
    expect(results).toHaveLength(1);
    expect(results[0]!.tool).toBe('syslet record');
    expect(results[0]!.points[0]!.chains).toMatchObject({ submitted: 8, completed: 8, failed: 0 });
  });

  it('the syslet command itself records nothing (the CLI imports the collector, never the preload)', () => {
    const cwd = path.join(tmp.dir, 'cwd');
    fs.mkdirSync(cwd);
    const r = spawnSync(process.execPath, [MAIN, 'du', '-s', ROOT + 'test/fixtures/record'], { cwd, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(fs.readdirSync(cwd)).toEqual([]);
  });

  it('syslet record: usage errors exit with status 2 and name the problem', () => {
    const r = run([MAIN, 'record']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('syslet record: expected a command to run: syslet record -- node app.js');
    const help = run([MAIN, 'record', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: syslet record \[options\] -- COMMAND \[ARG\]\.\.\.\n/);
    const bad = run([MAIN, 'record', '--interval', '0', '--', 'node']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('syslet record: --interval: expected an integer from 1 to 60000, got "0"');
  });
});
