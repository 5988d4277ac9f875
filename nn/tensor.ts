/**
 * Tensors: shape, dtype, device and reference-counted storage; creation functions; explicit memory
 * management with `dispose()`, `tidy(fn)`, `keep(t)` and `using`; `memory()`.
 *
 * Every tensor is contiguous and row-major. `reshape` / `view` share storage with their source;
 * the storage returns to its device when the last tensor using it is disposed.
 *
 * @module
 */

import type { Device, DeviceBuffer, DType } from "./device.ts";
import { BYTES_PER_ELEMENT } from "./device.ts";
import { defaultDevice, resolveDevice } from "./devices.ts";
import { defaultGenerator, type Generator } from "./random.ts";
import type { GradFn } from "./autograd.ts";
import * as autograd from "./autograd.ts";
import * as ops from "./ops/mod.ts";

/** Memory shared by a tensor and its views. */
export class Storage {
  /** The device holding the buffer. */
  readonly device: Device;
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly length: number;
  /** The device buffer; null once released. */
  buffer: DeviceBuffer | null;
  /** Tensors that use this storage. */
  refs = 1;

  /**
   * @param device Owner of the buffer.
   * @param dtype Element type.
   * @param length Number of elements.
   * @param buffer The buffer (taken over).
   */
  /** Creates the object; see the class documentation. */
  constructor(device: Device, dtype: DType, length: number, buffer: DeviceBuffer) {
    this.device = device;
    this.dtype = dtype;
    this.length = length;
    this.buffer = buffer;
  }

  /** Drops one reference; frees the buffer at zero. */
  release(): void {
    if (--this.refs === 0 && this.buffer !== null) {
      this.device.free(this.buffer);
      this.buffer = null;
    }
  }
}

const liveTensors = new Map<Device, number>();

function countLive(device: Device, delta: number): void {
  liveTensors.set(device, (liveTensors.get(device) ?? 0) + delta);
}

// Backstop for tensors that are never disposed: release their storage when collected.
const finalizer = new FinalizationRegistry<{ storage: Storage }>((held) => {
  held.storage.release();
  countLive(held.storage.device, -1);
});

const scopes: Set<Tensor>[] = [];

/** Options of the tensor creation functions. */
export interface TensorOptions {
  /** Track operations on this tensor for `backward()` (default false). */
  requiresGrad?: boolean;
  /** Device, or a spec such as `"cpu"` / `"cuda"` (default: the default device). */
  device?: Device | string;
  /** Element type (default `"float32"`). */
  dtype?: DType;
}

/** Options of the random creation functions. */
export interface RandomOptions extends TensorOptions {
  /** Generator to draw from (default: the global one seeded by `manualSeed`). */
  generator?: Generator;
}

/** Values accepted by {@linkcode tensor}: a number, nested arrays, or a typed array. */
export type TensorLike = number | readonly TensorLike[] | ArrayLike<number>;

