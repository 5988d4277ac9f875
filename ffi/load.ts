/**
 * The one engine that finds and opens native libraries (OpenBLAS, oneDNN, the CUDA driver, NVRTC,
 * cuBLAS, cuDNN). Each library is described by a {@linkcode LibrarySpec} that lives beside its
 * bindings (ffi/cblas.ts, ffi/dnnl.ts, ffi/cuda.ts, ...): its file names and search places per
 * operating system, the environment variable that overrides the search, the dependencies to
 * preload and its symbol table. Adding macOS or Windows is a change to those specs only.
 *
 * Search order: the override variable first (`"only"`: it replaces the search; `"first"`: it is
 * searched first), then the spec's places in order (the loader path, install roots named by
 * variables such as `CUDA_HOME`, `site-packages/nvidia/<x>/lib` of the Python environments, fixed
 * folders). Toolkit `stubs/` folders are never loaded. An override that cannot be honoured (a path
 * that does not exist or does not load) is an error naming the variable and the path, never a
 * silent fallback; the value `none` switches the library off.
 *
 * @example
 * ```ts
 * import { openLibrary } from "./load.ts";
 * const { library, path } = openLibrary({
 *   name: "libm",
 *   envVar: "EPSANET_LIBM",
 *   override: "only",
 *   platforms: { linux: { files: ["libm.so.6"], places: [{ loader: true }], install: "install libc6" } },
 *   symbols: { cos: { parameters: ["f64"], result: "f64" } },
 * });
 * console.log(path, library.symbols.cos(0)); // "libm.so.6" 1
 * ```
 *
 * @module
 */

import { noticeOnce, verbose, VERBOSE_ENV } from "./notice.ts";
import {
  basename,
  currentPlatform,
  dirname,
  envValues,
  isDirectory,
  listDir,
  listSeparator,
  pathExists,
  type Platform,
  sitePackages,
} from "./places.ts";

/**
 * One kind of place to look, in a spec's search order: the loader path (bare file names resolved
 * by ld.so / dyld / Windows), fixed folders, install roots named by environment variables (their
 * `lib64`, `lib`, ... folders, see `rootFolders`), or folders inside every Python site-packages.
 */
export type Place =
  | { readonly loader: true }
  | { readonly folders: readonly string[] | (() => readonly string[]) }
  | { readonly roots: readonly string[]; readonly rootFolders: (root: string) => readonly string[] }
  | { readonly wheels: readonly string[] };

/** File names and places of a library on one operating system. */
export interface PlatformSearch {
  /** File names, most specific first (e.g. `libcublas.so.13` before `libcublas.so.12`). */
  readonly files: readonly string[];
  /** Where to look after the override variable, in order. */
  readonly places: readonly Place[];
  /** How to install it, starting with a verb: `"install libopenblas0-pthread"`. */
  readonly install: string;
}

/** A library to preload, by absolute path, before the one that needs it. */
export interface Dependency {
  /** File name inside the folder the library was found in. */
  readonly file: string;
  /** Whether the library works without it. */
  readonly optional: boolean;
}

/** Where and how to find one native library, and what to bind. */
export interface LibrarySpec<S extends Deno.ForeignLibraryInterface = Deno.ForeignLibraryInterface> {
  /** Human name, e.g. `"OpenBLAS"` or `"cuDNN 9"`. */
  readonly name: string;
  /** The environment variable that overrides the search: a file, or folders (`:`-separated). */
  readonly envVar: string;
  /** `"only"`: a set variable replaces the search; `"first"`: it is searched first (shared by a family). */
  readonly override: "only" | "first";
  /** File names and places per operating system; an absent platform has no candidates. */
  readonly platforms: Readonly<Partial<Record<Platform, PlatformSearch>>>;
  /** The symbol table to bind. */
  readonly symbols: S;
  /** What to preload from the folder a candidate is in, given the folder's file names. */
  dependencies?(folder: string, file: string, listing: readonly string[]): Dependency[];
  /** Runs once before the first candidate is opened (e.g. sets a variable the library reads at load). */
  prepare?(): void;
  /** Checks an opened candidate (e.g. its version); a returned reason rejects it. */
  validate?(library: Deno.DynamicLibrary<S>): string | undefined;
  /**
   * Checks a candidate through a small symbol table before the full one is bound (a library of
   * another major version may lack symbols, so binding them all would fail with a less useful
   * reason); a returned reason rejects it, and is what the not-found error's `rejected` says.
   */
  readonly probe?: {
    readonly symbols: Deno.ForeignLibraryInterface;
    check(library: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>): string | undefined;
  };
}

