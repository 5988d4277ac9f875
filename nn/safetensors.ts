/**
 * Checkpoints in the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of UTF-8 JSON (name -> dtype, shape, data_offsets, plus an
 * optional `__metadata__` of strings), then the little-endian, row-major data. With PyTorch's
 * state_dict key names, weights move to and from PyTorch.
 *
 * @example
 * ```ts
 * import { loadWeights, saveWeights } from "./safetensors.ts";
 * import { BatchNorm2d, Conv2d, Sequential } from "./layers.ts";
 * const model = new Sequential(new Conv2d(3, 8, 3), new BatchNorm2d(8));
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(path, model, { epoch: "1" });
 * const { metadata } = await loadWeights(path, model); // { epoch: "1" }
 * ```
 *
 * @module
 */

import { cpu } from "./cpu/device.ts";
import type { HostArray } from "./device.ts";
import { writeFileAtomic } from "./files.ts";
import { parsePth, pthFormat } from "./io/pth.ts";
import type { Module } from "./module.ts";
import { tensor } from "./creation.ts";
import type { Tensor } from "./tensor.ts";

/** Tensors and metadata of a safetensors file. */
export interface Safetensors {
  /** Tensors by name, on the CPU device (float32, or float64 for F64); the caller disposes them. */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
}

/** Options of {@linkcode writeSafetensors} and {@linkcode serializeSafetensors}. */
export interface WriteOptions {
  /** Strings stored under `__metadata__`. */
  metadata?: Record<string, string>;
  /** Names of tensors that hold whole numbers, stored as I64 (like `num_batches_tracked`). */
  integerKeys?: ReadonlySet<string>;
}

/** What {@linkcode loadWeights} found. */
export interface LoadWeightsResult {
  /** The file's `__metadata__` strings. */
  metadata: Record<string, string>;
  /** Keys the model has but the file lacks (only with `strict: false`). */
  missingKeys: string[];
  /** Keys the file has but the model lacks (only with `strict: false`). */
  unexpectedKeys: string[];
}

interface DTypeInfo {
  /** Bytes per element. */
  size: number;
  /** Reads one element at byte offset `at`. */
  read(view: DataView, at: number): number | bigint;
  /** Decodes to a float64 tensor instead of float32. */
  float64?: boolean;
  /** Integers: every value must survive the conversion to float32 exactly. */
  integer?: boolean;
}

const DTYPES: Readonly<Record<string, DTypeInfo>> = {
  F64: { size: 8, read: (v, at) => v.getFloat64(at, true), float64: true },
  F32: { size: 4, read: (v, at) => v.getFloat32(at, true) },
  F16: { size: 2, read: (v, at) => f16ToF32(v.getUint16(at, true)) },
  BF16: { size: 2, read: (v, at) => bf16ToF32(v.getUint16(at, true)) },
  I64: { size: 8, read: (v, at) => v.getBigInt64(at, true), integer: true },
  I32: { size: 4, read: (v, at) => v.getInt32(at, true), integer: true },
};

/** IEEE half precision: 1 sign, 5 exponent (bias 15), 10 fraction bits. */
function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const bf16Scratch = new DataView(new ArrayBuffer(4));

