/**
 * Row-major GEMM for the CPU device: `cblas_sgemm` / `cblas_dgemm` of a native BLAS when one opens,
 * a TypeScript GEMM otherwise.
 *
 * The BLAS is looked for at the first GEMM (ffi/cblas.ts's spec): `EPSANET_BLAS` (a file, a folder
 * list, or `none` to force the TypeScript path; a path that cannot be used is an error), else
 * `libopenblas.so.0` and friends on the loader path and in the standard folders, with
 * `OPENBLAS_CORETYPE` chosen from the CPU when unset. Without a BLAS, one line on stderr says so.
 *
 * @module
 */

import { CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, type CBLAS_SYMBOLS, CBLAS_TRANS, describeOpenBlas } from "../../ffi/cblas.ts";
import { openBlas } from "./native_libraries.ts";
import { gemmWasm, wasmAvailable } from "./wasm/gemm.ts";

export type { FloatArray, HostGemm } from "./gemm_args.ts";
import type { HostGemm } from "./gemm_args.ts";

type Cblas = Deno.DynamicLibrary<typeof CBLAS_SYMBOLS>["symbols"];

/** What the CPU GEMM runs on. */
export interface BlasInfo {
  /** `"blas"` for a native library, `"wasm"` for the WebAssembly SIMD GEMM (float32), `"typescript"` otherwise. */
  kind: "blas" | "wasm" | "typescript";
  /** Library path, config and core, or why the TypeScript path is used. */
  detail: string;
}

let blas: Cblas | null | undefined;
let info: BlasInfo = { kind: "typescript", detail: "not loaded yet" };

/**
 * Loads the BLAS once (idempotent) and reports what GEMMs will run on.
 *
 * @returns The backend in use.
 * @throws {LibraryNotFoundError} when `EPSANET_BLAS` names a library that cannot be used.
 * @example
 * ```ts
 * import { blasInfo } from "./gemm.ts";
 * console.log(blasInfo().kind); // "blas" with --allow-ffi and OpenBLAS installed
 * ```
 */
export function blasInfo(): BlasInfo {
  loadBlas();
  return info;
}

/** `EPSANET_BACKEND` (`native`, `wasm` or `typescript`), or undefined when unset or unreadable. */
function forcedBackend(): string | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get("EPSANET_BACKEND");
  } catch {
    return undefined; // no --allow-env: the default order applies
  }
  if (value === undefined || value === "") return undefined;
  if (!["native", "wasm", "typescript"].includes(value)) {
    throw new Error(`EPSANET_BACKEND=${value} is not a backend; use native, wasm or typescript (or unset it)`);
  }
  return value;
}

let useWasm = false;

function loadBlas(): Cblas | null {
  if (blas !== undefined) return blas;
  const forced = forcedBackend();
  const wasm = forced !== "typescript" && wasmAvailable();
  if (forced === "wasm" || forced === "typescript") {
    blas = null;
    useWasm = forced === "wasm" && wasm;
    info = useWasm
      ? { kind: "wasm", detail: "EPSANET_BACKEND=wasm" }
      : { kind: "typescript", detail: `EPSANET_BACKEND=${forced}` };
    return blas;
  }
  const opened = openBlas();
  if (opened.library) {
    blas = opened.library.symbols;
    info = { kind: "blas", detail: `${opened.path}${describeOpenBlas(blas)}` };
  } else {
    blas = null;
    useWasm = wasm;
    info = { kind: wasm ? "wasm" : "typescript", detail: opened.reason };
  }
  return blas;
}

/**
 * One row-major GEMM on host arrays, through the BLAS when loaded.
 *
 * @param g The operands.
 * @example
 * ```ts
 * import { gemm } from "./gemm.ts";
 * const c = new Float32Array(1);
 * gemm({ transA: false, transB: false, m: 1, n: 1, k: 2, alpha: 1, a: new Float32Array([1, 2]),
 *   aOffset: 0, b: new Float32Array([3, 4]), bOffset: 0, beta: 0, c, cOffset: 0 });
 * // c[0] === 11
 * ```
 */
export function gemm(g: HostGemm): void {
  if (g.m === 0 || g.n === 0) return;
  const lib = loadBlas();
  if (lib === null || g.k === 0) {
    if (useWasm && g.c instanceof Float32Array) gemmWasm(g);
    else gemmTypeScript(g);
    return;
  }
  blasGemm(lib, g);
}

function blasGemm(lib: Cblas, g: HostGemm): void {
  const lda = g.transA ? g.m : g.k;
  const ldb = g.transB ? g.k : g.n;
  const ta = g.transA ? CBLAS_TRANS : CBLAS_NO_TRANS;
  const tb = g.transB ? CBLAS_TRANS : CBLAS_NO_TRANS;
  const a = g.aOffset ? g.a.subarray(g.aOffset) : g.a;
  const b = g.bOffset ? g.b.subarray(g.bOffset) : g.b;
  const c = g.cOffset ? g.c.subarray(g.cOffset) : g.c;
  if (g.c instanceof Float32Array) {
    lib.cblas_sgemm(CBLAS_ROW_MAJOR, ta, tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, g.n);
  } else {
    lib.cblas_dgemm(CBLAS_ROW_MAJOR, ta, tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, g.n);
  }
}

/**
 * The TypeScript GEMM (used without a BLAS; exported so tests can compare both paths).
 *
 * @param g The operands.
 * @example
 * ```ts
 * import { gemmTypeScript } from "./gemm.ts";
 * const c = new Float32Array(1);
 * gemmTypeScript({ transA: false, transB: true, m: 1, n: 1, k: 2, alpha: 1, a: new Float32Array([1, 2]),
 *   aOffset: 0, b: new Float32Array([3, 4]), bOffset: 0, beta: 0, c, cOffset: 0 });
 * ```
 */
export function gemmTypeScript(g: HostGemm): void {
  const { m, n, k, alpha, beta, c, cOffset } = g;
  for (let i = 0; i < m; i++) {
    const row = cOffset + i * n;
    if (beta === 0) c.fill(0, row, row + n);
    else if (beta !== 1) { for (let j = 0; j < n; j++) c[row + j] *= beta; }
  }
  if (k === 0 || alpha === 0) return;
  // Make B row-major (k x n) so the inner loop runs over contiguous memory.
  let b = g.b;
  let bOffset = g.bOffset;
  if (g.transB) {
    const packed = new (c.constructor as Float32ArrayConstructor)(k * n);
    for (let j = 0; j < n; j++) {
      const src = g.bOffset + j * k;
      for (let p = 0; p < k; p++) packed[p * n + j] = g.b[src + p];
    }
    b = packed;
    bOffset = 0;
  }
  const a = g.a;
  for (let i = 0; i < m; i++) {
    const row = cOffset + i * n;
    for (let p = 0; p < k; p++) {
      const aip = alpha * (g.transA ? a[g.aOffset + p * m + i] : a[g.aOffset + i * k + p]);
      if (aip === 0) continue;
      const bRow = bOffset + p * n;
      for (let j = 0; j < n; j++) c[row + j] += aip * b[bRow + j];
    }
  }
}
