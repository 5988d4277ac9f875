/**
 * Creating tensors: `tensor()` from values, `zeros`, `ones`, `full`, `randn`, `rand`, `arange`.
 *
 * This is the entry for programs that want tensors without the whole library: importing it also
 * connects the Tensor methods to the ops (nn/tensor_methods.ts), and it loads the CPU device only;
 * `"cuda"` and `"auto"` find the GPU once nn/cuda/register.ts (or mod.ts) is imported.
 *
 * @example
 * ```ts
 * import { tensor } from "./creation.ts";
 * const x = tensor([1, 2, 3], [3], { requiresGrad: true });
 * x.mul(x).sum().backward();
 * console.log(x.grad?.toArray()); // [2, 4, 6]
 * ```
 *
 * @module
 */

import "./tensor_methods.ts";
import type { Device, DType } from "./device.ts";
import { defaultDevice, resolveDevice } from "./device_registry.ts";
import { defaultGenerator, type Generator } from "./random.ts";
import { empty, shapeSize, type Tensor } from "./tensor.ts";

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
 * import { tensor } from "./creation.ts";
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
 * import { full } from "./creation.ts";
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
 * import { zeros } from "./creation.ts";
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
 * import { ones } from "./creation.ts";
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
 * import { randn } from "./creation.ts";
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
 * import { rand } from "./creation.ts";
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
 * import { arange } from "./creation.ts";
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
