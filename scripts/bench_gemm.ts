/**
 * GEMM GFLOP/s for square sizes 256, 512, 1024: the WebAssembly SIMD GEMM and the TypeScript GEMM
 * (the latter up to 512, it is slow). A few seconds; one thread.
 *
 * @example
 * ```sh
 * deno task bench-gemm
 * ```
 *
 * @module
 */

import { gemmTypeScript, type HostGemm } from "../nn/cpu/gemm.ts";
import { gemmWasm } from "../nn/cpu/wasm/gemm.ts";

/**
 * Seconds per call of `f` on `g`, after a warm-up call.
 *
 * @param f The GEMM.
 * @param g Its operands.
 * @param reps Timed calls.
 * @returns Mean seconds.
 * @example
 * ```ts
 * import { gemmWasm } from "../nn/cpu/wasm/gemm.ts";
 * import { secondsPerCall } from "./bench_gemm.ts";
 * const a = new Float32Array(4);
 * secondsPerCall(gemmWasm, { transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 1, a, aOffset: 0,
 *   b: a, bOffset: 0, beta: 0, c: new Float32Array(4), cOffset: 0 }, 1);
 * ```
 */
export function secondsPerCall(f: (g: HostGemm) => void, g: HostGemm, reps: number): number {
  f(g);
  const t = performance.now();
  for (let r = 0; r < reps; r++) f(g);
  return (performance.now() - t) / 1000 / reps;
}

if (import.meta.main) {
  for (const s of [256, 512, 1024]) {
    const a = Float32Array.from({ length: s * s }, () => Math.random() - 0.5);
    const c = new Float32Array(s * s);
    const g = {
      transA: false,
      transB: false,
      m: s,
      n: s,
      k: s,
      alpha: 1,
      a,
      aOffset: 0,
      b: a,
      bOffset: 0,
      beta: 0,
      c,
      cOffset: 0,
    };
    const reps = s <= 512 ? 5 : 2;
    const line = [`${s}x${s}x${s}:`, `wasm ${(2 * s ** 3 / secondsPerCall(gemmWasm, g, reps) / 1e9).toFixed(1)}`];
    if (s <= 512) line.push(`typescript ${(2 * s ** 3 / secondsPerCall(gemmTypeScript, g, 2) / 1e9).toFixed(1)}`);
    console.log(`${line.join(" ")} GFLOP/s`);
  }
}