/** One place a library may be opened from. */
export interface Candidate {
  /** An absolute path, or a bare file name for the loader path. */
  readonly path: string;
  /** Where it comes from. */
  readonly from: "override" | "loader" | "folder";
}

/** An opened library and where it came from. */
export interface OpenedLibrary<S extends Deno.ForeignLibraryInterface> {
  /** The library handle; keep it open for the life of the process. */
  readonly library: Deno.DynamicLibrary<S>;
  /** The path or bare file name that opened. */
  readonly path: string;
}

/** What {@linkcode openOrFallBack} returns when the caller should use its fallback. */
export interface FallBack {
  /** No library. */
  readonly library: null;
  /** Why, in a few words: `"EPSANET_BLAS=none"`, `"OpenBLAS not found"`, ... */
  readonly reason: string;
  /** The error behind it (its `tried` and `rejected`). */
  readonly error?: LibraryNotFoundError;
}

/**
 * A library that cannot be used: not found, switched off, missing permissions, or an explicit
 * choice (the override variable) that cannot be honoured. The message is one short line that says
 * what to do; `tried` holds every place tried (in the message too when `EPSANET_VERBOSE=1`).
 *
 * @example
 * ```ts
 * import { LibraryNotFoundError } from "./load.ts";
 * const error = new LibraryNotFoundError({ summary: "OpenBLAS not found", fix: "install it", tried: ["x (absent)"] });
 * console.log(error.message); // "OpenBLAS not found; install it"
 * ```
 */
export class LibraryNotFoundError extends Error {
  /** A few words on what is missing, e.g. `"cuDNN 9 not found"`, for one-line notices. */
  readonly summary: string;
  /** Each place tried and why it failed, in search order. */
  readonly tried: readonly string[];
  /** The override variable, when the failure is an explicit choice that cannot be honoured. */
  readonly variable: string | undefined;
  /** Why a library that was found was turned down (its `probe`), e.g. `"oneDNN 3.4.1; only 2.x is supported"`. */
  readonly rejected: string | undefined;
  /**
   * An error from its parts.
   *
   * @param parts `summary` (what is missing), `fix` (what to do), `tried` (the places tried) and
   * `variable` (the override variable, for a failed explicit choice).
   */
  constructor(
    parts: { summary: string; fix: string; tried?: readonly string[]; variable?: string; rejected?: string },
  ) {
    const tried = parts.tried ?? [];
    const list = verbose() && tried.length ? `. Tried: ${tried.join("; ")}` : "";
    super(`${parts.summary}; ${parts.fix}${list}`);
    this.name = "LibraryNotFoundError";
    this.summary = parts.summary;
    this.tried = tried;
    this.variable = parts.variable;
    this.rejected = parts.rejected;
  }
}

/**
 * Whether the running script holds a Deno permission (without prompting).
 *
 * @param name The permission, e.g. `"ffi"`.
 * @returns `true` when granted.
 * @example
 * ```ts
 * import { hasPermission } from "./load.ts";
 * if (!hasPermission("ffi")) console.log("no native libraries");
 * ```
 */
export function hasPermission(name: "ffi" | "env" | "read" | "run" | "write"): boolean {
  return Deno.permissions.querySync({ name }).state === "granted";
}

/**
 * Reads an environment variable, or `undefined` when unset, empty or when `--allow-env` is missing.
 *
 * @param name The variable.
 * @returns Its value, or `undefined`.
 * @example
 * ```ts
 * import { readEnv } from "./load.ts";
 * const override = readEnv("EPSANET_BLAS");
 * ```
 */
export function readEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name) || undefined;
}

/**
 * The entries of a spec's override variable (empty when unset or `none`).
 *
 * @param spec The library.
 * @param platform The operating system (its list separator).
 * @returns Paths, trailing slashes removed.
 * @example
 * ```ts
 * import { overrideEntries } from "./load.ts";
 * import { OPENBLAS } from "./cblas.ts";
 * console.log(overrideEntries(OPENBLAS));
 * ```
 */
