/**
 * Thin check-wrappers for native status codes (llm.c's `cudaCheck`): a non-zero status becomes an
 * Error that names the call and the status, e.g.
 * `cudnnConvolutionForward: CUDNN_STATUS_BAD_PARAM (...)`.
 *
 * @module
 */

import type { CudaLibraries } from "../../ffi/cuda_libraries.ts";

/**
 * A failed native call.
 *
 * @example
 * ```ts
 * import { CudaCallError } from "./check.ts";
 * const error = new CudaCallError("cuInit", 100, "cuInit: CUDA_ERROR_NO_DEVICE");
 * console.log(error.call, error.status); // "cuInit" 100
 * ```
 */
export class CudaCallError extends Error {
  /** The function that failed, e.g. `"cuMemAlloc_v2"`. */
  readonly call: string;
  /** Its status code. */
  readonly status: number;
  /**
   * An error for one failed call.
   *
   * @param call The function that failed.
   * @param status Its status code.
   * @param message The full message.
   */
  constructor(call: string, status: number, message: string) {
    super(message);
    this.name = "CudaCallError";
    this.call = call;
    this.status = status;
  }
}

/**
 * Turns status codes of the driver, cuDNN, cuBLAS and NVRTC into errors, with each library's own
 * names for its codes. Any library may be absent (status codes are then shown as numbers).
 *
 * @example
 * ```ts
 * import { StatusCheck } from "./check.ts";
 * import { openCudaLibraries } from "../../ffi/cuda_libraries.ts";
 * const libs = openCudaLibraries();
 * const check = new StatusCheck(libs);
 * check.cu("cuInit", libs.driver.symbols.cuInit(0));
 * ```
 */
export class StatusCheck {
  #libs: Partial<Omit<CudaLibraries, "paths">>;
  #out = new BigUint64Array(1);

  /**
   * Checks that name statuses with the given libraries' own strings.
   *
   * @param libs The libraries whose status names to use.
   */
  constructor(libs: Partial<Omit<CudaLibraries, "paths">>) {
    this.#libs = libs;
  }

  /**
   * Checks a `CUresult`.
   *
   * @param call The driver function that returned it.
   * @param status The status.
   * @throws {CudaCallError} when `status` is not CUDA_SUCCESS.
   */
  cu(call: string, status: number): void {
    if (status !== 0) throw new CudaCallError(call, status, `${call}: ${this.cuName(status)}`);
  }

  /**
   * The name and description of a `CUresult`, e.g. `CUDA_ERROR_OUT_OF_MEMORY (out of memory)`.
   *
   * @param status The status.
   * @returns Its name and description.
   */
  cuName(status: number): string {
    const driver = this.#libs.driver?.symbols;
    if (!driver) return `CUresult ${status}`;
    const name = driver.cuGetErrorName(status, this.#out) === 0 ? this.#string() : `CUresult ${status}`;
    const text = driver.cuGetErrorString(status, this.#out) === 0 ? this.#string() : "";
    return text ? `${name} (${text})` : name;
  }

  /**
   * Checks a `cudnnStatus_t`; the message adds cuDNN's last error text when it has one.
   *
   * @param call The cuDNN function that returned it.
   * @param status The status.
   * @throws {CudaCallError} when `status` is not CUDNN_STATUS_SUCCESS.
   */
  cudnn(call: string, status: number): void {
    if (status === 0) return;
    const cudnn = this.#libs.cudnn?.symbols;
    if (!cudnn) throw new CudaCallError(call, status, `${call}: cudnnStatus_t ${status}`);
    const name = cString(cudnn.cudnnGetErrorString(status)) || `cudnnStatus_t ${status}`;
    const detail = new Uint8Array(512);
    cudnn.cudnnGetLastErrorString(detail, BigInt(detail.length));
    const last = new TextDecoder().decode(detail.subarray(0, detail.indexOf(0))).trim();
    throw new CudaCallError(call, status, last ? `${call}: ${name} (${last})` : `${call}: ${name}`);
  }

  /**
   * Checks a `cublasStatus_t`.
   *
   * @param call The cuBLAS function that returned it.
   * @param status The status.
   * @throws {CudaCallError} when `status` is not CUBLAS_STATUS_SUCCESS.
   */
  cublas(call: string, status: number): void {
    if (status === 0) return;
    const cublas = this.#libs.cublas?.symbols;
    const name = cublas ? cString(cublas.cublasGetStatusName(status)) : "";
    const text = cublas ? cString(cublas.cublasGetStatusString(status)) : "";
    const shown = name ? (text ? `${name} (${text})` : name) : `cublasStatus_t ${status}`;
    throw new CudaCallError(call, status, `${call}: ${shown}`);
  }

  /**
   * Checks an `nvrtcResult`.
   *
   * @param call The NVRTC function that returned it.
   * @param status The status.
   * @param detail Appended to the message (e.g. the compiler log).
   * @throws {CudaCallError} when `status` is not NVRTC_SUCCESS.
   */
  nvrtc(call: string, status: number, detail = ""): void {
    if (status === 0) return;
    const nvrtc = this.#libs.nvrtc?.symbols;
    const name = (nvrtc && cString(nvrtc.nvrtcGetErrorString(status))) || `nvrtcResult ${status}`;
    throw new CudaCallError(call, status, `${call}: ${name}${detail ? `: ${detail}` : ""}`);
  }

  #string(): string {
    return cString(Deno.UnsafePointer.create(this.#out[0]));
  }
}

/**
 * Reads a NUL-terminated C string, or `""` for a null pointer.
 *
 * @param pointer A `const char*` result.
 * @returns The string.
 * @example
 * ```ts
 * import { cString } from "./check.ts";
 * cString(null); // ""
 * ```
 */
export function cString(pointer: Deno.PointerValue): string {
  return pointer === null ? "" : Deno.UnsafePointerView.getCString(pointer);
}
