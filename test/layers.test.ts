/**
 * The rooms of the house and which way the arrows run: a module may import modules of its own room
 * and of lower rooms, never of a higher one. From the bottom:
 *
 *   atomics-sync (packages/atomics-sync: imports nothing but node: builtins and itself)
 *   < syslet < completion < threadlet < record < runtime.ts, options.ts < fs < index.ts, register.ts
 *   < cli, bench
 *
 * Type-only imports are erased at build time, so they cannot make a load-order cycle; they may run
 * up only where TYPE_ONLY_UP lists them. Everything else running up is a failure, named by file.
 *
 * The CLI also comes in through doors only: a file under src/cli imports its own room, src/bench
 * (the sibling tool room), node: builtins and packages, and of the library only the files CLI_DOORS
 * lists (the public door src/index.ts, and the rooms' own doors), types included.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = 'atomics-sync';

/** Rank of each room; equal ranks may import each other. */
const RANK: Record<string, number> = {
  [PACKAGE]: 0,
  syslet: 1,
  completion: 2,
  threadlet: 3,
  record: 4,
  'runtime.ts': 5,
  'options.ts': 5,
  fs: 6,
  'index.ts': 7,
  'register.ts': 7,
  cli: 8,
  bench: 8,
};

/** The library files src/cli may import: [file, why]. */
const CLI_DOORS: readonly [string, string][] = [
  ['src/index.ts', "the package's public door (syslet)"],
  ['src/fs/index.ts', 'the syslet/fs door'],
  ['src/record/index.ts', "the recording room's door for the profiler and the recorder's collector"],
];
/** Rooms src/cli imports freely besides its own. */
const CLI_SIBLINGS: readonly string[] = ['bench'];

/** Type-only imports that may run up: [from room, to room, why]. */
const TYPE_ONLY_UP: readonly [string, string, string][] = [
  ['threadlet', 'runtime.ts', 'a threadlet is bound to the Runtime that runs it'],
  ['record', 'runtime.ts', 'a recording samples the RuntimeStats shape'],
];

interface Arrow {
  file: string;
  line: number;
  from: string;
  to: string;
  /** The source file a relative specifier names (x.ts for x.js); undefined for a package. */
  target: string | undefined;
  specifier: string;
  typeOnly: boolean;
}

/** The room of a file, by its path relative to ROOT. */
function roomOf(rel: string): string {
  const parts = rel.split('/');
  if (parts[0] === 'packages' && parts[1] === PACKAGE) return PACKAGE;
  if (parts[0] !== 'src') throw new Error(`${rel}: not under src/ or packages/${PACKAGE}/`);
  return parts[1]!;
}

/** The source file a relative specifier of `rel` names (specifiers name the built x.js, sources are x.ts). */
function targetFile(rel: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return path.posix.normalize(path.posix.join(path.posix.dirname(rel), specifier)).replace(/\.(c|m)?js$/, '.$1ts');
}

/** The room an import specifier of `rel` lands in, or undefined for node: builtins and npm packages. */
function targetRoom(rel: string, specifier: string): string | undefined {
  if (specifier === PACKAGE || specifier.startsWith(`${PACKAGE}/`)) return PACKAGE;
  const target = targetFile(rel, specifier);
  return target === undefined ? undefined : roomOf(target);
}

// Top-level static imports and re-exports (statements start in column 0), then side-effect imports,
// then dynamic import() anywhere. The clause grammar is spelled out so that one statement never runs
// into the next.
const STATIC =
  /^(import|export)\s+(type\s+)?(\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+\w+))?)\s+from\s+'([^']+)'/gm;
const BARE = /^import\s+'([^']+)'/gm;
const DYNAMIC = /\bimport\(\s*'([^']+)'\s*\)/g;

