/**
 * Assertions on numbers and errors: element-wise closeness, relative L2 error, expected throws and
 * rejections.
 *
 * @module
 */

import { AssertionError } from "node:assert";
import type { Tensor } from "../../nn/tensor.ts";

/** Tolerances: |a - e| <= atol + rtol * |e|. */
export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/**
 * Asserts element-wise closeness; the message names the first bad index.
 *
 * @param actual Values to check.
 * @param expected Reference values.
 * @param tol Tolerances (default rtol 1e-5, atol 1e-6).
 * @param label Context for the message.
 */
export function assertClose(
  actual: ArrayLike<number> | Tensor,
  expected: ArrayLike<number> | Tensor,
  tol: Tolerance = {},
  label = "values",
): void {
  const a = "toFloat64Array" in actual ? actual.toFloat64Array() : actual;
  const e = "toFloat64Array" in expected ? expected.toFloat64Array() : expected;
  const rtol = tol.rtol ?? 1e-5;
  const atol = tol.atol ?? 1e-6;
  if (a.length !== e.length) {
    throw new AssertionError({ message: `${label}: length ${a.length} != ${e.length}` });
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs(a[i] - e[i]) - (atol + rtol * Math.abs(e[i]));
    if (excess > worstExcess || Number.isNaN(a[i]) !== Number.isNaN(e[i])) {
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    throw new AssertionError({
      message: `${label}: index ${worst} is ${a[worst]}, expected ${e[worst]} (rtol ${rtol}, atol ${atol})`,
    });
  }
}

/**
 * Relative L2 distance ||actual - expected|| / ||expected||; the absolute distance where
 * `expected` is all zeros.
 *
 * @param actual Values to check.
 * @param expected Reference values (same length).
 * @returns The distance.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Throws unless `error` is an Error whose message matches `pattern`. */
function assertErrorMatches(error: unknown, pattern: RegExp): void {
  const message = error instanceof Error ? error.message : String(error);
  if (!pattern.test(message)) {
    throw new AssertionError({ message: `Expected an error matching ${pattern}, got: ${message}` });
  }
}

function nothingThrown(pattern: RegExp): AssertionError {
  return new AssertionError({ message: `Expected an error matching ${pattern}, but nothing was thrown` });
}

/**
 * Asserts that `fn` throws an Error whose message matches `pattern`.
 *
 * @param fn Code expected to throw.
 * @param pattern Expected message.
 */
export function assertThrows(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (error) {
    assertErrorMatches(error, pattern);
    return;
  }
  throw nothingThrown(pattern);
}

/**
 * Asserts that `promise` rejects with an Error whose message matches `pattern`.
 *
 * @param promise Work expected to fail.
 * @param pattern Expected message.
 */
export async function assertRejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assertErrorMatches(error, pattern);
    return;
  }
  throw nothingThrown(pattern);
}
