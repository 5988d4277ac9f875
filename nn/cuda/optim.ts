/**
 * Host side of the optimiser kernels (kernels/optim.cu). Bias corrections are computed here in
 * float64, once per step, as PyTorch does on the host.
 *
 * @module
 */

import type { AdamArgs, SgdArgs } from "../device.ts";
import { checkCount } from "./elementwise.ts";
import { BLOCK, gridFor, type KernelLibrary } from "./launch.ts";

/**
 * One SGD step in place.
 *
 * @param kernels Our kernels.
 * @param param Parameter.
 * @param grad Gradient.
 * @param momentumBuffer Momentum buffer or 0n.
 * @param n Elements.
 * @param a Hyper-parameters.
 * @example
 * ```ts
 * import { sgdUpdate } from "./optim.ts";
 * // sgdUpdate(kernels, p, g, 0n, n, { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true });
 * ```
 */
export function sgdUpdate(
  kernels: KernelLibrary,
  param: bigint,
  grad: bigint,
  momentumBuffer: bigint,
  n: number,
  a: SgdArgs,
): void {
  if (n === 0) return;
  checkCount("sgdUpdate", n);
  kernels.get("sgd_update").launch(gridFor(n), BLOCK, [
    param,
    grad,
    momentumBuffer,
    n,
    a.lr,
    a.momentum,
    a.dampening,
    a.weightDecay,
    a.nesterov ? 1 : 0,
    a.firstStep ? 1 : 0,
    momentumBuffer === 0n ? 0 : 1,
  ]);
}

/**
 * One Adam / AdamW step in place.
 *
 * @param kernels Our kernels.
 * @param param Parameter.
 * @param grad Gradient.
 * @param m First moment.
 * @param v Second moment.
 * @param n Elements.
 * @param a Hyper-parameters.
 * @example
 * ```ts
 * import { adamUpdate } from "./optim.ts";
 * // adamUpdate(kernels, p, g, m, v, n, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 });
 * ```
 */
export function adamUpdate(
  kernels: KernelLibrary,
  param: bigint,
  grad: bigint,
  m: bigint,
  v: bigint,
  n: number,
  a: AdamArgs,
): void {
  if (n === 0) return;
  checkCount("adamUpdate", n);
  const stepSize = a.lr / (1 - Math.pow(a.beta1, a.step));
  const sqrtCorrection2 = Math.sqrt(1 - Math.pow(a.beta2, a.step));
  kernels.get("adam_update").launch(gridFor(n), BLOCK, [
    param,
    grad,
    m,
    v,
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
