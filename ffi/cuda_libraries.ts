/**
 * Finding and opening the CUDA stack: the driver (`libcuda.so.1`), NVRTC, cuBLAS and cuDNN 9.
 *
 * Each library is looked for in this order (the first that loads wins):
 *
 * 1. `EPSANET_CUDA_LIBS`: a `:`-separated list of folders, or of library files.
 * 2. `CUDNN_PATH` / `CUDNN_HOME` (cuDNN only), then `CUDA_HOME` / `CUDA_PATH` / `CUDA_ROOT` /
 *    `CUDA_TOOLKIT_ROOT_DIR` (not for the driver), each with `lib64`, `lib`,
 *    `targets/<arch>-linux/lib`, `lib/<arch>-linux-gnu` and the folder itself.
 * 3. Python wheels: `nvidia/{cu13,cudnn,cublas,cuda_nvrtc}/lib` inside the site-packages of the
 *    `python3` on PATH (asked when `--allow-run` allows it), of `$VIRTUAL_ENV` / `$CONDA_PREFIX`,
 *    of the user, and of the system Pythons.
 * 4. The bare soname, resolved by ld.so (LD_LIBRARY_PATH, ld.so.cache).
 * 5. Standard folders: `/usr/local/cuda*`, the distribution's library folders, and for the driver
 *    `/usr/local/nvidia/lib64` and friends. The toolkit's `stubs/libcuda.so` is never loaded.
 *
 * Within a place the CUDA 13 soname is tried before the CUDA 12 one. A library found by path has
 * its dependencies preloaded from the same folder, by absolute path, because `LD_LIBRARY_PATH`
 * cannot be changed after the process starts: `libnvrtc-builtins.so.<major>.<minor>` before NVRTC,
 * `libcublasLt` before cuBLAS, and every `libcudnn_*.so.9` before `libcudnn.so.9`. The handles stay
 * open for the life of the process.
 *
 * @example
 * ```ts
 * import { openCudaLibraries } from "./cuda_libraries.ts";
 * try {
 *   const libs = openCudaLibraries();
 *   console.log(libs.paths.cudnn);
 * } catch (error) {
 *   console.log((error as Error).message); // every place tried, and how to fix it
 * }
 * ```
 *
 * @module
 */

import { CUBLAS_SYMBOLS } from "./cublas.ts";
import { CUDA_SYMBOLS } from "./cuda.ts";
import { CUDNN_SYMBOLS } from "./cudnn.ts";
import { hasPermission, readEnv } from "./load.ts";
import { NVRTC_SYMBOLS } from "./nvrtc.ts";

/** The libraries of the CUDA stack the CUDA device needs. */
export type CudaLibraryName = "driver" | "nvrtc" | "cublas" | "cudnn";

/** The environment variable that overrides discovery: folders or files, `:`-separated. */
export const CUDA_LIBS_ENV = "EPSANET_CUDA_LIBS";

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
  /** The path (or bare soname) each library was opened from. */
  paths: Readonly<Record<CudaLibraryName, string>>;
}

/**
 * Thrown when the CUDA stack cannot be used. The message is one line that lists every place
 * tried and how to fix it; `summary` is a short form for one-line notices.
 * @example
 * ```ts
 * import { CudaUnavailableError, openCudaLibraries } from "./cuda_libraries.ts";
 * try {
 *   openCudaLibraries();
 * } catch (error) {
 *   if (error instanceof CudaUnavailableError) console.log(error.summary); // e.g. "cuDNN 9 not found"
 * }
 * ```
 */
export class CudaUnavailableError extends Error {
  /** A few words on what is missing, e.g. `"cuDNN 9 not found"`. */
  readonly summary: string;
  /**
   * An error with a short and a full explanation.
   *
   * @param summary A few words on what is missing.
   * @param message The full, one-line explanation.
   */
  constructor(summary: string, message: string) {
    super(message);
    this.name = "CudaUnavailableError";
    this.summary = summary;
  }
}

interface LibrarySpec {
  label: string;
  sonames: readonly string[];
  /** File names an `EPSANET_CUDA_LIBS` file entry may have for this library. */
  filePattern: RegExp;
  /** Folders inside a site-packages folder. */
  wheelDirs: readonly string[];
  /** Whether CUDA_HOME-style roots and /usr/local/cuda* hold it. */
  inToolkit: boolean;
  /** The pip packages that provide it, or null when it comes with the driver. */
  pip: string | null;
}

