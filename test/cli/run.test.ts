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
    // --root widens (or narrows) the confinement.
    const wide = run(['--root', tmp.dir, '--json', f]);
    expect(wide.status).toBe(0);
    expect(JSON.parse(wide.stdout)).toMatchObject({ status: 'done', vars: { up: 0, abs: 0, ok: 0 } });
  });

  it('limits operations with --allow and takes variables and a deadline', () => {
    const f = write('allow.json', { vars: { n: 1 }, atoms: [{ op: 'getpid', into: 'pid' }, { op: 'umem_add', args: [{ var: 'n' }, 1], into: 'n' }] });
    const j = JSON.parse(run(['--allow', 'umem_add', '--var', 'n=41', '--json', f]).stdout);
    expect(j.vars).toEqual({ pid: -13, n: 42 });
    const slow = write('slow.json', { atoms: [{ op: 'nanosleep', args: [5e9] }, { op: 'nop' }] });
    const t = run(['--timeout', '20', slow]);
    expect(t.status).toBe(1);
    expect(t.stdout.split('\n').slice(0, 3)).toEqual(['status   timedout', 'atom     0 (nanosleep)', 'result   -62 (ETIME)']);
  });

  it('refuses invalid files with the library errors', () => {
    const bad = run([write('bad.json', { atoms: [{ op: 'read', args: [0, { buf: 'nope' }, 1] }] })]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(
      'syslet: run: bad.json: chain.atoms[0] (read): argument 1 (buf): buffer "nope" is undefined: chain.buffers does not declare it\n',
    );
    const notJson = run([write('broken.json', '{ "atoms": [')]);
    expect(notJson.status).toBe(2);
    expect(notJson.stderr).toMatch(/^syslet: run: broken\.json: not JSON: /);
    expect(run(['missing.json']).stderr).toMatch(/^syslet: run: missing\.json: cannot read: ENOENT/);
    expect(run(['--allow', 'exec', 'x.json']).stderr).toMatch(/^syslet: run: --allow: unknown operation "exec"/);
    expect(run([]).stderr).toBe('syslet: run: expected one chain file, got 0\n');
  });
});
