/**
 * `syslet run FILE.json`: run a chain file (the JSON chain format) and print its completion.
 *
 * Chains are code, so a chain file runs under a policy: every path is confined to the current
 * directory (or `--root DIR`), checked as each atom runs; an atom that reaches outside gets -EACCES
 * as its result. `--allow op,op` limits the operations too. An invalid file is refused with the
 * library's own error (which atom, which argument, what was expected, what was got).
 *
 * Exit status: 0 when the chain ran to its end or stopped on a stop condition, 1 when it was
 * cancelled, timed out, ran out of steps or failed, 2 for a file or options it cannot run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Runtime } from '../runtime.js';
import type { Chain } from '../syslet/chain.js';
import type { Completion } from '../syslet/encode.js';
import { errnoName } from '../syslet/errno.js';
import { OP_BY_NAME, OPS, type OpName } from '../syslet/ops.js';
import { ChainError } from '../syslet/validate.js';
import { SysletStat } from '../syslet/values.js';

export const RUN_HELP = `usage: syslet run [--root DIR] [--allow OP,...] [--var NAME=N]... [--timeout MS] [--json] FILE.json

Run a chain file and print its completion. Paths are confined to the current directory, or to
DIR with --root (--root / lifts the confinement); an atom that reaches outside gets -EACCES.
  --allow OP,...   only these operations (others get -EACCES)
  --var NAME=N     an initial value for a variable (repeatable)
  --timeout MS     a deadline: the chain ends with -ETIME at the next atom boundary
  --json           print the completion as JSON
Exit status: 0 done or stopped, 1 cancelled, timed out, out of steps or failed, 2 bad file or options.
`;

export class RunUsageError extends Error {}

export interface RunOptions {
  file: string;
  root: string;
  allow: OpName[] | undefined;
  vars: Record<string, number>;
  timeoutMs: number | undefined;
  json: boolean;
}

export function parseRunArgs(args: readonly string[], cwd = process.cwd()): RunOptions {
  const o: RunOptions = { file: '', root: cwd, allow: undefined, vars: {}, timeoutMs: undefined, json: false };
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new RunUsageError(`${a}: expected a value`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--root') o.root = path.resolve(cwd, value());
    else if (a === '--allow') {
      o.allow = value().split(',').filter((x) => x !== '').map((name) => {
        if (!OP_BY_NAME.has(name)) {
          throw new RunUsageError(`--allow: unknown operation "${name}"; expected some of ${OPS.map((op) => op.name).join(', ')}`);
        }
        return name as OpName;
      });
    } else if (a === '--var') {
      const v = value();
      const m = /^([^=]+)=(.*)$/.exec(v);
      const n = m === null ? Number.NaN : Number(m[2]);
      if (m === null || m[2] === '' || !Number.isFinite(n)) throw new RunUsageError(`--var: expected NAME=NUMBER, got "${v}"`);
      o.vars[m[1]!] = n;
    } else if (a === '--timeout') {
      const v = value();
      const n = Number(v);
      if (v === '' || !(n >= 0)) throw new RunUsageError(`--timeout: expected milliseconds (>= 0), got "${v}"`);
      o.timeoutMs = n;
    } else if (a === '--help' || a === '-h') throw new RunUsageError('');
    else if (a.startsWith('-') && a !== '-') throw new RunUsageError(`unknown option "${a}"`);
    else files.push(a);
  }
  if (files.length !== 1) throw new RunUsageError(`expected one chain file, got ${files.length}`);
  o.file = files[0]!;
  return o;
}

/** Read and parse a chain file; the errors name the file. */
export function readChainFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RunUsageError(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new RunUsageError(`${file}: not JSON: ${(e as Error).message}`);
  }
}

export async function runChainFile(o: RunOptions, out: (s: string) => void): Promise<number> {
  const chain = readChainFile(o.file);
  // Relative paths in the file are the current directory's, as for any program; the root only
  // bounds where they may lead.
  const rt = await Runtime.create({
    workers: 1,
    policy: { root: o.root, cwd: process.cwd(), ...(o.allow === undefined ? {} : { allow: o.allow }) },
  });
  try {
    let c: Completion;
    try {
      const opts = { vars: o.vars, ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) };
      c = await rt.run(chain as Chain, opts);
    } catch (e) {
      if (e instanceof ChainError || e instanceof TypeError) throw new RunUsageError(`${o.file}: ${e.message}`);
      throw e;
    }
    out(o.json ? `${JSON.stringify(toJson(c, chain), null, 2)}\n` : describeCompletion(c, chain));
    return c.status === 'done' || c.status === 'stopped' ? 0 : 1;
  } finally {
    await rt.close();
  }
}

function opAt(chain: unknown, atom: number): string {
  const atoms = (chain as { atoms?: { op?: unknown }[] }).atoms;
  const op = atoms?.[atom]?.op;
  return typeof op === 'string' ? op : '?';
}

function result(n: number): string {
  if (n >= 0) return String(n);
  const name = errnoName(-n);
  return name === undefined ? String(n) : `${n} (${name})`;
}

function valueText(v: unknown): string {
  if (v instanceof SysletStat) {
    const kind = v.isDirectory() ? 'directory' : v.isSymbolicLink() ? 'symlink' : v.isFile() ? 'file' : 'other';
    return `stat { ${kind}, size ${v.size}, mode 0o${v.mode.toString(8)}, ino ${v.ino}, nlink ${v.nlink}, mtime ${new Date(v.mtimeMs).toISOString()} }`;
  }
  return JSON.stringify(v);
}

/** The completion, for a person. */
export function describeCompletion(c: Completion, chain: unknown): string {
  const lines = [
    `status   ${c.status}`,
    `atom     ${c.atom} (${opAt(chain, c.atom)})`,
    `result   ${result(c.result)}`,
    `steps    ${c.steps}`,
  ];
  if (c.value !== undefined) lines.push(`value    ${valueText(c.value)}`);
  const vars = Object.entries(c.vars);
  vars.forEach(([k, v], i) => lines.push(`${i === 0 ? 'vars' : ''.padEnd(4)}     ${k} = ${result(v)}`));
  Object.entries(c.values).forEach(([k, v], i) => lines.push(`${i === 0 ? 'values' : ''.padEnd(6)}   ${k} = ${valueText(v)}`));
  Object.entries(c.buffers ?? {}).forEach(([k, b], i) => {
    let used = b.length;
    while (used > 0 && b[used - 1] === 0) used--;
    const shown = JSON.stringify(b.subarray(0, Math.min(used, 64)).toString('utf8'));
    const rest = used > 64 ? '...' : used < b.length ? ` then ${b.length - used} zero bytes` : '';
    lines.push(`${i === 0 ? 'buffers' : ''.padEnd(7)}  ${k} = ${b.length} bytes: ${shown}${rest}`);
  });
  return `${lines.join('\n')}\n`;
}

/** The completion as JSON data: stats as objects, buffers in base64. */
export function toJson(c: Completion, chain: unknown): Record<string, unknown> {
  const plain = (v: unknown): unknown => (v instanceof SysletStat ? { ...v } : v);
  return {
    status: c.status,
    atom: c.atom,
    op: opAt(chain, c.atom),
    result: c.result,
    steps: c.steps,
    ...(c.value === undefined ? {} : { value: plain(c.value) }),
    vars: c.vars,
    values: Object.fromEntries(Object.entries(c.values).map(([k, v]) => [k, plain(v)])),
    ...(c.buffers === undefined ? {} : { buffers: Object.fromEntries(Object.entries(c.buffers).map(([k, b]) => [k, b.toString('base64')])) }),
  };
}