/** bfloat16 is the upper half of a float32. */
function bf16ToF32(bits: number): number {
  bf16Scratch.setUint32(0, bits << 16);
  return bf16Scratch.getFloat32(0);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

/**
 * Decodes safetensors bytes. Everything is validated before any tensor is created.
 *
 * @param bytes The whole file.
 * @param label The file's name, for error messages.
 * @returns The tensors (on the CPU; the caller owns and disposes them) and the metadata.
 * @throws An Error naming `label` and the problem: truncated data, bad header, out-of-range or
 *   mis-sized offsets, unsupported dtype, or integers that float32 cannot hold exactly.
 * @example
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "./safetensors.ts";
 * import { tensor } from "./creation.ts";
 * const bytes = serializeSafetensors({ w: tensor([1, 2]) });
 * const { tensors } = parseSafetensors(bytes, "in-memory");
 * console.log(tensors.w.toArray()); // [1, 2]
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, label: string): Safetensors {
  // Typed as `never` so that the checks below narrow the header's values.
  const fail: (problem: string) => never = (problem) => {
    throw new Error(`Invalid safetensors file ${label}: ${problem}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes after it (truncated file?)`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    fail(`header is not valid JSON (${error instanceof Error ? error.message : error})`);
  }
  if (!isRecord(header)) fail("header is not a JSON object");
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const decoded: [string, Float32Array | Float64Array, number[]][] = [];
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") {
      if (!isRecord(entry) || !Object.values(entry).every((v) => typeof v === "string")) {
        fail("__metadata__ must map strings to strings");
      }
      Object.assign(metadata, entry);
      continue;
    }
    const bad: (problem: string) => never = (problem) => fail(`tensor "${key}" ${problem}`);
    if (!isRecord(entry)) bad("is not an object");
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string") bad("has no dtype");
    if (!Array.isArray(shape) || !shape.every(isCount)) bad("shape must be a list of non-negative integers");
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      bad("data_offsets must be two non-negative integers [begin, end]");
    }
    // hasOwn: names such as "constructor" must not reach Object.prototype.
    const info = Object.hasOwn(DTYPES, dtype) ? DTYPES[dtype] : undefined;
    if (!info) bad(`has unsupported dtype "${dtype}" (supported: ${Object.keys(DTYPES).join(", ")})`);
    const dims: number[] = shape;
    const [begin, end]: number[] = offsets;
    if (begin > end || end > dataLength) {
      bad(`data_offsets [${begin}, ${end}] are out of range for the ${dataLength}-byte data section`);
    }
    const count = dims.reduce((n, d) => n * d, 1);
    if (end - begin !== count * info.size) {
      bad(`data_offsets hold ${end - begin} bytes, but ${dtype} shape [${dims}] needs ${count * info.size}`);
    }
    const values = info.float64 ? new Float64Array(count) : new Float32Array(count);
    for (let i = 0, at = dataStart + begin; i < count; i++, at += info.size) {
      const raw = info.read(view, at);
      values[i] = Number(raw);
      // float32 holds integers exactly only up to 2^24; refuse silent rounding.
      if (info.integer && BigInt(values[i]) !== BigInt(raw)) {
        bad(`holds ${raw} at index ${i}, which cannot be represented exactly as float32`);
      }
    }
    decoded.push([key, values, dims]);
  }
  // fromEntries defines own properties: even a tensor named "__proto__" stays plain data.
  const tensors: Record<string, Tensor> = Object.fromEntries(
    decoded.map(([key, values, dims]) => [
      key,
      tensor(values, dims, { device: cpu, dtype: values instanceof Float64Array ? "float64" : "float32" }),
    ]),
  );
  return { tensors, metadata };
}

/**
 * Reads a safetensors file.
 *
 * @param path The file.
 * @returns The tensors (on the CPU; the caller owns and disposes them) and the metadata.
 * @throws An Error naming `path` when the file cannot be read or is not valid safetensors.
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * import { tensor } from "./creation.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, { w: tensor([1, 2]) });
 * const { tensors, metadata } = await readSafetensors(path);
 * for (const t of Object.values(tensors)) t.dispose();
 * ```
 */
export async function readSafetensors(path: string): Promise<Safetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
  return parseSafetensors(bytes, path);
}

/**
 * Encodes tensors as safetensors bytes: float32 as F32, float64 as F64, `integerKeys` as I64;
 * keys sorted by name; the header padded with spaces to a multiple of 8 bytes, as the reference
 * implementation does, so that the data section is aligned.
 *
 * @param tensors Tensors by name (any device).
 * @param options `metadata` strings and `integerKeys`.
 * @param label What is being written, for error messages.
 * @returns The bytes.
 * @throws An Error naming `label` when a tensor is disposed, an integer tensor holds a value that
 *   is not a whole number, or a tensor is named `__metadata__`.
 * @example
 * ```ts
 * import { serializeSafetensors } from "./safetensors.ts";
 * import { tensor } from "./creation.ts";
 * const bytes = serializeSafetensors({ w: tensor([1, 2]), steps: tensor(3) }, {
 *   integerKeys: new Set(["steps"]),
 * });
 * ```
 */