export function overrideEntries(spec: LibrarySpec, platform: Platform = currentPlatform()): string[] {
  const value = readEnv(spec.envVar);
  if (value === undefined || value === "none") return [];
  return value.split(listSeparator(platform)).map((s) => s.trim().replace(/(.)[/\\]+$/, "$1")).filter(Boolean);
}

/**
 * The places a library is looked for, in order.
 *
 * @param spec The library.
 * @param platform The operating system whose names and places to use (default: this one).
 * @returns Candidates as passed to `Deno.dlopen`, first preferred, without duplicates or stubs.
 * @example
 * ```ts
 * import { libraryCandidates } from "./load.ts";
 * import { OPENBLAS } from "./cblas.ts";
 * console.log(libraryCandidates(OPENBLAS).map((c) => c.path));
 * ```
 */
export function libraryCandidates(spec: LibrarySpec, platform: Platform = currentPlatform()): Candidate[] {
  const search = spec.platforms[platform];
  if (!search) return [];
  const out: Candidate[] = [];
  const inFolder = (dir: string, from: Candidate["from"]): void => {
    // An absolute file name (macOS's Accelerate framework) is tried as is, on the loader path.
    for (const file of search.files) if (!isAbsolute(file)) out.push({ path: `${dir}/${file}`, from });
  };
  const entries = overrideEntries(spec, platform);
  for (const entry of entries) {
    if (isDirectory(entry)) inFolder(entry, "override");
    else if (spec.override === "only" || fileMatches(basename(entry), search.files)) {
      out.push({ path: entry, from: "override" });
    }
  }
  if (spec.override === "first" || entries.length === 0) {
    for (const place of search.places) {
      if ("loader" in place) { for (const file of search.files) out.push({ path: file, from: "loader" }); }
      else if ("folders" in place) {
        const folders = typeof place.folders === "function" ? place.folders() : place.folders;
        folders.forEach((dir) => inFolder(dir, "folder"));
      } else if ("roots" in place) {
        for (const root of envValues(place.roots)) place.rootFolders(root).forEach((dir) => inFolder(dir, "folder"));
      } else {
        for (const site of sitePackages()) place.wheels.forEach((dir) => inFolder(`${site}/${dir}`, "folder"));
      }
    }
  }
  const seen = new Set<string>();
  return out.filter((c) => !/[/\\]stubs[/\\]/.test(c.path) && !seen.has(c.path) && seen.add(c.path));
}

/** Whether a path is absolute (`/x`, `C:\\x`, `\\\\server`). */
function isAbsolute(path: string): boolean {
  return /^([/\\]|[A-Za-z]:[/\\])/.test(path);
}

/** Whether a file name is one of `files`, any version suffix aside (`libcudnn.so.9.1.0` is `libcudnn.so.9`). */
function fileMatches(name: string, files: readonly string[]): boolean {
  return files.some((file) => {
    const stem = file.replace(/(\.\d+)+$/, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`^${stem}(\\.\\d+)*$`).test(name);
  });
}

/** Handles of preloaded dependencies: closing them would unload code their users still call. */
const preloaded: Deno.DynamicLibrary<Record<string, never>>[] = [];

