/**
 * `deno task summary`: prints a model's layers, shapes, parameters and multiply-adds.
 *
 * ```sh
 * deno task summary --model epsanet50
 * deno task summary --model resnet50 --input 1,3,32,32 --classes 10 --stem cifar --json
 * ```
 *
 * @module
 */

import {
  createModel,
  formatSummary,
  isModelName,
  isStemName,
  MODEL_NAMES,
  type Stem,
  STEM_NAMES,
  type Summary,
  summary,
} from "../mod.ts";
import { parseFlags, parseInteger, runMain } from "./lib/args.ts";

/** Largest --classes a model can be built with (its fc layer is 2048 x classes floats). */
const MAX_CLASSES = 1_000_000;

const HELP = `Usage: deno task summary [options]

Prints every layer of a model with its input and output shapes and parameters, then the totals
(trainable parameters, parameters + BN running statistics, multiply-adds).

Options:
  --model NAME     ${MODEL_NAMES.join(", ")} (default epsanet50)
  --input SHAPE    input shape N,C,H,W (default 1,3,224,224)
  --classes N      output classes (default 1000)
  --stem NAME      imagenet | cifar (default imagenet)
  --json           print the summary as JSON
  --help           this text`;

/**
 * Runs the summary command.
 *
 * @param argv Arguments.
 * @returns The exit code (0 ok, 2 bad arguments).
 * @example
 * ```ts
 * import { main } from "./summary.ts";
 * await main(["--model", "resnet50", "--input", "1,3,64,64"]);
 * ```
 */
export function main(argv: string[]): number {
  let options;
  try {
    options = parseSummaryArgs(argv);
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    return 2;
  }
  if (!options) {
    console.log(HELP);
    return 0;
  }
  const model = createModel(options.model, { numClasses: options.classes, stem: options.stem });
  let result: Summary;
  try {
    result = summary(model, options.input);
  } catch (error) {
    console.error(
      `error: input ${options.input.join(",")} does not fit ${options.model}: ${
        error instanceof Error ? error.message : error
      }`,
    );
    return 2;
  }
  console.log(
    options.json ? JSON.stringify({ model: options.model, ...result }) : formatSummary(result, options.model),
  );
  return 0;
}

function parseSummaryArgs(
  argv: string[],
): { model: typeof MODEL_NAMES[number]; input: number[]; classes: number; stem: Stem; json: boolean } | null {
  const { values } = parseFlags(argv, {
    model: { type: "string", default: "epsanet50" },
    input: { type: "string", default: "1,3,224,224" },
    classes: { type: "string", default: "1000" },
    stem: { type: "string", default: STEM_NAMES[0] },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return null;
  if (!isModelName(values.model)) throw new Error(`unknown --model "${values.model}"; use ${MODEL_NAMES.join(", ")}`);
  const input = values.input.split(",").map(Number);
  if (input.length !== 4 || !input.every((d) => Number.isInteger(d) && d > 0) || input[1] !== 3) {
    throw new Error(`--input must be N,3,H,W with positive integers, got "${values.input}"`);
  }
  const classes = parseInteger("--classes", values.classes);
  // The classifier alone holds 2048 x classes weights: past this it cannot be allocated.
  if (classes > MAX_CLASSES) {
    throw new Error(`--classes must be at most ${MAX_CLASSES.toLocaleString("en-US")}, got ${classes}`);
  }
  if (!isStemName(values.stem)) throw new Error(`--stem must be ${STEM_NAMES.join(" or ")}, got "${values.stem}"`);
  return { model: values.model, input, classes, stem: values.stem, json: values.json };
}

if (import.meta.main) await runMain((args) => Promise.resolve(main(args)));
