/**
 * Host side of the cross-entropy kernels (kernels/loss.cu): one warp per row. Targets come from
 * the host; they are checked here (an index outside the row would read another row) and copied
 * into a reused device buffer, in stream order.
 *
 * @module
 */

import { checkCount } from "./elementwise.ts";
import { gridFor, type KernelLibrary } from "./launch.ts";
import type { CudaRuntime } from "./runtime.ts";

/** Four warps, one row each. */
const THREADS = 128;
const ROWS_PER_BLOCK = THREADS / 32;

function uploadTargets(runtime: CudaRuntime, batch: number, classes: number, targets: Int32Array): bigint {
  if (targets.length < batch) {
    throw new Error(`crossEntropy(): ${targets.length} targets for a batch of ${batch}`);
  }
  for (let i = 0; i < batch; i++) {
    const t = targets[i];
    if (!(t >= 0 && t < classes)) {
      throw new Error(`crossEntropy(): target ${t} of sample ${i} is outside [0, ${classes})`);
    }
  }
  return runtime.uploadInt32(targets.length === batch ? targets : targets.subarray(0, batch));
}

/**
 * Per-sample loss `-(1 - s) * logp[t] - s / C * sum_c logp[c]`.
 *
 * @param runtime The runtime (for the targets upload).
 * @param kernels Our kernels.
 * @param batch Rows.
 * @param classes Columns.
 * @param logits (batch, classes).
 * @param targets Class index per row (host).
 * @param labelSmoothing `s`.
 * @param losses (batch) output.
 * @example
 * ```ts
 * import { crossEntropyForward } from "./loss.ts";
 * // crossEntropyForward(runtime, kernels, 8, 10, logits, new Int32Array(8), 0.1, losses);
 * ```
 */
export function crossEntropyForward(
  runtime: CudaRuntime,
  kernels: KernelLibrary,
  batch: number,
  classes: number,
  logits: bigint,
  targets: Int32Array,
  labelSmoothing: number,
  losses: bigint,
): void {
  if (batch === 0) return;
  checkCount("crossEntropy", batch * classes);
  const t = uploadTargets(runtime, batch, classes, targets);
  kernels.get("cross_entropy_forward").launch(gridFor(batch, ROWS_PER_BLOCK), THREADS, [
    logits,
    t,
    losses,
    batch,
    classes,
    labelSmoothing,
  ]);
}

/**
 * `dlogits[i] = dLoss[i] * (softmax(logits[i]) - smoothed one-hot(t_i))`.
 *
 * @param runtime The runtime.
 * @param kernels Our kernels.
 * @param batch Rows.
 * @param classes Columns.
 * @param logits (batch, classes).
 * @param targets Class index per row (host).
 * @param labelSmoothing `s`.
 * @param dLoss (batch) gradient of each loss.
 * @param dlogits (batch, classes) output.
 * @example
 * ```ts
 * import { crossEntropyBackward } from "./loss.ts";
 * // crossEntropyBackward(runtime, kernels, 8, 10, logits, targets, 0.1, dLoss, dlogits);
 * ```
 */
export function crossEntropyBackward(
  runtime: CudaRuntime,
  kernels: KernelLibrary,
  batch: number,
  classes: number,
  logits: bigint,
  targets: Int32Array,
  labelSmoothing: number,
  dLoss: bigint,
  dlogits: bigint,
): void {
  if (batch === 0) return;
  checkCount("crossEntropyBackward", batch * classes);
  const t = uploadTargets(runtime, batch, classes, targets);
  kernels.get("cross_entropy_backward").launch(gridFor(batch, ROWS_PER_BLOCK), THREADS, [
    logits,
    t,
    dLoss,
    dlogits,
    batch,
    classes,
    labelSmoothing,
  ]);
}
