/**
 * `deno task convert`: turns a PyTorch checkpoint (`torch.save`, zip or legacy format; a state dict,
 * possibly wrapped in `{"state_dict": ...}` with DataParallel's `module.` prefix) into safetensors
 * with the same keys, read by a restricted unpickler that runs nothing from the file.
 *
 * ```sh
 * deno task convert epsanet50.pth.tar epsanet50.safetensors
 * ```
 *
 * @example
 * ```ts
 * import { convertCheckpoint } from "./convert.ts";
 * const { tensors, format } = await convertCheckpoint("resnet50.pth", "resnet50.safetensors");
 * console.log(`${tensors} tensors from ${format}`);
 * ```
 *
 * @module
 */

import { readCheckpoint, serializeSafetensors, type Tensor, tensor, writeFileAtomic } from "../mod.ts";
import { parseFlags, runMain, UsageError } from "./lib/args.ts";

const HELP = `Usage: deno task convert IN OUT.safetensors [--force]

Converts a PyTorch checkpoint written by torch.save (zip format of PyTorch >= 1.6, or the legacy
format) to safetensors with the same keys: floating-point tensors as F32, integer tensors (such as
num_batches_tracked) as I64. A state dict wrapped in {"state_dict": ...}, {"model_state_dict": ...}
or {"model": ...} is unwrapped, and DataParallel's "module." prefix removed; the scalars beside it
(epoch, arch, ...) become the file's metadata. The pickle is read by a restricted unpickler that
runs nothing: any global other than tensors, storages and OrderedDict is refused by name. The
format is told by content, so IN may also be a safetensors file. OUT is written atomically.

Options:
  --force   overwrite OUT if it exists
  --help    this text`;

const FLAGS = { force: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

/** What {@linkcode convertCheckpoint} wrote. */
export interface ConversionResult {
  /** Tensors written. */
  tensors: number;
  /** Of which integer (I64). */
  integers: number;
  /** The input's format. */
  format: string;
  /** Bytes written. */
  bytes: number;
}

/**
 * Converts `input` (a PyTorch checkpoint, or safetensors) to a safetensors file at `output`.
 *
 * @param input The checkpoint to read.
 * @param output The safetensors file to write (atomically).
 * @param options `force`: overwrite an existing `output`.
 * @returns Counts and the input's format.
 * @throws A {@linkcode UsageError} when `output` exists without `force`; a one-line Error when the
 *   input cannot be read or is refused.
 * @example
 * ```ts
 * import { convertCheckpoint } from "./convert.ts";
 * await convertCheckpoint("model.pth", "model.safetensors", { force: true });
 * ```
 */
export async function convertCheckpoint(
  input: string,
  output: string,
  options: { force?: boolean } = {},
): Promise<ConversionResult> {
  const exists = await Deno.lstat(output).then(() => true, () => false);
  if (exists && !options.force) throw new UsageError(`${output} exists; pass --force to overwrite it`);
  const { tensors, metadata, integerKeys, format } = await readCheckpoint(input);
  // Integers stay I64 for PyTorch; float64 becomes F32, as every tensor of our models is.
  const converted: Record<string, Tensor> = Object.fromEntries(
    Object.entries(tensors).map(([key, t]) => [key, t.dtype === "float64" ? tensor(t.toFloat32Array(), t.shape) : t]),
  );
  try {
    const bytes = serializeSafetensors(
      converted,
      { metadata: { ...metadata, converted_from: format }, integerKeys },
      output,
    );
    await writeFileAtomic(output, bytes);
    return { tensors: Object.keys(tensors).length, integers: integerKeys.size, format, bytes: bytes.length };
  } finally {
    for (const t of new Set([...Object.values(tensors), ...Object.values(converted)])) t.dispose();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, { positionals: true });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("give IN and OUT (see --help)");
  const [input, output] = positionals;
  const result = await convertCheckpoint(input, output, { force: values.force });
  console.log(
    `wrote ${output}: ${result.tensors} tensors (${result.integers} integer) from ${result.format}, ` +
      `${(result.bytes / 2 ** 20).toFixed(1)} MiB`,
  );
  return 0;
}

if (import.meta.main) await runMain(main);
