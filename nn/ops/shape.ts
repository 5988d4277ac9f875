/**
 * Shape ops: views that share storage (reshape, flatten, squeeze) and copies (permute, cat,
 * narrow, split), plus device / dtype moves.
 *
 * @module
 */

import type { Device, DType } from "../device.ts";
import { record } from "../autograd.ts";
import { resolveDevice } from "../device_registry.ts";
import { empty, shapeSize, Tensor } from "../tensor.ts";
import { emptyLike, normalizeDim, sameDevice } from "./util.ts";

function resolveShape(x: Tensor, shape: readonly number[]): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    if (out.indexOf(-1, free + 1) >= 0) throw new Error(`reshape(): only one dim can be -1, got [${shape}]`);
    const known = out.reduce((p, d, i) => (i === free ? p : p * d), 1);
    if (known === 0 || x.size % known !== 0) {
      throw new Error(`reshape(): cannot reshape [${x.shape}] (${x.size} elements) to [${shape}]`);
    }
    out[free] = x.size / known;
  }
  if (shapeSize(out, "reshape()") !== x.size) {
    throw new Error(`reshape(): cannot reshape [${x.shape}] (${x.size} elements) to [${shape}]`);
  }
  return out;
}

/**
 * The same data with a new shape (a view sharing storage). One dim may be -1.
 *
 * @param x Input.
 * @param shape New shape.
 * @returns The view.
 * @example
 * ```ts
 * import { reshape } from "./shape.ts";
 * import { arange } from "../creation.ts";
 * reshape(arange(6), [2, -1]).shape; // [2, 3]
 * ```
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveShape(x, shape);
  const storage = x.storage;
  storage.refs++;
  const view = new Tensor(target, storage);
  return record(view, "reshape", [x], (g) => [reshape(g, x.shape)]);
}

/**
 * Merges dims `startDim..endDim` into one (a view).
 *
 * @param x Input.
 * @param startDim First dim (default 0).
 * @param endDim Last dim (default -1).
 * @returns The view.
 * @example
 * ```ts
 * import { flatten } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * flatten(zeros([2, 3, 4]), 1).shape; // [2, 12]
 * ```
 */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim("flatten", startDim, x.ndim);
  const e = normalizeDim("flatten", endDim, x.ndim);
  if (s > e) throw new Error(`flatten(): startDim ${startDim} comes after endDim ${endDim}`);
  const merged = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/**
 * Inserts a dim of size 1 (a view).
 *
 * @param x Input.
 * @param dim Position of the new dim (negative counts from the end).
 * @returns The view.
 * @example
 * ```ts
 * import { unsqueeze } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * unsqueeze(zeros([3]), 0).shape; // [1, 3]
 * ```
 */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim("unsqueeze", dim, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/**
 * Removes dims of size 1: all of them, or just `dim` (a view).
 *
 * @param x Input.
 * @param dim The dim to remove (left alone unless its size is 1).
 * @returns The view.
 * @example
 * ```ts
 * import { squeeze } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * squeeze(zeros([1, 3, 1])).shape; // [3]
 * ```
 */
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const d = normalizeDim("squeeze", dim, x.ndim);
  return reshape(x, x.shape[d] === 1 ? x.shape.filter((_, i) => i !== d) : x.shape);
}

/**
 * Reorders dims (copies the data).
 *
 * @param x Input.
 * @param dims A permutation of the dims.
 * @returns The permuted tensor.
 * @example
 * ```ts
 * import { permute } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * permute(zeros([2, 3, 4]), [2, 0, 1]).shape; // [4, 2, 3]
 * ```
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const perm = dims.map((d) => normalizeDim("permute", d, x.ndim));
  if (perm.length !== x.ndim || new Set(perm).size !== perm.length) {
    throw new Error(`permute(): [${dims}] is not a permutation of ${x.ndim} dims`);
  }
  const y = emptyLike(x, perm.map((p) => x.shape[p]));
  x.device.permute({ x: x.buffer, shape: x.shape, perm, y: y.buffer });
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return record(y, "permute", [x], (g) => [permute(g, inverse)]);
}

/**
 * Swaps two dims (copies the data).
 *
 * @param x Input.
 * @param dim0 First dim.
 * @param dim1 Second dim.
 * @returns The transposed tensor.
 * @example
 * ```ts
 * import { transpose } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * transpose(zeros([2, 3]), 0, 1).shape; // [3, 2]
 * ```
 */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const perm = x.shape.map((_, i) => i);
  const a = normalizeDim("transpose", dim0, x.ndim);
  const b = normalizeDim("transpose", dim1, x.ndim);
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return permute(x, perm);
}

