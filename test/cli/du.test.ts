/**
 * `syslet du` against GNU du, byte for byte, on generated trees.
 *
 * Both commands run as child processes on the same tree with the same environment (LC_ALL fixed,
 * du's block-size variables removed), and stdout, stderr and the exit status are compared. Output is
 * read as latin1 so that every byte is one character and string order is byte order.
 *
 * Nothing is normalised: both print siblings in the directory's own order (readdir's), so even
 * which of several hard links counts, and the order of error messages, must agree.
 *
 * Unreadable directories: root reads everything, so when the tests run as root both commands run
 * under `setpriv` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (same uid, so the checkout, node
 * and the tree stay readable through their owner bits); as another user they run as they are. A
 * probe checks first that a mode-000 directory really is unreadable for the commands, and the
 * expected messages are also spelled out, so the test cannot pass without the errors happening.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../../dist/index.js';
import { du, formatSize, quoteName } from '../../dist/cli/du.js';
import { tempDir } from '../helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const GNU_DU = ['/usr/bin/du', '/bin/du'].find((p) => fs.existsSync(p)) ?? '/usr/bin/du';

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

function env(locale: string): NodeJS.ProcessEnv {
  // GNU du names itself by argv[0]: run it as plain `du`, found first on PATH.
  const e: NodeJS.ProcessEnv = { ...process.env, LC_ALL: locale, PATH: `${path.dirname(GNU_DU)}:${process.env.PATH ?? ''}` };
  for (const k of ['DU_BLOCK_SIZE', 'BLOCK_SIZE', 'BLOCKSIZE', 'POSIXLY_CORRECT']) delete e[k];
  return e;
}

function run(argv: string[], cwd: string, wrapper: string[] = [], locale = 'C'): Run {
  const [cmd, ...rest] = [...wrapper, ...argv];
  const r = spawnSync(cmd!, rest, { cwd, env: env(locale), encoding: 'latin1', timeout: 60_000 });
  if (r.error !== undefined) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const gnu = (args: string[], cwd: string, wrapper?: string[], locale?: string): Run =>
  run(['du', ...args], cwd, wrapper, locale);
const syslet = (args: string[], cwd: string, wrapper?: string[], locale?: string): Run =>
  run([process.execPath, MAIN, 'du', ...args], cwd, wrapper, locale);

/** Run both and compare; returns GNU du's run for further checks. */
function same(args: string[], cwd: string, opts: { wrapper?: string[]; locale?: string } = {}): Run {
  const g = gnu(args, cwd, opts.wrapper, opts.locale);
  const s = syslet(args, cwd, opts.wrapper, opts.locale);
  const label = `du ${args.join(' ')}`;
  expect(s.stdout, label).toBe(g.stdout);
  expect(s.stderr, label).toBe(g.stderr);
  expect(s.status, label).toBe(g.status);
  return g;
}

function write(p: string, bytes: number): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, Buffer.alloc(bytes, 'q'));
}

