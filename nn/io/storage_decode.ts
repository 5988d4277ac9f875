/**
 * Decodes a PyTorch storage's raw bytes into the arrays our tensors hold: float32 for float32,
 * float16 and bfloat16; float64 for float64; integers and booleans as float32 holding the exact
 * value, refused when float32 cannot hold it (beyond 2^24), as the safetensors reader does.
 *
 * @example
 * ```ts
 * import { decodeStorage } from "./storage_decode.ts";
 * import { STORAGE_DTYPES, StorageRef } from "./torch_types.ts";
 * const storage = new StorageRef(STORAGE_DTYPES.get("HalfStorage")!, "0", 1);
 * storage.data = new Uint8Array([0x00, 0x3c]); // 1.0 in float16
 * decodeStorage(storage, true, "demo"); // Float32Array [1]
 * ```
 *
 * @module
 */

import type { StorageRef } from "./torch_types.ts";

let halfTable: Float32Array | undefined;

/** All 65,536 float16 values, built once: 1 sign, 5 exponent (bias 15), 10 fraction bits. */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    halfTable[bits] = exponent === 0
      ? sign * fraction * 2 ** -24
      : exponent === 0x1f
      ? (fraction ? NaN : sign * Infinity)
      : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

/** The bytes aligned for typed arrays and in little-endian order: a view where they already are, else a copy. */
function alignedLittleEndian(data: Uint8Array, elementSize: number, littleEndian: boolean): Uint8Array {
  if (littleEndian && data.byteOffset % elementSize === 0) return data; // torch.save aligns zip entries to 64 bytes
  const copy = data.slice();
  if (!littleEndian && elementSize > 1) {
    for (let at = 0; at < copy.length; at += elementSize) copy.subarray(at, at + elementSize).reverse();
  }
  return copy;
}

/** A typed array over `bytes` (aligned for it), without copying. */
function over<T>(
  Type: new (buffer: ArrayBufferLike, offset: number, length: number) => T,
  bytes: Uint8Array,
  size: number,
): T {
  return new Type(bytes.buffer, bytes.byteOffset, bytes.length / size);
}

function decodeIntegers(source: ArrayLike<number | bigint>, label: string): Float32Array {
  const out = new Float32Array(source.length);
  for (let i = 0; i < source.length; i++) {
    const raw = source[i];
    out[i] = Number(raw);
    if (out[i] !== Number(raw) || (typeof raw === "bigint" && BigInt(out[i]) !== raw)) {
      throw new Error(`Cannot load ${label}: it holds ${raw} at index ${i}, which float32 cannot represent exactly`);
    }
  }
  return out;
}

/**
 * Decodes a storage whose `data` has been read.
 *
 * @param storage The storage (its `data` must be set and hold `numel` elements).
 * @param littleEndian The byte order the file declares.
 * @param label What is being decoded, for error messages.
 * @returns float32 values (float64 for DoubleStorage), one per element; possibly a view of
 *   `storage.data`, so the caller copies before the file's bytes go away or change.
 * @throws A one-line Error naming `label` for integers float32 cannot hold exactly.
 * @example
 * ```ts
 * import { decodeStorage } from "./storage_decode.ts";
 * import { STORAGE_DTYPES, StorageRef } from "./torch_types.ts";
 * const storage = new StorageRef(STORAGE_DTYPES.get("LongStorage")!, "0", 1);
 * storage.data = new Uint8Array([7, 0, 0, 0, 0, 0, 0, 0]);
 * decodeStorage(storage, true, "demo"); // Float32Array [7]
 * ```
 */
export function decodeStorage(storage: StorageRef, littleEndian: boolean, label: string): Float32Array | Float64Array {
  const { dtype } = storage;
  const bytes = alignedLittleEndian(storage.data ?? new Uint8Array(), dtype.size, littleEndian);
  switch (dtype.name) {
    case "FloatStorage":
      return over(Float32Array, bytes, 4);
    case "DoubleStorage":
      return over(Float64Array, bytes, 8);
    case "HalfStorage": {
      const table = halfToFloat();
      return Float32Array.from(over(Uint16Array, bytes, 2), (bits) => table[bits]);
    }
    case "BFloat16Storage": // the upper half of a float32
      return new Float32Array(Uint32Array.from(over(Uint16Array, bytes, 2), (bits) => bits << 16).buffer);
    case "LongStorage":
      return decodeIntegers(over(BigInt64Array, bytes, 8), label);
    case "IntStorage":
      return decodeIntegers(over(Int32Array, bytes, 4), label);
    case "ShortStorage":
      return Float32Array.from(over(Int16Array, bytes, 2));
    case "CharStorage":
      return Float32Array.from(over(Int8Array, bytes, 1));
    default: // ByteStorage, BoolStorage
      return Float32Array.from(bytes);
  }
}