const SPECS: Readonly<Record<CudaLibraryName, LibrarySpec>> = {
  driver: {
    label: "CUDA driver",
    sonames: ["libcuda.so.1"],
    filePattern: /^libcuda\.so(\.\d+)*$/,
    wheelDirs: [],
    inToolkit: false,
    pip: null,
  },
  nvrtc: {
    label: "NVRTC",
    sonames: ["libnvrtc.so.13", "libnvrtc.so.12"],
    filePattern: /^libnvrtc\.so(\.\d+)*$/,
    wheelDirs: ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"],
    inToolkit: true,
    pip: "nvidia-cuda-nvrtc",
  },
  cublas: {
    label: "cuBLAS",
    sonames: ["libcublas.so.13", "libcublas.so.12"],
    filePattern: /^libcublas\.so(\.\d+)*$/,
    wheelDirs: ["nvidia/cu13/lib", "nvidia/cublas/lib"],
    inToolkit: true,
    pip: "nvidia-cublas",
  },
  cudnn: {
    label: "cuDNN 9",
    sonames: ["libcudnn.so.9"],
    filePattern: /^libcudnn\.so(\.\d+)*$/,
    wheelDirs: ["nvidia/cudnn/lib"],
    inToolkit: true,
    pip: "nvidia-cudnn-cu13",
  },
};

/** Opening order: NVRTC and cuBLAS before cuDNN, whose sub-libraries load both by soname. */
const ORDER: readonly CudaLibraryName[] = ["driver", "nvrtc", "cublas", "cudnn"];

const SYMBOLS = {
  driver: CUDA_SYMBOLS,
  nvrtc: NVRTC_SYMBOLS,
  cublas: CUBLAS_SYMBOLS,
  cudnn: CUDNN_SYMBOLS,
} as const;

/** cuDNN sub-libraries in dependency order; the last two are not needed by a CNN. */
const CUDNN_PARTS = [
  "graph",
  "engines_precompiled",
  "engines_runtime_compiled",
  "engines_tensor_ir",
  "heuristic",
  "ops",
  "cnn",
  "adv",
  "ext",
];
const CUDNN_OPTIONAL_PARTS = new Set(["adv", "ext"]);

/** Handles of preloaded dependencies: closing them would unload code cuDNN still calls. */
const preloaded: Deno.DynamicLibrary<Record<string, never>>[] = [];

/** One place to look: a file path, or a bare soname for ld.so. */
interface Candidate {
  path: string;
  /** Whether `path` is a bare soname. */
  bare: boolean;
}

/**
 * The places a library is looked for, in order: absolute file paths and bare sonames.
 *
 * @param name The library.
 * @returns Candidates as passed to `Deno.dlopen`, first preferred.
 * @example
 * ```ts
 * import { cudaLibraryCandidates } from "./cuda_libraries.ts";
 * console.log(cudaLibraryCandidates("cudnn").slice(0, 3));
 * ```
 */
export function cudaLibraryCandidates(name: CudaLibraryName): string[] {
  return candidatesOf(name).map((c) => c.path);
}

function candidatesOf(name: CudaLibraryName): Candidate[] {
  const spec = SPECS[name];
  const out: Candidate[] = [];
  const inDir = (dir: string): void => {
    for (const soname of spec.sonames) out.push({ path: `${dir}/${soname}`, bare: false });
  };
  for (const entry of splitList(readEnv(CUDA_LIBS_ENV))) {
    if (spec.filePattern.test(basename(entry))) out.push({ path: entry, bare: false });
    else if (!isFile(entry)) inDir(entry);
  }
  if (name === "cudnn") {
    for (const root of envValues(["CUDNN_PATH", "CUDNN_HOME"])) libDirsOf(root).forEach(inDir);
  }
  if (spec.inToolkit) {
    const roots = envValues(["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT", "CUDA_TOOLKIT_ROOT_DIR"]);
    for (const root of roots) libDirsOf(root).forEach(inDir);
  }
  for (const site of sitePackages()) {
    for (const dir of spec.wheelDirs) inDir(`${site}/${dir}`);
  }
  for (const soname of spec.sonames) out.push({ path: soname, bare: true });
  const system = name === "driver" ? driverDirs() : toolkitDirs();
  system.forEach(inDir);
  const seen = new Set<string>();
  return out.filter((c) => !c.path.includes("/stubs/") && !seen.has(c.path) && seen.add(c.path));
}

