/**
 * Output files that a script recognises as its own, so that it overwrites them on a rerun but
 * refuses to overwrite anything else (a checkpoint, a hand-written note) unless told to.
 *
 * @module
 */

import { UsageError } from "./args.ts";

/**
 * The marker comment that `deno task compare` writes into its SVG and Markdown files.
 *
 * @example
 * ```ts
 * import { COMPARE_MARKER } from "./own_output.ts";
 * console.log(COMPARE_MARKER.startsWith("<!--")); // true
 * ```
 */
export const COMPARE_MARKER = "<!-- written by deno task compare; it overwrites this file on a rerun -->";

/** How far into a file the marker is looked for. */
const MARKER_WINDOW = 4096;

/**
 * Text with the marker added: after the opening `<svg ...>` tag of an SVG, else as a first line.
 *
 * @param text An SVG (starting with `<svg`) or Markdown.
 * @param marker The marker comment.
 * @returns The marked text.
 * @example
 * ```ts
 * import { COMPARE_MARKER, withMarker } from "./own_output.ts";
 * console.log(withMarker("| a |", COMPARE_MARKER).split("\n")[1]); // "| a |"
 * ```
 */
export function withMarker(text: string, marker: string): string {
  const svgOpen = /^<svg\b[^>]*>/.exec(text);
  if (svgOpen) return `${svgOpen[0]}\n${marker}${text.slice(svgOpen[0].length)}`;
  return `${marker}\n${text}`;
}

/**
 * Refuses to overwrite a file that exists and does not carry the marker, unless `force`.
 *
 * @param path The file about to be written.
 * @param flag The flag that named it, for the message (e.g. `"--out"`).
 * @param marker The marker the script writes.
 * @param force `--force` was given.
 * @throws A {@linkcode UsageError} (one line) for a foreign file or a folder.
 * @example
 * ```ts
 * import { checkOverwrite, COMPARE_MARKER } from "./own_output.ts";
 * await checkOverwrite("/tmp/surely-absent-compare.svg", "--out", COMPARE_MARKER, false); // absent: fine
 * ```
 */
export async function checkOverwrite(path: string, flag: string, marker: string, force: boolean): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  let head = "";
  try {
    if ((await file.stat()).isDirectory) throw new UsageError(`${flag} ${path} is a folder; give a file path`);
    const buffer = new Uint8Array(MARKER_WINDOW);
    const n = await file.read(buffer);
    head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  } finally {
    file.close();
  }
  if (force || head.includes(marker)) return;
  throw new UsageError(
    `${flag} ${path} exists and was not written by this script; pass --force to overwrite it, or choose another path`,
  );
}
