/**
 * Random host arrays for kernel tests.
 *
 * @module
 */

import type { Generator } from "../../nn/random.ts";

/**
 * `n` draws from N(0, 1).
 *
 * @param n Length.
 * @param generator Random source (seeded by the test).
 * @returns The values.
 */
export function randomFloat32(n: number, generator: Generator): Float32Array {
  return Float32Array.from({ length: n }, () => generator.normal());
}