/**
 * Opens one library of the CUDA stack (after preloading its dependencies) and binds `symbols`.
 *
 * @param name The library.
 * @param symbols The symbols to bind (`{}` to only load it).
 * @returns The library and the path it was opened from.
 * @throws {CudaUnavailableError} listing every place tried.
 * @example
 * ```ts
 * import { openCudaLibrary } from "./cuda_libraries.ts";
 * import { NVRTC_SYMBOLS } from "./nvrtc.ts";
 * const { library, path } = openCudaLibrary("nvrtc", NVRTC_SYMBOLS);
 * ```
 */
export function openCudaLibrary<S extends Deno.ForeignLibraryInterface>(
  name: CudaLibraryName,
  symbols: S,
): { library: Deno.DynamicLibrary<S>; path: string } {
  requireFfi();
  const result = tryOpen(name, symbols);
  if ("library" in result) return result;
  throw unavailable([{ name, notes: result.notes }]);
}

let opened: CudaLibraries | CudaUnavailableError | undefined;

/**
 * Opens the driver, NVRTC, cuBLAS and cuDNN, once per process.
 *
 * @returns The four libraries with their symbol tables bound.
 * @throws {CudaUnavailableError} one error naming every missing library, every place tried for it,
 * and how to install it.
 * @example
 * ```ts
 * import { openCudaLibraries } from "./cuda_libraries.ts";
 * const { cudnn } = openCudaLibraries();
 * console.log(cudnn.symbols.cudnnGetVersion());
 * ```
 */
export function openCudaLibraries(): CudaLibraries {
  if (opened === undefined) opened = openAll();
  if (opened instanceof Error) throw opened;
  return opened;
}

function openAll(): CudaLibraries | CudaUnavailableError {
  try {
    requireFfi();
  } catch (error) {
    return error as CudaUnavailableError;
  }
  const libraries: Partial<Record<CudaLibraryName, Deno.DynamicLibrary<Deno.ForeignLibraryInterface>>> = {};
  const paths: Partial<Record<CudaLibraryName, string>> = {};
  const missing: { name: CudaLibraryName; notes: string[] }[] = [];
  for (const name of ORDER) {
    const result = tryOpen(name, SYMBOLS[name]);
    if ("library" in result) {
      libraries[name] = result.library;
      paths[name] = result.path;
    } else {
      missing.push({ name, notes: result.notes });
    }
  }
  if (missing.length) return unavailable(missing);
  return { ...libraries, paths } as CudaLibraries;
}

function requireFfi(): void {
  if (!hasPermission("ffi")) {
    throw new CudaUnavailableError(
      "needs --allow-ffi",
      "CUDA needs --allow-ffi to load libcuda, cuDNN, cuBLAS and NVRTC (and --allow-read, --allow-env " +
        "and --allow-run to find them); run deno with those permissions or use the CPU device",
    );
  }
}

/** Tries every candidate; returns the first library that loads, or notes on each failure. */
function tryOpen<S extends Deno.ForeignLibraryInterface>(
  name: CudaLibraryName,
  symbols: S,
): { library: Deno.DynamicLibrary<S>; path: string } | { notes: string[] } {
  const absent: string[] = [];
  const notes: string[] = [];
  for (const candidate of candidatesOf(name)) {
    if (candidate.bare) {
      try {
        return { library: Deno.dlopen(candidate.path, symbols), path: candidate.path };
      } catch (error) {
        notes.push(`the loader path (${candidate.path}: ${reason(error, candidate.path)})`);
        continue;
      }
    }
    if (exists(candidate.path) === false) {
      absent.push(candidate.path);
      continue;
    }
    try {
      preloadDependencies(name, candidate.path);
      return { library: Deno.dlopen(candidate.path, symbols), path: candidate.path };
    } catch (error) {
      notes.push(`${candidate.path} (${reason(error, candidate.path)})`);
    }
  }
  return { notes: [...folderList(absent), ...notes] };
}