/**
 * Opens the first candidate of `spec` that loads (after preloading its dependencies), binds its
 * symbols and passes its check.
 *
 * @param spec The library.
 * @param symbols Another table to bind instead of the spec's (e.g. `{}` to only load it; the
 * spec's `validate` is then skipped).
 * @returns The library and where it came from.
 * @throws {LibraryNotFoundError} when nothing opens, when the override fails (with `variable` set),
 * when the override is `none`, or without `--allow-ffi`.
 * @example
 * ```ts
 * import { openLibrary } from "./load.ts";
 * import { OPENBLAS } from "./cblas.ts";
 * const { library, path } = openLibrary(OPENBLAS);
 * ```
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface, T extends Deno.ForeignLibraryInterface = S>(
  spec: LibrarySpec<S>,
  symbols?: T,
): OpenedLibrary<T> {
  const platform = currentPlatform();
  const search = spec.platforms[platform];
  const value = readEnv(spec.envVar);
  if (value === "none") {
    throw new LibraryNotFoundError({ summary: `${spec.envVar}=none`, fix: `unset ${spec.envVar} to use ${spec.name}` });
  }
  if (!hasPermission("ffi")) {
    throw new LibraryNotFoundError({
      summary: `${spec.name} needs --allow-ffi`,
      fix: "run deno with --allow-ffi --allow-env --allow-read (and --allow-run to ask python3 for its wheels)",
    });
  }
  if (!search) {
    throw new LibraryNotFoundError({
      summary: `${spec.name} not supported on ${platform}`,
      fix: `set ${spec.envVar} to the library file`,
    });
  }
  checkOverride(spec, platform);
  spec.prepare?.();
  const absent: string[] = [];
  const notes: string[] = [];
  let rejected: string | undefined;
  for (const candidate of libraryCandidates(spec, platform)) {
    if (candidate.from !== "loader" && pathExists(candidate.path) === false) {
      absent.push(candidate.path);
      continue;
    }
    const result = tryCandidate(spec, candidate.path, symbols, candidate.from !== "loader");
    if ("library" in result) return result;
    if (result.rejected && rejected === undefined) rejected = `${candidate.path}: ${result.reason}`;
    if (candidate.from === "override") throw overrideError(spec, `${candidate.path} does not load (${result.reason})`);
    const where = candidate.from === "loader" ? `the loader path (${candidate.path}: ` : `${candidate.path} (`;
    notes.push(`${where}${result.reason})`);
  }
  const tried = [...folderList(absent), ...notes];
  if (value !== undefined && spec.override === "only") {
    throw overrideError(spec, `holds none of ${search.files.join(", ")}`, tried);
  }
  const where = spec.override === "only" ? "the library file" : "the folders that hold it";
  throw new LibraryNotFoundError({
    summary: `${spec.name} not found`,
    fix:
      `${search.install}, or set ${spec.envVar} to ${where} (${VERBOSE_ENV}=1 lists the ${tried.length} places tried)`,
    tried,
    rejected,
  });
}

/**
 * Checks that every entry of a spec's override variable exists.
 *
 * @param spec The library.
 * @param platform The operating system (its list separator).
 * @throws {LibraryNotFoundError} naming the variable and the entry that does not exist.
 * @example
 * ```ts
 * import { checkOverride } from "./load.ts";
 * import { OPENBLAS } from "./cblas.ts";
 * checkOverride(OPENBLAS); // throws for EPSANET_BLAS=/nonexistent/libopenblas.so.0
 * ```
 */
export function checkOverride(spec: LibrarySpec, platform: Platform = currentPlatform()): void {
  for (const entry of overrideEntries(spec, platform)) {
    if (pathExists(entry) === false) throw overrideError(spec, `${entry} does not exist`);
  }
}

function overrideError(spec: LibrarySpec, what: string, tried: readonly string[] = []): LibraryNotFoundError {
  return new LibraryNotFoundError({
    summary: `${spec.envVar}=${readEnv(spec.envVar)}: ${what}`,
    fix: `point ${spec.envVar} at the ${spec.name} library file or its folder` +
      (spec.override === "only" ? `, or set ${spec.envVar}=none to do without it` : ", or unset it"),
    tried,
    variable: spec.envVar,
  });
}

function tryCandidate<S extends Deno.ForeignLibraryInterface, T extends Deno.ForeignLibraryInterface>(
  spec: LibrarySpec<S>,
  path: string,
  symbols: T | undefined,
  byPath: boolean,
): { library: Deno.DynamicLibrary<T>; path: string } | { reason: string; rejected?: boolean } {
  try {
    if (byPath && spec.dependencies) {
      const folder = dirname(path);
      for (const dependency of spec.dependencies(folder, basename(path), listDir(folder))) {
        preload(`${folder}/${dependency.file}`, dependency.optional);
      }
    }
    if (symbols) return { library: Deno.dlopen(path, symbols), path };
    if (spec.probe) {
      const probe = Deno.dlopen(path, spec.probe.symbols);
      const problem = spec.probe.check(probe);
      probe.close();
      if (problem !== undefined) return { reason: problem, rejected: true };
    }
    const library = Deno.dlopen(path, spec.symbols);
    const problem = spec.validate?.(library);
    if (problem === undefined) return { library: library as unknown as Deno.DynamicLibrary<T>, path };
    library.close();
    return { reason: problem };
  } catch (error) {
    return { reason: reason(error, path) };
  }
}

