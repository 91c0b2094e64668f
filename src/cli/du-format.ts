/**
 * GNU du's text: sizes as gnulib's human_readable() prints them, names quoted as quoteaf() quotes
 * them in messages, glibc's strerror texts, and paths built as gnulib's fts builds them.
 *
 * A path is a string, or a Buffer when its bytes are not valid UTF-8 (a file name is bytes; such
 * a name cannot round-trip through a JS string). Output carries those bytes as they are, as du
 * writes them.
 */
import { isUtf8 } from 'node:buffer';
import { constants } from 'node:os';

/** A path or name: a string, or its bytes when they are not valid UTF-8. */
export type DuPath = string | Buffer;

/** glibc's strerror texts for the errors a walk meets; others print their errno name. */
const STRERROR: Record<number, string> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  5: 'Input/output error',
  12: 'Cannot allocate memory',
  13: 'Permission denied',
  20: 'Not a directory',
  23: 'Too many open files in system',
  24: 'Too many open files',
  36: 'File name too long',
  40: 'Too many levels of symbolic links',
  75: 'Value too large for defined data type',
  116: 'Stale file handle',
};

/** errno number -> name (ENOENT...), from the host's own table. */
let ERRNO_NAMES: Map<number, string> | undefined;

export function strerror(e: number): string {
  ERRNO_NAMES ??= new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));
  return STRERROR[e] ?? ERRNO_NAMES.get(e) ?? `Unknown error ${e}`;
}

/**
 * `path` the way gnulib's fts keeps an operand: two or more trailing slashes become one
 * ("a//" → "a/"; "//" stays "//").
 */
export function ftsRootPath(arg: string): string {
  let len = arg.length;
  if (len > 2 && arg[len - 1] === '/') {
    while (len > 1 && arg[len - 2] === '/') len--;
  }
  return arg.slice(0, len);
}

/** The prefix of a child's path: fts appends "/name", without doubling a trailing slash. */
export function childPrefix(dirPath: DuPath): DuPath {
  if (typeof dirPath === 'string') return dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
  return dirPath[dirPath.length - 1] === 0x2f ? dirPath : Buffer.concat([dirPath, SLASH]);
}

const SLASH = Buffer.from('/');

/** `prefix` + `name`: a string when both are, else the bytes. */
export function joinPath(prefix: DuPath, name: DuPath): DuPath {
  if (typeof prefix === 'string' && typeof name === 'string') return prefix + name;
  return Buffer.concat([asBytes(prefix), asBytes(name)]);
}

export function asBytes(p: DuPath): Buffer {
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
}

/** An upper bound of a path's UTF-8 length, without a scan: 3 bytes per UTF-16 unit. */
export function maxBytes(p: DuPath): number {
  return typeof p === 'string' ? 3 * p.length : p.length;
}

/**
 * A number of bytes as du prints it: `human_readable()` of gnulib with du's options, ceiling
 * rounding, exactly in integers. `blockSize` 'human' is -h (autoscale, powers of 1024, SI letters).
 */
export function formatSize(bytes: number, blockSize: number | 'human'): string {
  if (blockSize !== 'human') return String(Math.ceil(bytes / blockSize));
  const base = 1024;
  let amt = bytes;
  let tenths = 0;
  // 0: exact; 1: less than half a tenth left over; 2: exactly half; 3: more than half.
  let rounding = 0;
  let exponent = 0;
  let frac = '';
  if (amt >= base) {
    do {
      const r10 = (amt % base) * 10 + tenths;
      const r2 = (r10 % base) * 2 + (rounding >> 1);
      amt = Math.floor(amt / base);
      tenths = Math.floor(r10 / base);
      rounding = r2 < base ? (r2 + rounding !== 0 ? 1 : 0) : 2 + (base < r2 + rounding ? 1 : 0);
      exponent++;
    } while (amt >= base && exponent < POWER_LETTERS.length);
    if (amt < 10) {
      if (rounding > 0) {
        tenths++;
        rounding = 0;
        if (tenths === 10) {
          amt++;
          tenths = 0;
        }
      }
      if (amt < 10) {
        frac = `.${tenths}`;
        tenths = 0;
        rounding = 0;
      }
    }
  }
  if (tenths + rounding > 0) {
    amt++;
    if (amt === base && exponent < POWER_LETTERS.length) {
      exponent++;
      frac = '.0';
      amt = 1;
    }
  }
  return `${amt}${frac}${exponent > 0 ? POWER_LETTERS[exponent - 1]! : ''}`;
}