function lineAt(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** Whether an import clause names types only (`import type`, or every named specifier is `type x`). */
function clauseIsTypeOnly(typeKeyword: string | undefined, clause: string): boolean {
  if (typeKeyword !== undefined) return true;
  if (!clause.startsWith('{')) return false;
  const names = clause
    .slice(1, -1)
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  return names.length > 0 && names.every((n) => n.startsWith('type '));
}

/** Every import arrow of one source file (`rel` relative to ROOT). */
function arrowsOf(rel: string, text: string): Arrow[] {
  const from = roomOf(rel);
  const out: Arrow[] = [];
  const add = (specifier: string, index: number, typeOnly: boolean): void => {
    const to = targetRoom(rel, specifier);
    if (to !== undefined) {
      out.push({ file: rel, line: lineAt(text, index), from, to, target: targetFile(rel, specifier), specifier, typeOnly });
    }
  };
  for (const m of text.matchAll(STATIC)) add(m[4]!, m.index, clauseIsTypeOnly(m[2], m[3]!));
  for (const m of text.matchAll(BARE)) add(m[1]!, m.index, false);
  for (const m of text.matchAll(DYNAMIC)) {
    // `typeof import('x')` names a type only.
    const before = text.slice(Math.max(0, m.index - 7), m.index);
    add(m[1]!, m.index, before === 'typeof ');
  }
  return out;
}

/** Arrows that break the rule, as readable lines. */
function violations(arrows: readonly Arrow[]): string[] {
  const bad: string[] = [];
  for (const a of arrows) {
    const from = RANK[a.from];
    const to = RANK[a.to];
    const where = `${a.file}:${a.line} imports '${a.specifier}'`;
    if (from === undefined) bad.push(`${where}: room ${a.from} has no rank (add it to RANK)`);
    else if (to === undefined) bad.push(`${where}: room ${a.to} has no rank (add it to RANK)`);
    else if (a.from === PACKAGE && a.to !== PACKAGE) bad.push(`${where}: ${PACKAGE} imports nothing of syslet`);
    else if (to > from) {
      const allowed = a.typeOnly && TYPE_ONLY_UP.some(([f, t]) => f === a.from && t === a.to);
      if (!allowed) bad.push(`${where}: ${a.from} (rank ${from}) is below ${a.to} (rank ${to})`);
    }
  }
  return bad;
}

/** Arrows from src/cli that pass by the doors, as readable lines. */
function cliDoorViolations(arrows: readonly Arrow[]): string[] {
  const bad: string[] = [];
  for (const a of arrows) {
    if (a.from !== 'cli' || a.target === undefined) continue;
    if (a.to === 'cli' || CLI_SIBLINGS.includes(a.to)) continue;
    if (CLI_DOORS.some(([door]) => door === a.target)) continue;
    bad.push(`${a.file}:${a.line} imports '${a.specifier}': the CLI imports the library only through ${CLI_DOORS.map(([d]) => d).join(', ')}`);
  }
  return bad;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (/\.(?:ts|cts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const FILES = [...sources('src'), ...sources(`packages/${PACKAGE}/src`)];
const ARROWS = FILES.flatMap((rel) => arrowsOf(rel, fs.readFileSync(path.join(ROOT, rel), 'utf8')));

describe('rooms and arrows', () => {
  it('no module imports a higher room', () => {
    expect(violations(ARROWS)).toEqual([]);
  });

  it('the CLI imports the library only through its doors', () => {
    expect(cliDoorViolations(ARROWS)).toEqual([]);
  });

  it('sees the arrows the house is built on (the scanner reads this tree)', () => {
    const seen = (from: string, to: string): boolean => ARROWS.some((a) => a.from === from && a.to === to && !a.typeOnly);
    expect(seen('syslet', PACKAGE)).toBe(true);
    expect(seen('completion', 'syslet')).toBe(true);
    expect(seen('threadlet', 'completion')).toBe(true);
    expect(seen('runtime.ts', 'record')).toBe(true);
    expect(seen('fs', 'runtime.ts')).toBe(true);
    expect(seen('cli', 'index.ts')).toBe(true);
    expect(seen('cli', 'record')).toBe(true);
    expect(seen('cli', 'bench')).toBe(true);
    // Every door listed is a file of this tree that the CLI goes through.
    for (const [door] of CLI_DOORS) {
      expect(FILES).toContain(door);
      expect(ARROWS.some((a) => a.from === 'cli' && a.target === door)).toBe(true);
    }
    expect(FILES).toContain('src/syslet/completion-queue.ts');
    expect(FILES.some((f) => f.startsWith('src/ring/'))).toBe(false);
  });

  it('reports an upward import, value or type, static, multi-line or dynamic', () => {
    const src = [
      "import { Kqueue } from '../completion/kqueue.js';",
      'import {',
      '  type Runtime,',
      "} from '../runtime.js';",
      "export type { Stats } from '../runtime.js';",
      "const m = await import('../fs/index.js');",
      "import { EMPTY } from 'atomics-sync';",
      "import fs from 'node:fs';",
    ].join('\n');
    expect(violations(arrowsOf('src/syslet/x.ts', src))).toEqual([
      "src/syslet/x.ts:1 imports '../completion/kqueue.js': syslet (rank 1) is below completion (rank 2)",
      "src/syslet/x.ts:2 imports '../runtime.js': syslet (rank 1) is below runtime.ts (rank 5)",
      "src/syslet/x.ts:5 imports '../runtime.js': syslet (rank 1) is below runtime.ts (rank 5)",
      "src/syslet/x.ts:6 imports '../fs/index.js': syslet (rank 1) is below fs (rank 6)",
    ]);
    // The listed type-only exception holds for types only.
    expect(violations(arrowsOf('src/threadlet/y.ts', "import type { Runtime } from '../runtime.js';"))).toEqual([]);
    expect(violations(arrowsOf('src/threadlet/y.ts', "import { Runtime } from '../runtime.js';"))).toEqual([
      "src/threadlet/y.ts:1 imports '../runtime.js': threadlet (rank 3) is below runtime.ts (rank 5)",
    ]);
    // The package never reaches back into syslet.
    expect(violations(arrowsOf(`packages/${PACKAGE}/src/z.ts`, "import { EntryWord } from '../../../src/syslet/table.js';"))).toEqual([
      `packages/${PACKAGE}/src/z.ts:1 imports '../../../src/syslet/table.js': ${PACKAGE} imports nothing of syslet`,
    ]);
  });

  it('reports a CLI import that passes by the doors, value or type, static, multi-line or dynamic', () => {
    const src = [
      "import { readdirInOrder } from '../syslet/readdir.js';",
      'import {',
      '  type ProfileResult,',
      "} from '../record/result.js';",
      "export { Span } from '../record/result.js';",
      "const r = await import('../runtime.js');",
      "import { Runtime, type Chain } from '../index.js';",
      "import { RingSampler } from '../record/index.js';",
      "import { rng } from '../bench/rng.js';",
      "import { maxBytes } from './du-format.js';",
      "const sfs = await import('../fs/index.js');",
      "import { sharedNow } from 'atomics-sync';",
      "import fs from 'node:fs';",
    ].join('\n');
    const doors = CLI_DOORS.map(([d]) => d).join(', ');
    expect(cliDoorViolations(arrowsOf('src/cli/x.ts', src))).toEqual([
      `src/cli/x.ts:1 imports '../syslet/readdir.js': the CLI imports the library only through ${doors}`,
      `src/cli/x.ts:2 imports '../record/result.js': the CLI imports the library only through ${doors}`,
      `src/cli/x.ts:5 imports '../record/result.js': the CLI imports the library only through ${doors}`,
      `src/cli/x.ts:6 imports '../runtime.js': the CLI imports the library only through ${doors}`,
    ]);
    // From a subdirectory of the room: the same doors, one level further up.
    expect(cliDoorViolations(arrowsOf('src/cli/report/y.ts', "import type { PointResult } from '../../record/result.js';"))).toEqual([
      `src/cli/report/y.ts:1 imports '../../record/result.js': the CLI imports the library only through ${doors}`,
    ]);
    expect(cliDoorViolations(arrowsOf('src/cli/report/y.ts', "import type { PointResult } from '../../index.js';"))).toEqual([]);
    // The rule is the CLI's: other rooms import lower rooms' files as the layering allows.
    expect(cliDoorViolations(arrowsOf('src/fs/z.ts', "import { readdirInOrder } from '../syslet/readdir.js';"))).toEqual([]);
  });

  it(`${PACKAGE} depends on nothing, and syslet on it`, () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'packages', PACKAGE, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.peerDependencies ?? {}).toEqual({});
    const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      bundleDependencies: string[];
    };
    expect(root.dependencies[PACKAGE]).toBe(pkg.version);
    expect(root.bundleDependencies).toContain(PACKAGE);
  });
});
