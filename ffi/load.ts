/**
 * Finding and opening native shared libraries.
 *
 * Search order, for every library: an explicit environment override, then the loader path (a bare
 * soname, resolved by ld.so), then well-known install folders. When nothing opens, the error lists
 * every place tried and says how to fix it.
 *
 * @module
 */

/** Where and how to look for one native library. */
export interface LibrarySpec {
  /** Human name, e.g. `"OpenBLAS"`. */
  label: string;
  /** Environment variable holding a file path, or a `:`-separated list of folders, to try first. */
  envVar: string;
  /** File names to try, most specific first (e.g. `libopenblas.so.0`). */
  sonames: readonly string[];
  /** Folders to try after the loader path. */
  dirs: readonly string[];
  /** One sentence on how to install the library. */
  installHint: string;
}

/** An opened library and where it came from. */
export interface OpenedLibrary<S extends Deno.ForeignLibraryInterface> {
  /** The library handle; keep it open for the life of the process. */
  library: Deno.DynamicLibrary<S>;
  /** The path or soname that opened. */
  path: string;
}

/** Thrown when no candidate of a {@linkcode LibrarySpec} opens; lists every candidate tried. */
export class LibraryNotFoundError extends Error {
  /** Each candidate and why it failed. */
  readonly tried: readonly string[];
  /**
   * @param spec The library that was looked for.
   * @param tried One entry per candidate: `path (reason)`.
   */
  constructor(spec: LibrarySpec, tried: readonly string[]) {
    super(
      `${spec.label} not found. Tried: ${tried.join("; ")}. ${spec.installHint} ` +
        `or set ${spec.envVar} to the library file`,
    );
    this.name = "LibraryNotFoundError";
    this.tried = tried;
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
 * Reads an environment variable, or `undefined` when unset or when `--allow-env` is missing.
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
 * The candidate file paths for a library, in search order.
 *
 * @param spec What to look for.
 * @returns Paths and bare sonames to pass to `Deno.dlopen`.
 * @example
 * ```ts
 * import { libraryCandidates } from "./load.ts";
 * const c = libraryCandidates({ label: "m", envVar: "X", sonames: ["libm.so.6"], dirs: [], installHint: "" });
 * ```
 */
export function libraryCandidates(spec: LibrarySpec): string[] {
  const candidates: string[] = [];
  const override = readEnv(spec.envVar);
  if (override) {
    for (const entry of override.split(":").filter(Boolean)) {
      if (isDirectory(entry)) {
        for (const soname of spec.sonames) candidates.push(`${entry}/${soname}`);
      } else {
        candidates.push(entry);
      }
    }
  }
  candidates.push(...spec.sonames);
  for (const dir of spec.dirs) {
    for (const soname of spec.sonames) candidates.push(`${dir}/${soname}`);
  }
  return [...new Set(candidates)];
}

/**
 * Opens the first candidate of `spec` that loads and exports `symbols`.
 *
 * @param spec Where to look.
 * @param symbols The symbol table to bind.
 * @returns The library and the path that opened.
 * @throws {LibraryNotFoundError} listing every candidate tried.
 * @example
 * ```ts
 * import { openLibrary } from "./load.ts";
 * const { library } = openLibrary(
 *   { label: "libm", envVar: "LIBM", sonames: ["libm.so.6"], dirs: [], installHint: "Install libc6" },
 *   { cos: { parameters: ["f64"], result: "f64" } },
 * );
 * console.log(library.symbols.cos(0));
 * ```
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  spec: LibrarySpec,
  symbols: S,
): OpenedLibrary<S> {
  const tried: string[] = [];
  for (const path of libraryCandidates(spec)) {
    try {
      return { library: Deno.dlopen(path, symbols), path };
    } catch (error) {
      tried.push(`${path} (${firstLine(error)})`);
    }
  }
  throw new LibraryNotFoundError(spec, tried);
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = message.split("\n")[0];
  // dlopen errors repeat the path; keep the reason only.
  const colon = line.lastIndexOf(": ");
  return colon >= 0 ? line.slice(colon + 2) : line;
}
