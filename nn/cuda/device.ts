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
  ActivationOp,
  AdamArgs,
  AxisGeometry,
  BatchNormGeometry,
  BinaryOp,
  BlockCopy,
  Conv2dGeometry,
  Device,
  DeviceBuffer,
  DeviceMemory,
  DType,
  GemmArgs,
  Pool2dGeometry,
  SgdArgs,
  UnaryOp,
} from "../device.ts";
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

/** A float32 buffer in device memory. */
export interface CudaBuffer extends DeviceBuffer {
  /** Device address. */
  readonly ptr: bigint;
  /** Number of float32 elements. */
  readonly length: number;
  /** Bytes reserved for it (its allocator size class). */
  readonly bytes: number;
}

/** Options of {@linkcode cudaDevice}. */
export interface CudaDeviceOptions {
  /** Allow TF32 tensor cores for float32 convolutions and GEMMs (default: `EPSANET_TF32=1`). */
  allowTf32?: boolean;
}

const floatBits = new Float32Array(1);
const uintBits = new Uint32Array(floatBits.buffer);

/** The address of a buffer, with a clear error for a buffer of another device. */
function ptr(buffer: DeviceBuffer): bigint {
  const address = (buffer as CudaBuffer).ptr;
  if (typeof address !== "bigint") {
    throw new Error('The CUDA device received a buffer of another device; move tensors with .to("cuda")');
  }
  return address;
}

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
export class CudaDevice implements Device {
  /** Always `"cuda"`. */
  readonly type = "cuda" as const;
  /** `"cuda:0"`. */
  readonly name: string;
  /** float32 only. */
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

  alloc(length: number, dtype: DType, zero = false): DeviceBuffer {
    if (dtype !== "float32") {
      throw new Error(`${this.name} holds float32 only, not ${dtype}; convert with .to("float32")`);
    }
    const block = this.runtime.allocator.alloc(length * 4);
    const buffer: CudaBuffer = { ptr: block.ptr, length, bytes: block.size };
    if (zero) this.fill(buffer, 0);
    return buffer;
  }

  free(buffer: DeviceBuffer): void {
    const b = buffer as CudaBuffer;
    this.runtime.allocator.free({ ptr: ptr(b), size: b.bytes });
  }

  write(buffer: DeviceBuffer, values: Float32Array | Float64Array): void {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    if (data.length !== buffer.length) {
      throw new Error(`write(): ${data.length} values for a buffer of ${buffer.length}`);
    }
    if (data.length === 0) return;
    const { cu, check, stream } = this.runtime;
    // Stream-ordered: a write lands after the kernels queued before it, and the driver stages
    // pageable memory before returning, so `values` may change right after.
    check.cu(
      "cuMemcpyHtoDAsync_v2",
      cu.cuMemcpyHtoDAsync_v2(ptr(buffer), data, BigInt(data.byteLength), stream),
    );
  }

  read(buffer: DeviceBuffer): Float32Array {
    const out = new Float32Array(buffer.length);
    if (out.length === 0) return out;
    const { cu, check, stream } = this.runtime;
    check.cu(
      "cuMemcpyDtoHAsync_v2",
      cu.cuMemcpyDtoHAsync_v2(out, ptr(buffer), BigInt(out.byteLength), stream),
    );
    this.runtime.synchronize();
    return out;
  }

  fill(buffer: DeviceBuffer, value: number): void {
    if (buffer.length === 0) return;
    floatBits[0] = value;
    const { cu, check, stream } = this.runtime;
    check.cu(
      "cuMemsetD32Async",
      cu.cuMemsetD32Async(ptr(buffer), uintBits[0], BigInt(buffer.length), stream),
    );
  }

  copy(src: DeviceBuffer, dst: DeviceBuffer): void {
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
  }

  synchronize(): void {
    this.runtime.synchronize();
  }

  binary(
    op: BinaryOp,
    a: DeviceBuffer,
    aShape: readonly number[],
    b: DeviceBuffer,
    bShape: readonly number[],
    out: DeviceBuffer,
    outShape: readonly number[],
  ): void {
    elementwise.binary(
      this.runtime.kernels,
      op,
      ptr(a),
      aShape,
      ptr(b),
      bShape,
      ptr(out),
      outShape,
      out.length,
    );
  }

  unary(op: UnaryOp, x: DeviceBuffer, out: DeviceBuffer): void {
    elementwise.unary(this.runtime.kernels, op, ptr(x), ptr(out), x.length);
  }

  activationBackward(op: ActivationOp, y: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer): void {
    elementwise.activationBackward(this.runtime.kernels, op, ptr(y), ptr(dy), ptr(dx), y.length);
  }

  affine(x: DeviceBuffer, out: DeviceBuffer, scale: number, shift: number): void {
    elementwise.affine(this.runtime.kernels, ptr(x), ptr(out), x.length, scale, shift);
  }

  pow(x: DeviceBuffer, out: DeviceBuffer, exponent: number): void {
    elementwise.pow(this.runtime.kernels, ptr(x), ptr(out), x.length, exponent);
  }

  axpy(alpha: number, x: DeviceBuffer, y: DeviceBuffer): void {
    elementwise.axpy(this.runtime.kernels, alpha, ptr(x), ptr(y), x.length);
  }

  sumTo(x: DeviceBuffer, xShape: readonly number[], out: DeviceBuffer, outShape: readonly number[]): void {
    layout.sumTo(this.runtime.kernels, ptr(x), xShape, ptr(out), outShape);
  }

  permute(x: DeviceBuffer, shape: readonly number[], perm: readonly number[], y: DeviceBuffer): void {
    layout.permute(this.runtime.kernels, ptr(x), shape, perm, ptr(y), y.length);
  }