/**
 * An n-dimensional array on a device, with optional gradient tracking.
 *
 * @example
 * ```ts
 * import { tensor } from "./tensor.ts";
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
    countLive(storage.device, 1);
    finalizer.register(this, { storage }, this);
    scopes[scopes.length - 1]?.add(this);
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
    countLive(this.#storage.device, -1);
    this.grad?.dispose();
    this.grad = null;
    for (const scope of scopes) scope.delete(this);
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
    countLive(this.#storage.device, -1);
    this.#storage = moved;
    countLive(device, 1);
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
    return ops.to(this, target);
  }

  /** A copy with its own storage (tracked by autograd). */
  clone(): Tensor {
    return ops.clone(this);
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
    autograd.backward(this, gradient, options.retainGraph ?? false);
  }

  /** `this + other` with broadcasting. */
  add(other: Tensor | number): Tensor {
    return ops.add(this, other);
  }

  /** `this - other` with broadcasting. */
  sub(other: Tensor | number): Tensor {
    return ops.sub(this, other);
  }

  /** `this * other` with broadcasting. */
  mul(other: Tensor | number): Tensor {
    return ops.mul(this, other);
  }

  /** `this / other` with broadcasting. */
  div(other: Tensor | number): Tensor {
    return ops.div(this, other);
  }

  /** `-this`. */
  neg(): Tensor {
    return ops.neg(this);
  }

  /** `this ** exponent`. */
  pow(exponent: number): Tensor {
    return ops.pow(this, exponent);
  }

  /** `e ** this`. */
  exp(): Tensor {
    return ops.exp(this);
  }

  /** Natural logarithm. */
  log(): Tensor {
    return ops.log(this);
  }

  /** Square root. */
  sqrt(): Tensor {
    return ops.sqrt(this);
  }

  /** Absolute value. */
  abs(): Tensor {
    return ops.abs(this);
  }

  /** `max(this, 0)`. */
  relu(): Tensor {
    return ops.relu(this);
  }

  /** `1 / (1 + e ** -this)`. */
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }

  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return ops.tanh(this);
  }

  /**
   * Sum of all elements, or along `dims`.
   *
   * @param dims A dim or dims (negative counts from the end); all when omitted.
   * @param keepdim Keep reduced dims with size 1.
   */
  sum(dims?: number | readonly number[], keepdim = false): Tensor {
    return ops.sum(this, dims, keepdim);
  }

  /**
   * Mean of all elements, or along `dims`.
   *
   * @param dims A dim or dims; all when omitted.
   * @param keepdim Keep reduced dims with size 1.
   */
  mean(dims?: number | readonly number[], keepdim = false): Tensor {
    return ops.mean(this, dims, keepdim);
  }

  /**
   * Same data, new shape (shares storage). One dim may be -1.
   *
   * @param shape The new shape.
   */
  reshape(...shape: number[]): Tensor {
    return ops.reshape(this, shape);
  }

  /**
   * Alias of {@linkcode Tensor.reshape} (every tensor is contiguous).
   *
   * @param shape The new shape.
   */
  view(...shape: number[]): Tensor {
    return ops.reshape(this, shape);
  }

  /**
   * Merges dims `startDim..endDim` into one.
   *
   * @param startDim First dim (default 0).
   * @param endDim Last dim (default -1).
   */
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten(this, startDim, endDim);
  }

  /**
   * Inserts a dim of size 1.
   *
   * @param dim Position of the new dim.
   */
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }

  /**
   * Removes dims of size 1 (all, or just `dim`).
   *
   * @param dim The dim to remove.
   */
  squeeze(dim?: number): Tensor {
    return ops.squeeze(this, dim);
  }

  /**
   * Reorders dims (copies).
   *
   * @param dims New order.
   */
  permute(...dims: number[]): Tensor {
    return ops.permute(this, dims);
  }

  /**
   * Swaps two dims (copies).
   *
   * @param dim0 First dim.
   * @param dim1 Second dim.
   */
  transpose(dim0: number, dim1: number): Tensor {
    return ops.transpose(this, dim0, dim1);
  }

  /**
   * `length` indices of `dim` starting at `start` (copies).
   *
   * @param dim The dim.
   * @param start First index.
   * @param length How many.
   */
  narrow(dim: number, start: number, length: number): Tensor {
    return ops.narrow(this, dim, start, length);
  }

  /**
   * Matrix product (2-D, or batched 3-D).
   *
   * @param other Right operand.
   */
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }

  /**
   * Softmax along a dim.
   *
   * @param dim The dim.
   */
  softmax(dim: number): Tensor {
    return ops.softmax(this, dim);
  }

  /**
   * Log-softmax along a dim.
   *
   * @param dim The dim.
   */
  logSoftmax(dim: number): Tensor {
    return ops.logSoftmax(this, dim);
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

function inferShape(values: TensorLike): number[] {
  const shape: number[] = [];
  let v: TensorLike = values;
  while (typeof v !== "number") {
    const list = v as ArrayLike<TensorLike>;
    shape.push(list.length);
    if (list.length === 0) break;
    v = list[0];
  }
  return shape;
}

function flattenValues(values: TensorLike, out: number[]): void {
  if (typeof values === "number") {
    out.push(values);
    return;
  }
  const list = values as ArrayLike<TensorLike>;
  for (let i = 0; i < list.length; i++) flattenValues(list[i], out);
}

function placement(options: TensorOptions): { device: Device; dtype: DType } {
  return {
    device: options.device === undefined ? defaultDevice() : resolveDevice(options.device),
    dtype: options.dtype ?? "float32",
  };
}

function fromHost(
  values: ArrayLike<number>,
  shape: readonly number[],
  options: TensorOptions,
): Tensor {
  const { device, dtype } = placement(options);
  const t = empty(shape, dtype, device);
  const host = dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values);
  device.write(t.buffer, host);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

/**
 * A tensor from values: a number, nested arrays, or a flat array / typed array with a shape.
 *
 * @param values The data.
 * @param shape Dimensions (inferred from nesting when omitted).
 * @param options requiresGrad, device, dtype.
 * @returns A new leaf tensor.
 * @example
 * ```ts
 * import { tensor } from "./tensor.ts";
 * const a = tensor([[1, 2], [3, 4]]); // shape [2, 2]
 * const b = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
 * ```
 */
export function tensor(
  values: TensorLike,
  shape?: readonly number[],
  options: TensorOptions = {},
): Tensor {
  let flat: ArrayLike<number>;
  if (typeof values === "number") flat = [values];
  else if (ArrayBuffer.isView(values)) flat = values as ArrayLike<number>;
  else {
    const out: number[] = [];
    flattenValues(values, out);
    flat = out;
  }
  const finalShape = shape ?? inferShape(values);
  const size = shapeSize(finalShape, "tensor()");
  if (size !== flat.length) {
    throw new Error(`tensor(): ${flat.length} values do not fill shape [${finalShape}] (${size} elements)`);
  }
  return fromHost(flat, finalShape, options);
}

/**
 * A tensor filled with `value`.
 *
 * @param shape Dimensions.
 * @param value Fill value.
 * @param options requiresGrad, device, dtype.
 * @returns The tensor.
 * @example
 * ```ts
 * import { full } from "./tensor.ts";
 * const t = full([2, 3], 7);
 * ```
 */
export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  const { device, dtype } = placement(options);
  const t = empty(shape, dtype, device);
  device.fill(t.buffer, value);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

/**
 * A tensor of zeros.
 *
 * @param shape Dimensions.
 * @param options requiresGrad, device, dtype.
 * @returns The tensor.
 * @example
 * ```ts
 * import { zeros } from "./tensor.ts";
 * const t = zeros([2, 3]);
 * ```
 */
export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

/**
 * A tensor of ones.
 *
 * @param shape Dimensions.
 * @param options requiresGrad, device, dtype.
 * @returns The tensor.
 * @example
 * ```ts
 * import { ones } from "./tensor.ts";
 * const t = ones([3]);
 * ```
 */
export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

/**
 * Standard normal samples.
 *
 * @param shape Dimensions.
 * @param options requiresGrad, device, dtype, generator.
 * @returns The tensor.
 * @example
 * ```ts
 * import { randn } from "./tensor.ts";
 * import { Generator } from "./random.ts";
 * const t = randn([2, 3], { generator: new Generator(1) });
 * ```
 */
export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  const g = options.generator ?? defaultGenerator;
  const values = new Float64Array(shapeSize(shape, "randn()"));
  for (let i = 0; i < values.length; i++) values[i] = g.normal();
  return fromHost(values, shape, options);
}

