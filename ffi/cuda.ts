/**
 * CUDA driver API symbols (`libcuda.so.1`) and the enum values the CUDA device uses.
 *
 * Keys are the exported names. `cuda.h` maps many API names to versioned symbols with
 * `#define cuMemAlloc cuMemAlloc_v2`; the unversioned exports keep their old 32-bit ABI, so the
 * versioned name is bound wherever one exists. Device addresses (`CUdeviceptr`) and `size_t`
 * are 64-bit: pass them as bigint.
 *
 * @example
 * ```ts
 * import { CUDA_SYMBOLS } from "./cuda.ts";
 * const driver = Deno.dlopen("libcuda.so.1", CUDA_SYMBOLS);
 * console.log(driver.symbols.cuInit(0)); // 0 (CUDA_SUCCESS) on a machine with a GPU
 * ```
 *
 * {@linkcode CUDA_DRIVER} tells the discovery engine (load.ts) where the driver lives: it comes with
 * the NVIDIA driver, never from a toolkit or a pip wheel.
 *
 * @module
 */

import type { LibrarySpec } from "./load.ts";
import { CUDA_DRIVER_FOLDERS, CUDA_LIBS_ENV } from "./places.ts";

/** `CUresult`: success. */
export const CUDA_SUCCESS = 0;
/** `CUresult`: the device is out of memory. */
export const CUDA_ERROR_OUT_OF_MEMORY = 2;
/** `CUstream_flags`: a stream that does not synchronise with the legacy NULL stream. */
export const CU_STREAM_NON_BLOCKING = 1;
/** `CUevent_flags`: an event that records no timing (cheaper to record and wait on). */
export const CU_EVENT_DISABLE_TIMING = 2;
/** `CUdevice_attribute`: number of streaming multiprocessors. */
export const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
/** `CUdevice_attribute`: compute capability, major part. */
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
/** `CUdevice_attribute`: compute capability, minor part. */
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

/** The driver functions the CUDA device calls; all return a `CUresult`. */
export const CUDA_SYMBOLS = {
  /** `cuInit(unsigned int Flags)` */
  cuInit: { parameters: ["u32"], result: "i32" },
  /** `cuDriverGetVersion(int *driverVersion)` */
  cuDriverGetVersion: { parameters: ["buffer"], result: "i32" },
  /** `cuDeviceGetCount(int *count)` */
  cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
  /** `cuDeviceGet(CUdevice *device, int ordinal)` */
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  /** `cuDeviceGetName(char *name, int len, CUdevice dev)` */
  cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  /** `cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)` */
  cuDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  /** `cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)` */
  cuDeviceTotalMem_v2: { parameters: ["buffer", "i32"], result: "i32" },
  /** `cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)` */
  cuDevicePrimaryCtxRetain: { parameters: ["buffer", "i32"], result: "i32" },
  /** `cuCtxSetCurrent(CUcontext ctx)` */
  cuCtxSetCurrent: { parameters: ["pointer"], result: "i32" },
  /** `cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)` */
  cuMemAlloc_v2: { parameters: ["buffer", "usize"], result: "i32" },
  /** `cuMemFree_v2(CUdeviceptr dptr)` */
  cuMemFree_v2: { parameters: ["u64"], result: "i32" },
  /** `cuMemGetInfo_v2(size_t *free, size_t *total)` */
  cuMemGetInfo_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  /** `cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *srcHost, size_t bytes, CUstream stream)` */
  cuMemcpyHtoDAsync_v2: { parameters: ["u64", "buffer", "usize", "pointer"], result: "i32" },
  /** `cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr src, size_t bytes, CUstream stream)` */
  cuMemcpyDtoHAsync_v2: { parameters: ["buffer", "u64", "usize", "pointer"], result: "i32" },
  /** `cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream)` */
  cuMemcpyDtoDAsync_v2: { parameters: ["u64", "u64", "usize", "pointer"], result: "i32" },
  /** `cuMemsetD32Async(CUdeviceptr dst, unsigned int value, size_t count, CUstream stream)` */
  cuMemsetD32Async: { parameters: ["u64", "u32", "usize", "pointer"], result: "i32" },
  /** `cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)`: page-locked host memory */
  cuMemHostAlloc: { parameters: ["buffer", "usize", "u32"], result: "i32" },
  /** `cuMemFreeHost(void *p)` */
  cuMemFreeHost: { parameters: ["pointer"], result: "i32" },
  /** `cuEventCreate(CUevent *phEvent, unsigned int Flags)` */
  cuEventCreate: { parameters: ["buffer", "u32"], result: "i32" },
  /** `cuEventRecord(CUevent hEvent, CUstream hStream)` */
  cuEventRecord: { parameters: ["pointer", "pointer"], result: "i32" },
  /** `cuEventSynchronize(CUevent hEvent)` */
  cuEventSynchronize: { parameters: ["pointer"], result: "i32" },
  /** `cuEventDestroy_v2(CUevent hEvent)` */
  cuEventDestroy_v2: { parameters: ["pointer"], result: "i32" },
  /** `cuStreamCreate(CUstream *phStream, unsigned int Flags)` */
  cuStreamCreate: { parameters: ["buffer", "u32"], result: "i32" },
  /** `cuStreamSynchronize(CUstream hStream)` */
  cuStreamSynchronize: { parameters: ["pointer"], result: "i32" },
  /** `cuModuleLoadData(CUmodule *module, const void *image)` */
  cuModuleLoadData: { parameters: ["buffer", "buffer"], result: "i32" },
  /** `cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)` */
  cuModuleGetFunction: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  /**
   * `cuLaunchKernel(CUfunction f, unsigned gridX, gridY, gridZ, blockX, blockY, blockZ,
   * unsigned sharedMemBytes, CUstream stream, void **kernelParams, void **extra)`
   */
  cuLaunchKernel: {
    parameters: ["pointer", "u32", "u32", "u32", "u32", "u32", "u32", "u32", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  /** `cuGetErrorName(CUresult error, const char **pStr)` */
  cuGetErrorName: { parameters: ["i32", "buffer"], result: "i32" },
  /** `cuGetErrorString(CUresult error, const char **pStr)` */
  cuGetErrorString: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

/** The CUDA driver API: `EPSANET_CUDA_LIBS`, then the loader path, then the driver's folders. */
export const CUDA_DRIVER: LibrarySpec<typeof CUDA_SYMBOLS> = {
  name: "CUDA driver",
  envVar: CUDA_LIBS_ENV,
  override: "first",
  platforms: {
    linux: {
      files: ["libcuda.so.1"],
      places: [{ loader: true }, { folders: CUDA_DRIVER_FOLDERS }],
      install: "install the NVIDIA driver",
    },
  },
  symbols: CUDA_SYMBOLS,
};
