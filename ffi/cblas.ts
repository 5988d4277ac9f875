/**
 * CBLAS symbols (OpenBLAS or any BLAS with the C interface), the enums they take, and where to
 * find the library ({@linkcode OPENBLAS}, for the discovery engine in load.ts).
 *
 * Debian's OpenBLAS 0.3.21 mistakes our VMs' AVX-512 CPU for an old core and runs sgemm ~4x
 * slower; the library reads `OPENBLAS_CORETYPE` once, when it loads, so the spec sets it from the
 * CPU's flags before the first candidate is opened, unless the user has chosen one.
 *
 * @module
 */

import type { LibrarySpec } from "./load.ts";
import { cpuPlatforms, openBlasSearch } from "./cpu_places.ts";

/** `CBLAS_ORDER`: row-major storage. */
export const CBLAS_ROW_MAJOR = 101;
/** `CBLAS_TRANSPOSE`: use the matrix as stored. */
export const CBLAS_NO_TRANS = 111;
/** `CBLAS_TRANSPOSE`: use the transpose. */
export const CBLAS_TRANS = 112;

/** The CBLAS functions we call; the `openblas_*` ones are optional (other BLASes lack them). */
export const CBLAS_SYMBOLS = {
  /** `void cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)` */
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  /** `void cblas_dgemm(...)`: as `cblas_sgemm` with doubles. */
  cblas_dgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f64",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f64",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  /** `char *openblas_get_config(void)` */
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  /** `char *openblas_get_corename(void)` */
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
  /** `int openblas_get_num_threads(void)` */
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
} as const;

/** OpenBLAS (or another CBLAS, e.g. Accelerate on macOS): `EPSANET_BLAS` (a file, folders, or `none`), then the loader path and standard folders. */
export const OPENBLAS: LibrarySpec<typeof CBLAS_SYMBOLS> = {
  name: "OpenBLAS",
  envVar: "EPSANET_BLAS",
  override: "only",
  // Per OS, from this process's environment (cpu_places.ts): Accelerate first on macOS.
  get platforms() {
    return cpuPlatforms(openBlasSearch);
  },
  symbols: CBLAS_SYMBOLS,
  prepare: chooseOpenBlasCore,
};

/**
 * Sets `OPENBLAS_CORETYPE` from /proc/cpuinfo's flags (SkylakeX with AVX-512, Haswell with
 * AVX2 + FMA) when the user has not set it.
 *
 * @example
 * ```ts
 * import { chooseOpenBlasCore } from "./cblas.ts";
 * chooseOpenBlasCore(); // before OpenBLAS loads
 * ```
 */
export function chooseOpenBlasCore(): void {
  if (Deno.permissions.querySync({ name: "env" }).state !== "granted" || Deno.env.get("OPENBLAS_CORETYPE")) return;
  let flags = "";
  try {
    flags = Deno.readTextFileSync("/proc/cpuinfo").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
  } catch {
    return;
  }
  const has = (flag: string) => new RegExp(`\\b${flag}\\b`).test(flags);
  if (has("avx512f") && has("avx512bw") && has("avx512vl")) {
    Deno.env.set("OPENBLAS_CORETYPE", "SkylakeX");
  } else if (has("avx2") && has("fma")) Deno.env.set("OPENBLAS_CORETYPE", "Haswell");
}

/**
 * OpenBLAS's build configuration, core and thread count, from its optional `openblas_*` symbols.
 *
 * @param lib The bound symbols.
 * @returns E.g. `" (OpenBLAS 0.3.21 ..., core SkylakeX, 2 threads)"`, or `""` for another BLAS.
 * @example
 * ```ts
 * import { describeOpenBlas, OPENBLAS } from "./cblas.ts";
 * import { openLibrary } from "./load.ts";
 * console.log(describeOpenBlas(openLibrary(OPENBLAS).library.symbols));
 * ```
 */
export function describeOpenBlas(lib: Deno.DynamicLibrary<typeof CBLAS_SYMBOLS>["symbols"]): string {
  const read = (p: Deno.PointerValue) => (p ? Deno.UnsafePointerView.getCString(p) : "");
  const config = lib.openblas_get_config ? read(lib.openblas_get_config()) : "";
  const core = lib.openblas_get_corename ? read(lib.openblas_get_corename()) : "";
  const threads = lib.openblas_get_num_threads ? lib.openblas_get_num_threads() : 0;
  const parts = [config, core && `core ${core}`, threads && `${threads} threads`].filter(Boolean);
  return parts.length ? ` (${parts.join(", ")})` : "";
}
