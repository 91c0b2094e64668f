/**
 * Calls into native addons (`.node` files: better-sqlite3, sharp, bcrypt, ...): effects the journal
 * cannot see. A threadlet that moved after writing rows through an addon would write them again on
 * the worker, since the re-run starts from the beginning and the journal answers only the calls it
 * recorded. So a call into an addon is treated as a call that always blocks: the inline run stops
 * *before* it (nothing of it ran on the calling thread), and the worker re-runs the threadlet, the
 * journal answering what ran inline, and makes the addon call for real, once.
 *
 * How: `process.dlopen` (what `require()` of a `.node` file calls) is wrapped, and so is what each
 * addon exports: its functions and classes (a Proxy: call and `new`), and the methods on their
 * prototypes (in place, so that code that captured a class before still calls the wrappers). Addons
 * loaded before the interception was installed are found in the CommonJS cache and wrapped the same
 * way, except for exported functions captured before that (their prototype methods are wrapped).
 * Outside a threadlet a wrapper tests one word and calls through.
 *
 * Not seen: an addon's getters and static methods, and effects of code that is neither an
 * intercepted call nor an addon call (module state, a global): see the contract in index.ts.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { state, type AnyFunction, type CallSpec } from './original.js';

/** Marks what is wrapped already (a wrapper, a wrapped prototype, a wrapped exports object). */
const WRAPPED = Symbol.for('syslet.threadlet.native');

/** The specs of addon calls (isNativeCall). */
const nativeSpecs = new WeakSet<CallSpec>();

function spec(key: string): CallSpec {
  const reason = `calls into a native addon (${key}): the journal cannot see what it does, so it runs once, on a worker`;
  const s: CallSpec = { key, blocks: () => reason };
  nativeSpecs.add(s);
  return s;
}

/**
 * Whether `spec` is a call into an addon. The inline run never makes one (it moves before), so on
 * the worker every such call runs for the first time: one made before the call the inline run
 * stopped at (an addon's lazy set-up, done already on the calling thread) is no divergence.
 */
export function isNativeCall(spec: CallSpec): boolean {
  return nativeSpecs.has(spec);
}

/** Wrappers made here (a Proxy cannot carry a mark of its own). */
const wrappers = new WeakSet<object>();

function marked(o: object): boolean {
  return wrappers.has(o) || Object.hasOwn(o, WRAPPED);
}

function mark(o: object): void {
  if (typeof o === 'function') wrappers.add(o);
  else Object.defineProperty(o, WRAPPED, { value: true });
}

/** Wrap, in place, the methods on `proto` (a native class's prototype). */
function wrapPrototype(proto: object, prefix: string): void {
  if (marked(proto)) return;
  mark(proto);
  for (const k of Object.getOwnPropertyNames(proto)) {
    if (k === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, k);
    if (d === undefined || typeof d.value !== 'function' || d.writable !== true || marked(d.value as object)) continue;
    const orig = d.value as AnyFunction;
    const s = spec(`${prefix}.${k}`);
    const wrapper = function (this: unknown): unknown {
      const ctx = state.ctx;
      if (ctx === null) return orig.apply(this, arguments as unknown as unknown[]);
      return ctx.intercept(s, orig, this, arguments);
    };
    Object.defineProperty(wrapper, 'name', { value: orig.name, configurable: true });
    Object.defineProperty(wrapper, 'length', { value: orig.length, configurable: true });
    mark(wrapper);
    Object.defineProperty(proto, k, { ...d, value: wrapper });
  }
}

/** A function or class an addon exports: a Proxy whose call and `new` are intercepted. */
function wrapFunction(fn: AnyFunction, key: string): AnyFunction {
  if (marked(fn)) return fn;
  const proto = (fn as { prototype?: unknown }).prototype;
  if (typeof proto === 'object' && proto !== null) wrapPrototype(proto, key);
  const call = spec(key);
  const make = spec(`new ${key}`);
  const proxy: AnyFunction = new Proxy(fn, {
    apply(target, self, args) {
      const ctx = state.ctx;
      if (ctx === null) return Reflect.apply(target, self, args) as unknown;
      return ctx.intercept(call, target, self, args as unknown as IArguments);
    },
    construct(target, args, newTarget) {
      const nt = newTarget === proxy ? target : newTarget;
      const ctx = state.ctx;
      if (ctx === null) return Reflect.construct(target, args, nt) as object;
      const construct = (): unknown => Reflect.construct(target, args, nt);
      return ctx.intercept(make, construct, undefined, args as unknown as IArguments) as object;
    },
  });
  mark(proxy);
  return proxy;
}

/** Wrap what an addon exports, in place where it can (the exports object others hold stays the same). */
function wrapExports(exports: unknown, file: string): unknown {
  const name = path.basename(file, '.node');
  if (typeof exports === 'function') return wrapFunction(exports as AnyFunction, name);
  if (typeof exports !== 'object' || exports === null || marked(exports)) return exports;
  mark(exports);
  for (const k of Object.getOwnPropertyNames(exports)) {
    const d = Object.getOwnPropertyDescriptor(exports, k);
    if (d === undefined || typeof d.value !== 'function') continue;
    const w = wrapFunction(d.value as AnyFunction, `${name}.${k}`);
    if (d.writable === true || d.configurable === true) Object.defineProperty(exports, k, { ...d, value: w });
    else {
      const proto = (d.value as { prototype?: unknown }).prototype;
      if (typeof proto === 'object' && proto !== null) wrapPrototype(proto, `${name}.${k}`);
    }
  }
  return exports;
}

let installed = false;

/** Intercept calls into native addons on this thread: those loaded from now on, and those loaded already. */
export function installNativeInterception(): void {
  if (installed) return;
  installed = true;
  const dlopen = process.dlopen;
  const hooked = function (this: unknown, module: { exports: unknown }, filename: string, ...rest: unknown[]): void {
    (dlopen as AnyFunction).call(this, module, filename, ...rest);
    module.exports = wrapExports(module.exports, filename);
  };
  Object.defineProperty(hooked, 'name', { value: 'dlopen', configurable: true });
  process.dlopen = hooked as typeof process.dlopen;
  const cache = createRequire(import.meta.url).cache;
  for (const [file, m] of Object.entries(cache)) {
    if (file.endsWith('.node') && m !== undefined) m.exports = wrapExports(m.exports, file);
  }
}