function preload(path: string, optional: boolean): void {
  try {
    preloaded.push(Deno.dlopen(path, {}));
  } catch (error) {
    if (!optional) throw new Error(`${basename(path)}: ${reason(error, path)}`);
  }
}

const results = new WeakMap<LibrarySpec, OpenedLibrary<Deno.ForeignLibraryInterface> | FallBack | Error>();

/**
 * Opens a library the caller can do without, once per process. When it falls back, stderr gets
 * the notice policy's one line (see notice.ts): {@linkcode fallBackNotice} for a library not
 * found, one shared line for a missing `--allow-ffi`, nothing for `none` (the user's choice). An
 * override that cannot be honoured throws instead, every time it is asked.
 *
 * @param spec The library.
 * @param instead What runs without it, e.g. `"using the TypeScript GEMM"`.
 * @param notice Whether to print the fallback notice (false when the caller prints one line for
 * several libraries; the missing `--allow-ffi` line is printed either way).
 * @returns The opened library, or why the caller falls back.
 * @throws {LibraryNotFoundError} with `variable` set when the override variable fails.
 * @example
 * ```ts
 * import { openOrFallBack } from "./load.ts";
 * import { OPENBLAS } from "./cblas.ts";
 * const blas = openOrFallBack(OPENBLAS, "using the TypeScript GEMM");
 * console.log(blas.library ? blas.path : blas.reason);
 * ```
 */
export function openOrFallBack<S extends Deno.ForeignLibraryInterface>(
  spec: LibrarySpec<S>,
  instead: string,
  notice = true,
): OpenedLibrary<S> | FallBack {
  let result = results.get(spec);
  if (result === undefined) {
    try {
      result = openLibrary(spec);
    } catch (error) {
      const fallBack = error instanceof LibraryNotFoundError && error.variable === undefined;
      result = fallBack ? { library: null, reason: error.summary, error } : error as Error;
      // A caller that prints its own line (notice = false) still gets the shared --allow-ffi one.
      if (fallBack && (notice || !hasPermission("ffi"))) noticeOnce(...fallBackLine(spec, instead, error));
    }
    results.set(spec, result);
  }
  if (result instanceof Error) throw result;
  return result as OpenedLibrary<S> | FallBack;
}

/** The notice for a fallback: family, line and places tried. */
function fallBackLine(spec: LibrarySpec, instead: string, error: LibraryNotFoundError): [string, string, string[]] {
  if (readEnv(spec.envVar) === "none") return [spec.name, "", []];
  if (!hasPermission("ffi")) {
    return [
      "--allow-ffi",
      "no --allow-ffi permission, so no native library is loaded and the built-in kernels run (slower); " +
      "run deno with --allow-ffi --allow-env --allow-read to use OpenBLAS and oneDNN",
      [],
    ];
  }
  return [spec.name, fallBackNotice(spec, instead), [...error.tried]];
}

/**
 * The one-line notice for a library the code falls back from.
 *
 * @param spec The library.
 * @param instead What runs instead, e.g. `"using the TypeScript GEMM"`.
 * @param platform Whose install hint to give (default: this operating system).
 * @returns E.g. `no OpenBLAS found; using the TypeScript GEMM (install libopenblas0-pthread for full
 * speed; EPSANET_VERBOSE=1 lists the places tried)`.
 * @example
 * ```ts
 * import { fallBackNotice } from "./load.ts";
 * import { OPENBLAS } from "./cblas.ts";
 * console.error(`epsanet: ${fallBackNotice(OPENBLAS, "using the TypeScript GEMM")}`);
 * ```
 */
export function fallBackNotice(spec: LibrarySpec, instead: string, platform: Platform = currentPlatform()): string {
  const install = spec.platforms[platform]?.install ?? `set ${spec.envVar} to the library file`;
  return `no ${spec.name} found; ${instead} (${install} for full speed; ${VERBOSE_ENV}=1 lists the places tried)`;
}

/** Groups missing files by folder: `/a/{libx.so.13,libx.so.12}` reads better than two paths. */
function folderList(paths: readonly string[]): string[] {
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