export function serializeSafetensors(
  tensors: Readonly<Record<string, Tensor>>,
  options: WriteOptions = {},
  label = "safetensors data",
): Uint8Array {
  const fail: (problem: string) => never = (problem) => {
    throw new Error(`Cannot write ${label}: ${problem}`);
  };
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  const blocks: { dtype: string; values: HostArray; begin: number }[] = [];
  let offset = 0;
  for (const key of Object.keys(tensors).sort()) {
    const t = tensors[key];
    if (key === "__metadata__") fail(`"__metadata__" is reserved and cannot name a tensor`);
    if (t.isDisposed) fail(`tensor "${key}" is disposed`);
    const values = t.device.read(t.buffer);
    const dtype = options.integerKeys?.has(key) ? "I64" : t.dtype === "float64" ? "F64" : "F32";
    if (dtype === "I64") {
      const i = values.findIndex((v) => !Number.isSafeInteger(v));
      if (i >= 0) {
        fail(`integer tensor "${key}" holds ${values[i]} at index ${i}, which is not a whole number`);
      }
    }
    const size = values.length * DTYPES[dtype].size;
    header[key] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    blocks.push({ dtype, values, begin: offset });
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.length, 8 + headerLength); // trailing spaces are valid JSON whitespace
  for (const { dtype, values, begin } of blocks) {
    const start = 8 + headerLength + begin;
    for (let i = 0; i < values.length; i++) {
      if (dtype === "F32") view.setFloat32(start + 4 * i, values[i], true);
      else if (dtype === "F64") view.setFloat64(start + 8 * i, values[i], true);
      else view.setBigInt64(start + 8 * i, BigInt(values[i]), true);
    }
  }
  return bytes;
}

/**
 * Writes tensors to a safetensors file atomically: the bytes go to a temporary file in the same
 * directory, which is synced and then renamed over `path`. On any error the temporary file is
 * removed and an existing `path` is left untouched.
 *
 * @param path The file.
 * @param tensors Tensors by name (any device).
 * @param options `metadata` strings and `integerKeys` (stored as I64).
 * @returns Once the file is in place.
 * @throws An Error naming `path` and the problem.
 * @example
 * ```ts
 * import { writeSafetensors } from "./safetensors.ts";
 * import { tensor } from "./creation.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, { w: tensor([1, 2]) }, { metadata: { note: "demo" } });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Readonly<Record<string, Tensor>>,
  options: WriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, options, path));
}

/**
 * Saves a model's state dict (parameters and buffers, PyTorch key names) to a safetensors file,
 * atomically. Integer buffers such as BatchNorm's `num_batches_tracked` are stored as I64, as
 * PyTorch does.
 *
 * @param path The file.
 * @param model The model.
 * @param metadata Strings stored under `__metadata__`.
 * @returns Once the file is in place.
 * @example
 * ```ts
 * import { saveWeights } from "./safetensors.ts";
 * import { Linear } from "./layers.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(path, new Linear(4, 2), { epoch: "3" });
 * ```
 */
export function saveWeights(path: string, model: Module, metadata?: Record<string, string>): Promise<void> {
  return writeSafetensors(path, model.stateDict(), { metadata, integerKeys: model.integerStateKeys() });
}

/**
 * Loads a safetensors file, or a PyTorch `torch.save` file (told apart by content; see
 * ./io/pth.ts), into a model's parameters and buffers. The model checks every key and shape before
 * writing anything, so a failed load leaves it unchanged.
 *
 * @param path The file.
 * @param model The model.
 * @param options `strict` (default true) refuses missing or unexpected keys.
 * @returns The file's metadata and the missing and unexpected keys.
 * @throws An Error naming `path`: an invalid file, a refused pickle global, or the keys and shapes that do not fit.
 * @example
 * ```ts
 * import { loadWeights, saveWeights } from "./safetensors.ts";
 * import { Linear } from "./layers.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(path, new Linear(4, 2), { epoch: "3" });
 * const model = new Linear(4, 2);
 * const { metadata } = await loadWeights(path, model); // { epoch: "3" }
 * ```
 */
export async function loadWeights(
  path: string,
  model: Module,
  options: { strict?: boolean } = {},
): Promise<LoadWeightsResult> {
  const bytes = await Deno.readFile(path).catch((error) => {
    throw new Error(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`, { cause: error });
  });
  const { tensors, metadata } = pthFormat(bytes) ? parsePth(bytes, path) : parseSafetensors(bytes, path);
  try {
    return { metadata, ...model.loadStateDict(tensors, { strict: options.strict }) };
  } catch (error) {
    throw new Error(`Cannot load weights from ${path}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