/**
 * Uniform samples in [low, high).
 *
 * @param shape Dimensions.
 * @param options requiresGrad, device, dtype, generator, low (default 0), high (default 1).
 * @returns The tensor.
 * @example
 * ```ts
 * import { rand } from "./tensor.ts";
 * const t = rand([4], { low: -1, high: 1 });
 * ```
 */
export function rand(
  shape: readonly number[],
  options: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  const g = options.generator ?? defaultGenerator;
  const low = options.low ?? 0;
  const high = options.high ?? 1;
  const values = new Float64Array(shapeSize(shape, "rand()"));
  for (let i = 0; i < values.length; i++) values[i] = low + (high - low) * g.uniform();
  return fromHost(values, shape, options);
}

/**
 * `[start, start + step, ...)` below `end`, like `torch.arange`.
 *
 * @param start First value (or the end, when `end` is omitted).
 * @param end Exclusive bound.
 * @param step Increment (non-zero).
 * @param options requiresGrad, device, dtype.
 * @returns A 1-D tensor.
 * @example
 * ```ts
 * import { arange } from "./tensor.ts";
 * arange(5).toArray(); // [0, 1, 2, 3, 4]
 * arange(1, 2, 0.5).toArray(); // [1, 1.5]
 * ```
 */
export function arange(
  start: number,
  end?: number,
  step = 1,
  options: TensorOptions = {},
): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) {
    throw new Error(`arange(): step must be finite and non-zero, got ${step}`);
  }
  const count = Math.max(0, Math.ceil((end - start) / step));
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = start + i * step;
  return fromHost(values, [count], options);
}

