/**
 * The CUDA runtime state behind the device: libraries, the GPU's primary context, one stream,
 * the cuDNN and cuBLAS handles bound to that stream, the caching allocator, our kernels, and
 * shared scratch buffers.
 *
 * Everything runs on one stream created with `cuStreamCreate`; the host only waits in `read()`
 * and `synchronize()`. All CUDA calls stay on the main thread (Deno's `nonblocking` FFI calls run
 * on other threads, which do not see the current context).
 *
 * @module
 */

import {
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
  CU_EVENT_DISABLE_TIMING,
  CU_STREAM_NON_BLOCKING,
  CUDA_ERROR_OUT_OF_MEMORY,
} from "../../ffi/cuda.ts";
import { CUBLAS_DEFAULT_MATH, CUBLAS_TF32_TENSOR_OP_MATH } from "../../ffi/cublas.ts";
import type { CudaLibraries } from "../../ffi/cuda_libraries.ts";
import { CachingAllocator } from "./allocator.ts";
import { StatusCheck } from "./check.ts";
import { chooseTarget, type CompileTarget, nvrtcVersion, supportedArchs } from "./compile.ts";
import { KernelLibrary } from "./launch.ts";
import { StagedUploads, type StagingBackend } from "./staging.ts";

/** What the device reports about the GPU and the libraries. */
export interface GpuInfo {
  /** Marketing name, e.g. `"NVIDIA H200"`. */
  name: string;
  /** Compute capability `[major, minor]`. */
  computeCapability: [number, number];
  /** Streaming multiprocessors. */
  multiprocessors: number;
  /** Device memory in bytes. */
  totalMemory: number;
  /** Driver API version, e.g. 13000. */
  driverVersion: number;
  /** cuDNN version, e.g. 92400. */
  cudnnVersion: number;
  /** cuBLAS version, e.g. 130101. */
  cublasVersion: number;
  /** NVRTC `[major, minor]`. */
  nvrtcVersion: [number, number];
  /** What NVRTC compiles our kernels to. */
  target: CompileTarget;
}

/**
 * The runtime of one GPU.
 *
 * @example
 * ```ts
 * import { CudaRuntime } from "./runtime.ts";
 * import { openCudaLibraries } from "../../ffi/cuda_libraries.ts";
 * const runtime = new CudaRuntime(openCudaLibraries(), 0);
 * console.log(runtime.info.name);
 * ```
 */
export class CudaRuntime {
  /** The opened libraries. */
  readonly libs: CudaLibraries;
  /** Status checks. */
  readonly check: StatusCheck;
  /** The driver's symbols. */
  readonly cu: CudaLibraries["driver"]["symbols"];
  /** cuDNN's symbols. */
  readonly dnn: CudaLibraries["cudnn"]["symbols"];
  /** cuBLAS's symbols. */
  readonly blas: CudaLibraries["cublas"]["symbols"];
  /** The stream every call is queued on. */
  readonly stream: Deno.PointerValue;
  /** The cuDNN handle (bound to `stream`). */
  readonly cudnn: Deno.PointerValue;
  /** The cuBLAS handle (bound to `stream`). */
  readonly cublas: Deno.PointerValue;
  /** GPU and library facts. */
  readonly info: GpuInfo;
  /** Device memory. */
  readonly allocator: CachingAllocator;
  /** Our `.cu` kernels. */
  readonly kernels: KernelLibrary;
  /** Host-to-device copies, large ones through pinned staging memory. */
  readonly uploads: StagedUploads;
  #allowTf32 = false;
  #workspace: { ptr: bigint; size: number } | null = null;