/** A sparse file: `size` bytes apparent, `data` bytes written at `at`. */
function sparse(p: string, size: number, data = 0, at = 0): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  const fd = fs.openSync(p, 'w');
  try {
    if (data > 0) fs.writeSync(fd, Buffer.alloc(data, 's'), 0, data, at);
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The main tree `t`: nested dirs, empty dirs, symlinks to a file, a directory, nowhere and an
 * absolute path, sparse files, a directory of 700 files (several batches), exact block-boundary
 * sizes, names with spaces, quotes and non-ASCII characters. Beside it `hl`, hard links (and
 * `outside`, which holds the other link of one of them and is not walked).
 */
function buildMain(root: string): void {
  const t = path.join(root, 't');
  fs.mkdirSync(path.join(t, 'empty'), { recursive: true });
  fs.mkdirSync(path.join(t, 'nested', 'a', 'b', 'c', 'd', 'e'), { recursive: true });
  fs.mkdirSync(path.join(t, 'nested', 'a', 'b', 'empty2'), { recursive: true });
  write(path.join(t, 'nested', 'a', 'b', 'c', 'd', 'deep.txt'), 3000);
  write(path.join(t, 'nested', 'a', 'x.bin'), 9000);
  write(path.join(t, 'nested', 'a', 'b', 'zero'), 0);
  fs.mkdirSync(path.join(t, 'syml'));
  fs.symlinkSync('../nested/a/x.bin', path.join(t, 'syml', 'to-file'));
  fs.symlinkSync('../nested', path.join(t, 'syml', 'to-dir'));
  fs.symlinkSync('nowhere/at/all', path.join(t, 'syml', 'dangling'));
  fs.symlinkSync('/etc', path.join(t, 'syml', 'abs'));
  sparse(path.join(t, 'sparse', 'hole'), 50 * 2 ** 20, 4096, 20 * 2 ** 20);
  sparse(path.join(t, 'sparse', 'big'), 3 * 2 ** 30 + 12_345);
  sparse(path.join(t, 'sparse', 'empty-but-long'), 123_456_789);
  for (let i = 0; i < 700; i++) write(path.join(t, 'many', `f${String(i).padStart(3, '0')}`), (i * 137) % 9000);
  for (const n of [0, 1, 511, 512, 1023, 1024, 1025, 4095, 4096, 4097, 8192, 10_239, 10_240, 10_241]) {
    write(path.join(t, 'exact', `s${n}`), n);
  }
  write(path.join(t, 'odd names', 'a file with spaces'), 10);
  write(path.join(t, 'odd names', "it's"), 20);
  write(path.join(t, 'odd names', 'ünïcödé'), 5000);
  write(path.join(t, 'odd names', '日本語', 'ファイル'), 6000);
  write(path.join(t, 'odd names', '$dollar #hash'), 30);
  write(path.join(t, 'Upper', 'B'), 1);
  write(path.join(t, 'Upper', 'a'), 2);

  // Hard links in one directory, and one to a file outside the walked tree: their figures do not
  // depend on sibling order, but with -a which name is printed does, so -a is not run on `hl`.
  const hl = path.join(root, 'hl');
  write(path.join(hl, 'links', 'orig'), 50_000);
  fs.linkSync(path.join(hl, 'links', 'orig'), path.join(hl, 'links', 'same1'));
  fs.linkSync(path.join(hl, 'links', 'orig'), path.join(hl, 'links', 'same2'));
  write(path.join(hl, 'links', 'single'), 100);
  write(path.join(root, 'outside', 'far'), 7000);
  fs.mkdirSync(path.join(hl, 'outlink'));
  fs.linkSync(path.join(root, 'outside', 'far'), path.join(hl, 'outlink', 'near'));
  write(path.join(hl, 'plain'), 40_000);
}

/**
 * Apparent sizes on the edges of -h's rounding, as sparse files (no disk space): below and above
 * each power of 1024, the 9.95 and 10 boundaries of the one-decimal form, up to terabytes.
 */
const HUMAN_SIZES = [
  0, 1, 999, 1000, 1023, 1024, 1025, 1126, 1127, 1536, 1537, 10_137, 10_138, 10_239, 10_240, 10_241, 10_752,
  102_400, 1_047_552, 1_048_063, 1_048_575, 1_048_576, 1_048_577, 1_153_434, 1_153_434 + 1, 9.9 * 2 ** 20,
  9.95 * 2 ** 20, 9.95 * 2 ** 20 + 1, 10 * 2 ** 20 - 1, 2 ** 30 - 1, 2 ** 30, 2 ** 30 + 1, 1.5 * 2 ** 30,
  1023.95 * 2 ** 30, 2 ** 40 - 1, 2 ** 40 + 2 ** 30,
].map(Math.round);

let tmp: { dir: string; cleanup: () => void };

beforeAll(() => {
  tmp = tempDir('syslet-du-test-');
  buildMain(tmp.dir);
  HUMAN_SIZES.forEach((n, i) => sparse(path.join(tmp.dir, 'human', `h${String(i).padStart(2, '0')}-${n}`), n));
  // Hard links across directories, used only through separate operands (deterministic order).
  write(path.join(tmp.dir, 'm', 'A', 'f'), 8000);
  write(path.join(tmp.dir, 'm', 'B', 'h'), 3000);
  fs.mkdirSync(path.join(tmp.dir, 'm', 'A', 'sub'));
  fs.linkSync(path.join(tmp.dir, 'm', 'A', 'f'), path.join(tmp.dir, 'm', 'B', 'g'));
  fs.linkSync(path.join(tmp.dir, 'm', 'B', 'h'), path.join(tmp.dir, 'm', 'A', 'sub', 'k'));
  write(path.join(tmp.dir, 'm', 'C', 'only'), 2000);
});

afterAll(() => {
  tmp.cleanup();
});

describe('syslet du matches GNU du', () => {
  const MODES = [[], ['-s'], ['-b'], ['--apparent-size'], ['-h'], ['-sh'], ['-bs'], ['-h', '--apparent-size']];

  it('in each output mode on a mixed tree', () => {
    for (const mode of MODES) same([...mode, 't'], tmp.dir);
  });

  it('in each output mode on hard links', () => {
    for (const mode of MODES) same([...mode, 'hl'], tmp.dir);
  });

  it('with -a, -c, -d and their combinations', () => {
    const d = tmp.dir;
    for (const mode of [['-a'], ['-ab'], ['-ah'], ['-a', '--apparent-size'], ['-c'], ['-sc'], ['-d', '1'], ['--max-depth=2'], ['-a', '-d1'], ['-d', '0']]) {
      same([...mode, 't'], d);
    }
  });

  it('with -h on the edges of its rounding, up to terabytes', () => {
    const d = tmp.dir;
    for (const mode of [['-ah', '--apparent-size'], ['-ab'], ['-a', '--apparent-size'], ['-a']]) {
      same([...mode, 'human'], d);
    }
    // And the same figures through formatSize itself.
    const g = gnu(['-ah', '--apparent-size', 'human'], d);
    for (const line of g.stdout.trim().split('\n').slice(0, -1)) {
      const [shown, p] = line.split('\t');
      const bytes = Number(/-(\d+)$/.exec(p!)![1]);
      expect(formatSize(bytes, 'human'), p).toBe(shown);
    }
  });

  it('prints paths the way du prints its operands', () => {
    const d = tmp.dir;
    same(['t/'], d);
    same(['-a', 't//'], d);
    same(['./t/nested'], d);
    same(['-a', `${d}/t/nested/`], d);
    same([], path.join(d, 't'));
    same(['-s', '.'], path.join(d, 't', 'nested'));
    same(['-a', '..'], path.join(d, 't', 'nested'));
    // A file and symlinks as operands: not followed, unless a trailing slash asks the kernel to.
    same(['t/nested/a/x.bin'], d);
    same(['t/syml/to-dir'], d);
    same(['-b', 't/syml/to-file'], d);
    same(['t/syml/to-dir/'], d);
  });

  it('counts a file once across operands, and an operand inside another once', () => {
    const d = tmp.dir;
    same(['m/A', 'm/B'], d);
    same(['m/B', 'm/A'], d);
    same(['-a', 'm/A', 'm/B', 'm/C'], d);
    same(['-sc', 'm/A', 'm/B'], d);
    same(['-b', 'm/B', 'm/A/sub', 'm/A'], d);
    // Overlapping operands: a directory seen again is skipped with its subtree, line and all.
    same(['t/nested', 't/nested/a/b'], d);
    same(['-a', 't/nested/a/b', 't/nested'], d);
    same(['-s', 'm/A', 'm/A', './m/A', 'm/A/'], d);
    same(['-c', 'hl/links/orig', 'hl/links'], d);
    same(['-c', 'hl/links', 'hl/links/orig'], d);
    same(['-ac', 'hl/links/same2', 'hl'], d);
  });

  it('reports operands that do not exist, and goes on', () => {
    const d = tmp.dir;
    const g = same(['nope'], d);
    expect(g.stderr).toBe("du: cannot access 'nope': No such file or directory\n");
    expect(g.status).toBe(1);
    same(['-c', 'm/C', 'nope/deeper', 'm/A'], d);
    same(['nope//', 'nope/', 'm/C'], d);
    same(['t/nested/a/x.bin/inside'], d);
  });

  it("quotes names in messages as du's quoteaf does, in the C and C.UTF-8 locales", () => {
    const names = ['plain', 'a b', "a'b", "a'$b", 'x$y', 'tab\there', 'nl\nx', "q'nl\n", 'é', 'ü日本',
      '#h', 'x#', '~', 'x~', '{', 'a{', '?', '[x', '\x7f', '\x01z', 'back\\slash', '"dq"', "'", "\n'x\n", "é'\n", '\u0085x', '@at'];
    for (const locale of ['C', 'C.UTF-8']) {
      // All names in one run: each gets its line, in operand order.
      const g = gnu(['--', ...names], tmp.dir, [], locale);
      const s = syslet(['--', ...names], tmp.dir, [], locale);
      expect(s.stderr, locale).toBe(g.stderr);
      expect(s.status).toBe(1);
      expect(s.stdout).toBe('');
      // The helper alone, name by name: the latin1 view of its UTF-8 against du's bytes.
      const lines = g.stderr.split('\n').slice(0, -1);
      expect(lines.length).toBe(names.length);
      names.forEach((n, i) => {
        const quoted = Buffer.from(quoteName(n, locale !== 'C'), 'utf8').toString('latin1');
        expect(lines[i], `${locale} ${JSON.stringify(n)}`).toBe(`du: cannot access ${quoted}: No such file or directory`);
      });
    }
  });
});

describe('syslet du on directories it cannot read', () => {
  let wrapper: string[];
  let u: string;

  beforeAll(() => {
    u = path.join(tmp.dir, 'u');
    write(path.join(u, 'ok', 'file'), 1000);
    write(path.join(u, 'noread', 'secret', 'x'), 5000);
    write(path.join(u, 'noread', 'file'), 300);
    write(path.join(u, 'noexec', 'f'), 100);
    write(path.join(u, 'noexec', 'sub', 'g'), 100);
    write(path.join(u, 'onlyx', 'f'), 100);
    write(path.join(u, 'deep', 'a', 'b', 'noread2', 'y'), 9000);
    write(path.join(u, 'deep', 'a', 'b', 'z'), 4000);
    write(path.join(u, 'deep', 'a', 'other', 'f'), 1);
    fs.chmodSync(path.join(u, 'noread'), 0o000);
    fs.chmodSync(path.join(u, 'noexec'), 0o644); // names readable, nothing under them reachable
    fs.chmodSync(path.join(u, 'onlyx'), 0o311); // reachable, names not readable
    fs.chmodSync(path.join(u, 'deep', 'a', 'b', 'noread2'), 0o000);

    // Root reads everything: drop the capabilities that let it, keeping the uid (and so the owner
    // bits that make the checkout, node and this tree readable).
    wrapper =
      process.getuid?.() === 0
        ? ['setpriv', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--']
        : [];
    const [cmd, ...args] = [...wrapper, process.execPath, '-e', 'require("fs").readdirSync(process.argv[1])', path.join(u, 'noread')];
    const probe = spawnSync(cmd!, args, { encoding: 'utf8' });
    expect(probe.error, 'the unprivileged wrapper (setpriv, util-linux) must run').toBeUndefined();
    expect(probe.stderr, 'a mode-000 directory must be unreadable for the commands under test').toContain('EACCES');
  });

  afterAll(() => {
    for (const p of ['noread', 'noexec', 'onlyx', 'deep/a/b/noread2']) fs.chmodSync(path.join(u, p), 0o755);
  });

  it('says so in du\'s words, counts what it can, and exits 1', () => {
    const expected = [
      "du: cannot read directory 'u/deep/a/b/noread2': Permission denied",
      "du: cannot access 'u/noexec/f': Permission denied",
      "du: cannot access 'u/noexec/sub': Permission denied",
      "du: cannot read directory 'u/noread': Permission denied",
      "du: cannot read directory 'u/onlyx': Permission denied",
    ];
    for (const mode of [[], ['-a'], ['-s'], ['-b'], ['-h', '--apparent-size'], ['-c', '-d', '2']]) {
      const g = same([...mode, 'u'], tmp.dir, { wrapper });
      // The errors really happened (in directory order, which `same` already compared).
      expect(g.stderr.split('\n').filter((l) => l !== '').sort()).toEqual([...expected].sort());
      expect(g.status).toBe(1);
    }
    // Operands that are unreadable directories themselves, beside a readable one.
    same(['u/noread', 'u/ok', 'u/noexec'], tmp.dir, { wrapper });
    same(['-s', 'u/onlyx/f', 'u/noexec/f'], tmp.dir, { wrapper });
  });
});

describe('du() in-process', () => {
  it('walks with batched chains: one readdir per directory, one lstat per name, far fewer chains', async () => {
    // On a runtime given from the start: every call goes through chains.
    await using rt = await Runtime.create({ workers: 2, slotBytes: 65536, ringSize: 64 });
    let out = '';
    const r = await du({ paths: [path.join(tmp.dir, 't')], runtime: rt, out: (s) => (out += s), err: () => {} });
    expect(r.exitCode).toBe(0);
    // Every directory read once, every name (and the operand) stat'ed once: nothing else.
    expect(r.inline).toBe(0);
    expect(r.atoms).toBe(r.entries + r.directories);
    expect(r.entries).toBeGreaterThan(700);
    expect(r.chains * 10).toBeLessThan(r.atoms);
    expect(out.endsWith(`\t${path.join(tmp.dir, 't')}\n`)).toBe(true);
    // The same tree on the calling thread alone (a small tree's usual path): the same output.
    let inline = '';
    const i = await du({ paths: [path.join(tmp.dir, 't')], inlineOps: Infinity, out: (s) => (inline += s), err: () => {} });
    expect(i.chains).toBe(0);
    expect(i.inline).toBe(r.entries + r.directories);
    expect(inline).toBe(out);
    // And starting the runtime at once (inline until its workers are up, chains after): the same.
    let mixed = '';
    const m = await du({ paths: [path.join(tmp.dir, 't')], inlineOps: 0, out: (s) => (mixed += s), err: () => {} });
    expect(m.inline + m.atoms).toBe(r.entries + r.directories);
    expect(mixed).toBe(out);
  });

  it('carries names that are not valid UTF-8 as bytes, inline and through chains, and prints them as du does', async () => {
    // b\xffd: a directory name that no JS string can hold. GNU counts it (8 in all, not 4).
    const d = path.join(tmp.dir, 'bytes');
    const bad = Buffer.concat([Buffer.from(`${d}/b`), Buffer.from([0xff]), Buffer.from('d')]);
    fs.mkdirSync(d);
    fs.mkdirSync(bad);
    fs.writeFileSync(Buffer.concat([bad, Buffer.from('/f\xfe', 'latin1')]), 'x'.repeat(100));
    fs.writeFileSync(path.join(d, 'ok'), 'y');
    for (const mode of [[], ['-a'], ['-ab'], ['-s']]) same([...mode, 'bytes'], tmp.dir);
    const g = gnu(['-a', 'bytes'], tmp.dir);
    expect(g.stdout).toContain('\tbytes/b\xffd/f\xfe\n');
    // Through chains: readdir returns the name as a Buffer, lstat takes it.
    await using rt = await Runtime.create({ workers: 1, slotBytes: 65536, ringSize: 64 });
    const chunks: Buffer[] = [];
    const r = await du({ paths: ['bytes'].map((x) => path.join(tmp.dir, x)), all: true, runtime: rt, out: (s) => chunks.push(Buffer.from(s)), err: () => {} });
    expect(r.exitCode).toBe(0);
    expect(r.chains).toBeGreaterThan(0);
    const viaChains = Buffer.concat(chunks).toString('latin1').split(`${tmp.dir}/`).join('');
    expect(viaChains).toBe(g.stdout);
    // Under a policy the root confines by the path's text: bytes that are not UTF-8 are refused
    // (-EILSEQ), not guessed at; the same name without a policy is found.
    await using confined = await Runtime.create({ workers: 1, policy: { root: tmp.dir } });
    const c = await confined.run({ atoms: [{ op: 'lstat', args: [bad], into: 'st' }, { op: 'lstat', args: [d], into: 'ok' }] });
    expect(c.vars).toEqual({ st: -84, ok: 0 });
    const free = await rt.run({ atoms: [{ op: 'readdir', args: [d], into: 'names' }, { op: 'lstat', args: [bad], into: 'st' }] });
    expect(free.vars.st).toBe(0);
    expect((free.values.names as (string | Buffer)[]).map((n) => (typeof n === 'string' ? n : `bytes:${n.toString('hex')}`)).sort()).toEqual(['bytes:62ff64', 'ok']);
    // In messages such bytes are octal escapes, as quoteaf writes them (C.UTF-8 and C).
    for (const locale of ['C.UTF-8', 'C']) {
      const sh = spawnSync('sh', ['-c', "du \"$(printf 'gone\\377x\\303\\251')\""], { cwd: tmp.dir, env: env(locale), encoding: 'latin1' });
      const name = Buffer.from([...Buffer.from('gone'), 0xff, 0x78, 0xc3, 0xa9]);
      // stderr is read as latin1 (one character per byte): compare bytes.
      const expected = Buffer.from(`du: cannot access ${quoteName(name, locale !== 'C')}: No such file or directory\n`, 'utf8');
      expect(sh.stderr, locale).toBe(expected.toString('latin1'));
    }
  });

  it('skips a bind mount of a directory inside itself, as du does (same device and inode as an ancestor)', async (ctx) => {
    const d = path.join(tmp.dir, 'cycle');
    fs.mkdirSync(path.join(d, 'a', 'b'), { recursive: true });
    write(path.join(d, 'a', 'f'), 5000);
    const m = spawnSync('mount', ['--bind', path.join(d, 'a'), path.join(d, 'a', 'b')], { encoding: 'utf8' });
    if (m.status !== 0) {
      ctx.skip(`mount --bind is not available here (needs root and a kernel that allows it): ${(m.stderr || String(m.error)).trim()}`);
      return;
    }
    try {
      // The mount is real: a/b has a's device and inode.
      const [a, b] = [fs.statSync(path.join(d, 'a')), fs.statSync(path.join(d, 'a', 'b'))];
      expect([b.dev, b.ino]).toEqual([a.dev, a.ino]);
      for (const mode of [[], ['-a'], ['-s'], ['-ab']]) same([...mode, 'cycle'], tmp.dir);
      expect(gnu(['-a', 'cycle'], tmp.dir).stdout).not.toContain('cycle/a/b');
      await using rt = await Runtime.create({ workers: 1, slotBytes: 65536, ringSize: 64 });
      let out = '';
      await du({ paths: [path.join(d, 'a')], all: true, runtime: rt, out: (s) => (out += s), err: () => {} });
      expect(out.split(`${d}/`).join('')).toBe(gnu(['-a', 'a'], d).stdout);
    } finally {
      spawnSync('umount', [path.join(d, 'a', 'b')]);
    }
  });

  it('refuses an empty operand and warns about -s with -d 0, in GNU du\'s words', () => {
    const g = same(['', 'm/C'], tmp.dir);
    expect(g.stderr).toBe('du: invalid zero-length file name\n');
    expect(g.status).toBe(1);
    const w = same(['-s', '-d', '0', 'm/C'], tmp.dir);
    expect(w.stderr).toBe('du: warning: summarizing is the same as using --max-depth=0\n');
    // -s with -d 1: GNU's words; syslet's usage status (2) where GNU exits 1.
    const c = syslet(['-s', '-d', '1', 'm/C'], tmp.dir);
    expect(c.status).toBe(2);
    expect(c.stderr.split('\n')[0]).toBe('syslet du: warning: summarizing conflicts with --max-depth=1');
    expect(gnu(['-s', '-d', '1', 'm/C'], tmp.dir).stderr.split('\n')[0]).toBe('du: warning: summarizing conflicts with --max-depth=1');
  });

  it('answers from a deleted current directory as du does', () => {
    // Node's worker threads cannot start without a current directory: the walk stays inline.
    const script = `mkdir gone && cd gone && rmdir ../gone && exec "$@"`;
    const inGone = (cmd: string[]) => spawnSync('sh', ['-c', script, 'sh', ...cmd], { cwd: tmp.dir, env: env('C'), encoding: 'latin1', timeout: 60_000 });
    for (const args of [[], ['-a', path.join(tmp.dir, 'm')]]) {
      const g = inGone(['du', ...args]);
      const s = inGone([process.execPath, MAIN, 'du', ...args]);
      expect(s.stdout, args.join(' ')).toBe(g.stdout);
      expect(s.stderr).toBe(g.stderr);
      expect(s.status).toBe(g.status);
    }
  });

  it('counts a hard link where du does: the first place the directory order meets it', () => {
    // Links to one file in sibling subtrees and beside them: which one counts depends on the order
    // the walk meets them, and must be du's.
    const d = path.join(tmp.dir, 'order');
    write(path.join(d, 'f'), 20_000);
    for (const sub of ['S', 'a', 'z', 'M']) {
      fs.mkdirSync(path.join(d, sub));
      fs.linkSync(path.join(d, 'f'), path.join(d, sub, 'g'));
    }
    for (const mode of [[], ['-a'], ['-ab']]) same([...mode, 'order'], tmp.dir);
  });

  it('reports a directory whose names do not fit the arena instead of miscounting it', async () => {
    // 3,000 names of 25 bytes do not fit a 64 KiB slot and spill to the arena, which here has 4 KiB.
    const d = path.join(tmp.dir, 'wide');
    fs.mkdirSync(d);
    for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(d, `a-rather-long-name-${String(i).padStart(5, '0')}`), '');
    await using rt = await Runtime.create({ workers: 1, slotBytes: 65536, ringSize: 8, arenaBytes: 4096 });
    let out = '';
    let err = '';
    const r = await du({ paths: [d], runtime: rt, out: (s) => (out += s), err: (s) => (err += s) });
    expect(err).toBe(`du: cannot read directory ${quoteName(d, false)}: Cannot allocate memory\n`);
    expect(out).toBe(`${fs.lstatSync(d).blocks / 2}\t${d}\n`);
    expect(r.exitCode).toBe(1);
    fs.rmSync(d, { recursive: true });
  });

  it('refuses contradictory options on the command line', () => {
    const s = syslet(['-s', '-a', 't'], tmp.dir);
    expect(s.status).toBe(2);
    expect(s.stderr.split('\n')[0]).toBe('syslet du: cannot both summarize and show all entries');
    const u = syslet(['-x', 't'], tmp.dir);
    expect(u.status).toBe(2);
    expect(u.stderr.split('\n')[0]).toBe("syslet du: invalid option -- 'x'");
    const h = syslet(['--help'], tmp.dir);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('usage: syslet du [OPTION]... [FILE]...');
  });
});

describe('output errors, as GNU du reports them (one documented difference)', () => {
  /** Run `cmd` under sh with `redirect` applied to its stdout. */
  const sh = (cmd: string[], redirect: string) =>
    spawnSync('sh', ['-c', `"$@" ${redirect}`, 'sh', ...cmd], { cwd: tmp.dir, env: env('C'), encoding: 'utf8', timeout: 60_000 });

  it('stdout on /dev/full: "write error", exit 1, as GNU du', () => {
    const g = sh(['du', 'm'], '>/dev/full');
    const s = sh([process.execPath, MAIN, 'du', 'm'], '>/dev/full');
    expect(s.stderr).toBe(g.stderr);
    expect(s.status).toBe(g.status);
    expect(g.stderr).toBe('du: write error\n');
    expect(g.status).toBe(1);
  });

  it('stdout closed: discarded, exit 0 (Node puts /dev/null on a closed stdout; GNU says "Bad file descriptor")', () => {
    // The documented difference: a Node program cannot tell a closed stdout from stdio 'ignore'.
    expect(sh(['du', 'm'], '>&-').stderr).toBe('du: write error: Bad file descriptor\n');
    const s = sh([process.execPath, MAIN, 'du', 'm'], '>&-');
    expect(s.stderr).toBe('');
    expect(s.status).toBe(0);
    // And stdio 'ignore' (the same /dev/null) is an ordinary, successful run.
    const r = spawnSync(process.execPath, [MAIN, 'du', 'm'], { cwd: tmp.dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the same in every command that prints', () => {
    for (const cmd of [['--version'], ['help'], ['tour', '--help'], ['run', '--help'], ['demo', '--help'], ['profile', '--help'], ['bench', '--help']]) {
      const name = cmd[0]!.startsWith('-') || cmd[0] === 'help' ? 'syslet' : `syslet ${cmd[0]}`;
      const full = sh([process.execPath, MAIN, ...cmd], '>/dev/full');
      expect(full.stderr, cmd.join(' ')).toBe(`${name}: write error\n`);
      expect(full.status).toBe(1);
    }
  });

  it('a reader that goes away (EPIPE): quietly, nothing on stderr', () => {
    // 3,000 lines, far more than a pipe holds, into a reader that takes one.
    const r = sh([process.execPath, MAIN, 'du', '-a', 't/many', 'human', 't/exact'], '| head -c 1 >/dev/null; exit 0');
    expect(r.stderr).toBe('');
  });
});
