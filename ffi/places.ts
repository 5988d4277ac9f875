/**
 * The places native libraries live in, per operating system, and the file-system look-ups the
 * discovery engine (load.ts) makes. Every function here asks for the permission it needs without
 * prompting and never throws: a place that cannot be looked at is simply not listed.
 *
 * @module
 */

/** An operating system the library specs can name files and folders for. */
export type Platform = "linux" | "darwin" | "windows";

/**
 * The operating system this process runs on (other Deno targets count as Linux).
 *
 * @returns `"linux"`, `"darwin"` or `"windows"`.
 * @example
 * ```ts
 * import { currentPlatform } from "./places.ts";
 * console.log(currentPlatform()); // "linux" on our machines
 * ```
 */
export function currentPlatform(): Platform {
  const os = Deno.build.os;
  return os === "darwin" || os === "windows" ? os : "linux";
}

/**
 * The separator of folder lists in environment variables (`PATH` style).
 *
 * @param platform The operating system.
 * @returns `";"` on Windows, `":"` elsewhere.
 * @example
 * ```ts
 * import { listSeparator } from "./places.ts";
 * "a:b".split(listSeparator("linux")); // ["a", "b"]
 * ```
 */
export function listSeparator(platform: Platform): string {
  return platform === "windows" ? ";" : ":";
}

/** Debian's multiarch folder name, e.g. `x86_64-linux-gnu`. */
export const LINUX_TRIPLE: string = Deno.build.arch === "aarch64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";

const CUDA_TARGET = Deno.build.arch === "aarch64" ? "sbsa-linux" : "x86_64-linux";

/**
 * The library folders inside a CUDA-style install root (`CUDA_HOME`, `CUDNN_PATH`, ...).
 *
 * @param root The install root.
 * @returns `lib64`, `lib`, `targets/<arch>/lib`, `lib/<triple>` and the root itself.
 * @example
 * ```ts
 * import { cudaRootFolders } from "./places.ts";
 * console.log(cudaRootFolders("/usr/local/cuda")[0]); // "/usr/local/cuda/lib64"
 * ```
 */
export function cudaRootFolders(root: string): string[] {
  return [`${root}/lib64`, `${root}/lib`, `${root}/targets/${CUDA_TARGET}/lib`, `${root}/lib/${LINUX_TRIPLE}`, root];
}

/**
 * The CUDA toolkit's standard folders on Linux: `/usr/local/cuda`, then every
 * `/usr/local/cuda-X.Y` (newest first), then the distribution's library folders.
 *
 * @returns Folder paths, existing or not.
 * @example
 * ```ts
 * import { cudaToolkitFolders } from "./places.ts";
 * console.log(cudaToolkitFolders()[0]); // "/usr/local/cuda/lib64"
 * ```
 */
export function cudaToolkitFolders(): string[] {
  const versions = listDir("/usr/local")
    .filter((name) => /^cuda-\d+(\.\d+)?$/.test(name))
    .sort((a, b) => versionOf(b) - versionOf(a));
  return [
    "/usr/local/cuda/lib64",
    `/usr/local/cuda/targets/${CUDA_TARGET}/lib`,
    ...versions.flatMap((v) => [`/usr/local/${v}/lib64`, `/usr/local/${v}/targets/${CUDA_TARGET}/lib`]),
    `/usr/lib/${LINUX_TRIPLE}`,
    "/usr/lib64",
  ];
}

/** The variable that points the CUDA libraries' search at folders or files (`:`-separated), shared by the four. */
export const CUDA_LIBS_ENV = "EPSANET_CUDA_LIBS";

/** Variables naming a CUDA toolkit install root, in the order they are read. */
export const CUDA_ROOT_VARIABLES: readonly string[] = ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT", "CUDA_TOOLKIT_ROOT_DIR"];

/** Where Linux distributions, containers and WSL put the NVIDIA driver's `libcuda.so.1`. */
export const CUDA_DRIVER_FOLDERS: readonly string[] = [
  "/usr/local/nvidia/lib64",
  "/usr/local/nvidia/lib",
  `/usr/lib/${LINUX_TRIPLE}`,
  `/usr/lib/${LINUX_TRIPLE}/nvidia/current`,
  "/usr/lib64",
  "/usr/lib/wsl/lib",
];

let sites: string[] | undefined;

