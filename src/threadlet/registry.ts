/**
 * Threadlets defined in this thread, by module URL and name: how a worker finds the function after
 * importing the module. On globalThis under a registered symbol, so that two copies of syslet in
 * one thread (a duplicated dependency) find each other's threadlets.
 */
import type { ErrorClass } from './wire.js';

export interface Registered {
  readonly fn: (...args: never[]) => unknown;
  /** Error classes to rebuild errors as (by class name), from the threadlet's options. */
  readonly errorClasses: ReadonlyMap<string, ErrorClass> | undefined;
}

const REGISTRY_KEY = Symbol.for('syslet.threadlet.registry');

const registry: Map<string, Registered> = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] ??= new Map<
  string,
  Registered
>()) as Map<string, Registered>;

function key(url: string, name: string): string {
  return `${url}\0${name}`;
}

/** Register (or, when the module is evaluated again, replace) a threadlet. */
export function register(url: string, name: string, r: Registered): void {
  registry.set(key(url, name), r);
}

export function lookup(url: string, name: string): Registered | undefined {
  return registry.get(key(url, name));
}
