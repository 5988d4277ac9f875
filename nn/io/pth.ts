/**
 * PyTorch checkpoints (`torch.save`) read without Python, by a restricted unpickler that executes
 * nothing (see ./pickle.ts and ./torch_types.ts). Two formats:
 *
 * - zip (PyTorch >= 1.6): `FOLDER/data.pkl` (the object), `FOLDER/data/KEY` (raw storages),
 *   optionally `FOLDER/byteorder` ("little" or "big"); any folder name.
 * - legacy (`_use_new_zipfile_serialization=False`): pickles of the magic number, the protocol
 *   version and the system info, then the object, then the list of storage keys, then each storage
 *   as an int64 element count and its raw bytes.
 *
 * The object may be a state dict or a training checkpoint that wraps one (`{"state_dict": ...}`,
 * `{"model_state_dict": ...}`, `{"model": ...}`); DataParallel's `module.` prefix is removed. Strided
 * views become contiguous tensors: floats as float32 (float64 stays float64, as safetensors' F64),
 * integers as float32 holding the exact value (refused when float32 cannot hold it).
 *
 * @example
 * ```ts
 * import { parsePth } from "./pth.ts";
 * const { tensors, integerKeys } = parsePth(await Deno.readFile("resnet50.pth"), "resnet50.pth");
 * console.log(tensors["fc.weight"].shape, integerKeys.has("bn1.num_batches_tracked"));
 * ```
 *
 * @module
 */

import { cpu } from "../cpu/device.ts";
import { tensor } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { unpickleAt } from "./pickle.ts";
import { decodeStorage } from "./storage_decode.ts";
import { StorageRef, StorageType, TensorRef, torchGlobals } from "./torch_types.ts";
import { looksLikeZip, openZip } from "./zip.ts";

/** Tensors of a PyTorch checkpoint, as {@linkcode parsePth} returns them. */
export interface PthCheckpoint {
  /** Tensors by state-dict key, on the CPU device; the caller disposes them. */
  tensors: Record<string, Tensor>;
  /** Scalars (numbers, strings, booleans) beside the state dict in a wrapping checkpoint, as strings. */
  metadata: Record<string, string>;
  /** Keys of integer tensors (`num_batches_tracked`), stored as I64 by a conversion. */
  integerKeys: Set<string>;
}

/** The two `torch.save` formats. */
export type PthFormat = "zip" | "legacy";

/** The legacy format's first pickle: this number, as LONG1 (0x8a, 10 bytes, little-endian). */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
/** Keys under which training scripts nest the state dict, in order of preference. */
const WRAPPER_KEYS = ["state_dict", "model_state_dict", "model"];
const MAX_WRAPPING = 4;
const DATA_PARALLEL_PREFIX = "module.";

/**
 * Tells which `torch.save` format `bytes` start with, from the first bytes (never the extension).
 *
 * @param bytes The file, or at least its first 4 bytes.
 * @returns "zip", "legacy" (a pickle whose first opcode is a LONG1), or null.
 * @example
 * ```ts
 * import { pthFormat } from "./pth.ts";
 * pthFormat(new TextEncoder().encode("PK\x03\x04")); // "zip"
 * ```
 */
export function pthFormat(bytes: Uint8Array): PthFormat | null {
  if (looksLikeZip(bytes)) return "zip";
  // PROTO 2..5, then LONG1: safetensors would need a header of more than 9 MB to start alike.
  if (bytes.length >= 3 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5 && bytes[2] === 0x8a) return "legacy";
  return null;
}

function storageLoader(label: string, byKey: Map<string, StorageRef>, read?: (key: string) => Uint8Array) {
  return (pid: unknown): StorageRef => {
    const fail: (problem: string) => never = (problem) => {
      throw new Error(`Invalid PyTorch checkpoint ${label}: a storage id ${problem}`);
    };
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
      fail("is not ('storage', type, key, location, numel)");
    }
    const [, type, key, , numel, view] = pid;
    if (!(type instanceof StorageType)) fail("names no storage type");
    if (typeof key !== "string" || key.length > 64) fail("has a key that is not a short string");
    if (!Number.isSafeInteger(numel) || numel < 0) {
      fail(`of "${key}" has an element count that is not a non-negative integer`);
    }
    if (view !== undefined && view !== null) {
      fail(`of "${key}" is a storage view (PyTorch < 1.0), which is not supported`);
    }
    const known = byKey.get(key);
    if (known) {
      if (known.dtype !== type.dtype || known.numel !== numel) fail(`of "${key}" disagrees with an earlier one`);
      return known;
    }
    const storage = new StorageRef(type.dtype, key, numel);
    if (read) {
      storage.data = read(key);
      if (storage.data.length !== numel * type.dtype.size) {
        fail(
          `of "${key}" declares ${numel} ${type.dtype.name} elements, but its data holds ${storage.data.length} bytes`,
        );
      }
    }
    byKey.set(key, storage);
    return storage;
  };
}

