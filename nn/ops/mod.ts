/**
 * The differentiable ops, gathered: what `Tensor` methods and `F` call.
 *
 * @module
 */

export { abs, add, div, exp, log, mul, neg, pow, relu, sigmoid, sqrt, sub, tanh } from "./elementwise.ts";
export { expand, sumToShape } from "./broadcast.ts";
export { mean, sum } from "./reduce.ts";
export {
  cat,
  chunk,
  clone,
  flatten,
  narrow,
  permute,
  reshape,
  split,
  squeeze,
  stack,
  to,
  transpose,
  unsqueeze,
} from "./shape.ts";
export { linear, matmul } from "./linalg.ts";
export { conv2d, type Conv2dOptions, convGeometry, pair } from "./conv.ts";
export { batchNorm, type BatchNormOptions } from "./norm.ts";
export { adaptiveAvgPool2d, maxPool2d, type MaxPool2dOptions } from "./pool.ts";
export { logSoftmax, softmax } from "./softmax.ts";
