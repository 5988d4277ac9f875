/**
 * The Tensor class: shape, dtype, device and a reference-counted {@linkcode Storage}, with
 * `dispose()` / `using`, host reads, and methods that forward to the differentiable ops.
 *
 * Every tensor is contiguous and row-major. `reshape` / `view` share storage with their source;
 * the storage returns to its device when the last tensor using it is disposed.
 *
 * The ops import this module, so it cannot import them: the methods call the ops through a
 * {@linkcode TensorOps} table that nn/tensor_methods.ts connects when it loads. The creation
 * functions (nn/creation.ts) and mod.ts import that module, so every tensor a user can make has
 * working methods.
 *
 * @module
 */

import type { Device, DeviceBuffer, DType } from "./device.ts";
import { countLiveTensors } from "./memory.ts";
import { addToScope, removeFromScopes } from "./scope.ts";
import { Storage } from "./storage.ts";

/** The record an op leaves on its output (see nn/autograd.ts). */
export interface GradFn {
  /** The op's name, for messages. */
  readonly name: string;
  /** The op's tensor inputs, in order. */
  readonly inputs: readonly Tensor[];
  /**
   * Gradients of the inputs given the output's gradient; null where an input needs none. May
   * return `gradOutput` itself or views of it.
   */
  backward(gradOutput: Tensor): (Tensor | null)[];
}

/**
 * The ops behind the Tensor methods: one per method, of the same name, taking the tensor first
 * (`x.sum(dims, keepdim)` calls `sum(x, dims, keepdim)`; `backward` is autograd's walk).
 */
export interface TensorOps {
  to(x: Tensor, target: Device | string): Tensor;
  clone(x: Tensor): Tensor;
  backward(root: Tensor, gradient: Tensor | undefined, retainGraph: boolean): void;
  add(a: Tensor, b: Tensor | number): Tensor;
  sub(a: Tensor, b: Tensor | number): Tensor;
  mul(a: Tensor, b: Tensor | number): Tensor;
  div(a: Tensor, b: Tensor | number): Tensor;
  neg(x: Tensor): Tensor;
  pow(x: Tensor, exponent: number): Tensor;
  exp(x: Tensor): Tensor;
  log(x: Tensor): Tensor;
  sqrt(x: Tensor): Tensor;
  abs(x: Tensor): Tensor;
  relu(x: Tensor): Tensor;
  sigmoid(x: Tensor): Tensor;
  tanh(x: Tensor): Tensor;
  sum(x: Tensor, dims: number | readonly number[] | undefined, keepdim: boolean): Tensor;
  mean(x: Tensor, dims: number | readonly number[] | undefined, keepdim: boolean): Tensor;
  reshape(x: Tensor, shape: readonly number[]): Tensor;
  flatten(x: Tensor, startDim: number, endDim: number): Tensor;
  unsqueeze(x: Tensor, dim: number): Tensor;
  squeeze(x: Tensor, dim?: number): Tensor;
  permute(x: Tensor, dims: readonly number[]): Tensor;
  transpose(x: Tensor, dim0: number, dim1: number): Tensor;
  narrow(x: Tensor, dim: number, start: number, length: number): Tensor;
  matmul(a: Tensor, b: Tensor): Tensor;
  softmax(x: Tensor, dim: number): Tensor;
  logSoftmax(x: Tensor, dim: number): Tensor;
}

let connectedOps: TensorOps | null = null;

/**
 * Connects the Tensor methods to the ops (nn/tensor_methods.ts does this when it loads).
 *
 * @param ops The ops.
 * @example
 * ```ts
 * import { connectTensorOps, type TensorOps } from "./tensor.ts";
 * declare const ops: TensorOps;
 * connectTensorOps(ops);
 * ```
 */
export function connectTensorOps(ops: TensorOps): void {
  connectedOps = ops;
}

function tensorOps(): TensorOps {
  if (connectedOps === null) {
    throw new Error(
      "Tensor methods are not connected to the ops; import mod.ts or nn/creation.ts, not nn/tensor.ts alone",
    );
  }
  return connectedOps;
}