function readZipFormat(bytes: Uint8Array, label: string): { root: unknown; littleEndian: boolean } {
  const zip = openZip(bytes, label);
  const pickleName = [...zip.names()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!pickleName) throw new Error(`Invalid PyTorch checkpoint ${label}: the zip archive has no FOLDER/data.pkl`);
  const folder = pickleName.slice(0, -"data.pkl".length);
  let littleEndian = true;
  if (zip.entry(`${folder}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${folder}byteorder`)).trim();
    if (order !== "little" && order !== "big") {
      throw new Error(`Invalid PyTorch checkpoint ${label}: byteorder is neither "little" nor "big"`);
    }
    littleEndian = order === "little";
  }
  const read = (key: string): Uint8Array => zip.read(`${folder}data/${key}`);
  const root = unpickleAt(zip.read(pickleName), {
    label,
    findGlobal: torchGlobals(label),
    persistentLoad: storageLoader(label, new Map(), read),
  }).value;
  return { root, littleEndian };
}

function readLegacyFormat(bytes: Uint8Array, label: string): unknown {
  const fail: (problem: string) => never = (problem) => {
    throw new Error(`Invalid PyTorch checkpoint ${label}: ${problem}`);
  };
  const refuse = torchGlobals(label);
  const next = (offset: number, persistentLoad?: (pid: unknown) => unknown) =>
    unpickleAt(bytes, { label, offset, findGlobal: refuse, persistentLoad });
  const magic = next(0);
  if (magic.value !== LEGACY_MAGIC) fail("wrong magic number (not a file written by torch.save)");
  const protocol = next(magic.end);
  if (protocol.value !== LEGACY_PROTOCOL_VERSION) {
    fail(`protocol version ${protocol.value} is not ${LEGACY_PROTOCOL_VERSION}`);
  }
  const sysInfo = next(protocol.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get("little_endian") === false) {
    fail("was written on a big-endian machine, which the legacy reader does not support");
  }
  const storages = new Map<string, StorageRef>();
  const object = next(sysInfo.end, storageLoader(label, storages));
  const keys = next(object.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === "string")) {
    fail("storage keys are not a list of strings");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const storage = storages.get(key);
    if (!storage) fail(`storage "${key}" is listed but no tensor uses it`);
    if (at + 8 > bytes.length) fail(`storage "${key}" is missing (the file is truncated)`);
    const numel = view.getBigInt64(at, true);
    if (numel !== BigInt(storage.numel)) {
      fail(`storage "${key}" holds ${numel} elements, but its id says ${storage.numel}`);
    }
    const size = storage.numel * storage.dtype.size;
    if (at + 8 + size > bytes.length) fail(`storage "${key}" needs ${size} bytes, but the file ends first (truncated)`);
    storage.data = bytes.subarray(at + 8, at + 8 + size);
    at += 8 + size;
  }
  const unread = [...storages.values()].find((s) => !s.data);
  if (unread) fail(`storage "${unread.key}" is used but missing from the storage section`);
  return object.value;
}

/** Finds the state dict inside wrapping dicts; scalars beside it become metadata. */
function unwrapStateDict(root: unknown, label: string, metadata: Record<string, string>): Map<unknown, unknown> {
  let dict = root;
  for (let depth = 0; depth <= MAX_WRAPPING; depth++) {
    if (!(dict instanceof Map)) break;
    const outer: Map<unknown, unknown> = dict;
    const inner = WRAPPER_KEYS.find((key) => outer.get(key) instanceof Map);
    if (!inner) return outer;
    for (const [key, value] of outer) {
      const scalar = ["string", "number", "boolean", "bigint"].includes(typeof value);
      if (typeof key === "string" && key !== inner && scalar) metadata[key] = String(value).slice(0, 1000);
    }
    dict = outer.get(inner);
  }
  throw new Error(
    `Cannot load ${label}: it holds no state dict (expected a dict of tensors, possibly under "state_dict" or "model")`,
  );
}

