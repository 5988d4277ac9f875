/**
 * The PyTorch objects a state dict pickle refers to, as inert stand-ins: storage types, storages
 * (persistent ids), tensors (storage, offset, size, stride), and the allow-list of globals the
 * restricted unpickler may resolve. Nothing here runs code from the file.
 *
 * @example
 * ```ts
 * import { torchGlobals } from "./torch_types.ts";
 * const findGlobal = torchGlobals("model.pth");
 * findGlobal("collections", "OrderedDict"); // a stand-in that builds a Map
 * ```
 *
 * @module
 */

import { PyCallable } from "./pickle.ts";

/** How one storage dtype is stored and decoded. */
export interface StorageDType {
  /** PyTorch's name of the storage class (`FloatStorage`). */
  name: string;
  /** Bytes per element. */
  size: number;
  /** Whole numbers (stored as I64 when converted to safetensors). */
  integer: boolean;
  /** Decodes to float64 (as safetensors' F64) instead of float32. */
  float64: boolean;
}

const dtype = (name: string, size: number, kind: "float" | "float64" | "integer"): StorageDType => ({
  name,
  size,
  integer: kind === "integer",
  float64: kind === "float64",
});

/** The storage classes a state dict may use, by name. */
export const STORAGE_DTYPES: ReadonlyMap<string, StorageDType> = new Map(
  [
    dtype("FloatStorage", 4, "float"),
    dtype("HalfStorage", 2, "float"),
    dtype("BFloat16Storage", 2, "float"),
    dtype("DoubleStorage", 8, "float64"),
    dtype("LongStorage", 8, "integer"),
    dtype("IntStorage", 4, "integer"),
    dtype("ShortStorage", 2, "integer"),
    dtype("CharStorage", 1, "integer"),
    dtype("ByteStorage", 1, "integer"),
    dtype("BoolStorage", 1, "integer"),
  ].map((d) => [d.name, d]),
);

/** The stand-in for a global such as `torch.FloatStorage`. */
export class StorageType {
  /** @param dtype The element type. */
  constructor(readonly dtype: StorageDType) {}
}

/** One storage of the file: its element type, its key and, once read, its bytes. */
export class StorageRef {
  /** The raw little-endian bytes (set when the file's storage section has been read). */
  data?: Uint8Array;

  /**
   * @param dtype The element type.
   * @param key The storage's key in the file (`"0"`, `"1"`, ...).
   * @param numel Elements, as the persistent id declares.
   */
  constructor(readonly dtype: StorageDType, readonly key: string, readonly numel: number) {}
}

/** A tensor as the pickle describes it: a strided view of a storage. */
export class TensorRef {
  /**
   * @param storage The storage.
   * @param offset First element, in elements of the storage.
   * @param size Dimensions.
   * @param stride Elements between neighbours along each dimension.
   */
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isCounts(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isCount);
}

/** `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`. */
function rebuildTensor(label: string) {
  return (args: readonly unknown[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    const fail: (problem: string) => never = (problem) => {
      throw new Error(`Invalid PyTorch checkpoint ${label}: a tensor ${problem}`);
    };
    if (!(storage instanceof StorageRef)) fail("is built from something that is not a storage");
    if (!isCount(offset)) fail("has a storage offset that is not a non-negative integer");
    if (!isCounts(size) || !isCounts(stride)) fail("has a size or stride that is not a tuple of non-negative integers");
    if (size.length !== stride.length) fail(`has ${size.length} sizes but ${stride.length} strides`);
    return new TensorRef(storage as StorageRef, offset as number, size as number[], stride as number[]);
  };
}

/** `_rebuild_parameter(data, requires_grad, hooks)`: a Parameter is its data here. */
function rebuildParameter(label: string) {
  return (args: readonly unknown[]): TensorRef => {
    if (!(args[0] instanceof TensorRef)) {
      throw new Error(`Invalid PyTorch checkpoint ${label}: a parameter is built from something that is not a tensor`);
    }
    return args[0];
  };
}

/** `OrderedDict()` (or OrderedDict of pairs): items arrive by SETITEMS, so a Map is enough. */
function orderedDict(args: readonly unknown[]): Map<unknown, unknown> {
  const pairs = Array.isArray(args[0]) ? args[0] : [];
  return new Map(pairs.filter((p): p is [unknown, unknown] => Array.isArray(p) && p.length === 2));
}

/**
 * The allow-list of the restricted unpickler for PyTorch checkpoints: OrderedDict, the tensor and
 * parameter rebuild functions, and the storage classes of {@linkcode STORAGE_DTYPES}. Any other
 * global is refused with a one-line Error naming it (`os.system`, `builtins.eval`, a model class,
 * `torch.storage._load_from_bytes` ...), before anything could use it.
 *
 * @param label The file's name, for error messages.
 * @returns A `findGlobal` for {@linkcode unpickle}.
 * @example
 * ```ts
 * import { torchGlobals } from "./torch_types.ts";
 * const findGlobal = torchGlobals("model.pth");
 * try {
 *   findGlobal("posix", "system");
 * } catch (error) {
 *   console.log((error as Error).message); // Refusing to load model.pth: it names the global posix.system, ...
 * }
 * ```
 */
export function torchGlobals(label: string): (module: string, name: string) => unknown {
  const callables = new Map<string, PyCallable>([
    ["collections.OrderedDict", new PyCallable("collections.OrderedDict", orderedDict)],
    ["torch._utils._rebuild_tensor_v2", new PyCallable("torch._utils._rebuild_tensor_v2", rebuildTensor(label))],
    ["torch._utils._rebuild_tensor", new PyCallable("torch._utils._rebuild_tensor", rebuildTensor(label))],
    ["torch._utils._rebuild_parameter", new PyCallable("torch._utils._rebuild_parameter", rebuildParameter(label))],
  ]);
  return (module, name) => {
    const dotted = `${module}.${name}`;
    const callable = callables.get(dotted);
    if (callable) return callable;
    const storage = module === "torch" ? STORAGE_DTYPES.get(name) : undefined;
    if (storage) return new StorageType(storage);
    throw new Error(
      `Refusing to load ${label}: it names the global ${
        JSON.stringify(dotted.slice(0, 200)).slice(1, -1)
      }, which a state dict ` +
        `does not need (nothing was run); load only state dicts of tensors, e.g. torch.save(model.state_dict(), path)`,
    );
  };
}
