/**
 * Compiling our `.cu` kernels with NVRTC, and caching the result on disk.
 *
 * A GPU of compute capability X.Y gets a CUBIN for `sm_XY` when this NVRTC knows that
 * architecture; a newer GPU gets PTX for the newest architecture NVRTC knows, which the driver
 * compiles forward at load time. Images are cached in
 * `${XDG_CACHE_HOME:-~/.cache}/epsanet-deno/kernels`, keyed by the SHA-256 of the source, the
 * target and the NVRTC version; writes are atomic (temp file + rename), and a cache that cannot
 * be read or written is skipped.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { readEnv } from "../../ffi/load.ts";
import type { NVRTC_SYMBOLS } from "../../ffi/nvrtc.ts";
import type { StatusCheck } from "./check.ts";

/** NVRTC's bound symbols. */
export type Nvrtc = Deno.DynamicLibrary<typeof NVRTC_SYMBOLS>["symbols"];

/** What NVRTC is asked to produce. */
export interface CompileTarget {
  /** The `--gpu-architecture` value, e.g. `"sm_90"` or `"compute_90"`. */
  arch: string;
  /** `"cubin"` for a real architecture, `"ptx"` for a virtual one. */
  kind: "cubin" | "ptx";
}

/** A compiled module image, ready for `cuModuleLoadData`. */
export interface CompiledModule {
  /** The CUBIN, or the PTX text with its trailing NUL. */
  image: Uint8Array;
  /** What was compiled. */
  target: CompileTarget;
  /** The cache file it was read from or written to, if any. */
  cachePath: string | null;
  /** Whether it came from the cache. */
  fromCache: boolean;
}

/**
 * The NVRTC version.
 *
 * @param nvrtc NVRTC's symbols.
 * @returns `[major, minor]`.
 * @example
 * ```ts
 * import { nvrtcVersion } from "./compile.ts";
 * import { openCudaLibraries } from "../../ffi/cuda_libraries.ts";
 * console.log(nvrtcVersion(openCudaLibraries().nvrtc.symbols)); // [13, 0]
 * ```
 */
export function nvrtcVersion(nvrtc: Nvrtc): [number, number] {
  const major = new Int32Array(1);
  const minor = new Int32Array(1);
  nvrtc.nvrtcVersion(major, minor);
  return [major[0], minor[0]];
}

/**
 * The architectures NVRTC can compile for, e.g. `[75, 80, 86, 89, 90, ...]`.
 *
 * @param nvrtc NVRTC's symbols.
 * @param check Status checks.
 * @returns Compute capabilities times ten.
 * @example
 * ```ts
 * import { supportedArchs } from "./compile.ts";
 * // supportedArchs(nvrtc, check); // [75, 80, 86, 87, 89, 90, ...]
 * ```
 */
export function supportedArchs(nvrtc: Nvrtc, check: StatusCheck): number[] {
  const count = new Int32Array(1);
  check.nvrtc("nvrtcGetNumSupportedArchs", nvrtc.nvrtcGetNumSupportedArchs(count));
  const archs = new Int32Array(count[0]);
  check.nvrtc("nvrtcGetSupportedArchs", nvrtc.nvrtcGetSupportedArchs(archs));
  return [...archs];
}

/**
 * Chooses the target for a GPU: its own `sm_XY` when supported, else PTX for the newest older
 * architecture NVRTC knows.
 *
 * @param supported What NVRTC supports (see {@linkcode supportedArchs}).
 * @param major Compute capability, major part.
 * @param minor Compute capability, minor part.
 * @returns The target.
 * @throws When NVRTC knows no architecture at or below the GPU's.
 * @example
 * ```ts
 * import { chooseTarget } from "./compile.ts";
 * chooseTarget([75, 80, 90], 9, 0); // { arch: "sm_90", kind: "cubin" }
 * chooseTarget([75, 80, 90], 12, 0); // { arch: "compute_90", kind: "ptx" }
 * ```
 */
export function chooseTarget(supported: readonly number[], major: number, minor: number): CompileTarget {
  const cc = major * 10 + minor;
  if (supported.includes(cc)) return { arch: `sm_${cc}`, kind: "cubin" };
  const older = supported.filter((a) => a < cc);
  if (older.length === 0) {
    throw new Error(
      `NVRTC supports ${supported.map((a) => `sm_${a}`).join(", ")} but the GPU is sm_${cc}; ` +
        `install an NVRTC that matches the GPU (python3 -m pip install nvidia-cuda-nvrtc)`,
    );
  }
  return { arch: `compute_${Math.max(...older)}`, kind: "ptx" };
}

/**
 * Compiles one source with NVRTC (no cache).
 *
 * @param nvrtc NVRTC's symbols.
 * @param check Status checks.
 * @param source CUDA C++ source.
 * @param name Module name for messages, e.g. `"elementwise"`.
 * @param target What to produce.
 * @returns The CUBIN or NUL-terminated PTX.
 * @throws On compile errors, with NVRTC's log.
 * @example
 * ```ts
 * import { compileSource } from "./compile.ts";
 * // const cubin = compileSource(nvrtc, check, source, "reduce", { arch: "sm_90", kind: "cubin" });
 * ```
 */
