/**
 * The CPU device: typed arrays for memory; kernels from two tables (see `./kernels.ts`): float32
 * work goes to oneDNN (convolutions, batch norm, max pooling, Adam) when it opens, GEMMs to a
 * native BLAS when one opens, everything else and every float64 kernel to TypeScript.
 *
 * Freed arrays go to a cache keyed by dtype and length, because a training step allocates the same
 * shapes every time; reuse spares the zeroing and garbage collection of fresh arrays.
 *
 * @module
 */

import type {
  ActivationBackwardArgs,
  AdamUpdateArgs,
  AdaptiveAvgPool2dBackwardArgs,
  AdaptiveAvgPool2dForwardArgs,
  AffineArgs,
  AxpyArgs,
  BatchNormBackwardArgs,
  BatchNormInferArgs,
  BatchNormTrainArgs,
  BinaryArgs,
  Conv2dBackwardDataArgs,
  Conv2dBackwardFilterArgs,
  Conv2dForwardArgs,
  CopyBlocksArgs,
  CrossEntropyBackwardArgs,
  CrossEntropyForwardArgs,
  Device,
  DeviceMemory,
  DType,
  GemmArgs,
  HostArray,
  MaxPool2dBackwardArgs,
  MaxPool2dForwardArgs,
  PermuteArgs,
  PowArgs,
  SgdUpdateArgs,
  SoftmaxBackwardArgs,
  SoftmaxForwardArgs,
  SumToArgs,
  UnaryArgs,
} from "../device.ts";
import { isEmptyConv, isEmptyPool, isEmptyView } from "../device/geometry.ts";
import { releaseConvScratch } from "./conv.ts";
import { blasInfo, type FloatArray } from "./gemm.ts";
import { type CpuKernels, float32Kernels, typescriptKernels } from "./kernels.ts";
import { oneDnnInfo } from "./onednn/runtime.ts";

export type { FloatArray } from "./gemm.ts";

/** A CPU buffer: a typed array of its dtype. */
export type CpuBuffer = FloatArray | Int32Array;

/** Cached arrays beyond this many bytes are dropped instead of kept. */
const CACHE_LIMIT_BYTES = 4 * 1024 ** 3;

function dtypeOf(array: CpuBuffer): DType {
  return array instanceof Float32Array ? "float32" : array instanceof Float64Array ? "float64" : "int32";
}

function newArray(dtype: DType, length: number): CpuBuffer {
  // Through an ArrayBuffer so even tiny arrays live off the V8 heap: native libraries (oneDNN)
  // keep their data pointers between calls, and on-heap arrays can move.
  const buffer = new ArrayBuffer(length * (dtype === "float64" ? 8 : 4));
  return dtype === "float64"
    ? new Float64Array(buffer)
    : dtype === "int32"
    ? new Int32Array(buffer)
    : new Float32Array(buffer);
}

/**
 * The CPU device. Use the shared instance {@linkcode cpu} rather than constructing one.
 *
 * Kernel methods pick a table by the dtype of one buffer (float32: the native table, built at the
 * first float32 call; otherwise TypeScript) and return early on empty shapes, as the CUDA device
 * does.
 *
 * @example
 * ```ts
 * import { cpu } from "./device.ts";
 * const buffer = cpu.alloc(4, "float32", true);
 * cpu.fill(buffer, 1);
 * console.log(cpu.read(buffer)); // Float32Array [1, 1, 1, 1]
 * cpu.free(buffer);
 * ```
 */
export class CpuDevice implements Device<CpuBuffer> {
  /** Always `"cpu"`. */
  readonly type = "cpu" as const;
  /** Always `"cpu"`. */
  readonly name = "cpu";
  /** float32 and float64. */
  readonly dtypes: readonly DType[] = ["float32", "float64"];
  #cache = new Map<string, CpuBuffer[]>();
  #allocated = 0;
  #cached = 0;
  #peak = 0;
  #float32: CpuKernels | null = null;

  /** The CPU model, the BLAS behind GEMMs and what runs convolutions. */
  describe(): string {
    const info = blasInfo();
    const gemmText = info.kind === "blas"
      ? `BLAS ${info.detail}`
      : `${info.kind === "wasm" ? "WebAssembly SIMD" : "TypeScript"} GEMM (${info.detail})`;
    const dnn = oneDnnInfo();
    const convText = dnn.available ? `convolutions: ${dnn.detail}` : `convolutions: im2col + GEMM (${dnn.detail})`;
    return `cpu: ${cpuModel()}, ${navigator.hardwareConcurrency} threads; ${gemmText}; ${convText}`;
  }

  /** The kernel table for buffers like `probe`: native for float32, TypeScript otherwise. */
  #kernels(probe: FloatArray): CpuKernels {
    return probe instanceof Float32Array ? (this.#float32 ??= float32Kernels()) : typescriptKernels;
  }

  alloc(length: number, dtype: DType, zero = false): CpuBuffer {
    const key = `${dtype}:${length}`;
    const cached = this.#cache.get(key)?.pop();
    const bytes = length * (dtype === "float64" ? 8 : 4);
    let array: CpuBuffer;
    if (cached) {
      this.#cached -= bytes;
      array = cached;
      if (zero) array.fill(0);
    } else array = newArray(dtype, length);
    this.#allocated += bytes;
    this.#peak = Math.max(this.#peak, this.#allocated);
    return array;
  }

