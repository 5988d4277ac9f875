/**
 * NVRTC symbols (`libnvrtc.so.13` or `.so.12`): compiles CUDA C++ source to CUBIN or PTX at run
 * time. Every function except `nvrtcGetErrorString` returns an `nvrtcResult`.
 *
 * NVRTC loads `libnvrtc-builtins.so.<major>.<minor>` by soname when it compiles, and
 * `LD_LIBRARY_PATH` cannot change after the process starts, so {@linkcode NVRTC} has the discovery
 * engine (load.ts) preload it from the folder NVRTC came from.
 *
 * @example
 * ```ts
 * import { NVRTC_SYMBOLS } from "./nvrtc.ts";
 * const nvrtc = Deno.dlopen("libnvrtc.so.13", NVRTC_SYMBOLS);
 * const major = new Int32Array(1), minor = new Int32Array(1);
 * nvrtc.symbols.nvrtcVersion(major, minor);
 * ```
 *
 * @module
 */

import type { LibrarySpec } from "./load.ts";
import { CUDA_LIBS_ENV, CUDA_ROOT_VARIABLES, cudaRootFolders, cudaToolkitFolders } from "./places.ts";

/** `nvrtcResult`: success. */
export const NVRTC_SUCCESS = 0;

const P = "pointer";
const I = "i32";
const B = "buffer";

/** The NVRTC functions the kernel compiler calls. */
export const NVRTC_SYMBOLS = {
  /** `const char *nvrtcGetErrorString(nvrtcResult result)` */
  nvrtcGetErrorString: { parameters: [I], result: P },
  /** `nvrtcVersion(int *major, int *minor)` */
  nvrtcVersion: { parameters: [B, B], result: I },
  /** `nvrtcGetNumSupportedArchs(int *numArchs)` */
  nvrtcGetNumSupportedArchs: { parameters: [B], result: I },
  /** `nvrtcGetSupportedArchs(int *supportedArchs)`: e.g. 75, 80, 86, 89, 90, ... */
  nvrtcGetSupportedArchs: { parameters: [B], result: I },
  /**
   * `nvrtcCreateProgram(nvrtcProgram *prog, const char *src, const char *name, int numHeaders,
   * const char * const *headers, const char * const *includeNames)`
   */
  nvrtcCreateProgram: { parameters: [B, B, B, I, P, P], result: I },
  /** `nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char * const *options)` */
  nvrtcCompileProgram: { parameters: [P, I, B], result: I },
  /** `nvrtcGetProgramLogSize(nvrtcProgram prog, size_t *logSizeRet)`: includes the trailing NUL. */
  nvrtcGetProgramLogSize: { parameters: [P, B], result: I },
  /** `nvrtcGetProgramLog(nvrtcProgram prog, char *log)` */
  nvrtcGetProgramLog: { parameters: [P, B], result: I },
  /** `nvrtcGetCUBINSize(nvrtcProgram prog, size_t *cubinSizeRet)`: 0 for a virtual architecture. */
  nvrtcGetCUBINSize: { parameters: [P, B], result: I },
  /** `nvrtcGetCUBIN(nvrtcProgram prog, char *cubin)` */
  nvrtcGetCUBIN: { parameters: [P, B], result: I },
  /** `nvrtcGetPTXSize(nvrtcProgram prog, size_t *ptxSizeRet)`: includes the trailing NUL. */
  nvrtcGetPTXSize: { parameters: [P, B], result: I },
  /** `nvrtcGetPTX(nvrtcProgram prog, char *ptx)` */
  nvrtcGetPTX: { parameters: [P, B], result: I },
  /** `nvrtcDestroyProgram(nvrtcProgram *prog)`: takes a pointer to the handle. */
  nvrtcDestroyProgram: { parameters: [B], result: I },
} as const;

/** NVRTC 13 or 12: `EPSANET_CUDA_LIBS`, `CUDA_HOME` and friends, pip wheels, the loader path, `/usr/local/cuda*`. */
export const NVRTC: LibrarySpec<typeof NVRTC_SYMBOLS> = {
  name: "NVRTC",
  envVar: CUDA_LIBS_ENV,
  override: "first",
  platforms: {
    linux: {
      files: ["libnvrtc.so.13", "libnvrtc.so.12"],
      places: [
        { roots: CUDA_ROOT_VARIABLES, rootFolders: cudaRootFolders },
        { wheels: ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"] },
        { loader: true },
        { folders: cudaToolkitFolders },
      ],
      install: "install it with `python3 -m pip install nvidia-cuda-nvrtc`",
    },
  },
  symbols: NVRTC_SYMBOLS,
  dependencies(_folder, file, listing) {
    const major = file.match(/\.so\.(\d+)/)?.[1];
    if (!major) return [];
    // The newest builtins of this major; the `.alt.` variants do not match the pattern.
    const pattern = new RegExp(`^libnvrtc-builtins\\.so\\.${major}\\.(\\d+)$`);
    const newest = listing.filter((f) => pattern.test(f))
      .sort((a, b) => Number(b.match(pattern)![1]) - Number(a.match(pattern)![1]))[0];
    return newest ? [{ file: newest, optional: false }] : [];
  },
};
