/**
 * Scopes: `tidy(fn)` disposes the tensors `fn` created and did not return; `keep(t)` exempts one.
 *
 * This module knows tensors only as things with `dispose()`: the Tensor class adds each new
 * tensor to the innermost scope, so scopes need not import it.
 *
 * @module
 */

/** What a scope holds: something it can dispose (a tensor). */
export interface Scoped {
  /** Frees it; called by {@linkcode tidy} unless it was returned or kept. */
  dispose(): void;
}

const scopes: Set<Scoped>[] = [];

/**
 * Adds a new tensor to the innermost {@linkcode tidy} scope, if any (the Tensor constructor calls
 * this).
 *
 * @param value The new tensor.
 * @example
 * ```ts
 * import { addToScope, tidy } from "./scope.ts";
 * tidy(() => addToScope({ dispose: () => console.log("disposed") })); // prints "disposed"
 * ```
 */
export function addToScope(value: Scoped): void {
  scopes[scopes.length - 1]?.add(value);
}

/**
 * Removes a tensor from every enclosing scope (on dispose, and for {@linkcode keep}).
 *
 * @param value The tensor.
 * @example
 * ```ts
 * import { addToScope, removeFromScopes, tidy } from "./scope.ts";
 * const value = { dispose: () => console.log("never printed") };
 * tidy(() => {
 *   addToScope(value);
 *   removeFromScopes(value);
 * });
 * ```
 */
export function removeFromScopes(value: Scoped): void {
  for (const scope of scopes) scope.delete(value);
}

/**
 * Runs `fn` and disposes every tensor it created, except those in its return value (found in
 * arrays, plain objects and Maps) and those passed to {@linkcode keep}. `fn` must be synchronous.
 *
 * @param fn The work.
 * @returns What `fn` returned.
 * @example
 * ```ts
 * import { tidy } from "./scope.ts";
 * import { tensor } from "./creation.ts";
 * const x = tensor([1, 2]);
 * const y = tidy(() => x.mul(2).add(1)); // the intermediate x.mul(2) is freed
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Scoped>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new Error("tidy(): fn returned a Promise; tidy only takes synchronous functions");
  }
  const kept = new Set<Scoped>();
  collectScoped(result, scope, kept, 0);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Members of `scope` found in `value`, looking into arrays, Maps and plain objects. */
function collectScoped(value: unknown, scope: Set<Scoped>, out: Set<Scoped>, depth: number): void {
  if (depth > 4 || value === null || typeof value !== "object") return;
  if (scope.has(value as Scoped)) out.add(value as Scoped);
  else if (Array.isArray(value)) {
    for (const v of value) collectScoped(v, scope, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectScoped(v, scope, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectScoped(v, scope, out, depth + 1);
  }
}

/**
 * Exempts a tensor from every enclosing {@linkcode tidy}: it lives until disposed.
 *
 * @param t The tensor.
 * @returns The same tensor.
 * @example
 * ```ts
 * import { keep, tidy } from "./scope.ts";
 * import { zeros } from "./creation.ts";
 * let state;
 * tidy(() => { state = keep(zeros([3])); });
 * ```
 */
export function keep<T extends { dispose(): void }>(t: T): T {
  removeFromScopes(t);
  return t;
}
