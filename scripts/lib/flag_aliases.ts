/**
 * Old spellings of command-line flags: one name for one option across every script, while the
 * old names keep working with a one-line notice.
 *
 * @module
 */

/**
 * The old-to-new flag names of every script (the same option has the same name everywhere).
 *
 * @example
 * ```ts
 * import { OLD_FLAG_NAMES } from "./flag_aliases.ts";
 * console.log(OLD_FLAG_NAMES.eval.limit); // "limit-test"
 * ```
 */
export const OLD_FLAG_NAMES = {
  /** eval evaluates test images, as train's --limit-test does. */
  eval: { limit: "limit-test" },
  /** bench's batch size is train's and eval's --batch-size. */
  bench: { batch: "batch-size" },
} as const satisfies Record<string, Record<string, string>>;

/**
 * Rewrites old flag names to their new ones (`--old V` and `--old=V`), telling once per name.
 *
 * @param argv The arguments.
 * @param renames Old name to new name, without dashes.
 * @param notice Where the one-line notice goes (default: stderr, so that JSON on stdout stays clean).
 * @returns The arguments with the new names.
 * @example
 * ```ts
 * import { renameOldFlags } from "./flag_aliases.ts";
 * console.log(renameOldFlags(["--limit=5"], { limit: "limit-test" }, () => {})); // ["--limit-test=5"]
 * ```
 */
export function renameOldFlags(
  argv: readonly string[],
  renames: Readonly<Record<string, string>>,
  notice: (line: string) => void = (line) => console.error(line),
): string[] {
  const told = new Set<string>();
  const out: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === "--") return [...out, ...argv.slice(i)];
    const match = /^--([a-z][a-z0-9-]*)(=.*)?$/s.exec(arg);
    const renamed = match && Object.hasOwn(renames, match[1]) ? renames[match[1]] : undefined;
    if (!match || renamed === undefined) {
      out.push(arg);
      continue;
    }
    if (!told.has(match[1])) notice(`note: --${match[1]} is now called --${renamed}; the old name still works`);
    told.add(match[1]);
    out.push(`--${renamed}${match[2] ?? ""}`);
  }
  return out;
}
