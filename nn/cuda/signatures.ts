/**
 * The parameter lists of the `.cu` kernels, as the launcher packs them. A test parses the `.cu`
 * files and checks every entry against the kernel's C signature, so a mismatch fails on any
 * machine, GPU or not.
 *
 * @module
 */

/**
 * How one kernel parameter is passed: a device pointer (`float*`, `int*`), an `int`, a `float`,
 * or `Dims` (`struct { int v[6]; }` by value).
 */
export type KernelArg = "ptr" | "i32" | "f32" | "dims";

/** The `.cu` files under `kernels/`, without the extension. */
export type KernelModuleName = "elementwise" | "reduce" | "layout" | "pool" | "loss" | "optim";

/** Where a kernel lives and what it takes. */
export interface KernelSignature {
  /** The `.cu` file that defines it. */
  module: KernelModuleName;
  /** Its parameters, in order. */
  args: readonly KernelArg[];
}

/**
 * Every kernel the CUDA device launches, by its `extern "C"` name.
 *
 * @example
 * ```ts
 * import { KERNEL_SIGNATURES } from "./signatures.ts";
 * console.log(KERNEL_SIGNATURES.axpy.args); // ["ptr", "ptr", "i32", "f32"]
 * ```
 */
export const KERNEL_SIGNATURES = {
  binary_op: {
    module: "elementwise",
    args: ["ptr", "ptr", "ptr", "i32", "i32", "i32", "dims", "dims", "dims"],
  },
  unary_op: { module: "elementwise", args: ["ptr", "ptr", "i32", "i32"] },
  activation_backward: { module: "elementwise", args: ["ptr", "ptr", "ptr", "i32", "i32"] },
  affine: { module: "elementwise", args: ["ptr", "ptr", "i32", "f32", "f32"] },
  pow_op: { module: "elementwise", args: ["ptr", "ptr", "i32", "f32"] },
  axpy: { module: "elementwise", args: ["ptr", "ptr", "i32", "f32"] },
  sum_to: {
    module: "reduce",
    args: ["ptr", "ptr", "i32", "i32", "f32", "i32", "dims", "dims", "i32", "dims", "dims", "i32", "i32"],
  },
  permute: { module: "layout", args: ["ptr", "ptr", "i32", "i32", "dims", "dims"] },
  copy_blocks: {
    module: "layout",
    args: ["ptr", "ptr", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
  },
  max_pool_forward: {
    module: "pool",
    args: ["ptr", "ptr", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
  },
  max_pool_backward: {
    module: "pool",
    args: [
      "ptr",
      "ptr",
      "ptr",
      "ptr",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
    ],
  },
  adaptive_avg_pool_forward: { module: "pool", args: ["ptr", "ptr", "i32", "i32", "i32", "i32", "i32"] },
  adaptive_avg_pool_backward: { module: "pool", args: ["ptr", "ptr", "i32", "i32", "i32", "i32", "i32"] },
  cross_entropy_forward: { module: "loss", args: ["ptr", "ptr", "ptr", "i32", "i32", "f32"] },
  cross_entropy_backward: { module: "loss", args: ["ptr", "ptr", "ptr", "ptr", "i32", "i32", "f32"] },
  sgd_update: {
    module: "optim",
    args: ["ptr", "ptr", "ptr", "i32", "f32", "f32", "f32", "f32", "i32", "i32", "i32"],
  },
  adam_update: {
    module: "optim",
    args: ["ptr", "ptr", "ptr", "ptr", "i32", "f32", "f32", "f32", "f32", "f32", "f32", "f32"],
  },
} as const satisfies Record<string, KernelSignature>;

/** The name of a kernel in {@linkcode KERNEL_SIGNATURES}. */
export type KernelName = keyof typeof KERNEL_SIGNATURES;