/**
 * The site-packages folders of the Python environments on this machine, the `python3` on PATH
 * first (asked when `--allow-run` allows it), then `$VIRTUAL_ENV` / `$CONDA_PREFIX`, the user's
 * and the system's. Computed once.
 *
 * @returns Existing folder paths, without duplicates.
 * @example
 * ```ts
 * import { sitePackages } from "./places.ts";
 * console.log(sitePackages());
 * ```
 */
export function sitePackages(): string[] {
  if (sites) return sites;
  const found = [...askPython()];
  for (const env of envValues(["VIRTUAL_ENV", "CONDA_PREFIX"])) found.push(...pythonDirs(`${env}/lib`));
  const home = envValues(["HOME"])[0];
  if (home) found.push(...pythonDirs(`${home}/.local/lib`));
  for (const prefix of ["/usr/local/lib", "/usr/lib", "/opt/conda/lib"]) found.push(...pythonDirs(prefix));
  found.push("/usr/lib/python3/dist-packages");
  sites = [...new Set(found)].filter((dir) => pathExists(dir) !== false);
  return sites;
}

/**
 * The values of the environment variables that are set (trailing slashes removed).
 *
 * @param names Variable names, in order.
 * @returns The values of those set, in the same order.
 * @example
 * ```ts
 * import { envValues } from "./places.ts";
 * console.log(envValues(["CUDA_HOME", "CUDA_PATH"]));
 * ```
 */
export function envValues(names: readonly string[]): string[] {
  const values: string[] = [];
  for (const name of names) {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") continue;
    const value = Deno.env.get(name)?.replace(/\/+$/, "");
    if (value) values.push(value);
  }
  return values;
}

/** `site-packages` and `dist-packages` of every `python3.X` folder under `prefix`, newest first. */
function pythonDirs(prefix: string): string[] {
  return listDir(prefix)
    .filter((name) => /^python3(\.\d+)?$/.test(name))
    .sort((a, b) => versionOf(b) - versionOf(a))
    .flatMap((name) => [`${prefix}/${name}/site-packages`, `${prefix}/${name}/dist-packages`]);
}

function versionOf(name: string): number {
  const [major, minor] = name.replace(/^\D+/, "").split(".").map(Number);
  return major * 1000 + (minor || 0);
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

/** Whether `--allow-read` covers `path` (asked without prompting, unlike a plain stat). */
function readable(path: string): boolean {
  return Deno.permissions.querySync({ name: "read", path }).state === "granted";
}

/**
 * Whether a path exists.
 *
 * @param path A file or folder.
 * @returns `true` / `false`, or `undefined` when `--allow-read` does not let us look.
 * @example
 * ```ts
 * import { pathExists } from "./places.ts";
 * console.log(pathExists("/usr/lib")); // true
 * ```
 */
export function pathExists(path: string): boolean | undefined {
  if (!readable(path)) return undefined;
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory ? false : undefined;
  }
}

/**
 * Whether a path is a folder we may read.
 *
 * @param path The path.
 * @returns `true` for a readable folder.
 * @example
 * ```ts
 * import { isDirectory } from "./places.ts";
 * console.log(isDirectory("/usr/lib")); // true
 * ```
 */
export function isDirectory(path: string): boolean {
  if (!readable(path)) return false;
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The names in a folder.
 *
 * @param dir The folder.
 * @returns Entry names, or `[]` when it cannot be read.
 * @example
 * ```ts
 * import { listDir } from "./places.ts";
 * console.log(listDir("/usr/local").length);
 * ```
 */
export function listDir(dir: string): string[] {
  if (!readable(dir)) return [];
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch {
    return [];
  }
}

/**
 * The last component of a path.
 *
 * @param path A path.
 * @returns What follows the last `/` (or `\`).
 * @example
 * ```ts
 * import { basename } from "./places.ts";
 * basename("/usr/lib/libm.so.6"); // "libm.so.6"
 * ```
 */
export function basename(path: string): string {
  return path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
}

/**
 * The folder part of a path.
 *
 * @param path A path.
 * @returns What precedes the last `/` (or `\`), or `"."`.
 * @example
 * ```ts
 * import { dirname } from "./places.ts";
 * dirname("/usr/lib/libm.so.6"); // "/usr/lib"
 * ```
 */
export function dirname(path: string): string {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return slash > 0 ? path.slice(0, slash) : ".";
}
