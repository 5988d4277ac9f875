/**
 * Opening the CUDA stack as one: the driver (`libcuda.so.1`), NVRTC, cuBLAS and cuDNN 9, each found
 * by the discovery engine (load.ts) from its spec beside its bindings (cuda.ts, nvrtc.ts,
 * cublas.ts, cudnn.ts).
 *
 * What this adds to the engine is the family's rules: the driver comes first, and without it
 * nothing else is looked for (a machine without an NVIDIA driver needs no pip wheels); the other
 * three are reported together in one short line; `EPSANET_CUDA_LIBS`, which all four share, must
 * hold at least one of them, so a mistyped folder is an error rather than a silent search
 * elsewhere.
 *
 * @example
 * ```ts
 * import { openCudaLibraries } from "./cuda_libraries.ts";
 * try {
 *   console.log(openCudaLibraries().paths.cudnn);
 * } catch (error) {
 *   console.log((error as Error).message); // one short line: what is missing and how to get it
 * }
 * ```
 *
 * @module
 */

import { CUBLAS, type CUBLAS_SYMBOLS } from "./cublas.ts";
import { CUDA_DRIVER, type CUDA_SYMBOLS } from "./cuda.ts";
import { CUDNN, type CUDNN_SYMBOLS } from "./cudnn.ts";
import {
  checkOverride,
  hasPermission,
  libraryCandidates,
  LibraryNotFoundError,
  type LibrarySpec,
  openLibrary,
  overrideEntries,
  readEnv,
} from "./load.ts";
import { VERBOSE_ENV } from "./notice.ts";
import { NVRTC, type NVRTC_SYMBOLS } from "./nvrtc.ts";
import { CUDA_LIBS_ENV, currentPlatform, pathExists } from "./places.ts";

/** The libraries of the CUDA stack the CUDA device needs. */
export type CudaLibraryName = "driver" | "nvrtc" | "cublas" | "cudnn";

/** The spec of each library of the stack, in opening order (NVRTC and cuBLAS before cuDNN, whose parts load them). */
export const CUDA_SPECS: {
  readonly driver: LibrarySpec<typeof CUDA_SYMBOLS>;
  readonly nvrtc: LibrarySpec<typeof NVRTC_SYMBOLS>;
  readonly cublas: LibrarySpec<typeof CUBLAS_SYMBOLS>;
  readonly cudnn: LibrarySpec<typeof CUDNN_SYMBOLS>;
} = {
  driver: CUDA_DRIVER,
  nvrtc: NVRTC,
  cublas: CUBLAS,
  cudnn: CUDNN,
};

/** The four libraries, opened, with their symbol tables bound. */
export interface CudaLibraries {
  /** The driver API (`libcuda.so.1`). */
  driver: Deno.DynamicLibrary<typeof CUDA_SYMBOLS>;
  /** NVRTC. */
  nvrtc: Deno.DynamicLibrary<typeof NVRTC_SYMBOLS>;
  /** cuBLAS. */
  cublas: Deno.DynamicLibrary<typeof CUBLAS_SYMBOLS>;
  /** cuDNN (the dispatcher library). */
  cudnn: Deno.DynamicLibrary<typeof CUDNN_SYMBOLS>;
  /** The path (or bare file name) each library was opened from. */
  paths: Readonly<Record<CudaLibraryName, string>>;
}

let opened: CudaLibraries | Error | undefined;

/**
 * Opens the driver, NVRTC, cuBLAS and cuDNN, once per process.
 *
 * @returns The four libraries with their symbol tables bound.
 * @throws {LibraryNotFoundError} one short line: the missing driver alone, or every missing
 * library and how to install it, or the `EPSANET_CUDA_LIBS` entry that cannot be used (`variable`
 * set); `tried` lists every place tried.
 * @example
 * ```ts
 * import { openCudaLibraries } from "./cuda_libraries.ts";
 * const { cudnn } = openCudaLibraries();
 * console.log(cudnn.symbols.cudnnGetVersion());
 * ```
 */
export function openCudaLibraries(): CudaLibraries {
  if (opened === undefined) {
    try {
      opened = openAll();
    } catch (error) {
      opened = error as Error;
    }
  }
  if (opened instanceof Error) throw opened;
  return opened;
}

function openAll(): CudaLibraries {
  if (!hasPermission("ffi")) {
    throw new LibraryNotFoundError({
      summary: "CUDA needs --allow-ffi",
      fix: "run deno with --allow-ffi --allow-env --allow-read --allow-run to load the NVIDIA driver, cuDNN, " +
        "cuBLAS and NVRTC, or use the CPU device",
    });
  }
  checkOverrideHoldsSomething();
  const driver = openLibrary(CUDA_DRIVER);
  const libraries: Record<string, unknown> = { driver: driver.library };
  const paths: Record<string, string> = { driver: driver.path };
  const missing: { spec: LibrarySpec; error: LibraryNotFoundError }[] = [];
  for (const name of ["nvrtc", "cublas", "cudnn"] as const) {
    try {
      const spec: LibrarySpec = CUDA_SPECS[name];
      const result = openLibrary(spec);
      libraries[name] = result.library;
      paths[name] = result.path;
    } catch (error) {
      if (!(error instanceof LibraryNotFoundError) || error.variable !== undefined) throw error;
      missing.push({ spec: CUDA_SPECS[name], error });
    }
  }
  if (missing.length) throw missingLibraries(missing);
  return { ...libraries, paths } as unknown as CudaLibraries;
}

/** `EPSANET_CUDA_LIBS` set to folders or files that hold none of the four is a mistake worth an error. */
function checkOverrideHoldsSomething(): void {
  const specs: LibrarySpec[] = Object.values(CUDA_SPECS);
  if (overrideEntries(CUDA_DRIVER).length === 0) return;
  checkOverride(CUDA_DRIVER);
  const holds = specs.some((spec) =>
    libraryCandidates(spec).some((c) => c.from === "override" && pathExists(c.path) !== false)
  );
  if (holds) return;
  const files = specs.flatMap((spec) => spec.platforms[currentPlatform()]?.files[0] ?? []);
  throw new LibraryNotFoundError({
    summary: `${CUDA_LIBS_ENV}=${readEnv(CUDA_LIBS_ENV)}: holds none of ${files.join(", ")}`,
    fix: `point ${CUDA_LIBS_ENV} at the folders that hold the CUDA libraries (':'-separated), or unset it`,
    variable: CUDA_LIBS_ENV,
  });
}

function missingLibraries(missing: { spec: LibrarySpec; error: LibraryNotFoundError }[]): LibraryNotFoundError {
  const names = missing.map((m) => m.spec.name);
  const packages = missing.flatMap((m) => m.spec.platforms.linux?.install.match(/pip install ([^`]+)`/)?.[1] ?? []);
  const tried = missing.flatMap((m) => m.error.tried.map((place) => `${m.spec.name}: ${place}`));
  return new LibraryNotFoundError({
    summary: `CUDA libraries not found: ${names.join(", ")}`,
    fix: `install them with \`python3 -m pip install ${packages.join(" ")}\`, or set ${CUDA_LIBS_ENV} to the ` +
      `folders that hold them (${VERBOSE_ENV}=1 lists the ${tried.length} places tried)`,
    tried,
  });
}
