/**
 * Command-line parsing shared by the scripts: `node:util` parseArgs with one-line errors, strict
 * number parsing, and a `runMain` wrapper that turns errors into exit codes (2 for bad arguments,
 * 1 for everything else) with a single `error: ...` line and no stack trace.
 *
 * @module
 */

import { parseArgs } from "node:util";

/**
 * A problem with the command line or with the options passed to a script's function; scripts exit
 * with status 2 on it.
 *
 * @example
 * ```ts
 * import { UsageError } from "./args.ts";
 * throw new UsageError("--epochs must be a positive integer, got 0");
 * ```
 */
export class UsageError extends Error {
  /** @param message One line saying what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** One flag: a string value or a boolean switch. */
export interface FlagSpec {
  /** `"string"` takes a value, `"boolean"` is a switch. */
  type: "string" | "boolean";
  /** A one-letter alias such as `"h"`. */
  short?: string;
  /** The value when the flag is not given. */
  default?: string | boolean;
}

/**
 * Flag values by name: a string for value flags, a boolean for switches, and `undefined` for a flag
 * that was not given and has no default.
 */
export type FlagValues<F extends Readonly<Record<string, FlagSpec>>> = {
  -readonly [K in keyof F]:
    | (F[K]["type"] extends "boolean" ? boolean : string)
    | (F[K] extends { default: string | boolean } ? never : undefined);
};

/** What {@linkcode parseFlags} found. */
export interface ParsedFlags<F extends Readonly<Record<string, FlagSpec>>> {
  /** Flag values by name. */
  values: FlagValues<F>;
  /** Arguments that are not flags. */
  positionals: string[];
}

/**
 * Parses `argv` strictly: unknown flags, missing values and (unless allowed) positional arguments
 * throw a {@linkcode UsageError} with one line that ends with "(see --help)".
 *
 * @param argv The arguments (such as `Deno.args`).
 * @param flags The flags the script knows, by name without dashes.
 * @param options `positionals`: accept arguments that are not flags (default false).
 * @returns The values and positionals.
 * @example
 * ```ts
 * import { parseFlags } from "./args.ts";
 * const { values } = parseFlags(["--epochs", "3"], { epochs: { type: "string" } });
 * console.log(values.epochs); // "3"
 * ```
 */
export function parseFlags<F extends Readonly<Record<string, FlagSpec>>>(
  argv: readonly string[],
  flags: F,
  options: { positionals?: boolean } = {},
): ParsedFlags<F> {
  try {
    const { values, positionals } = parseArgs({
      args: joinNegativeValues(argv, flags),
      options: { ...flags },
      strict: true,
      allowPositionals: options.positionals ?? false,
    });
    // node:util types the values its own way; the specs above make them these.
    return { values: values as unknown as FlagValues<F>, positionals };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    const option = /'(-[^' ]+)/.exec(message)?.[1];
    const problem = code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
      ? `unknown flag ${option ?? message}`
      : code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"
      ? `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ""}`.trimEnd()
      : code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && /argument missing/.test(message)
      ? `${option} needs a value`
      : message.split("\n")[0].replace(/\.$/, "");
    throw new UsageError(`${problem} (see --help)`);
  }
}

/**
 * `--lr -1` as `--lr=-1`, so that a negative number reaches the range check with its flag instead
 * of parseArgs calling it an ambiguous argument.
 */
function joinNegativeValues(argv: readonly string[], flags: Readonly<Record<string, FlagSpec>>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const takesValue = argv[i].startsWith("--") && flags[argv[i].slice(2)]?.type === "string";
    if (takesValue && /^-\.?\d/.test(argv[i + 1] ?? "")) joined.push(`${argv[i]}=${argv[++i]}`);
    else joined.push(argv[i]);
  }
  return joined;
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Parses a whole number and checks its range.
 *
 * @param flag The flag's name for the message, such as `"--epochs"`.
 * @param text The value as typed.
 * @param min Smallest allowed value (default 1).
 * @returns The number.
 * @throws A {@linkcode UsageError} naming the flag, the rule and the value.
 * @example
 * ```ts
 * import { parseInteger } from "./args.ts";
 * console.log(parseInteger("--epochs", "10")); // 10
 * ```
 */
export function parseInteger(flag: string, text: string, min = 1): number {
  const value = INTEGER.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    const rule = min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : `an integer >= ${min}`;
    throw new UsageError(`${flag} must be ${rule}, got "${text}"`);
  }
  return value;
}

/**
 * Parses a decimal number (`0.1`, `1e-3`); `NaN`, `Infinity` and empty strings are refused.
 *
 * @param flag The flag's name for the message.
 * @param text The value as typed.
 * @returns The number (finite).
 * @throws A {@linkcode UsageError} when the text is not a finite decimal number.
 * @example
 * ```ts
 * import { parseNumber } from "./args.ts";
 * console.log(parseNumber("--lr", "1e-3")); // 0.001
 * ```
 */
export function parseNumber(flag: string, text: string): number {
  const value = DECIMAL.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(value)) throw new UsageError(`${flag} must be a finite number, got "${text}"`);
  return value;
}

/**
 * Checks that a value is one of a fixed set of choices.
 *
 * @param flag The flag's name for the message.
 * @param text The value as typed.
 * @param choices The allowed values.
 * @returns The value, typed as one of the choices.
 * @throws A {@linkcode UsageError} listing the choices.
 * @example
 * ```ts
 * import { parseChoice } from "./args.ts";
 * const optimizer = parseChoice("--optimizer", "sgd", ["adam", "sgd"] as const); // "sgd"
 * ```
 */
export function parseChoice<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${flag} must be ${choices.join(" or ")}, got "${text}"`);
  }
  return text as T;
}

/**
 * The first line of an error's message, for `error: ...` lines.
 *
 * @param error Anything thrown.
 * @returns One line of text.
 * @example
 * ```ts
 * import { errorLine } from "./args.ts";
 * console.log(errorLine(new Error("Cannot read x\nmore"))); // "Cannot read x"
 * ```
 */
export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0].trim() || String(error);
}

/**
 * Runs a script's main function and exits with its status. A {@linkcode UsageError} prints
 * `error: <message>` and exits 2; any other error prints `error: <first line>` and exits 1, with
 * no stack trace (set `EPSANET_DEBUG=1` to see it).
 *
 * @param main The script; returns its exit status.
 * @param args The arguments (default `Deno.args`).
 * @returns Never: the process exits.
 * @example
 * ```ts
 * import { runMain } from "./args.ts";
 * if (import.meta.main) await runMain(async (args) => (console.log(args), 0));
 * ```
 */
export async function runMain(
  main: (args: string[]) => Promise<number>,
  args: string[] = Deno.args,
): Promise<never> {
  let status: number;
  try {
    status = await main(args);
  } catch (error) {
    console.error(`error: ${errorLine(error)}`);
    if (debugEnabled()) console.error(error);
    status = error instanceof UsageError ? 2 : 1;
  }
  Deno.exit(status);
}

function debugEnabled(): boolean {
  // Query first: reading the environment without permission would prompt on a terminal.
  const permission = Deno.permissions.querySync({ name: "env", variable: "EPSANET_DEBUG" });
  return permission.state === "granted" && Deno.env.get("EPSANET_DEBUG") === "1";
}
