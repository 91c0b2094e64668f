/**
 * Why a re-run diverged, guessed from what differs: the hint a ThreadletDivergenceError ends with.
 *
 *   same call, an argument differs   the first differing value says: a Date, or a number that reads
 *                                    as a time near now: the clock; a fraction in [0, 1), or a run of
 *                                    hex or base-36 characters in a string: randomness, or a name
 *                                    derived from the thread, process or a per-module counter (a temp
 *                                    file name); anything else: state that is not an argument
 *   another call, or none            another path: state that is not an argument, or (when the
 *                                    re-run makes a call the inline run did not journal) a function
 *                                    captured before syslet installed its interception
 *
 * Values are COMPARE wire forms (wire.ts). A guess, phrased as one: the journal knows the calls, not
 * the code between them.
 */
import { describeWire } from './wire.js';

/** A call as the journal describes it: key and COMPARE-form arguments. */
export interface CallSeen {
  k: string;
  a: readonly unknown[];
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

/** A number that reads as a time near now: milliseconds or seconds since the epoch, within a year. */
function timeLike(x: unknown): boolean {
  if (typeof x !== 'number' || !Number.isFinite(x)) return false;
  const now = Date.now();
  return Math.abs(x - now) < YEAR_MS || Math.abs(x * 1000 - now) < YEAR_MS;
}

/** The first place where two COMPARE values differ: a path and the two values there. */
function firstDifference(x: unknown, y: unknown, at: string): { at: string; x: unknown; y: unknown } | undefined {
  if (Object.is(x, y)) return undefined;
  const bothObjects = typeof x === 'object' && typeof y === 'object' && x !== null && y !== null;
  if (!bothObjects || x instanceof Date || y instanceof Date || ArrayBuffer.isView(x) || ArrayBuffer.isView(y)) {
    if (x instanceof Date && y instanceof Date && x.getTime() === y.getTime()) return undefined;
    return { at, x, y };
  }
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  for (const k of keys) {
    const d = firstDifference((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], Array.isArray(x) ? `${at}[${k}]` : `${at}.${k}`);
    if (d !== undefined) return d;
  }
  return undefined;
}

/** The part of `s` that is not the common prefix or suffix it shares with `t`. */
function differingPart(s: string, t: string): string {
  let i = 0;
  while (i < s.length && i < t.length && s[i] === t[i]) i++;
  let j = 0;
  while (j < s.length - i && j < t.length - i && s[s.length - 1 - j] === t[t.length - 1 - j]) j++;
  return s.slice(i, s.length - j);
}

const CLOCK =
  'time: a value read from the clock (new Date(), Date.now(), process.hrtime()) feeds the call, and the' +
  ' re-run read another. Read it after the first call that moves, or pass it in as an argument';
const RANDOM =
  'randomness, or a name derived from the thread, the process or a per-module counter (Math.random(),' +
  ' a temp file name such as write-file-atomic makes from the thread id and a counter), which differs' +
  ' on the worker. Pass it in as an argument, or draw it from crypto.randomBytes()/randomUUID() (journaled)';
const STATE =
  'state that is not an argument: module state (a counter, a cache), a global, or the environment, which' +
  ' the inline run saw one way and the re-run on the worker another';
const CAPTURED =
  ' Or the inline run made this call through a function captured before syslet installed its' +
  ' interception, so the journal never saw it (preload --import syslet/register)';

/**
 * The likely cause of a divergence: `expected` is what the inline run journaled at that point (or
 * undefined: it made no call there), `actual` what the re-run made (undefined: it returned or threw).
 */
export function likelyCause(expected: CallSeen | undefined, actual: CallSeen | undefined): string {
  if (expected !== undefined && actual !== undefined && expected.k === actual.k) {
    const d = firstDifference(expected.a, actual.a, 'argument ');
    if (d === undefined) return `likely cause: ${STATE}`;
    const where = `${d.at.replace('argument [', 'argument ').replace(/^argument (\d+)\]/, 'argument $1')}`;
    const shown = `${where} is ${describeWire(d.x)} inline, ${describeWire(d.y)} on the worker`;
    if (d.x instanceof Date || d.y instanceof Date || (timeLike(d.x) && timeLike(d.y))) return `${shown}; likely cause: ${CLOCK}`;
    if (typeof d.x === 'number' && typeof d.y === 'number' && d.x > 0 && d.x < 1 && d.y > 0 && d.y < 1) {
      return `${shown}; likely cause: ${RANDOM}`;
    }
    if (typeof d.x === 'string' && typeof d.y === 'string') {
      const part = differingPart(d.x, d.y);
      if (/^[0-9a-zA-Z_-]{4,}$/.test(part) && /[0-9]/.test(part)) return `${shown}; likely cause: ${RANDOM}`;
      if (/\d{10,13}/.test(part) && timeLike(Number(/\d{10,13}/.exec(part)![0]))) return `${shown}; likely cause: ${CLOCK}`;
    }
    return `${shown}; likely cause: ${STATE}`;
  }
  if (actual === undefined) return `likely cause: the re-run returned or threw before that call: ${STATE}`;
  return `likely cause: the re-run took another path: ${STATE}.${CAPTURED}`;
}