// Backstop for tensors that are never disposed: release their storage when collected.
const finalizer = new FinalizationRegistry<{ storage: Storage }>((held) => {
  held.storage.release();
  countLiveTensors(held.storage.device, -1);
});

/**
 * An n-dimensional array on a device, with optional gradient tracking.
 *
 * @example
 * ```ts
 * import { tensor } from "./creation.ts";
 * const x = tensor([1, 2, 3], [3], { requiresGrad: true });
 * const y = x.mul(x).sum();
 * y.backward();
 * console.log(x.grad?.toArray()); // [2, 4, 6]
 * ```
 */
export class Tensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Whether `backward()` computes a gradient for this tensor. */
  requiresGrad = false;
  /** The accumulated gradient of a leaf, after `backward()`. */
  grad: Tensor | null = null;
  /** How this tensor was computed (null for leaves and under `noGrad`). */
  gradFn: GradFn | null = null;
  #storage: Storage;
  #disposed = false;

  /**
   * Wraps a storage; prefer the creation functions ({@linkcode tensor}, {@linkcode zeros}, ...).
   *
   * @param shape Dimensions (their product must equal the storage length).
   * @param storage Storage to share (one reference is taken over by this tensor).
   */
  constructor(shape: readonly number[], storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.#storage = storage;
    countLiveTensors(storage.device, 1);
    finalizer.register(this, { storage }, this);
    addToScope(this);
  }

  /** Element type. */
  get dtype(): DType {
    return this.#storage.dtype;
  }

  /** The device holding the data. */
  get device(): Device {
    return this.#storage.device;
  }

  /** Number of elements. */
  get size(): number {
    return this.#storage.length;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Whether {@linkcode Tensor.dispose} has run. */
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** The storage (for ops and devices). Throws once disposed. */
  get storage(): Storage {
    if (this.#disposed) {
      throw new Error(
        `Tensor [${this.shape}] was used after dispose(); keep it with keep() or return it from tidy()`,
      );
    }
    return this.#storage;
  }

  /** The device buffer (for ops and devices). */
  get buffer(): DeviceBuffer {
    return this.storage.buffer!;
  }

  /**
   * Frees this tensor's reference to its storage (idempotent). Views keep the storage alive.
   * The gradient, if any, is disposed too.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    finalizer.unregister(this);
    this.#storage.release();
    countLiveTensors(this.#storage.device, -1);
    this.grad?.dispose();
    this.grad = null;
    removeFromScopes(this);
  }

  /** `using t = ...` disposes at the end of the block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Moves this tensor's data to another device and/or dtype in place (same object, new storage).
   * Used by `Module.to()` so that optimisers and user references stay valid.
   *
   * @param device Target device.
   * @param dtype Target dtype (default: unchanged).
   */
  moveTo(device: Device, dtype: DType = this.dtype): void {
    if (device === this.device && dtype === this.dtype) return;
    const moved = copyToDevice(this, device, dtype);
    finalizer.unregister(this);
    this.#storage.release();
    countLiveTensors(this.#storage.device, -1);
    this.#storage = moved;
    countLiveTensors(device, 1);
    finalizer.register(this, { storage: moved }, this);
    this.grad?.moveTo(device, dtype);
  }

  /** Copies the values to a new Float32Array (waits for the device). */
  toFloat32Array(): Float32Array {
    const values = this.device.read(this.buffer);
    return values instanceof Float32Array ? values : Float32Array.from(values);
  }

  /** Copies the values to a new Float64Array. */
  toFloat64Array(): Float64Array {
    const values = this.device.read(this.buffer);
    return values instanceof Float64Array ? values : Float64Array.from(values);
  }

  /** The values as a flat array of numbers. */
  toArray(): number[] {
    return Array.from(this.device.read(this.buffer));
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new Error(`item(): tensor has ${this.size} elements, expected 1 (shape [${this.shape}])`);
    }
    return this.device.read(this.buffer)[0];
  }

  /**
   * A copy on another device or with another dtype (the same tensor when nothing changes).
   * The copy is a new leaf unless gradients flow through it (dtype casts and moves are tracked).
   *
   * @param target A device, a device spec (`"cpu"`, `"cuda"`) or a dtype.
   */
  to(target: Device | string): Tensor {
    return tensorOps().to(this, target);
  }

  /** A copy with its own storage (tracked by autograd). */
  clone(): Tensor {
    return tensorOps().clone(this);
  }

  /** A tensor sharing this storage, cut from the graph. */
  detach(): Tensor {
    this.storage.refs++;
    return new Tensor(this.shape, this.storage);
  }

  /**
   * Computes gradients of this tensor with respect to every leaf that requires them, and adds
   * them to the leaves' `.grad`.
   *
   * @param gradient dL/d(this); optional when this tensor has one element.
   * @param options `retainGraph` keeps the graph for another backward.
   */
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    tensorOps().backward(this, gradient, options.retainGraph ?? false);
  }

  /** `this + other` with broadcasting. */
  add(other: Tensor | number): Tensor {
    return tensorOps().add(this, other);
  }

  /** `this - other` with broadcasting. */
  sub(other: Tensor | number): Tensor {
    return tensorOps().sub(this, other);
  }

  /** `this * other` with broadcasting. */
  mul(other: Tensor | number): Tensor {
    return tensorOps().mul(this, other);
  }

  /** `this / other` with broadcasting. */
  div(other: Tensor | number): Tensor {
    return tensorOps().div(this, other);
  }

  /** `-this`. */
  neg(): Tensor {
    return tensorOps().neg(this);
  }

  /** `this ** exponent`. */
  pow(exponent: number): Tensor {
    return tensorOps().pow(this, exponent);
  }

  /** `e ** this`. */
  exp(): Tensor {
    return tensorOps().exp(this);
  }

  /** Natural logarithm. */
  log(): Tensor {
    return tensorOps().log(this);
  }

  /** Square root. */
  sqrt(): Tensor {
    return tensorOps().sqrt(this);
  }

  /** Absolute value. */
  abs(): Tensor {
    return tensorOps().abs(this);
  }

  /** `max(this, 0)`. */
  relu(): Tensor {
    return tensorOps().relu(this);
  }

  /** `1 / (1 + e ** -this)`. */
  sigmoid(): Tensor {
    return tensorOps().sigmoid(this);
  }

  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return tensorOps().tanh(this);
  }

  /**
   * Sum of all elements, or along `dims`.
   *
   * @param dims A dim or dims (negative counts from the end); all when omitted.
   * @param keepdim Keep reduced dims with size 1.
   */
  sum(dims?: number | readonly number[], keepdim = false): Tensor {
    return tensorOps().sum(this, dims, keepdim);
  }

  /**
   * Mean of all elements, or along `dims`.
   *
   * @param dims A dim or dims; all when omitted.
   * @param keepdim Keep reduced dims with size 1.
   */
  mean(dims?: number | readonly number[], keepdim = false): Tensor {
    return tensorOps().mean(this, dims, keepdim);
  }

  /**
   * Same data, new shape (shares storage). One dim may be -1.
   *
   * @param shape The new shape.
   */
  reshape(...shape: number[]): Tensor {
    return tensorOps().reshape(this, shape);
  }

  /**
   * Alias of {@linkcode Tensor.reshape} (every tensor is contiguous).
   *
   * @param shape The new shape.
   */
  view(...shape: number[]): Tensor {
    return tensorOps().reshape(this, shape);
  }

  /**
   * Merges dims `startDim..endDim` into one.
   *
   * @param startDim First dim (default 0).
   * @param endDim Last dim (default -1).
   */
  flatten(startDim = 0, endDim = -1): Tensor {
    return tensorOps().flatten(this, startDim, endDim);
  }

  /**
   * Inserts a dim of size 1.
   *
   * @param dim Position of the new dim.
   */
  unsqueeze(dim: number): Tensor {
    return tensorOps().unsqueeze(this, dim);
  }

  /**
   * Removes dims of size 1 (all, or just `dim`).
   *
   * @param dim The dim to remove.
   */
  squeeze(dim?: number): Tensor {
    return tensorOps().squeeze(this, dim);
  }

  /**
   * Reorders dims (copies).
   *
   * @param dims New order.
   */
  permute(...dims: number[]): Tensor {
    return tensorOps().permute(this, dims);
  }

  /**
   * Swaps two dims (copies).
   *
   * @param dim0 First dim.
   * @param dim1 Second dim.
   */
  transpose(dim0: number, dim1: number): Tensor {
    return tensorOps().transpose(this, dim0, dim1);
  }

  /**
   * `length` indices of `dim` starting at `start` (copies).
   *
   * @param dim The dim.
   * @param start First index.
   * @param length How many.
   */
  narrow(dim: number, start: number, length: number): Tensor {
    return tensorOps().narrow(this, dim, start, length);
  }

  /**
   * Matrix product (2-D, or batched 3-D).
   *
   * @param other Right operand.
   */
  matmul(other: Tensor): Tensor {
    return tensorOps().matmul(this, other);
  }

  /**
   * Softmax along a dim.
   *
   * @param dim The dim.
   */
  softmax(dim: number): Tensor {
    return tensorOps().softmax(this, dim);
  }

  /**
   * Log-softmax along a dim.
   *
   * @param dim The dim.
   */
  logSoftmax(dim: number): Tensor {
    return tensorOps().logSoftmax(this, dim);
  }

  /** A short description: shape, dtype, device, and a few values. */
  toString(): string {
    if (this.#disposed) return `Tensor([${this.shape}], disposed)`;
    const values = this.device.read(this.buffer);
    const shown = Array.from(values.subarray(0, 8), (v) => Number(v.toPrecision(5)));
    const more = values.length > 8 ? ", ..." : "";
    return `Tensor([${this.shape}], ${this.dtype}, ${this.device.name}, [${shown.join(", ")}${more}])`;
  }
}

