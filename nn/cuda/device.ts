/**
 * The CUDA device: cuDNN for convolutions, batch norm and softmax, cuBLAS for GEMMs, and our own
 * `.cu` kernels (compiled by NVRTC at first use) for everything else, all queued on one stream.
 * The host waits only in `read()` and `synchronize()` (and once per new convolution shape, while
 * cuDNN times its algorithms).
 *
 * Activations and pooling use our kernels rather than cuDNN's on purpose: the Device contract
 * computes activation gradients from the output alone (cuDNN's backward also reads the input, and
 * does not document which of the two it uses), and routes a tied maximum's gradient to the first
 * maximum in row-major order (ties are common after ReLU; cuDNN does not promise an order).
 *
 * Float32 stays true float32 unless TF32 is allowed: with `EPSANET_TF32=1` in the environment,
 * `cudaDevice({ allowTf32: true })`, or `device.allowTf32 = true`, convolutions and GEMMs may use
 * TF32 tensor cores (about 1e-3 relative error, several times faster on Ampere and later).
 *
 * @example
 * ```ts
 * import { cudaDevice } from "./device.ts";
 * const gpu = cudaDevice(); // throws one clear line when CUDA is unavailable
 * console.log(gpu.describe());
 * const buffer = gpu.alloc(4, "float32");
 * gpu.fill(buffer, 1);
 * console.log(gpu.read(buffer)); // Float32Array [1, 1, 1, 1]
 * gpu.free(buffer);
 * ```
 *
 * @module
 */

import { openCudaLibraries } from "../../ffi/cuda_libraries.ts";
import { LibraryNotFoundError, readEnv } from "../../ffi/load.ts";
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
import { type CudaBuffer, ptr } from "./buffer.ts";
import { Convolutions } from "./conv.ts";
import { Descriptors } from "./descriptors.ts";
import * as elementwise from "./elementwise.ts";
import { gemm } from "./gemm.ts";
import * as layout from "./layout.ts";
import * as loss from "./loss.ts";
import * as norm from "./norm.ts";
import * as optim from "./optim.ts";
import * as pool from "./pool.ts";
import { CudaRuntime } from "./runtime.ts";
import * as softmax from "./softmax.ts";

export type { CudaBuffer } from "./buffer.ts";

/** Options of {@linkcode cudaDevice}. */
export interface CudaDeviceOptions {
  /** Allow TF32 tensor cores for float32 convolutions and GEMMs (default: `EPSANET_TF32=1`). */
  allowTf32?: boolean;
}

const floatBits = new Float32Array(1);
const uintBits = new Uint32Array(floatBits.buffer);