function collectTensors(dict: Map<unknown, unknown>, label: string): Map<string, TensorRef> {
  const found = new Map<string, TensorRef>();
  const other: string[] = [];
  for (const [key, value] of dict) {
    if (typeof key === "string" && value instanceof TensorRef) found.set(key, value);
    else other.push(typeof key === "string" ? key : String(typeof key));
  }
  if (other.length) {
    const names = other.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 80))).join(", ");
    throw new Error(
      `Cannot load ${label}: its state dict holds ${other.length} entries that are not tensors (${names})`,
    );
  }
  const keys = [...found.keys()];
  if (keys.length && keys.every((k) => k.startsWith(DATA_PARALLEL_PREFIX))) {
    return new Map(keys.map((k) => [k.slice(DATA_PARALLEL_PREFIX.length), found.get(k)!]));
  }
  return found;
}

/** Gathers a strided view into a contiguous array (a subarray when it already is; tensor() copies it). */
function gather(source: Float32Array | Float64Array, view: TensorRef, numel: number): Float32Array | Float64Array {
  const { size, stride } = view;
  const contiguous = size.every((_, d) => size[d] === 1 || stride[d] === size.slice(d + 1).reduce((n, s) => n * s, 1));
  if (contiguous) return source.subarray(view.offset, view.offset + numel);
  const out = source instanceof Float64Array ? new Float64Array(numel) : new Float32Array(numel);
  const index = new Array<number>(size.length).fill(0);
  let at = view.offset;
  for (let i = 0; i < numel; i++) {
    out[i] = source[at];
    for (let d = size.length - 1; d >= 0; d--) {
      at += stride[d];
      if (++index[d] < size[d]) break;
      at -= stride[d] * size[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Checks a view against its storage, so that gathering stays inside it. */
function checkView(key: string, view: TensorRef, label: string): number {
  const fail: (problem: string) => never = (problem) => {
    throw new Error(`Invalid PyTorch checkpoint ${label}: tensor "${key}" ${problem}`);
  };
  const numel = view.size.reduce((n, s) => n * s, 1);
  if (numel === 0) return 0;
  if (numel > view.storage.numel) {
    fail(`has ${numel} elements but its storage only ${view.storage.numel} (an expanded view; save t.contiguous())`);
  }
  const last = view.offset + view.size.reduce((sum, s, d) => sum + (s - 1) * view.stride[d], 0);
  if (last >= view.storage.numel) fail(`reaches element ${last} of a ${view.storage.numel}-element storage`);
  return numel;
}

/**
 * Decodes a PyTorch checkpoint held in memory (either `torch.save` format, told apart by content).
 * Everything is validated and decoded before any tensor is created.
 *
 * @param bytes The whole file.
 * @param label The file's name, for error messages.
 * @returns The tensors (CPU; the caller disposes them), scalar metadata and integer keys.
 * @throws A one-line Error naming `label`: a refused global (nothing runs), a damaged archive or
 *   pickle, storages that do not match their ids, views outside their storage, no state dict.
 * @example
 * ```ts
 * import { parsePth } from "./pth.ts";
 * const { tensors } = parsePth(await Deno.readFile("model.pth"), "model.pth");
 * for (const t of Object.values(tensors)) t.dispose();
 * ```
 */
export function parsePth(bytes: Uint8Array, label: string): PthCheckpoint {
  const format = pthFormat(bytes);
  if (!format) throw new Error(`Invalid PyTorch checkpoint ${label}: it is neither a zip archive nor a legacy pickle`);
  const { root, littleEndian } = format === "zip" ? readZipFormat(bytes, label) : {
    root: readLegacyFormat(bytes, label),
    littleEndian: true,
  };
  const metadata: Record<string, string> = {};
  const views = collectTensors(unwrapStateDict(root, label, metadata), label);
  const decoded = new Map<StorageRef, Float32Array | Float64Array>();
  const staged: [string, Float32Array | Float64Array, readonly number[]][] = [];
  const integerKeys = new Set<string>();
  for (const [key, view] of views) {
    const numel = checkView(key, view, label);
    let values = decoded.get(view.storage);
    if (!values) {
      values = decodeStorage(view.storage, littleEndian, `${label}: tensor "${key}"`);
      decoded.set(view.storage, values);
    }
    staged.push([key, gather(values, view, numel), view.size]);
    if (view.storage.dtype.integer) integerKeys.add(key);
  }
  // fromEntries defines own properties: even a key named "__proto__" stays plain data.
  const tensors: Record<string, Tensor> = Object.fromEntries(
    staged.map(([key, values, shape]) => [
      key,
      tensor(values, shape, { device: cpu, dtype: values instanceof Float64Array ? "float64" : "float32" }),
    ]),
  );
  return { tensors, metadata, integerKeys };
}