/** (outer, inner) around `dim`. */
function around(shape: readonly number[], dim: number): { outer: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i];
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, inner };
}

/**
 * Joins tensors along an existing dim.
 *
 * @param tensors Tensors with equal shapes except along `dim`.
 * @param dim The dim (default 0).
 * @returns The concatenation.
 * @example
 * ```ts
 * import { cat } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * cat([zeros([2, 3]), zeros([2, 1])], 1).shape; // [2, 4]
 * ```
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error("cat(): expected at least one tensor");
  const first = tensors[0];
  const device = sameDevice("cat", ...tensors);
  const d = normalizeDim("cat", dim, first.ndim);
  let total = 0;
  for (const t of tensors) {
    const same = t.ndim === first.ndim && t.shape.every((s, i) => i === d || s === first.shape[i]);
    if (!same) {
      throw new Error(
        `cat(): shapes [${first.shape}] and [${t.shape}] differ outside dim ${dim}`,
      );
    }
    total += t.shape[d];
  }
  const shape = first.shape.map((s, i) => (i === d ? total : s));
  const y = emptyLike(first, shape);
  const { outer, inner } = around(shape, d);
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    device.copyBlocks({
      geometry: {
        outer,
        inner,
        srcAxis: t.shape[d],
        dstAxis: total,
        srcStart: 0,
        dstStart: offset,
        length: t.shape[d],
      },
      src: t.buffer,
      dst: y.buffer,
    });
    offset += t.shape[d];
  }
  return record(
    y,
    "cat",
    tensors,
    (g) => tensors.map((t, i) => (t.requiresGrad ? narrow(g, d, offsets[i], t.shape[d]) : null)),
  );
}

/**
 * Joins tensors along a new dim.
 *
 * @param tensors Tensors of equal shape.
 * @param dim Position of the new dim (default 0).
 * @returns The stacked tensor.
 * @example
 * ```ts
 * import { stack } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * stack([zeros([3]), zeros([3])]).shape; // [2, 3]
 * ```
 */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error("stack(): expected at least one tensor");
  const views = tensors.map((t) => unsqueeze(t, dim));
  const out = cat(views, dim);
  for (const v of views) v.dispose();
  return out;
}

/**
 * `length` indices of `dim` starting at `start` (copies the data).
 *
 * @param x Input.
 * @param dim The dim.
 * @param start First index.
 * @param length How many indices.
 * @returns The slice.
 * @example
 * ```ts
 * import { narrow } from "./shape.ts";
 * import { arange } from "../creation.ts";
 * narrow(arange(5), 0, 1, 2).toArray(); // [1, 2]
 * ```
 */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normalizeDim("narrow", dim, x.ndim);
  const size = x.shape[d];
  if (
    !Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size
  ) {
    throw new Error(`narrow(): [${start}, ${start + length}) is out of range for dim ${dim} of size ${size}`);
  }
  const shape = x.shape.map((s, i) => (i === d ? length : s));
  const y = emptyLike(x, shape);
  const { outer, inner } = around(x.shape, d);
  const geometry = { outer, inner, srcAxis: size, dstAxis: length, srcStart: start, dstStart: 0, length };
  x.device.copyBlocks({ geometry, src: x.buffer, dst: y.buffer });
  return record(y, "narrow", [x], (g) => {
    const dx = emptyLike(g, x.shape, true);
    g.device.copyBlocks({
      geometry: { outer, inner, srcAxis: length, dstAxis: size, srcStart: 0, dstStart: start, length },
      src: g.buffer,
      dst: dx.buffer,
    });
    return [dx];
  });
}