  copyBlocks(src: DeviceBuffer, dst: DeviceBuffer, copy: BlockCopy): void {
    layout.copyBlocks(this.runtime.kernels, ptr(src), ptr(dst), copy);
  }

  gemm(args: GemmArgs): void {
    gemm(this.runtime, args, ptr(args.a), ptr(args.b), ptr(args.c));
  }

  conv2dForward(g: Conv2dGeometry, x: DeviceBuffer, w: DeviceBuffer, y: DeviceBuffer): void {
    this.#convolutions.forward(g, ptr(x), ptr(w), ptr(y));
  }

  conv2dBackwardData(g: Conv2dGeometry, dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer): void {
    this.#convolutions.backwardData(g, ptr(dy), ptr(w), ptr(dx));
  }

  conv2dBackwardFilter(g: Conv2dGeometry, x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer): void {
    this.#convolutions.backwardFilter(g, ptr(x), ptr(dy), ptr(dw));
  }

  batchNormTrain(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    runningMean: DeviceBuffer | null,
    runningVar: DeviceBuffer | null,
    momentum: number,
    eps: number,
    y: DeviceBuffer,
    saveMean: DeviceBuffer,
    saveInvStd: DeviceBuffer,
  ): void {
    norm.batchNormTrain(
      this.runtime,
      this.#descriptors,
      g,
      ptr(x),
      ptr(weight),
      ptr(bias),
      runningMean ? ptr(runningMean) : 0n,
      runningVar ? ptr(runningVar) : 0n,
      momentum,
      eps,
      ptr(y),
      ptr(saveMean),
      ptr(saveInvStd),
    );
  }

  batchNormInfer(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    runningMean: DeviceBuffer,
    runningVar: DeviceBuffer,
    eps: number,
    y: DeviceBuffer,
  ): void {
    norm.batchNormInfer(
      this.runtime,
      this.#descriptors,
      g,
      ptr(x),
      ptr(weight),
      ptr(bias),
      ptr(runningMean),
      ptr(runningVar),
      eps,
      ptr(y),
    );
  }

  batchNormBackward(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    dy: DeviceBuffer,
    weight: DeviceBuffer,
    saveMean: DeviceBuffer,
    saveInvStd: DeviceBuffer,
    dx: DeviceBuffer,
    dweight: DeviceBuffer,
    dbias: DeviceBuffer,
  ): void {
    norm.batchNormBackward(
      this.runtime,
      this.#descriptors,
      g,
      ptr(x),
      ptr(dy),
      ptr(weight),
      ptr(saveMean),
      ptr(saveInvStd),
      ptr(dx),
      ptr(dweight),
      ptr(dbias),
    );
  }

  maxPool2dForward(g: Pool2dGeometry, x: DeviceBuffer, y: DeviceBuffer): void {
    pool.maxPool2dForward(this.runtime.kernels, g, ptr(x), ptr(y));
  }

  maxPool2dBackward(
    g: Pool2dGeometry,
    x: DeviceBuffer,
    y: DeviceBuffer,
    dy: DeviceBuffer,
    dx: DeviceBuffer,
  ): void {
    pool.maxPool2dBackward(this.runtime.kernels, g, ptr(x), ptr(y), ptr(dy), ptr(dx));
  }

  adaptiveAvgPool2dForward(g: Pool2dGeometry, x: DeviceBuffer, y: DeviceBuffer): void {
    pool.adaptiveAvgPool2dForward(this.runtime.kernels, g, ptr(x), ptr(y));
  }

  adaptiveAvgPool2dBackward(g: Pool2dGeometry, dy: DeviceBuffer, dx: DeviceBuffer): void {
    pool.adaptiveAvgPool2dBackward(this.runtime.kernels, g, ptr(dy), ptr(dx));
  }

  softmaxForward(g: AxisGeometry, x: DeviceBuffer, y: DeviceBuffer, log: boolean): void {
    softmax.softmaxForward(this.runtime, this.#descriptors, g, ptr(x), ptr(y), log);
  }

  softmaxBackward(g: AxisGeometry, y: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, log: boolean): void {
    softmax.softmaxBackward(this.runtime, this.#descriptors, g, ptr(y), ptr(dy), ptr(dx), log);
  }

  crossEntropyForward(
    batch: number,
    classes: number,
    logits: DeviceBuffer,
    targets: Int32Array,
    labelSmoothing: number,
    losses: DeviceBuffer,
  ): void {
    loss.crossEntropyForward(
      this.runtime,
      this.runtime.kernels,
      batch,
      classes,
      ptr(logits),
      targets,
      labelSmoothing,
      ptr(losses),
    );
  }

  crossEntropyBackward(
    batch: number,
    classes: number,
    logits: DeviceBuffer,
    targets: Int32Array,
    labelSmoothing: number,
    dLoss: DeviceBuffer,
    dlogits: DeviceBuffer,
  ): void {
    loss.crossEntropyBackward(
      this.runtime,
      this.runtime.kernels,
      batch,
      classes,
      ptr(logits),
      targets,
      labelSmoothing,
      ptr(dLoss),
      ptr(dlogits),
    );
  }

  sgdUpdate(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    momentumBuffer: DeviceBuffer | null,
    args: SgdArgs,
  ): void {
    optim.sgdUpdate(
      this.runtime.kernels,
      ptr(param),
      ptr(grad),
      momentumBuffer ? ptr(momentumBuffer) : 0n,
      param.length,
      args,
    );
  }

  adamUpdate(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    m: DeviceBuffer,
    v: DeviceBuffer,
    args: AdamArgs,
  ): void {
    optim.adamUpdate(this.runtime.kernels, ptr(param), ptr(grad), ptr(m), ptr(v), param.length, args);
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
