/**
 * Host side of the optimiser kernels (kernels/optim.cu). Bias corrections are computed here in
 * float64, once per step, as PyTorch does on the host.
 *
 * @module
 */

import type { AdamUpdateArgs, SgdUpdateArgs } from "../device/kernels.ts";
import { type CudaBuffer, ptr } from "./buffer.ts";
import { checkCount } from "./elementwise.ts";
import { BLOCK, gridFor, type KernelLibrary } from "./launch.ts";

/**
 * One SGD step in place.
 *
 * @param kernels Our kernels.
 * @param a Parameter, gradient, momentum buffer (or null), hyper-parameters.
 * @example
 * ```ts
 * import { sgdUpdate } from "./optim.ts";
 * // sgdUpdate(kernels, { param, grad, momentumBuffer: null, lr: 0.1, momentum: 0, dampening: 0,
 * //   weightDecay: 0, nesterov: false, firstStep: true });
 * ```
 */
export function sgdUpdate(kernels: KernelLibrary, a: SgdUpdateArgs<CudaBuffer>): void {
  const n = a.param.length;
  if (n === 0) return;
  checkCount("sgdUpdate", n);
  kernels.get("sgd_update").launch(gridFor(n), BLOCK, [
    ptr(a.param),
    ptr(a.grad),
    a.momentumBuffer ? ptr(a.momentumBuffer) : 0n,
    n,
    a.lr,
    a.momentum,
    a.dampening,
    a.weightDecay,
    a.nesterov ? 1 : 0,
    a.firstStep ? 1 : 0,
    a.momentumBuffer ? 1 : 0,
  ]);
}

/**
 * One Adam / AdamW step in place.
 *
 * @param kernels Our kernels.
 * @param a Parameter, gradient, moments, hyper-parameters.
 * @example
 * ```ts
 * import { adamUpdate } from "./optim.ts";
 * // adamUpdate(kernels, { param, grad, m, v, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0,
 * //   decoupled: false, step: 1 });
 * ```
 */
export function adamUpdate(kernels: KernelLibrary, a: AdamUpdateArgs<CudaBuffer>): void {
  const n = a.param.length;
  if (n === 0) return;
  checkCount("adamUpdate", n);
  const stepSize = a.lr / (1 - Math.pow(a.beta1, a.step));
  const sqrtCorrection2 = Math.sqrt(1 - Math.pow(a.beta2, a.step));
  kernels.get("adam_update").launch(gridFor(n), BLOCK, [
    ptr(a.param),
    ptr(a.grad),
    ptr(a.m),
    ptr(a.v),
    n,
    a.beta1,
    a.beta2,
    a.eps,
    stepSize,
    sqrtCorrection2,
    a.decoupled ? 1 - a.lr * a.weightDecay : 1,
    a.decoupled ? 0 : a.weightDecay,
  ]);
}
