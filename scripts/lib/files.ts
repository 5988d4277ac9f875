/**
 * File helpers of the scripts (atomic writes come from the library: `writeFileAtomic`).
 *
 * @module
 */

/**
 * Whether a path exists (file, folder or anything else).
 *
 * @param path The path.
 * @returns True when `Deno.stat` succeeds.
 * @example
 * ```ts
 * import { pathExists } from "./files.ts";
 * console.log(await pathExists("/")); // true
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