function version(value: number, ...divisors: number[]): string {
  return divisors.map((d, i) => Math.floor(value / d) % (i === 0 ? Infinity : 100)).join(".");
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/**
 * One NVIDIA GPU. Use {@linkcode cudaDevice} rather than constructing one.
 * @example
 * ```ts
 * import { cudaDevice } from "./device.ts";
 * const gpu = cudaDevice();
 * console.log(gpu.type, gpu.name); // "cuda" "cuda:0"
 * ```
 */
export class CudaDevice implements Device<CudaBuffer> {
  /** Always `"cuda"`. */
  readonly type = "cuda" as const;
  /** `"cuda:0"`. */
  readonly name: string;
  /** float32 only (int32 buffers hold class targets). */
  readonly dtypes: readonly DType[] = ["float32"];
  /** Libraries, stream, handles, allocator and kernels. */
  readonly runtime: CudaRuntime;
  #descriptors: Descriptors;
  #convolutions: Convolutions;

  /**
   * Wraps an initialised runtime; prefer the shared device from `cudaDevice()`.
   *
   * @param runtime An initialised runtime.
   * @param ordinal The GPU's index.
   */
  constructor(runtime: CudaRuntime, ordinal = 0) {
    this.runtime = runtime;
    this.name = `cuda:${ordinal}`;
    this.#descriptors = new Descriptors(runtime);
    this.#convolutions = new Convolutions(runtime, this.#descriptors);
  }

  /** Whether float32 convolutions and GEMMs may use TF32 tensor cores. */
  get allowTf32(): boolean {
    return this.runtime.allowTf32;
  }

  set allowTf32(allow: boolean) {
    this.runtime.allowTf32 = allow;
  }

  /** GPU, compute capability, memory, driver and library versions, and library paths. */
  describe(): string {
    const i = this.runtime.info;
    const [major, minor] = i.computeCapability;
    const paths = this.runtime.libs.paths;
    return `${this.name}: ${i.name} (sm_${major}${minor}, ${i.multiprocessors} SMs, ${gib(i.totalMemory)}), ` +
      `driver ${version(i.driverVersion, 1000, 10)}, cuDNN ${version(i.cudnnVersion, 10000, 100, 1)}, ` +
      `cuBLAS ${version(i.cublasVersion, 10000, 100, 1)}, NVRTC ${i.nvrtcVersion.join(".")} ` +
      `(kernels as ${i.target.arch} ${i.target.kind}), TF32 ${this.allowTf32 ? "on" : "off"}; ` +
      `${paths.driver}, ${paths.cudnn}, ${paths.cublas}, ${paths.nvrtc}`;
  }

  alloc(length: number, dtype: DType, zero = false): CudaBuffer {
    if (dtype === "float64") {
      throw new Error(`${this.name} holds float32 only, not ${dtype}; convert with .to("float32")`);
    }
    const block = this.runtime.allocator.alloc(length * 4);
    const buffer: CudaBuffer = { ptr: block.ptr, length, dtype, bytes: block.size };
    if (zero) this.fill(buffer, 0);
    return buffer;
  }

  free(buffer: CudaBuffer): void {
    this.runtime.allocator.free({ ptr: ptr(buffer), size: buffer.bytes });
  }

  write(buffer: CudaBuffer, values: HostArray): void {
    const data = buffer.dtype === "int32"
      ? (values instanceof Int32Array ? values : Int32Array.from(values))
      : (values instanceof Float32Array ? values : Float32Array.from(values));
    if (data.length !== buffer.length) {
      throw new Error(`write(): ${data.length} values for a buffer of ${buffer.length}`);
    }
    if (data.length === 0) return;
    // Stream-ordered: a write lands after the kernels queued before it; `values` may change
    // right after (small writes are staged by the driver, large ones through pinned memory).
    this.runtime.uploads.upload(ptr(buffer), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  read(buffer: CudaBuffer): Float32Array | Int32Array {
    const out = buffer.dtype === "int32" ? new Int32Array(buffer.length) : new Float32Array(buffer.length);
    if (out.length === 0) return out;
    const { cu, check, stream } = this.runtime;
    check.cu(
      "cuMemcpyDtoHAsync_v2",
      cu.cuMemcpyDtoHAsync_v2(out, ptr(buffer), BigInt(out.byteLength), stream),
    );
    this.runtime.synchronize();
    return out;
  }

  fill(buffer: CudaBuffer, value: number): void {
    if (buffer.length === 0) return;
    floatBits[0] = value;
    const { cu, check, stream } = this.runtime;
    check.cu(
      "cuMemsetD32Async",
      cu.cuMemsetD32Async(ptr(buffer), uintBits[0], BigInt(buffer.length), stream),
    );
  }

  copy(src: CudaBuffer, dst: CudaBuffer): void {
    if (src.length !== dst.length) {
      throw new Error(`copy(): source has ${src.length} elements, destination ${dst.length}`);
    }
    if (src.length === 0) return;
    const { cu, check, stream } = this.runtime;
    check.cu(
      "cuMemcpyDtoDAsync_v2",
      cu.cuMemcpyDtoDAsync_v2(ptr(dst), ptr(src), BigInt(src.length * 4), stream),
    );
  }

  memory(): DeviceMemory {
    const a = this.runtime.allocator;
    return {
      allocatedBytes: a.allocatedBytes,
      reservedBytes: a.reservedBytes,
      peakAllocatedBytes: a.peakAllocatedBytes,
    };
  }

  resetPeakMemory(): void {
    this.runtime.allocator.resetPeak();
  }

  emptyCache(): void {
    this.runtime.allocator.emptyCache();
    this.runtime.uploads.release();
  }

  synchronize(): void {
    this.runtime.synchronize();
  }

  binary(a: BinaryArgs<CudaBuffer>): void {
    elementwise.binary(this.runtime.kernels, a);
  }

  unary(a: UnaryArgs<CudaBuffer>): void {
    elementwise.unary(this.runtime.kernels, a);
  }

  activationBackward(a: ActivationBackwardArgs<CudaBuffer>): void {
    elementwise.activationBackward(this.runtime.kernels, a);
  }

  affine(a: AffineArgs<CudaBuffer>): void {
    elementwise.affine(this.runtime.kernels, a);
  }

  pow(a: PowArgs<CudaBuffer>): void {
    elementwise.pow(this.runtime.kernels, a);
  }

  axpy(a: AxpyArgs<CudaBuffer>): void {
    elementwise.axpy(this.runtime.kernels, a);
  }

  sumTo(a: SumToArgs<CudaBuffer>): void {
    layout.sumTo(this.runtime.kernels, a, 1, this.runtime.allocator);
  }

  permute(a: PermuteArgs<CudaBuffer>): void {
    layout.permute(this.runtime.kernels, a);
  }

  copyBlocks(a: CopyBlocksArgs<CudaBuffer>): void {
    layout.copyBlocks(this.runtime.kernels, a);
  }

  gemm(a: GemmArgs<CudaBuffer>): void {
    gemm(this.runtime, a);
  }

  conv2dForward(a: Conv2dForwardArgs<CudaBuffer>): void {
    this.#convolutions.forward(a);
  }

  conv2dBackwardData(a: Conv2dBackwardDataArgs<CudaBuffer>): void {
    this.#convolutions.backwardData(a);
  }

  conv2dBackwardFilter(a: Conv2dBackwardFilterArgs<CudaBuffer>): void {
    this.#convolutions.backwardFilter(a);
  }

  batchNormTrain(a: BatchNormTrainArgs<CudaBuffer>): void {
    norm.batchNormTrain(this.runtime, this.#descriptors, a);
  }

  batchNormInfer(a: BatchNormInferArgs<CudaBuffer>): void {
    norm.batchNormInfer(this.runtime, this.#descriptors, a);
  }

  batchNormBackward(a: BatchNormBackwardArgs<CudaBuffer>): void {
    norm.batchNormBackward(this.runtime, this.#descriptors, a);
  }

  maxPool2dForward(a: MaxPool2dForwardArgs<CudaBuffer>): void {
    pool.maxPool2dForward(this.runtime.kernels, a);
  }

  maxPool2dBackward(a: MaxPool2dBackwardArgs<CudaBuffer>): void {
    pool.maxPool2dBackward(this.runtime.kernels, a);
  }

  adaptiveAvgPool2dForward(a: AdaptiveAvgPool2dForwardArgs<CudaBuffer>): void {
    pool.adaptiveAvgPool2dForward(this.runtime.kernels, a);
  }

  adaptiveAvgPool2dBackward(a: AdaptiveAvgPool2dBackwardArgs<CudaBuffer>): void {
    pool.adaptiveAvgPool2dBackward(this.runtime.kernels, a);
  }

  softmaxForward(a: SoftmaxForwardArgs<CudaBuffer>): void {
    softmax.softmaxForward(this.runtime, this.#descriptors, a);
  }

  softmaxBackward(a: SoftmaxBackwardArgs<CudaBuffer>): void {
    softmax.softmaxBackward(this.runtime, this.#descriptors, a);
  }

  crossEntropyForward(a: CrossEntropyForwardArgs<CudaBuffer>): void {
    loss.crossEntropyForward(this.runtime.kernels, a);
  }

  crossEntropyBackward(a: CrossEntropyBackwardArgs<CudaBuffer>): void {
    loss.crossEntropyBackward(this.runtime.kernels, a);
  }

  sgdUpdate(a: SgdUpdateArgs<CudaBuffer>): void {
    optim.sgdUpdate(this.runtime.kernels, a);
  }

  adamUpdate(a: AdamUpdateArgs<CudaBuffer>): void {
    optim.adamUpdate(this.runtime.kernels, a);
  }
}

let instance: CudaDevice | Error | undefined;

/**
 * The CUDA device (GPU 0), created on first use: finds and opens the libraries, initialises the
 * driver, and creates the stream and the cuDNN / cuBLAS handles. Later calls return the same
 * device (or throw the same error).
 *
 * @param options TF32 opt-in (applied to the shared device on every call that passes it).
 * @returns The device.
 * @throws {LibraryNotFoundError} with a short one-line message when the driver or the libraries are
 * missing; an Error starting `CUDA initialisation failed` when they do not work (e.g. no GPU).
 * @example
 * ```ts
 * import { cudaDevice } from "./device.ts";
 * const gpu = cudaDevice({ allowTf32: false });
 * console.log(gpu.name); // "cuda:0"
 * ```
 */
export function cudaDevice(options: CudaDeviceOptions = {}): CudaDevice {
  if (instance === undefined) instance = create();
  if (instance instanceof Error) throw instance;
  if (options.allowTf32 !== undefined) instance.allowTf32 = options.allowTf32;
  return instance;
}

function create(): CudaDevice | Error {
  try {
    const runtime = new CudaRuntime(openCudaLibraries(), 0);
    runtime.allowTf32 = readEnv("EPSANET_TF32") === "1";
    return new CudaDevice(runtime, 0);
  } catch (error) {
    if (error instanceof LibraryNotFoundError) return error;
    const line = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ");
    return new Error(`CUDA initialisation failed: ${line}`);
  }
}
