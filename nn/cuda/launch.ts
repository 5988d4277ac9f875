/**
 * Launching our kernels: lazy compile and load of each `.cu` module, and `cuLaunchKernel` with
 * parameters packed once per kernel.
 *
 * `cuLaunchKernel` takes `void **kernelParams`: entry i points at the bytes of argument i, which
 * the driver copies during the call. Each kernel owns one slot buffer (8 bytes per scalar or
 * pointer, 24 for a `Dims` struct) and one array of the slots' addresses; a launch only rewrites
 * the slot values. Deno does not move ArrayBuffer backing stores, so the addresses stay valid.
 *
 * @module
 */

import type { CUDA_SYMBOLS } from "../../ffi/cuda.ts";
import type { StatusCheck } from "./check.ts";
import { compileCached, type CompileTarget, dropCacheEntry, kernelCacheDir, type Nvrtc } from "./compile.ts";
import { KERNEL_SOURCES } from "./kernels.ts";
import { KERNEL_SIGNATURES, type KernelArg, type KernelModuleName, type KernelName } from "./signatures.ts";

/** The driver's bound symbols. */
export type Driver = Deno.DynamicLibrary<typeof CUDA_SYMBOLS>["symbols"];

/** A value for one kernel parameter: bigint for pointers, number for scalars, number[] for Dims. */
export type KernelValue = bigint | number | readonly number[];

/** Number of ints in a `Dims` struct. */
export const MAX_DIMS = 6;

/** Threads per block of the element-wise kernels. */
export const BLOCK = 256;

/**
 * Element counts up to this keep `i + gridStride` inside an int: the grid is capped at
 * `MAX_BLOCKS` blocks of at most 1024 threads.
 */
export const MAX_ELEMENTS = 2 ** 31 - 2 ** 27;

/** Largest grid the launchers use; grid-stride loops cover the rest. */
export const MAX_BLOCKS = 65536;

/**
 * Byte offset of each parameter in a kernel's slot buffer, and the buffer size.
 *
 * @param args The kernel's parameter kinds.
 * @returns Offsets and total bytes.
 * @example
 * ```ts
 * import { slotLayout } from "./launch.ts";
 * slotLayout(["ptr", "dims", "i32"]); // { offsets: [0, 8, 32], bytes: 40 }
 * ```
 */
export function slotLayout(args: readonly KernelArg[]): { offsets: number[]; bytes: number } {
  const offsets: number[] = [];
  let bytes = 0;
  for (const arg of args) {
    offsets.push(bytes);
    bytes += arg === "dims" ? 4 * MAX_DIMS : 8;
  }
  return { offsets, bytes };
}

/**
 * One kernel, ready to launch on the device's stream.
 *
 * @example
 * ```ts
 * import { KernelLibrary } from "./launch.ts";
 * // const axpy = new KernelLibrary(host).get("axpy");
 * // axpy.launch(gridFor(n), 256, [x, y, n, 0.5]);
 * ```
 */
export class Kernel {
  /** The kernel's `extern "C"` name. */
  readonly name: string;
  #driver: Driver;
  #check: StatusCheck;
  #stream: Deno.PointerValue;
  #function: Deno.PointerValue;
  #args: readonly KernelArg[];
  #view: DataView;
  #offsets: number[];
  #params: BigUint64Array;

  /**
   * Binds a loaded `CUfunction` and lays out its parameter slots.
   *
   * @param driver The driver's symbols.
   * @param check Status checks.
   * @param stream The stream to launch on.
   * @param fn The `CUfunction`.
   * @param name The kernel's name.
   * @param args Its parameter kinds.
   */
  constructor(
    driver: Driver,
    check: StatusCheck,
    stream: Deno.PointerValue,
    fn: Deno.PointerValue,
    name: string,
    args: readonly KernelArg[],
  ) {
    this.name = name;
    this.#driver = driver;
    this.#check = check;
    this.#stream = stream;
    this.#function = fn;
    this.#args = args;
    const { offsets, bytes } = slotLayout(args);
    const slots = new ArrayBuffer(bytes);
    this.#view = new DataView(slots);
    this.#offsets = offsets;
    const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(slots));
    this.#params = new BigUint64Array(offsets.map((o) => BigInt(base) + BigInt(o)));
  }

  /**
   * Queues the kernel on the stream.
   *
   * @param blocks Grid size (1-D).
   * @param threads Block size (1-D).
   * @param values One value per parameter, in order.
   */
  launch(blocks: number, threads: number, values: readonly KernelValue[]): void {
    const view = this.#view;
    for (let i = 0; i < this.#args.length; i++) {
      const offset = this.#offsets[i];
      const value = values[i];
      switch (this.#args[i]) {
        case "ptr":
          view.setBigUint64(offset, value as bigint, true);
          break;
        case "i32":
          view.setInt32(offset, value as number, true);
          break;
        case "f32":
          view.setFloat32(offset, value as number, true);
          break;
        case "dims": {
          const dims = value as readonly number[];
          for (let d = 0; d < MAX_DIMS; d++) view.setInt32(offset + 4 * d, dims[d] ?? 1, true);
          break;
        }
      }
    }
    this.#check.cu(
      `cuLaunchKernel(${this.name})`,
      this.#driver.cuLaunchKernel(
        this.#function,
        blocks,
        1,
        1,
        threads,
        1,
        1,
        0,
        this.#stream,
        this.#params,
        null,
      ),
    );
  }
}