  free(buffer: CpuBuffer): void {
    this.#allocated -= buffer.byteLength;
    if (this.#cached + buffer.byteLength > CACHE_LIMIT_BYTES) return;
    const key = `${dtypeOf(buffer)}:${buffer.length}`;
    let list = this.#cache.get(key);
    if (!list) this.#cache.set(key, list = []);
    list.push(buffer);
    this.#cached += buffer.byteLength;
  }

  write(buffer: CpuBuffer, values: HostArray): void {
    buffer.set(values);
  }

  read(buffer: CpuBuffer): HostArray {
    return buffer.slice();
  }

  fill(buffer: CpuBuffer, value: number): void {
    buffer.fill(value);
  }

  copy(src: CpuBuffer, dst: CpuBuffer): void {
    dst.set(src);
  }

  memory(): DeviceMemory {
    return {
      allocatedBytes: this.#allocated,
      reservedBytes: this.#allocated + this.#cached,
      peakAllocatedBytes: this.#peak,
    };
  }

  resetPeakMemory(): void {
    this.#peak = this.#allocated;
  }

  emptyCache(): void {
    this.#cache.clear();
    this.#cached = 0;
    releaseConvScratch();
  }

  synchronize(): void {}

  binary(a: BinaryArgs<FloatArray>): void {
    this.#kernels(a.out).binary(a);
  }

  unary(a: UnaryArgs<FloatArray>): void {
    this.#kernels(a.out).unary(a);
  }

  activationBackward(a: ActivationBackwardArgs<FloatArray>): void {
    this.#kernels(a.dx).activationBackward(a);
  }

  affine(a: AffineArgs<FloatArray>): void {
    this.#kernels(a.out).affine(a);
  }

  pow(a: PowArgs<FloatArray>): void {
    this.#kernels(a.out).pow(a);
  }

  axpy(a: AxpyArgs<FloatArray>): void {
    this.#kernels(a.y).axpy(a);
  }

  sumTo(a: SumToArgs<FloatArray>): void {
    this.#kernels(a.out).sumTo(a);
  }

  permute(a: PermuteArgs<FloatArray>): void {
    this.#kernels(a.y).permute(a);
  }

  copyBlocks(a: CopyBlocksArgs<FloatArray>): void {
    this.#kernels(a.dst).copyBlocks(a);
  }

  gemm(a: GemmArgs<FloatArray>): void {
    this.#kernels(a.c).gemm(a);
  }

  conv2dForward(a: Conv2dForwardArgs<FloatArray>): void {
    if (!isEmptyConv(a.geometry)) this.#kernels(a.y).conv2dForward(a);
  }

  conv2dBackwardData(a: Conv2dBackwardDataArgs<FloatArray>): void {
    if (isEmptyConv(a.geometry)) a.dx.fill(0);
    else this.#kernels(a.dx).conv2dBackwardData(a);
  }

  conv2dBackwardFilter(a: Conv2dBackwardFilterArgs<FloatArray>): void {
    if (isEmptyConv(a.geometry)) a.dw.fill(0);
    else this.#kernels(a.dw).conv2dBackwardFilter(a);
  }

  batchNormTrain(a: BatchNormTrainArgs<FloatArray>): void {
    if (!isEmptyView(a.geometry)) this.#kernels(a.y).batchNormTrain(a);
  }

  batchNormInfer(a: BatchNormInferArgs<FloatArray>): void {
    if (!isEmptyView(a.geometry)) this.#kernels(a.y).batchNormInfer(a);
  }

  batchNormBackward(a: BatchNormBackwardArgs<FloatArray>): void {
    if (!isEmptyView(a.geometry)) return this.#kernels(a.dx).batchNormBackward(a);
    a.dweight.fill(0);
    a.dbias.fill(0);
  }

  maxPool2dForward(a: MaxPool2dForwardArgs<FloatArray>): void {
    if (!isEmptyPool(a.geometry)) this.#kernels(a.y).maxPool2dForward(a);
  }

  maxPool2dBackward(a: MaxPool2dBackwardArgs<FloatArray>): void {
    if (isEmptyPool(a.geometry)) a.dx.fill(0);
    else this.#kernels(a.dx).maxPool2dBackward(a);
  }

  adaptiveAvgPool2dForward(a: AdaptiveAvgPool2dForwardArgs<FloatArray>): void {
    if (!isEmptyPool(a.geometry)) this.#kernels(a.y).adaptiveAvgPool2dForward(a);
  }

  adaptiveAvgPool2dBackward(a: AdaptiveAvgPool2dBackwardArgs<FloatArray>): void {
    if (isEmptyPool(a.geometry)) a.dx.fill(0);
    else this.#kernels(a.dx).adaptiveAvgPool2dBackward(a);
  }

  softmaxForward(a: SoftmaxForwardArgs<FloatArray>): void {
    if (!isEmptyView(a.geometry)) this.#kernels(a.y).softmaxForward(a);
  }

  softmaxBackward(a: SoftmaxBackwardArgs<FloatArray>): void {
    if (!isEmptyView(a.geometry)) this.#kernels(a.dx).softmaxBackward(a);
  }

  crossEntropyForward(a: CrossEntropyForwardArgs<FloatArray, Int32Array>): void {
    this.#kernels(a.losses).crossEntropyForward(a);
  }

  crossEntropyBackward(a: CrossEntropyBackwardArgs<FloatArray, Int32Array>): void {
    this.#kernels(a.dlogits).crossEntropyBackward(a);
  }

  sgdUpdate(a: SgdUpdateArgs<FloatArray>): void {
    this.#kernels(a.param).sgdUpdate(a);
  }

  adamUpdate(a: AdamUpdateArgs<FloatArray>): void {
    this.#kernels(a.param).adamUpdate(a);
  }
}

function cpuModel(): string {
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    return text.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? Deno.build.arch;
  } catch {
    return Deno.build.arch;
  }
}

/**
 * The shared CPU device.
 *
 * @example
 * ```ts
 * import { cpu } from "./device.ts";
 * console.log(cpu.describe());
 * ```
 */
export const cpu: CpuDevice = new CpuDevice();