  /**
   * Initialises the driver, makes the GPU's primary context current and creates the stream and
   * handles.
   *
   * @param libs The opened libraries.
   * @param ordinal The GPU's index.
   */
  constructor(libs: CudaLibraries, ordinal: number) {
    this.libs = libs;
    this.check = new StatusCheck(libs);
    this.cu = libs.driver.symbols;
    this.dnn = libs.cudnn.symbols;
    this.blas = libs.cublas.symbols;
    const { cu, check } = this;
    const int = new Int32Array(1);
    const out = new BigUint64Array(1);

    check.cu("cuInit", cu.cuInit(0));
    check.cu("cuDeviceGetCount", cu.cuDeviceGetCount(int));
    if (ordinal >= int[0]) {
      throw new Error(`cuda:${ordinal} does not exist: the driver sees ${int[0]} GPU(s)`);
    }
    check.cu("cuDeviceGet", cu.cuDeviceGet(int, ordinal));
    const device = int[0];
    check.cu("cuDevicePrimaryCtxRetain", cu.cuDevicePrimaryCtxRetain(out, device));
    check.cu("cuCtxSetCurrent", cu.cuCtxSetCurrent(Deno.UnsafePointer.create(out[0])));
    check.cu("cuStreamCreate", cu.cuStreamCreate(out, CU_STREAM_NON_BLOCKING));
    this.stream = Deno.UnsafePointer.create(out[0]);

    check.cudnn("cudnnCreate", this.dnn.cudnnCreate(out));
    this.cudnn = Deno.UnsafePointer.create(out[0]);
    check.cudnn("cudnnSetStream", this.dnn.cudnnSetStream(this.cudnn, this.stream));
    check.cublas("cublasCreate_v2", this.blas.cublasCreate_v2(out));
    this.cublas = Deno.UnsafePointer.create(out[0]);
    check.cublas("cublasSetStream_v2", this.blas.cublasSetStream_v2(this.cublas, this.stream));

    this.info = this.#probe(device);
    this.allowTf32 = false;
    this.allocator = new CachingAllocator({
      malloc: (bytes) => {
        const status = cu.cuMemAlloc_v2(out, bytes);
        if (status === CUDA_ERROR_OUT_OF_MEMORY) return null;
        check.cu("cuMemAlloc_v2", status);
        return out[0];
      },
      free: (ptr) => check.cu("cuMemFree_v2", cu.cuMemFree_v2(ptr)),
      synchronize: () => this.synchronize(),
    });
    this.uploads = new StagedUploads(this.#stagingBackend());
    this.kernels = new KernelLibrary({
      driver: cu,
      nvrtc: libs.nvrtc.symbols,
      check,
      stream: this.stream,
      target: this.info.target,
      versions: `NVRTC ${this.info.nvrtcVersion.join(".")}, driver ${Math.floor(this.info.driverVersion / 1000)}.` +
        `${(this.info.driverVersion % 1000) / 10}`,
    });
  }

  /**
   * Whether float32 convolutions and GEMMs may use TF32 tensor cores (10-bit mantissa inputs).
   * Off by default, so float32 stays float32.
   */
  get allowTf32(): boolean {
    return this.#allowTf32;
  }

  set allowTf32(allow: boolean) {
    this.#allowTf32 = allow;
    const mode = allow ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    this.check.cublas("cublasSetMathMode", this.blas.cublasSetMathMode(this.cublas, mode));
  }

  /** Waits until everything queued on the stream has finished. */
  synchronize(): void {
    this.check.cu("cuStreamSynchronize", this.cu.cuStreamSynchronize(this.stream));
  }

  /**
   * A scratch buffer of at least `bytes` for cuDNN, shared by all calls (they are ordered on one
   * stream). Grows by freeing the old block to the allocator, which is safe in stream order.
   *
   * @param bytes Needed size.
   * @returns Its address (0n when no scratch is needed).
   */
  workspace(bytes: number): bigint {
    if (bytes === 0) return 0n;
    this.#workspace = this.#grow(this.#workspace, bytes);
    return this.#workspace.ptr;
  }

  #grow(current: { ptr: bigint; size: number } | null, bytes: number): { ptr: bigint; size: number } {
    if (current && current.size >= bytes) return current;
    if (current) this.allocator.free(current);
    return this.allocator.alloc(bytes);
  }

  /** Pinned memory, events and async copies on the stream, for {@linkcode StagedUploads}. */
  #stagingBackend(): StagingBackend {
    const { cu, check } = this;
    const out = new BigUint64Array(1);
    const event = (e: bigint) => Deno.UnsafePointer.create(e);
    return {
      allocPinned: (bytes) => {
        const status = cu.cuMemHostAlloc(out, BigInt(bytes), 0);
        if (status === CUDA_ERROR_OUT_OF_MEMORY) return null;
        check.cu("cuMemHostAlloc", status);
        return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(out[0])!, bytes));
      },
      freePinned: (memory) => check.cu("cuMemFreeHost", cu.cuMemFreeHost(Deno.UnsafePointer.of(memory))),
      createEvent: () => {
        check.cu("cuEventCreate", cu.cuEventCreate(out, CU_EVENT_DISABLE_TIMING));
        return out[0];
      },
      destroyEvent: (e) => check.cu("cuEventDestroy_v2", cu.cuEventDestroy_v2(event(e))),
      record: (e) => check.cu("cuEventRecord", cu.cuEventRecord(event(e), this.stream)),
      wait: (e) => check.cu("cuEventSynchronize", cu.cuEventSynchronize(event(e))),
      copy: (dst, src) =>
        check.cu("cuMemcpyHtoDAsync_v2", cu.cuMemcpyHtoDAsync_v2(dst, src, BigInt(src.byteLength), this.stream)),
    };
  }

  #probe(device: number): GpuInfo {
    const { cu, check } = this;
    const int = new Int32Array(1);
    const attribute = (which: number): number => {
      check.cu("cuDeviceGetAttribute", cu.cuDeviceGetAttribute(int, which, device));
      return int[0];
    };
    const nameBytes = new Uint8Array(256);
    check.cu("cuDeviceGetName", cu.cuDeviceGetName(nameBytes, nameBytes.length, device));
    const name = new TextDecoder().decode(nameBytes.subarray(0, nameBytes.indexOf(0))).trim();
    const size = new BigUint64Array(1);
    check.cu("cuDeviceTotalMem_v2", cu.cuDeviceTotalMem_v2(size, device));
    check.cu("cuDriverGetVersion", cu.cuDriverGetVersion(int));
    const driverVersion = int[0];
    check.cublas("cublasGetVersion_v2", this.blas.cublasGetVersion_v2(this.cublas, int));
    const cublasVersion = int[0];
    const computeCapability: [number, number] = [
      attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
      attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
    ];
    const nvrtc = this.libs.nvrtc.symbols;
    return {
      name,
      computeCapability,
      multiprocessors: attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
      totalMemory: Number(size[0]),
      driverVersion,
      cudnnVersion: Number(this.dnn.cudnnGetVersion()),
      cublasVersion,
      nvrtcVersion: nvrtcVersion(nvrtc),
      target: chooseTarget(supportedArchs(nvrtc, check), ...computeCapability),
    };
  }
}