/** Loads, by absolute path, what `path` will look for by soname. */
function preloadDependencies(name: CudaLibraryName, path: string): void {
  const dir = dirname(path);
  const major = basename(path).match(/\.so\.(\d+)/)?.[1];
  const files = listDir(dir);
  if (name === "nvrtc" && major) {
    // The newest builtins of this major; the `.alt.` variants do not match the pattern.
    const pattern = new RegExp(`^libnvrtc-builtins\\.so\\.${major}\\.(\\d+)$`);
    const builtins = files.filter((f) => pattern.test(f))
      .sort((a, b) => Number(b.match(pattern)![1]) - Number(a.match(pattern)![1]));
    if (builtins.length) preload(`${dir}/${builtins[0]}`);
  } else if (name === "cublas" && major && files.includes(`libcublasLt.so.${major}`)) {
    preload(`${dir}/libcublasLt.so.${major}`);
  } else if (name === "cudnn") {
    const parts = files.map((f) => f.match(/^libcudnn_(\w+)\.so\.9$/)?.[1]).filter((p) => p !== undefined);
    const rank = (
      p: string,
    ): number => (CUDNN_PARTS.includes(p) ? CUDNN_PARTS.indexOf(p) : CUDNN_PARTS.length);
    for (const part of parts.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) {
      try {
        preload(`${dir}/libcudnn_${part}.so.9`);
      } catch (error) {
        if (CUDNN_PARTS.includes(part) && !CUDNN_OPTIONAL_PARTS.has(part)) throw error;
      }
    }
  }
}

function preload(path: string): void {
  try {
    preloaded.push(Deno.dlopen(path, {}));
  } catch (error) {
    throw new Error(`${basename(path)}: ${reason(error, path)}`);
  }
}

function unavailable(missing: { name: CudaLibraryName; notes: string[] }[]): CudaUnavailableError {
  const labels = missing.map((m) => SPECS[m.name].label);
  const summary = `${labels.join(", ")} not found`;
  const details = missing.map((m) => {
    const spec = SPECS[m.name];
    return `${spec.label} (${spec.sonames.join(" or ")}): tried ${m.notes.join(", ") || "nothing"}`;
  });
  const pip = missing.map((m) => SPECS[m.name].pip).filter((p) => p !== null);
  const fixes: string[] = [];
  if (pip.length) {
    fixes.push(`install the wheels with \`python3 -m pip install ${pip.join(" ")}\``);
  }
  if (missing.some((m) => m.name === "driver")) {
    fixes.push("install the NVIDIA driver (it provides libcuda.so.1)");
  }
  fixes.push(`set ${CUDA_LIBS_ENV} to the folders that hold the libraries (':'-separated)`);
  return new CudaUnavailableError(
    summary,
    `CUDA libraries not found: ${labels.join(", ")}. ${details.join("; ")}. To fix: ${fixes.join(", or ")}`,
  );
}

/** Groups missing files by folder: `/a/{libx.so.13,libx.so.12}` reads better than two paths. */
function folderList(paths: string[]): string[] {
  const byDir = new Map<string, string[]>();
  for (const path of paths) {
    const dir = dirname(path);
    byDir.set(dir, [...(byDir.get(dir) ?? []), basename(path)]);
  }
  return [...byDir].map(([dir, names]) =>
    names.length === 1 ? `${dir}/${names[0]} (absent)` : `${dir}/{${names.join(",")}} (absent)`
  );
}

/** The first line of a dlopen error, without the prefixes that repeat the path. */
function reason(error: unknown, path: string): string {
  const line = (error instanceof Error ? error.message : String(error)).split("\n")[0];
  return line.replace(/^(Could not open library: )+/, "").replace(`${path}: `, "").trim();
}

// ---- places

const TRIPLE = Deno.build.arch === "aarch64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
const TARGET = Deno.build.arch === "aarch64" ? "sbsa-linux" : "x86_64-linux";

function libDirsOf(root: string): string[] {
  return [`${root}/lib64`, `${root}/lib`, `${root}/targets/${TARGET}/lib`, `${root}/lib/${TRIPLE}`, root];
}

