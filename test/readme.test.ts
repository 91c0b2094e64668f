/**
 * The README's examples run: every `ts`/`js` code block (unless its info string says `no-run`) is
 * extracted, type-checked and compiled with the project's TypeScript (`tsc`, strict, for an ES2022
 * target), and run as a plain node program on the node that runs this suite (CI runs it on every
 * supported line). Each block runs in a temp tree holding the files the examples use (FILES), with
 * `syslet` resolving to this package. A block of several modules starts each with a `// name.ts`
 * comment line; the last one is the program.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The files every example may use, in its working directory. */
const FILES: Record<string, string> = {
  'config.json': '{ "name": "demo" }\n',
  'a.txt': 'alpha\n',
  'b.txt': 'bravo\n',
};

const LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs']);
const HEADER = /^\/\/ ([\w.-]+\.(?:ts|mts|js|mjs|cjs))(?::.*)?$/;

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  info: string;
  code: string[];
}

/** The fenced code blocks of a markdown text, with their info strings. */
function fencedBlocks(md: string): Block[] {
  const out: Block[] = [];
  let open: Block | undefined;
  let fence = '';
  md.split('\n').forEach((text, i) => {
    const m = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)\s*(.*)$/.exec(text);
    if (open === undefined) {
      if (m === null) return;
      fence = m[2]!;
      open = { line: i + 1, lang: m[3]!.toLowerCase(), info: m[4]!.trim(), code: [] };
    } else if (m !== null && m[2]!.startsWith(fence[0]!) && m[2]!.length >= fence.length && m[3] === '' && m[4] === '') {
      out.push(open);
      open = undefined;
    } else {
      open.code.push(text);
    }
  });
  if (open !== undefined) throw new Error(`README: the code block at line ${open.line} is not closed`);
  return out;
}

/** A block's modules: split at `// name.ts` lines; a block without one is one module. */
function modules(b: Block): { name: string; text: string }[] {
  const ext = b.lang.startsWith('t') ? 'ts' : b.lang === 'mjs' || b.lang === 'cjs' ? b.lang : 'js';
  const out: { name: string; lines: string[] }[] = [];
  for (const line of b.code) {
    const h = HEADER.exec(line);
    if (h !== null) out.push({ name: h[1]!, lines: [] });
    else if (out.length === 0) out.push({ name: `main.${ext}`, lines: [] });
    out.at(-1)!.lines.push(line);
  }
  return out.map((m) => ({ name: m.name, text: `${m.lines.join('\n').trim()}\n` }));
}

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const code = fencedBlocks(readme).filter((b) => LANGS.has(b.lang));
const runnable = code.filter((b) => !b.info.split(/\s+/).includes('no-run'));

let tmp: { dir: string; cleanup: () => void };
let tsc: { status: number | null; output: string };

beforeAll(() => {
  tmp = tempDir('syslet-readme-');
  fs.writeFileSync(path.join(tmp.dir, 'package.json'), '{ "type": "module", "private": true }\n');
  fs.mkdirSync(path.join(tmp.dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(tmp.dir, 'node_modules', 'syslet'), 'dir');
  for (const b of runnable) {
    const dir = path.join(tmp.dir, `line-${b.line}`);
    fs.mkdirSync(dir);
    for (const [name, text] of Object.entries(FILES)) fs.writeFileSync(path.join(dir, name), text);
    for (const m of modules(b)) fs.writeFileSync(path.join(dir, m.name), m.text);
  }
  fs.writeFileSync(
    path.join(tmp.dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules/@types')],
      },
      include: ['line-*/*.ts', 'line-*/*.mts'],
    }),
  );
  if (!runnable.some((b) => b.lang.startsWith('t'))) {
    tsc = { status: 0, output: '' };
    return;
  }
  // Emits even when a type is wrong (noEmitOnError is off), so that the runs below still say
  // whether each example works.
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tmp.dir], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  tsc = { status: r.status, output: `${r.stdout}${r.stderr}` };
}, 180_000);

afterAll(() => {
  tmp?.cleanup();
});

describe('README', () => {
  it('has examples to run, and each `no-run` block is one on purpose', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(3);
    for (const b of code) if (!runnable.includes(b)) expect(b.info, `line ${b.line}`).toMatch(/\bno-run\b/);
  });

  it('its TypeScript examples type-check against the package (strict)', () => {
    expect(tsc.output).toBe('');
    expect(tsc.status).toBe(0);
  });

  it.each(runnable.map((b) => [b.line, b] as const))('the example at line %i runs', (_line, b) => {
    const dir = path.join(tmp.dir, `line-${b.line}`);
    const main = modules(b).at(-1)!.name.replace(/\.ts$/, '.js').replace(/\.mts$/, '.mjs');
    const r = spawnSync(process.execPath, [main], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status, r.stdout).toBe(0);
  });

  it('`await using` parses on Node 24 and later only, as the README says', () => {
    const major = Number(process.versions.node.split('.')[0]);
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', '{ await using r = { async [Symbol.asyncDispose]() { console.log("closed"); } }; }'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status === 0 && r.stdout === 'closed\n').toBe(major >= 24);
    expect(readme).toContain('On Node 24 and later, `await using rt = await Runtime.create();`');
  });
});

// The extractor itself, on cases the README does not have today.
describe('fencedBlocks', () => {
  it('reads info strings, longer and tilde fences, and splits modules at `// name.ts` lines', () => {
    const md = ['```ts no-run', 'a', '```', '````js', '```', '````', '~~~ts', '// x.ts: one', 'x', '// y.ts', 'y', '~~~'].join('\n');
    const bs = fencedBlocks(md);
    expect(bs.map((b) => [b.line, b.lang, b.info, b.code.length])).toEqual([
      [1, 'ts', 'no-run', 1],
      [4, 'js', '', 1],
      [7, 'ts', '', 4],
    ]);
    expect(modules(bs[2]!)).toEqual([
      { name: 'x.ts', text: '// x.ts: one\nx\n' },
      { name: 'y.ts', text: '// y.ts\ny\n' },
    ]);
    expect(() => fencedBlocks('```ts\nopen')).toThrow(/line 1 is not closed/);
  });
});
