/**
 * The `syslet` command as a whole: --help and usage errors for every subcommand, --version, and
 * what SIGINT and SIGTERM leave behind (temp dirs removed, the progress line finished).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const PKG = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const COMMANDS = ['tour', 'demo', 'du', 'profile', 'record', 'run', 'bench'];
const tmp = tempDir('syslet-main-test-');
afterAll(() => tmp.cleanup());

function syslet(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000, cwd: tmp.dir, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('syslet: help, version, usage errors', () => {
  it.each(COMMANDS)('%s --help: its own usage on stdout, exit 0', (cmd) => {
    const r = syslet([cmd, '--help']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith(`usage: syslet ${cmd}`)).toBe(true);
  });

  it.each(COMMANDS.filter((c) => c !== 'du'))('%s -h is --help too', (cmd) => {
    expect(syslet([cmd, '-h']).stdout.startsWith(`usage: syslet ${cmd}`)).toBe(true);
  });

  it.each(COMMANDS)('%s with an unknown option: the message and its own usage on stderr, exit 2', (cmd) => {
    const r = syslet([cmd, '--no-such-option']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe(`syslet ${cmd}: unrecognized option '--no-such-option'`);
    expect(r.stderr).toContain(`\nusage: syslet ${cmd}`);
  });

  it('--version prints the package version; an unknown command the top-level usage', () => {
    const v = syslet(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout).toBe(`syslet ${PKG.version}\n`);
    const u = syslet(['frobnicate']);
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/^syslet: unknown command "frobnicate"\n\nusage: syslet <command>/);
    expect(syslet(['help']).stdout).toMatch(/^usage: syslet <command>/);
  });

  it('-V is --version; --help and -h print the usage on stdout, exit 0', () => {
    const v = syslet(['-V']);
    expect([v.status, v.stdout, v.stderr]).toEqual([0, `syslet ${PKG.version}\n`, '']);
    for (const flag of ['--help', '-h']) {
      const h = syslet([flag]);
      expect(h.status).toBe(0);
      expect(h.stderr).toBe('');
      expect(h.stdout).toMatch(/^usage: syslet <command> \[options\]\n {7}syslet -V \| --version\n/);
    }
  });

  it('no command is a usage error: the message and the usage on stderr, nothing on stdout, exit 2', () => {
    const r = syslet([]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^syslet: missing command\n\nusage: syslet <command>/);
  });
});

describe('syslet demo', () => {
  it('reports the median ratio with the spread of its rounds, and a word on noise', () => {
    const r = syslet(['demo', '--files', '60', '--rounds', '3']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^syslet demo: 60 files of 4 KiB under .*, \d+ workers, 3 rounds$/);
    for (const what of ['stat storm', 'small-file read']) {
      const line = lines.find((l) => l.startsWith(what))!;
      const m = /(\d+\.\d\d)x \((\d+\.\d\d)x to (\d+\.\d\d)x\)$/.exec(line);
      expect(m, line).not.toBeNull();
      const [median, low, high] = [Number(m![1]), Number(m![2]), Number(m![3])];
      expect(low <= median && median <= high, line).toBe(true);
    }
    expect(r.stdout).toMatch(/noisy|other load on the machine moves them/);
  }, 120_000);
});

/** Start `args` with TMPDIR set to a fresh dir; resolve once `prefix*` appears in it, then signal. */
async function interrupt(args: string[], prefix: string, signal: NodeJS.Signals) {
  const tmpdir = fs.mkdtempSync(path.join(tmp.dir, 'tmpdir-'));
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: tmp.dir, env: { ...process.env, TMPDIR: tmpdir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Poll (no timing assumption): the command has created its temp dir, so it is mid-run.
  for (let i = 0; i < 1200 && !fs.readdirSync(tmpdir).some((n) => n.startsWith(prefix)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const seen = fs.readdirSync(tmpdir).filter((n) => n.startsWith(prefix));
  child.kill(signal);
  const code = await exited;
  return { code, seen, left: fs.readdirSync(tmpdir), stderr };
}

describe('syslet: SIGINT and SIGTERM', () => {
  it('profile: exit 130 on SIGINT, its syslet-profile-* dir removed', async () => {
    const r = await interrupt(['profile', '-m', 'stat,read', '-d', '60s', '-w', '1'], 'syslet-profile-', 'SIGINT');
    expect(r.seen.length).toBe(1);
    expect(r.code).toBe(130);
    expect(r.left).toEqual([]);
  }, 120_000);

  it('demo: exit 143 on SIGTERM, its syslet-demo-* dir removed', async () => {
    const r = await interrupt(['demo', '--files', '200000', '--rounds', '1'], 'syslet-demo-', 'SIGTERM');
    expect(r.seen.length).toBe(1);
    expect(r.code).toBe(143);
    expect(r.left).toEqual([]);
  }, 120_000);

  it('bench: exit 130 on SIGINT, its syslet-bench-* dir removed', async () => {
    const r = await interrupt(['bench', '--quick', '--only', 'stat'], 'syslet-bench-', 'SIGINT');
    expect(r.seen.length).toBe(1);
    expect(r.code).toBe(130);
    expect(r.left).toEqual([]);
  }, 120_000);

  it('record: SIGTERM goes to the recorded program, and its status is the command\'s', async () => {
    // The program marks that it runs (a file in TMPDIR), then waits; SIGTERM to syslet record must
    // reach it (not leave it running alone) and end the command with its status, 128 + 15.
    const app = path.join(tmp.dir, 'waiter.mjs');
    fs.writeFileSync(app, "import fs from 'node:fs'; import os from 'node:os'; fs.writeFileSync(os.tmpdir() + '/syslet-started', ''); setTimeout(() => {}, 60_000);\n");
    const r = await interrupt(['record', '--dir', path.join(tmp.dir, 'rec'), '--', process.execPath, app], 'syslet-started', 'SIGTERM');
    expect(r.seen).toEqual(['syslet-started']);
    expect(r.code).toBe(143);
  }, 120_000);

  it('finishes the progress line on a terminal when interrupted', async (ctx) => {
    // `script` gives the command a pseudo-terminal, so the progress bar is drawn.
    const probe = spawnSync('script', ['-qec', 'true', '/dev/null'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      ctx.skip('util-linux script(1), which provides a pseudo-terminal, is not available');
      return;
    }
    const cmd = `"${process.execPath}" "${MAIN}" profile -d 60s -w 1 & pid=$!; sleep 10; kill -INT $pid; wait $pid; echo "exit=$?"`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: tmp.dir, encoding: 'utf8', timeout: 90_000 });
    expect(r.stdout).toContain('profiling ');
    // The last thing the command wrote before its exit status is the line cleared: \r ESC[2K.
    const before = r.stdout.slice(0, r.stdout.lastIndexOf('exit='));
    expect(before.replace(/\r?\n$/, '').endsWith('\r\x1b[2K')).toBe(true);
    expect(r.stdout).toContain('exit=130');
  }, 120_000);
});
