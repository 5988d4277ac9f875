/**
 * Weights from either checkpoint format, told apart by content (never by extension): safetensors,
 * or a PyTorch `torch.save` file (zip or legacy). The result is the same for both, so loading and
 * conversion code need not care where the weights came from.
 *
 * @example
 * ```ts
 * import { readCheckpoint } from "./weights.ts";
 * const { tensors, format } = await readCheckpoint("resnet50.pth");
 * console.log(format, Object.keys(tensors).length);
 * for (const t of Object.values(tensors)) t.dispose();
 * ```
 *
 * @module
 */

import { parseSafetensors } from "../safetensors.ts";
import type { Tensor } from "../tensor.ts";
import { parsePth, pthFormat } from "./pth.ts";

/** What {@linkcode readCheckpoint} found. */
export interface Checkpoint {
  /** Tensors by state-dict key, on the CPU device; the caller disposes them. */
  tensors: Record<string, Tensor>;
  /** safetensors' `__metadata__`, or the scalars beside a wrapped PyTorch state dict. */
  metadata: Record<string, string>;
  /** Keys of integer tensors (I64 / I32 in safetensors, integer storages in PyTorch files). */
  integerKeys: Set<string>;
  /** Which format the bytes were in. */
  format: "safetensors" | "pth-zip" | "pth-legacy";
}

/** Integer tensors of a safetensors file that parsed; its header is known to be valid JSON. */
function safetensorsIntegerKeys(bytes: Uint8Array): Set<string> {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header: Record<string, { dtype?: string }> = JSON.parse(
    new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)),
  );
  return new Set(Object.keys(header).filter((key) => header[key].dtype === "I64" || header[key].dtype === "I32"));
}

/**
 * Decodes checkpoint bytes of either format.
 *
 * @param bytes The whole file.
 * @param label The file's name, for error messages.
 * @returns Tensors, metadata, integer keys and the format.
 * @throws The format reader's one-line Error naming `label`.
 * @example
 * ```ts
 * import { parseCheckpoint } from "./weights.ts";
 * import { serializeSafetensors } from "../safetensors.ts";
 * import { tensor } from "../creation.ts";
 * const { format } = parseCheckpoint(serializeSafetensors({ w: tensor([1]) }), "demo"); // "safetensors"
 * ```
 */
export function parseCheckpoint(bytes: Uint8Array, label: string): Checkpoint {
  const pth = pthFormat(bytes);
  if (pth) return { ...parsePth(bytes, label), format: pth === "zip" ? "pth-zip" : "pth-legacy" };
  const { tensors, metadata } = parseSafetensors(bytes, label);
  return { tensors, metadata, integerKeys: safetensorsIntegerKeys(bytes), format: "safetensors" };
}

/**
 * Reads a checkpoint file of either format.
 *
 * @param path The file.
 * @returns Tensors, metadata, integer keys and the format.
 * @throws A one-line Error naming `path`: unreadable, or invalid in its format.
 * @example
 * ```ts
 * import { readCheckpoint } from "./weights.ts";
 * const { tensors, integerKeys } = await readCheckpoint("model.pth");
 * ```
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`, { cause: error });
  }
  return parseCheckpoint(bytes, path);
}