export function compileSource(
  nvrtc: Nvrtc,
  check: StatusCheck,
  source: string,
  name: string,
  target: CompileTarget,
): Uint8Array {
  const handle = new BigUint64Array(1);
  check.nvrtc(
    "nvrtcCreateProgram",
    nvrtc.nvrtcCreateProgram(handle, cBytes(source), cBytes(`${name}.cu`), 0, null, null),
  );
  const program = Deno.UnsafePointer.create(handle[0]);
  try {
    const options = [`--gpu-architecture=${target.arch}`].map(cBytes);
    const optionPointers = new BigUint64Array(
      options.map((o) => Deno.UnsafePointer.value(Deno.UnsafePointer.of(o))),
    );
    const status = nvrtc.nvrtcCompileProgram(program, options.length, optionPointers);
    if (status !== 0) {
      check.nvrtc(
        "nvrtcCompileProgram",
        status,
        `${name}.cu for ${target.arch}:\n${programLog(nvrtc, program)}`,
      );
    }
    const size = new BigUint64Array(1);
    if (target.kind === "cubin") {
      check.nvrtc("nvrtcGetCUBINSize", nvrtc.nvrtcGetCUBINSize(program, size));
      const image = new Uint8Array(Number(size[0]));
      check.nvrtc("nvrtcGetCUBIN", nvrtc.nvrtcGetCUBIN(program, image));
      return image;
    }
    check.nvrtc("nvrtcGetPTXSize", nvrtc.nvrtcGetPTXSize(program, size));
    const image = new Uint8Array(Number(size[0]));
    check.nvrtc("nvrtcGetPTX", nvrtc.nvrtcGetPTX(program, image));
    return image;
  } finally {
    nvrtc.nvrtcDestroyProgram(handle);
  }
}

function programLog(nvrtc: Nvrtc, program: Deno.PointerValue): string {
  const size = new BigUint64Array(1);
  if (nvrtc.nvrtcGetProgramLogSize(program, size) !== 0) return "(no log)";
  const log = new Uint8Array(Number(size[0]));
  if (nvrtc.nvrtcGetProgramLog(program, log) !== 0) return "(no log)";
  const end = log.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? log.subarray(0, end) : log).trim();
}

/**
 * The kernel cache folder, or null when no home folder is known (or `--allow-env` is missing).
 *
 * @returns `${XDG_CACHE_HOME:-$HOME/.cache}/epsanet-deno/kernels`.
 * @example
 * ```ts
 * import { kernelCacheDir } from "./compile.ts";
 * console.log(kernelCacheDir());
 * ```
 */
export function kernelCacheDir(): string | null {
  const base = readEnv("XDG_CACHE_HOME") ?? (readEnv("HOME") ? `${readEnv("HOME")}/.cache` : undefined);
  return base ? `${base}/epsanet-deno/kernels` : null;
}

/**
 * Compiles a module, or reads it from the disk cache.
 *
 * @param nvrtc NVRTC's symbols.
 * @param check Status checks.
 * @param source CUDA C++ source.
 * @param name Module name, e.g. `"elementwise"`.
 * @param target What to produce.
 * @param cacheDir Cache folder (null disables the cache).
 * @returns The image and where it came from.
 * @example
 * ```ts
 * import { compileCached, kernelCacheDir } from "./compile.ts";
 * import { StatusCheck } from "./check.ts";
 * import { openCudaLibraries } from "../../ffi/cuda_libraries.ts";
 * const libs = openCudaLibraries();
 * const compiled = compileCached(libs.nvrtc.symbols, new StatusCheck(libs),
 *   'extern "C" __global__ void k() {}', "k", { arch: "sm_90", kind: "cubin" }, kernelCacheDir());
 * ```
 */
export function compileCached(
  nvrtc: Nvrtc,
  check: StatusCheck,
  source: string,
  name: string,
  target: CompileTarget,
  cacheDir: string | null,
): CompiledModule {
  const [major, minor] = nvrtcVersion(nvrtc);
  const key = createHash("sha256").update(`${source}\0${target.arch}\0nvrtc ${major}.${minor}`).digest("hex");
  const cachePath = cacheDir ? `${cacheDir}/${name}-${key}.${target.kind}` : null;
  if (cachePath) {
    const image = readCache(cachePath);
    if (image) return { image, target, cachePath, fromCache: true };
  }
  const image = compileSource(nvrtc, check, source, name, target);
  const written = cachePath && cacheDir && writeAtomically(cacheDir, cachePath, image) ? cachePath : null;
  return { image, target, cachePath: written, fromCache: false };
}

/**
 * Removes a cache entry that failed to load, so the next run compiles it afresh.
 *
 * @param path The entry.
 * @example
 * ```ts
 * import { dropCacheEntry } from "./compile.ts";
 * dropCacheEntry("/tmp/no-such-entry.cubin"); // ignores what is not there
 * ```
 */
export function dropCacheEntry(path: string): void {
  if (!allowed("write", path)) return;
  try {
    Deno.removeSync(path);
  } catch {
    // A read-only cache keeps its entry; the caller compiles in memory either way.
  }
}

/** Whether a permission covers `path`, asked without prompting. */
function allowed(name: "read" | "write", path: string): boolean {
  return Deno.permissions.querySync({ name, path }).state === "granted";
}

function readCache(path: string): Uint8Array | null {
  if (!allowed("read", path)) return null;
  try {
    const image = Deno.readFileSync(path);
    return image.length > 0 ? image : null;
  } catch {
    return null;
  }
}

function writeAtomically(dir: string, path: string, image: Uint8Array): boolean {
  if (!allowed("write", dir)) return false;
  const temp = `${path}.${Deno.pid}.${crypto.randomUUID()}.tmp`;
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeFileSync(temp, image);
    Deno.renameSync(temp, path);
    return true;
  } catch {
    try {
      Deno.removeSync(temp);
    } catch {
      // Nothing was written.
    }
    return false;
  }
}

/** UTF-8 bytes with a trailing NUL, for `const char*` parameters. */
function cBytes(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}