/** Copies a tensor's values into a new storage on `device` with `dtype`. */
function copyToDevice(t: Tensor, device: Device, dtype: DType): Storage {
  if (!device.dtypes.includes(dtype)) {
    throw new Error(`${device.name} does not support ${dtype}; convert with .to("float32") first`);
  }
  const storage = new Storage(device, dtype, t.size, device.alloc(t.size, dtype));
  const values = t.device.read(t.buffer);
  device.write(storage.buffer!, dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values));
  return storage;
}

/**
 * A new tensor with uninitialised contents (for ops).
 *
 * @param shape Dimensions.
 * @param dtype Element type.
 * @param device Device.
 * @param zero Zero-fill.
 * @returns The tensor.
 * @example
 * ```ts
 * import { empty } from "./tensor.ts";
 * import { cpu } from "./cpu/device.ts";
 * const t = empty([2, 2], "float32", cpu);
 * ```
 */
export function empty(
  shape: readonly number[],
  dtype: DType,
  device: Device,
  zero = false,
): Tensor {
  const size = shapeSize(shape, "empty()");
  if (!device.dtypes.includes(dtype)) {
    throw new Error(`${device.name} does not support ${dtype}; use one of ${device.dtypes.join(", ")}`);
  }
  return new Tensor(shape, new Storage(device, dtype, size, device.alloc(size, dtype, zero)));
}

/**
 * Number of elements of a shape; checks that every dim is a non-negative integer.
 *
 * @param shape Dimensions.
 * @param op Name for the error message.
 * @returns The product of the dims.
 * @example
 * ```ts
 * import { shapeSize } from "./tensor.ts";
 * shapeSize([2, 3], "zeros()"); // 6
 * ```
 */
export function shapeSize(shape: readonly number[], op: string): number {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: shape [${shape}] must hold non-negative integers`);
    }
    size *= d;
  }
  return size;
}