const POWER_LETTERS = 'KMGTPEZYRQ';

/**
 * A file name quoted as du's `quoteaf()` does (gnulib quotearg, shell-escape-always style):
 * 'name'; a name whose only trouble is a single quote goes in double quotes; a single quote
 * elsewhere becomes '\''; control characters become $'\n' or $'\ooo' segments. In a UTF-8
 * locale other characters print as they are and bytes that are not valid UTF-8 as octal; in a
 * single-byte locale every non-ASCII byte is octal.
 */
export function quoteName(name: DuPath, utf8Locale: boolean): string {
  const units = unitsOf(name, utf8Locale);
  const first = quotePass(units, false);
  if (!first.sawQuote) return `'${first.text}'`;
  if (first.allCompat) return `"${units.map((u) => u.ch).join('')}"`;
  // A single quote made quotearg scan once and then write in a second pass. In coreutils 9.1's
  // gnulib that pass starts with the first one's "escape still open" state instead of a fresh one,
  // so a name ending in an escape gets an empty '' after its opening quote. Reproduced on purpose.
  return `'${quotePass(units, first.pendingEnd).text}'`;
}

/** One character as quotearg sees it: its text, code point (-1 for a stray byte) and bytes. */
interface Unit {
  ch: string;
  code: number;
  bytes: number[];
}

/**
 * The characters of `name`: in a UTF-8 locale, code points, with each byte of an invalid sequence
 * on its own (code -1); otherwise one per byte.
 */
function unitsOf(name: DuPath, utf8Locale: boolean): Unit[] {
  const bytes = asBytes(name);
  const units: Unit[] = [];
  if (!utf8Locale) {
    for (const b of bytes) units.push({ ch: String.fromCharCode(b), code: b, bytes: [b] });
    return units;
  }
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    const seq = len === 0 ? undefined : bytes.subarray(i, i + len);
    if (seq !== undefined && seq.length === len && isUtf8(seq)) {
      const ch = seq.toString('utf8');
      units.push({ ch, code: ch.codePointAt(0)!, bytes: [...seq] });
      i += len;
    } else {
      units.push({ ch: '', code: -1, bytes: [b] });
      i++;
    }
  }
  return units;
}

/** One pass of quotearg_buffer_restyled over the units, without the outer quotes. */
function quotePass(
  units: readonly Unit[],
  pendingAtStart: boolean,
): { text: string; pendingEnd: boolean; sawQuote: boolean; allCompat: boolean } {
  let s = '';
  let pendingEnd = pendingAtStart;
  let sawQuote = false;
  let allCompat = true;
  const escape = (octets: string[]): void => {
    if (!pendingEnd) {
      s += "'$'";
      pendingEnd = true;
    }
    for (const o of octets) s += `\\${o}`;
    allCompat = false;
  };
  const n = units.length;
  for (let i = 0; i < n; i++) {
    const { ch, code, bytes } = units[i]!;
    let compat = false;
    switch (ch) {
      case '\x07': escape(['a']); continue;
      case '\b': escape(['b']); continue;
      case '\f': escape(['f']); continue;
      case '\n': escape(['n']); continue;
      case '\r': escape(['r']); continue;
      case '\t': escape(['t']); continue;
      case '\v': escape(['v']); continue;
      case ' ':
        compat = true;
        break;
      case '#':
      case '~':
        compat = i === 0;
        break;
      case '{':
      case '}':
        compat = n === 1;
        break;
      case "'":
        sawQuote = true;
        compat = true;
        s += "'\\'";
        pendingEnd = false;
        break;
      default:
        if (/^[%+,\-./0-9:@A-Z\]_a-z]$/.test(ch)) compat = true;
        else if (ch !== '' && '\\!"$&()*;<=>[^`|?'.includes(ch)) compat = false;
        else if (code < 0x20 || (code >= 0x7f && code < 0xa0) || (units.length > 0 && bytes.length === 1 && code >= 0x80)) {
          // Not printable (or not a character): every byte of it in octal.
          escape(bytes.map((b) => b.toString(8).padStart(3, '0')));
          continue;
        } else compat = true;
    }
    if (pendingEnd) {
      s += "''";
      pendingEnd = false;
    }
    s += ch;
    if (!compat) allCompat = false;
  }
  return { text: s, pendingEnd, sawQuote, allCompat };
}

/** Whether the environment's LC_CTYPE is a UTF-8 locale (multibyte characters are printable). */
export function isUtf8Locale(env: Record<string, string | undefined>): boolean {
  const ctype = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /utf-?8/i.test(ctype);
}

