/**
 * The WebAssembly SIMD GEMM (nn/cpu/wasm/src/gemm.c): same signature as nn/cpu/gemm.ts's
 * `gemmTypeScript`. Operands are copied into the module's memory (grown as needed), C is copied back.
 * float64 operands fall back to the TypeScript GEMM (the module is single precision).
 *
 * @module
 */

import { WASM_BASE64 } from "./binary.ts";
import type { HostGemm } from "../gemm_args.ts";

interface Exports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  sgemm(
    ta: number,
    tb: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    b: number,
    beta: number,
    c: number,
  ): void;
}

let exports: Exports | undefined;

function instance(): Exports {
  if (exports) return exports;
  const bytes = Uint8Array.from(atob(WASM_BASE64), (ch) => ch.charCodeAt(0));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  exports = inst.exports as unknown as Exports;
  return exports;
}

/**
 * Whether this engine can run the WebAssembly SIMD module.
 *
 * @returns true when it instantiates.
 * @example
 * ```ts
 * import { wasmAvailable } from "./gemm.ts";
 * console.log(wasmAvailable());
 * ```
 */
export function wasmAvailable(): boolean {
  try {
    instance();
    return true;
  } catch {
    return false;
  }
}

/**
 * One single-precision row-major GEMM through the WebAssembly SIMD module.
 *
 * @param g The operands (float32; `g.c` must be a Float32Array).
 * @example
 * ```ts
 * import { gemmWasm } from "./gemm.ts";
 * const c = new Float32Array(1);
 * gemmWasm({ transA: false, transB: false, m: 1, n: 1, k: 2, alpha: 1, a: new Float32Array([1, 2]),
 *   aOffset: 0, b: new Float32Array([3, 4]), bOffset: 0, beta: 0, c, cOffset: 0 });
 * // c[0] === 11
 * ```
 */
export function gemmWasm(g: HostGemm): void {
  const { m, n, k } = g;
  if (m === 0 || n === 0) return;
  if (!(g.c instanceof Float32Array)) {
    throw new Error("gemmWasm: C must be a Float32Array; use gemmTypeScript for float64");
  }
  const w = instance();
  const base = ((w.__heap_base.value as number) + 15) & ~15;
  const aBytes = m * k * 4, bBytes = k * n * 4, cBytes = m * n * 4;
  const aPtr = base, bPtr = aPtr + ((aBytes + 15) & ~15), cPtr = bPtr + ((bBytes + 15) & ~15);
  const end = cPtr + cBytes;
  const have = w.memory.buffer.byteLength;
  if (end > have) w.memory.grow(Math.ceil((end - have) / 65536));
  const heap = new Float32Array(w.memory.buffer);
  heap.set(g.a.subarray(g.aOffset, g.aOffset + m * k), aPtr >> 2);
  heap.set(g.b.subarray(g.bOffset, g.bOffset + k * n), bPtr >> 2);
  const cView = heap.subarray(cPtr >> 2, (cPtr >> 2) + m * n);
  if (g.beta !== 0) cView.set(g.c.subarray(g.cOffset, g.cOffset + m * n));
  w.sgemm(g.transA ? 1 : 0, g.transB ? 1 : 0, m, n, k, g.alpha, aPtr, bPtr, g.beta, cPtr);
  g.c.set(cView, g.cOffset);
}
