import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let tmp: ReturnType<typeof tempDir>;
let cwd: string;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, 'run', ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function write(name: string, chain: unknown): string {
  fs.writeFileSync(path.join(cwd, name), typeof chain === 'string' ? chain : JSON.stringify(chain));
  return name;
}

beforeAll(() => {
  tmp = tempDir();
  cwd = path.join(tmp.dir, 'work');
  fs.mkdirSync(cwd);
  fs.writeFileSync(path.join(cwd, 'in.txt'), 'hello\n');
  fs.writeFileSync(path.join(tmp.dir, 'outside.txt'), 'secret');
});

afterAll(() => tmp.cleanup());

describe('syslet run', () => {
  it('runs a chain file and prints its completion', () => {
    const f = write('copy.json', {
      buffers: { b: 64 },
      atoms: [
        { op: 'open', args: ['in.txt', 'r'], into: 'fd', flags: 32 },
        { op: 'read', args: [{ var: 'fd' }, { buf: 'b' }, 64], into: 'n' },
        { op: 'close', args: [{ var: 'fd' }] },
      ],
    });
    const r = run([f]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').slice(0, 4)).toEqual(['status   done', 'atom     2 (close)', 'result   0', 'steps    3']);
    expect(r.stdout).toMatch(/^vars {5}fd = \d+$/m);
    expect(r.stdout).toContain('         n = 6\n');
    expect(r.stdout).toContain('buffers  b = 64 bytes: "hello\\n" then 58 zero bytes\n');
  });

  it('confines paths to the current directory: an atom that reaches outside gets -EACCES', () => {
    const f = write('escape.json', {
      atoms: [
        { op: 'stat', args: ['../outside.txt'], into: 'up' },
        { op: 'stat', args: [path.join(tmp.dir, 'outside.txt')], into: 'abs' },
        { op: 'stat', args: ['in.txt'], into: 'ok' },
      ],
    });
    const r = run([f]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('up = -13 (EACCES)');
    expect(r.stdout).toContain('abs = -13 (EACCES)');
    expect(r.stdout).toContain('ok = 0');
    // --root widens (or narrows) the confinement; relative paths resolve inside the root.
    const wide = run(['--root', tmp.dir, '--json', f]);
    expect(wide.status).toBe(0);
    expect(JSON.parse(wide.stdout)).toMatchObject({ status: 'done', vars: { up: -13, abs: 0, ok: -2 } });
  });

  it('resolves relative paths inside --root, as the library policy { root } does', () => {
    fs.mkdirSync(path.join(cwd, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(cwd, 'sub', 'hello.txt'), 'hi\n');
    const f = write('hello.json', { atoms: [{ op: 'stat', args: ['hello.txt'], into: 'inside' }, { op: 'stat', args: ['in.txt'], into: 'cwdFile' }] });
    const j = JSON.parse(run(['--root', 'sub', '--json', f]).stdout);
    // hello.txt is sub/hello.txt; in.txt (in the current directory, not in sub) is not found there.
    expect(j.vars).toEqual({ inside: 0, cwdFile: -2 });
    expect(j.values.inside.size).toBe(3);
  });

  it('refuses a --root that is missing or not a directory (exit 2)', () => {
    const f = write('nop.json', { atoms: [{ op: 'nop' }] });
    const missing = run(['--root', 'no-such-dir', f]);
    expect(missing.status).toBe(2);
    expect(missing.stderr.split('\n')[0]).toBe('syslet run: --root: cannot use "no-such-dir": no such directory');
    expect(missing.stdout).toBe('');
    const file = run(['--root', 'in.txt', f]);
    expect(file.status).toBe(2);
    expect(file.stderr.split('\n')[0]).toBe('syslet run: --root: "in.txt" is not a directory');
  });

  it('limits operations with --allow and takes variables and a deadline', () => {
    const f = write('allow.json', { vars: { n: 1 }, atoms: [{ op: 'getpid', into: 'pid' }, { op: 'umem_add', args: [{ var: 'n' }, 1], into: 'n' }] });
    const j = JSON.parse(run(['--allow', 'umem_add', '--var', 'n=41', '--json', f]).stdout);
    expect(j.vars).toEqual({ pid: -13, n: 42 });
    // The deadline cuts the 60 s sleep short; 1 s (not 20 ms) so that on a loaded machine the
    // sleep has surely started before the deadline passes (else atom 0 is the one that ends it).
    const slow = write('slow.json', { atoms: [{ op: 'nanosleep', args: [60e9] }, { op: 'nop' }] });
    const t = run(['--timeout', '1000', slow]);
    expect(t.status).toBe(1);
    expect(t.stdout.split('\n').slice(0, 3)).toEqual(['status   timedout', 'atom     0 (nanosleep)', 'result   -62 (ETIME)']);
  });

  it('refuses invalid files with the library errors', () => {
    const bad = run([write('bad.json', { atoms: [{ op: 'read', args: [0, { buf: 'nope' }, 1] }] })]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(
      'syslet run: bad.json: chain.atoms[0] (read): argument 1 (buf): buffer "nope" is undefined: chain.buffers does not declare it\n',
    );
    const notJson = run([write('broken.json', '{ "atoms": [')]);
    expect(notJson.status).toBe(2);
    expect(notJson.stderr).toMatch(/^syslet run: broken\.json: not JSON: /);
    expect(run(['missing.json']).stderr).toMatch(/^syslet run: missing\.json: cannot read: ENOENT/);
    expect(run(['--allow', 'exec', 'x.json']).stderr).toMatch(/^syslet run: --allow: unknown operation "exec"/);
    // A command-line mistake: the message, then run's usage.
    const none = run([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^syslet run: expected one chain file, got 0\n\nusage: syslet run /);
  });
});