/**
 * Splits along a dim into pieces of the given sizes (or of equal size `sizes`).
 *
 * @param x Input.
 * @param sizes Size of every piece, or one size for all (the last may be smaller).
 * @param dim The dim (default 0).
 * @returns The pieces.
 * @example
 * ```ts
 * import { split } from "./shape.ts";
 * import { arange } from "../creation.ts";
 * split(arange(5), [2, 3]).map((t) => t.shape); // [[2], [3]]
 * ```
 */
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  const d = normalizeDim("split", dim, x.ndim);
  const total = x.shape[d];
  let list: number[];
  if (typeof sizes === "number") {
    if (!Number.isInteger(sizes) || sizes <= 0) {
      throw new Error(`split(): size must be a positive integer, got ${sizes}`);
    }
    list = [];
    for (let s = 0; s < total; s += sizes) list.push(Math.min(sizes, total - s));
  } else {
    list = [...sizes];
    if (list.reduce((a, b) => a + b, 0) !== total) {
      throw new Error(`split(): sizes [${sizes}] do not add up to ${total} (dim ${dim})`);
    }
  }
  let start = 0;
  return list.map((len) => {
    const piece = narrow(x, d, start, len);
    start += len;
    return piece;
  });
}

/**
 * Splits into `chunks` nearly equal pieces along a dim, like `torch.chunk`.
 *
 * @param x Input.
 * @param chunks Number of pieces.
 * @param dim The dim (default 0).
 * @returns The pieces.
 * @example
 * ```ts
 * import { chunk } from "./shape.ts";
 * import { zeros } from "../creation.ts";
 * chunk(zeros([2, 8]), 4, 1).length; // 4
 * ```
 */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const d = normalizeDim("chunk", dim, x.ndim);
  return split(x, Math.ceil(x.shape[d] / chunks), d);
}

/**
 * A copy with its own storage (recorded: gradients pass through).
 *
 * @param x Input.
 * @returns The copy.
 * @example
 * ```ts
 * import { clone } from "./shape.ts";
 * import { ones } from "../creation.ts";
 * clone(ones([2])).toArray(); // [1, 1]
 * ```
 */
export function clone(x: Tensor): Tensor {
  const y = emptyLike(x, x.shape);
  x.device.copy(x.buffer, y.buffer);
  return record(y, "clone", [x], (g) => [g]);
}

const DTYPES: readonly string[] = ["float32", "float64"];

/**
 * A copy on another device or with another dtype; `x` itself when nothing changes.
 *
 * @param x Input.
 * @param target A device, a device spec or a dtype.
 * @returns The moved or cast tensor.
 * @example
 * ```ts
 * import { to } from "./shape.ts";
 * import { ones } from "../creation.ts";
 * to(ones([2]), "float64").dtype; // "float64"
 * ```
 */
export function to(x: Tensor, target: Device | string): Tensor {
  let device: Device = x.device;
  let dtype: DType = x.dtype;
  if (typeof target === "string" && DTYPES.includes(target)) dtype = target as DType;
  else device = resolveDevice(target);
  if (device === x.device && dtype === x.dtype) return x;
  const y = empty(x.shape, dtype, device);
  const host = x.device.read(x.buffer);
  device.write(y.buffer, dtype === "float64" ? Float64Array.from(host) : Float32Array.from(host));
  return record(y, "to", [x], (g) => [toBack(g, x)]);
}

/** `g` moved and cast back to `x`'s device and dtype. */
function toBack(g: Tensor, x: Tensor): Tensor {
  const onDevice = g.device === x.device ? g : to(g, x.device);
  const back = onDevice.dtype === x.dtype ? onDevice : to(onDevice, x.dtype);
  if (onDevice !== g && onDevice !== back) onDevice.dispose();
  return back;
}
