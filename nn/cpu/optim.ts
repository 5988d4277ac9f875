/**
 * CPU optimiser updates (in place), following PyTorch's single-tensor SGD and Adam.
 *
 * @module
 */

import type { AdamUpdateArgs, SgdUpdateArgs } from "../device/kernels.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * One SGD step: `d = g + wd*p`; momentum `buf = m*buf + (1-dampening)*d` (buf = d on the first
 * step); Nesterov uses `d + m*buf`; `p -= lr * d`.
 *
 * @param args Parameter (updated), gradient, momentum buffer (updated; null when momentum is 0),
 * hyper-parameters.
 * @example
 * ```ts
 * import { sgdUpdate } from "./optim.ts";
 * const param = new Float32Array([1]);
 * sgdUpdate({ param, grad: new Float32Array([2]), momentumBuffer: null,
 *   lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true }); // param = [0.8]
 * ```
 */
export function sgdUpdate(args: SgdUpdateArgs<FloatArray>): void {
  const { param, grad, momentumBuffer: buf, lr, momentum, dampening, weightDecay, nesterov, firstStep } = args;
  const n = param.length;
  for (let i = 0; i < n; i++) {
    let d = grad[i];
    if (weightDecay !== 0) d += weightDecay * param[i];
    if (buf !== null && momentum !== 0) {
      const b = firstStep ? d : momentum * buf[i] + (1 - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    param[i] -= lr * d;
  }
}

/**
 * One Adam (or AdamW) step with bias correction, as PyTorch computes it:
 * `m += (1-b1)(g-m)`, `v = b2 v + (1-b2) g²`,
 * `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`.
 *
 * @param args Parameter (updated), gradient, moments m and v (updated), hyper-parameters.
 * @example
 * ```ts
 * import { adamUpdate } from "./optim.ts";
 * const param = new Float32Array([1]);
 * adamUpdate({ param, grad: new Float32Array([1]), m: new Float32Array(1), v: new Float32Array(1),
 *   lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 });
 * // param ≈ [0.9]
 * ```
 */
export function adamUpdate(args: AdamUpdateArgs<FloatArray>): void {
  const { param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step } = args;
  const stepSize = lr / (1 - Math.pow(beta1, step));
  // A multiply by the reciprocal instead of PyTorch's division: one division less per element
  // (scalar float64 division and sqrt bound this loop); the difference is below float32 rounding.
  const invSqrtCorrection2 = 1 / Math.sqrt(1 - Math.pow(beta2, step));
  const decay = decoupled ? 1 - lr * weightDecay : 1;
  const l2 = decoupled ? 0 : weightDecay;
  const keep1 = 1 - beta1;
  const keep2 = 1 - beta2;
  const n = param.length;
  for (let i = 0; i < n; i++) {
    const p = param[i];
    const g = l2 !== 0 ? grad[i] + l2 * p : grad[i];
    const mPrev = m[i];
    const mi = mPrev + keep1 * (g - mPrev);
    const vi = beta2 * v[i] + keep2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p * decay - (stepSize * mi) / (Math.sqrt(vi) * invSqrtCorrection2 + eps);
  }
}
