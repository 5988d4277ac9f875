/**
 * The one notice policy of library discovery: when a native library is missing and the code falls
 * back to something slower, stderr gets exactly one line per library family and process, saying
 * what was not found, what is used instead and how to get the fast path. The full list of places
 * tried is printed only when `EPSANET_VERBOSE=1`.
 *
 * @module
 */

/** The environment variable that makes discovery list every place it tried. */
export const VERBOSE_ENV = "EPSANET_VERBOSE";

const noticed = new Set<string>();

/**
 * Whether discovery should list the places it tried (`EPSANET_VERBOSE=1`).
 *
 * @returns `true` when the variable is `1` and readable.
 * @example
 * ```ts
 * import { verbose } from "./notice.ts";
 * if (verbose()) console.error("listing every place tried");
 * ```
 */
export function verbose(): boolean {
  if (Deno.permissions.querySync({ name: "env", variable: VERBOSE_ENV }).state !== "granted") return false;
  return Deno.env.get(VERBOSE_ENV) === "1";
}

/**
 * Prints `epsanet: <line>` on stderr, the first time a family asks in this process; with
 * `EPSANET_VERBOSE=1` the places tried follow, one per line.
 *
 * @param family The library family (`"OpenBLAS"`, `"oneDNN"`, `"CUDA"`, ...): one line each.
 * @param line The notice, without the `epsanet: ` prefix; `""` marks the family noticed silently.
 * @param tried The places tried, each `path (reason)`.
 * @returns Whether the notice was printed (false when the family was already noticed).
 * @example
 * ```ts
 * import { noticeOnce } from "./notice.ts";
 * noticeOnce("OpenBLAS", "no OpenBLAS found; using the TypeScript GEMM", ["libopenblas.so.0 (absent)"]);
 * ```
 */
export function noticeOnce(family: string, line: string, tried: readonly string[] = []): boolean {
  if (noticed.has(family)) return false;
  noticed.add(family);
  if (line === "") return false;
  console.error(`epsanet: ${line}`);
  if (verbose()) printTried(family, tried);
  return true;
}

/**
 * Prints the places tried for a library family on stderr (what `EPSANET_VERBOSE=1` shows).
 *
 * @param family The library family.
 * @param tried The places tried, each `path (reason)`.
 * @example
 * ```ts
 * import { printTried } from "./notice.ts";
 * printTried("OpenBLAS", ["/usr/lib/libopenblas.so.0 (absent)"]);
 * ```
 */
export function printTried(family: string, tried: readonly string[]): void {
  console.error(`epsanet: ${family}: ${tried.length} place(s) tried, in order:`);
  for (const place of tried) console.error(`  ${place}`);
}