/**
 * Grid size for a grid-stride loop over `n` elements.
 *
 * @param n Elements.
 * @param threads Threads per block.
 * @returns Blocks, at least 1 and at most {@linkcode MAX_BLOCKS}.
 * @example
 * ```ts
 * import { gridFor } from "./launch.ts";
 * gridFor(1000, 256); // 4
 * ```
 */
export function gridFor(n: number, threads: number = BLOCK): number {
  return Math.max(1, Math.min(Math.ceil(n / threads), MAX_BLOCKS));
}

/** What a {@linkcode KernelLibrary} needs from the device. */
export interface KernelHost {
  /** The driver's symbols. */
  driver: Driver;
  /** NVRTC's symbols. */
  nvrtc: Nvrtc;
  /** Status checks. */
  check: StatusCheck;
  /** The stream kernels run on. */
  stream: Deno.PointerValue;
  /** What NVRTC compiles for this GPU. */
  target: CompileTarget;
  /** Versions shown when a module fails to load, e.g. `"NVRTC 13.0, driver 13.0"`. */
  versions?: string;
}

/**
 * Our kernels, compiled (or read from the disk cache) and loaded module by module at first use.
 *
 * @example
 * ```ts
 * import { KernelLibrary } from "./launch.ts";
 * // const kernels = new KernelLibrary(host);
 * // kernels.get("axpy").launch(blocks, 256, [x, y, n, alpha]);
 * ```
 */
export class KernelLibrary {
  #host: KernelHost;
  #modules = new Map<KernelModuleName, Deno.PointerValue>();
  #kernels = new Map<KernelName, Kernel>();

  /**
   * A library that has loaded nothing yet.
   *
   * @param host The device's libraries, stream and compile target.
   */
  constructor(host: KernelHost) {
    this.#host = host;
  }

  /**
   * The kernel called `name`, loading its module on first use.
   *
   * @param name A kernel of {@linkcode KERNEL_SIGNATURES}.
   * @returns The kernel.
   */
  get(name: KernelName): Kernel {
    let kernel = this.#kernels.get(name);
    if (kernel) return kernel;
    const { module, args } = KERNEL_SIGNATURES[name];
    const { driver, check, stream } = this.#host;
    const out = new BigUint64Array(1);
    check.cu(
      `cuModuleGetFunction(${name})`,
      driver.cuModuleGetFunction(out, this.#module(module), new TextEncoder().encode(`${name}\0`)),
    );
    kernel = new Kernel(driver, check, stream, Deno.UnsafePointer.create(out[0]), name, args);
    this.#kernels.set(name, kernel);
    return kernel;
  }

  #module(name: KernelModuleName): Deno.PointerValue {
    const loaded = this.#modules.get(name);
    if (loaded !== undefined) return loaded;
    const { driver, nvrtc, check, target } = this.#host;
    const source = KERNEL_SOURCES[name];
    const out = new BigUint64Array(1);
    let compiled = compileCached(nvrtc, check, source, name, target, kernelCacheDir());
    let status = driver.cuModuleLoadData(out, compiled.image);
    if (status !== 0 && compiled.fromCache && compiled.cachePath) {
      // A damaged or foreign cache entry: compile afresh and replace it.
      dropCacheEntry(compiled.cachePath);
      compiled = compileCached(nvrtc, check, source, name, target, kernelCacheDir());
      status = driver.cuModuleLoadData(out, compiled.image);
    }
    // A CUBIN needs a driver at least as new as NVRTC's major version: name both on failure.
    const versions = this.#host.versions ? ` from ${this.#host.versions}` : "";
    check.cu(`cuModuleLoadData(${name}.cu as ${target.arch} ${target.kind}${versions})`, status);
    const module = Deno.UnsafePointer.create(out[0]);
    this.#modules.set(name, module);
    return module;
  }
}