function toolkitDirs(): string[] {
  const versions = listDir("/usr/local")
    .filter((name) => /^cuda-\d+(\.\d+)?$/.test(name))
    .sort((a, b) => versionOf(b) - versionOf(a));
  return [
    "/usr/local/cuda/lib64",
    `/usr/local/cuda/targets/${TARGET}/lib`,
    ...versions.flatMap((v) => [`/usr/local/${v}/lib64`, `/usr/local/${v}/targets/${TARGET}/lib`]),
    `/usr/lib/${TRIPLE}`,
    "/usr/lib64",
  ];
}

function driverDirs(): string[] {
  return [
    "/usr/local/nvidia/lib64",
    "/usr/local/nvidia/lib",
    `/usr/lib/${TRIPLE}`,
    `/usr/lib/${TRIPLE}/nvidia/current`,
    "/usr/lib64",
    "/usr/lib/wsl/lib",
  ];
}

function versionOf(name: string): number {
  const [major, minor] = name.replace(/^\D+/, "").split(".").map(Number);
  return major * 1000 + (minor || 0);
}

let sites: string[] | undefined;

/**
 * The site-packages folders of the Python environments on this machine, the `python3` on PATH
 * first.
 *
 * @returns Folder paths (existing or not), without duplicates.
 * @example
 * ```ts
 * import { sitePackages } from "./cuda_libraries.ts";
 * console.log(sitePackages());
 * ```
 */
export function sitePackages(): string[] {
  if (sites) return sites;
  const found = [...askPython()];
  for (const env of envValues(["VIRTUAL_ENV", "CONDA_PREFIX"])) found.push(...pythonDirs(`${env}/lib`));
  const home = readEnv("HOME");
  if (home) found.push(...pythonDirs(`${home}/.local/lib`));
  for (const prefix of ["/usr/local/lib", "/usr/lib", "/opt/conda/lib"]) found.push(...pythonDirs(prefix));
  found.push("/usr/lib/python3/dist-packages");
  sites = [...new Set(found)].filter((dir) => exists(dir) !== false);
  return sites;
}

/** `site-packages` and `dist-packages` of every `python3.X` folder under `prefix`. */
function pythonDirs(prefix: string): string[] {
  return listDir(prefix)
    .filter((name) => /^python3(\.\d+)?$/.test(name))
    .sort((a, b) => versionOf(b) - versionOf(a))
    .flatMap((name) => [`${prefix}/${name}/site-packages`, `${prefix}/${name}/dist-packages`]);
}

const SITE_SCRIPT = "import site, sys\n" +
  "dirs = list(getattr(site, 'getsitepackages', lambda: [])()) + [site.getusersitepackages()] + sys.path\n" +
  "print('\\n'.join(d for d in dirs if d.endswith(('site-packages', 'dist-packages'))))";

function askPython(): string[] {
  if (Deno.permissions.querySync({ name: "run", command: "python3" }).state !== "granted") return [];
  try {
    const output = new Deno.Command("python3", {
      args: ["-c", SITE_SCRIPT],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (!output.success) return [];
    return new TextDecoder().decode(output.stdout).split("\n").map((s) => s.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

// ---- small file-system helpers that never throw

function envValues(names: readonly string[]): string[] {
  return names.map((n) => readEnv(n)).filter((v) => v !== undefined).map((v) => v.replace(/\/+$/, ""));
}

function splitList(value: string | undefined): string[] {
  return (value ?? "").split(":").map((s) => s.trim().replace(/\/+$/, "")).filter(Boolean);
}

/** Whether `--allow-read` covers `path` (asked without prompting, unlike a plain stat). */
function readable(path: string): boolean {
  return Deno.permissions.querySync({ name: "read", path }).state === "granted";
}

/** `true` / `false`, or `undefined` when `--allow-read` does not let us look. */
function exists(path: string): boolean | undefined {
  if (!readable(path)) return undefined;
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory ? false : undefined;
  }
}

function isFile(path: string): boolean {
  if (!readable(path)) return false;
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function listDir(dir: string): string[] {
  if (!readable(dir)) return [];
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch {
    return [];
  }
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : ".";
}