/**
 * Runs `fn` and disposes every tensor it created, except those in its return value (found in
 * arrays, plain objects and Maps) and those passed to {@linkcode keep}. `fn` must be synchronous.
 *
 * @param fn The work.
 * @returns What `fn` returned.
 * @example
 * ```ts
 * import { tidy, tensor } from "./tensor.ts";
 * const x = tensor([1, 2]);
 * const y = tidy(() => x.mul(2).add(1)); // the intermediate x.mul(2) is freed
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new Error("tidy(): fn returned a Promise; tidy only takes synchronous functions");
  }
  const kept = new Set<Tensor>();
  collectTensors(result, kept, 0);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(value: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || value === null || typeof value !== "object") return;
  if (value instanceof Tensor) out.add(value);
  else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
  }
}

/**
 * Exempts a tensor from every enclosing {@linkcode tidy}: it lives until disposed.
 *
 * @param t The tensor.
 * @returns The same tensor.
 * @example
 * ```ts
 * import { keep, tidy, zeros } from "./tensor.ts";
 * let state;
 * tidy(() => { state = keep(zeros([3])); });
 * ```
 */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

/** Live tensors and bytes on one device. */
export interface MemoryInfo {
  /** Tensors not yet disposed. */
  tensors: number;
  /** Bytes in buffers held by live tensors (and device scratch). */
  bytes: number;
  /** Bytes the device holds from the system, cache included. */
  reservedBytes: number;
  /** Highest `bytes` since the device's last peak reset. */
  peakBytes: number;
}

/**
 * Live tensors and bytes per device, like `tf.memory()`.
 *
 * @returns One entry per device that ever held a tensor, keyed by device name.
 * @example
 * ```ts
 * import { memory } from "./tensor.ts";
 * console.log(memory().cpu?.tensors);
 * ```
 */
export function memory(): Record<string, MemoryInfo> {
  const out: Record<string, MemoryInfo> = {};
  for (const [device, tensors] of liveTensors) {
    const m = device.memory();
    out[device.name] = {
      tensors,
      bytes: m.allocatedBytes,
      reservedBytes: m.reservedBytes,
      peakBytes: m.peakAllocatedBytes,
    };
  }
  return out;
}

/**
 * Bytes one element of `dtype` takes.
 *
 * @param dtype Element type.
 * @returns 4 or 8.
 * @example
 * ```ts
 * import { bytesPerElement } from "./tensor.ts";
 * bytesPerElement("float32"); // 4
 * ```
 */
export function bytesPerElement(dtype: DType): number {
  return BYTES_PER_ELEMENT[dtype];
}
