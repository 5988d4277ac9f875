/**
 * The functional API (`F`): every differentiable op as a plain function, like
 * `torch.nn.functional`.
 *
 * @example
 * ```ts
 * import * as F from "./functional.ts";
 * import { randn } from "./creation.ts";
 * const x = randn([2, 3, 8, 8]);
 * const y = F.relu(F.conv2d(x, randn([4, 3, 3, 3]), null, { padding: 1 }));
 * const loss = F.crossEntropy(F.flatten(F.adaptiveAvgPool2d(y, 1), 1), [0, 3]);
 * ```
 *
 * @module
 */

export {
  abs,
  adaptiveAvgPool2d,
  add,
  batchNorm,
  type BatchNormOptions,
  cat,
  chunk,
  clone,
  conv2d,
  type Conv2dOptions,
  div,
  exp,
  flatten,
  linear,
  log,
  logSoftmax,
  matmul,
  maxPool2d,
  type MaxPool2dOptions,
  mean,
  mul,
  narrow,
  neg,
  permute,
  pow,
  relu,
  reshape,
  sigmoid,
  softmax,
  split,
  sqrt,
  squeeze,
  stack,
  sub,
  sum,
  tanh,
  to,
  transpose,
  unsqueeze,
} from "./ops/mod.ts";
export { crossEntropy, type CrossEntropyOptions, type Targets } from "./loss.ts";
