/**
 * Where the CPU libraries (a CBLAS such as OpenBLAS or Apple's Accelerate, and oneDNN) live on
 * each operating system, as pure functions of the OS, the few environment values that matter and
 * the CPU architecture, so that the macOS and Windows lists are unit-tested on Linux
 * (tests/ffi_platforms_test.ts). The specs in cblas.ts and dnnl.ts call them with this process's
 * values.
 *
 * @module
 */

import type { PlatformSearch } from "./load.ts";
import type { Platform } from "./places.ts";

/** Apple's Accelerate framework: every Mac has it, with a CBLAS (`cblas_sgemm`, `cblas_dgemm`). */
export const ACCELERATE = "/System/Library/Frameworks/Accelerate.framework/Accelerate";

/** The environment values the CPU library lists depend on. */
export interface CpuEnv {
  /** `$CONDA_PREFIX`: an active conda environment (`lib/` on Unix, `Library/bin` on Windows). */
  readonly condaPrefix?: string;
  /** The folder of the running `deno` executable (Windows looks beside it). */
  readonly execDir?: string;
}

/** The CPU architecture, as `Deno.build.arch` names it. */
export type Arch = "x86_64" | "aarch64";

/** Debian's multiarch folder name for an architecture, e.g. `x86_64-linux-gnu`. */
function triple(arch: Arch): string {
  return arch === "aarch64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
}

/** `folder` without trailing separators, or nothing when unset. */
function folder(path: string | undefined, ...parts: string[]): string[] {
  if (!path) return [];
  return [[path.replace(/(.)[/\\]+$/, "$1"), ...parts].join(path.includes("\\") ? "\\" : "/")];
}

/**
 * File names, places and install hint of a CBLAS on one operating system.
 *
 * @param os The operating system.
 * @param env The environment values (see {@linkcode CpuEnv}).
 * @param arch The CPU architecture.
 * @returns The search, first preferred. macOS: Accelerate (always present, dyld opens it from its
 * shared cache) then Homebrew's and conda's OpenBLAS; Windows: `openblas.dll` / `libopenblas.dll`
 * on PATH (the loader path), beside `deno.exe`, then conda's `Library\bin`.
 * @example
 * ```ts
 * import { openBlasSearch } from "./cpu_places.ts";
 * console.log(openBlasSearch("windows", { execDir: "C:\\deno" }, "x86_64").files); // ["openblas.dll", "libopenblas.dll"]
 * ```
 */
export function openBlasSearch(os: Platform, env: CpuEnv, arch: Arch): PlatformSearch {
  if (os === "darwin") {
    return {
      // An absolute file name is only tried as is, never inside the folders below.
      files: [ACCELERATE, "libopenblas.0.dylib", "libopenblas.dylib"],
      places: [
        { loader: true },
        {
          folders: [
            "/opt/homebrew/opt/openblas/lib",
            "/usr/local/opt/openblas/lib",
            ...folder(env.condaPrefix, "lib"),
          ],
        },
      ],
      install: "run brew install openblas",
    };
  }
  if (os === "windows") {
    return {
      files: ["openblas.dll", "libopenblas.dll"],
      places: [{ loader: true }, { folders: [...folder(env.execDir), ...folder(env.condaPrefix, "Library", "bin")] }],
      install: "put openblas.dll (github.com/OpenMathLib/OpenBLAS/releases) on PATH or beside deno.exe",
    };
  }
  return {
    files: ["libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"],
    places: [
      { loader: true },
      {
        folders: [
          `/usr/lib/${triple(arch)}/openblas-pthread`,
          `/usr/lib/${triple(arch)}`,
          "/usr/lib64",
          "/usr/local/lib",
          ...folder(env.condaPrefix, "lib"),
        ],
      },
    ],
    install: "install libopenblas0-pthread",
  };
}

/**
 * File names, places and install hint of oneDNN on one operating system. A 3.x file is listed
 * after the 2.x one so that finding only 3.x is reported as such (the bindings need 2.x).
 *
 * @param os The operating system.
 * @param env The environment values (see {@linkcode CpuEnv}).
 * @param arch The CPU architecture.
 * @returns The search, first preferred.
 * @example
 * ```ts
 * import { oneDnnSearch } from "./cpu_places.ts";
 * console.log(oneDnnSearch("linux", {}, "x86_64").files); // ["libdnnl.so.2", "libdnnl.so.3"]
 * ```
 */
export function oneDnnSearch(os: Platform, env: CpuEnv, arch: Arch): PlatformSearch {
  if (os === "darwin") {
    return {
      files: ["libdnnl.2.dylib", "libdnnl.3.dylib", "libdnnl.dylib"],
      places: [
        { loader: true },
        { folders: ["/opt/homebrew/opt/onednn/lib", "/usr/local/opt/onednn/lib", ...folder(env.condaPrefix, "lib")] },
      ],
      install: "run brew install onednn",
    };
  }
  if (os === "windows") {
    return {
      files: ["dnnl.dll"],
      places: [{ loader: true }, { folders: [...folder(env.execDir), ...folder(env.condaPrefix, "Library", "bin")] }],
      install: "put dnnl.dll (oneDNN 2.x, github.com/oneapi-src/oneDNN/releases) on PATH or beside deno.exe",
    };
  }
  return {
    files: ["libdnnl.so.2", "libdnnl.so.3"],
    places: [
      { loader: true },
      {
        folders: [
          `/usr/lib/${triple(arch)}`,
          "/usr/lib64",
          "/usr/local/lib",
          "/opt/intel/oneapi/dnnl/latest/lib",
          ...folder(env.condaPrefix, "lib"),
        ],
      },
    ],
    install: "install libdnnl2",
  };
}

/**
 * This process's {@linkcode CpuEnv}, read without prompting (unset where permissions do not allow).
 *
 * @returns The values.
 * @example
 * ```ts
 * import { currentCpuEnv } from "./cpu_places.ts";
 * console.log(currentCpuEnv().condaPrefix);
 * ```
 */
export function currentCpuEnv(): CpuEnv {
  const env = Deno.permissions.querySync({ name: "env", variable: "CONDA_PREFIX" }).state === "granted"
    ? Deno.env.get("CONDA_PREFIX") || undefined
    : undefined;
  let execDir: string | undefined;
  if (Deno.permissions.querySync({ name: "read" }).state === "granted") {
    const exec = Deno.execPath();
    execDir = exec.slice(0, Math.max(exec.lastIndexOf("/"), exec.lastIndexOf("\\"))) || undefined;
  }
  return { condaPrefix: env, execDir };
}

/**
 * A spec's `platforms` for this process: every OS, from `search` with this environment and arch.
 *
 * @param search {@linkcode openBlasSearch} or {@linkcode oneDnnSearch}.
 * @returns The per-OS searches.
 * @example
 * ```ts
 * import { cpuPlatforms, openBlasSearch } from "./cpu_places.ts";
 * console.log(cpuPlatforms(openBlasSearch).darwin.files[0]); // the Accelerate framework
 * ```
 */
export function cpuPlatforms(
  search: (os: Platform, env: CpuEnv, arch: Arch) => PlatformSearch,
): Record<Platform, PlatformSearch> {
  const env = currentCpuEnv();
  const arch: Arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  return {
    linux: search("linux", env, arch),
    darwin: search("darwin", env, arch),
    windows: search("windows", env, arch),
  };
}
