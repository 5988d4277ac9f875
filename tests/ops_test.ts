import assert from "node:assert/strict";
import * as F from "../nn/functional.ts";
import { ones, tensor, zeros } from "../nn/creation.ts";
import { assertClose, assertThrows, gradcheck, leaf64 } from "./helpers.ts";

const f64 = { dtype: "float64" as const };

Deno.test("add/sub/mul/div broadcast like NumPy and their gradients reduce back", () => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  const b = tensor([10, 20, 30]);
  assert.deepEqual(a.add(b).toArray(), [11, 22, 33, 14, 25, 36]);
  assert.deepEqual(a.sub(tensor([[1], [2]])).toArray(), [0, 1, 2, 2, 3, 4]);
  assert.deepEqual(a.mul(2).toArray(), [2, 4, 6, 8, 10, 12]);
  assert.deepEqual(tensor([1, 3]).div(tensor([2])).toArray(), [0.5, 1.5]);
  assertThrows(() => a.add(tensor([1, 2])), /add\(\): shapes \[2,3\] and \[2\] cannot broadcast/);
  gradcheck((x, y) => x.add(y), [leaf64([2, 3, 4]), leaf64([3, 1], 2)]);
  gradcheck((x, y) => x.sub(y), [leaf64([2, 1, 4]), leaf64([3, 1], 2)]);
  gradcheck((x, y) => x.mul(y), [leaf64([2, 3, 4]), leaf64([1, 3, 1], 2)]);
  gradcheck((x, y) => x.div(y.abs().add(1)), [leaf64([2, 3]), leaf64([2, 3], 2)]);
  gradcheck((x) => x.mul(3).add(1).sub(2).div(4), [leaf64([5])]);
});

Deno.test("unary ops match hand values and finite differences", () => {
  assertClose(tensor([0, 1]).exp(), [1, Math.E]);
  assertClose(tensor([1, Math.E]).log(), [0, 1]);
  assertClose(tensor([4, 9]).sqrt(), [2, 3]);
  assertClose(tensor([-1, 0, 2]).relu(), [0, 0, 2]);
  assertClose(tensor([0]).sigmoid(), [0.5]);
  assertClose(tensor([0]).tanh(), [0]);
  assertClose(tensor([-2, 3]).abs(), [2, 3]);
  assertClose(tensor([3]).pow(3), [27]);
  const x = leaf64([3, 4]);
  for (const op of ["exp", "tanh", "sigmoid", "relu", "abs", "neg"] as const) gradcheck((t) => t[op](), [x]);
  gradcheck((t) => t.abs().add(0.5).log(), [x]);
  gradcheck((t) => t.abs().add(0.5).sqrt(), [x]);
  gradcheck((t) => t.pow(3), [x]);
});

Deno.test("sum and mean reduce over all or chosen dims", () => {
  const a = tensor([[1, 2], [3, 4]]);
  assert.equal(a.sum().item(), 10);
  assert.deepEqual(a.sum(0).toArray(), [4, 6]);
  assert.deepEqual(a.sum(-1, true).shape, [2, 1]);
  assert.equal(a.mean().item(), 2.5);
  assert.deepEqual(a.mean(1).toArray(), [1.5, 3.5]);
  assertThrows(() => a.sum(2), /sum\(\): dim 2 is out of range for a tensor with 2 dims/);
  gradcheck((t) => t.sum([0, 2]), [leaf64([2, 3, 4])]);
  gradcheck((t) => t.mean(1, true), [leaf64([2, 3, 4])]);
});

Deno.test("permute, transpose, cat, narrow, split and stack move the right elements", () => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(a.transpose(0, 1).toArray(), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(F.cat([a, tensor([[7], [8]])], 1).toArray(), [1, 2, 3, 7, 4, 5, 6, 8]);
  assert.deepEqual(a.narrow(1, 1, 2).toArray(), [2, 3, 5, 6]);
  assert.deepEqual(F.split(a, [1, 2], 1).map((t) => t.toArray()), [[1, 4], [2, 3, 5, 6]]);
  assert.deepEqual(F.chunk(zeros([2, 8]), 4, 1).map((t) => t.shape), [[2, 2], [2, 2], [2, 2], [2, 2]]);
  assert.deepEqual(F.stack([tensor([1, 2]), tensor([3, 4])], 1).toArray(), [1, 3, 2, 4]);
  assertThrows(
    () => F.cat([a, zeros([3, 1])], 1),
    /cat\(\): shapes \[2,3\] and \[3,1\] differ outside dim 1/,
  );
  assertThrows(() => a.narrow(1, 2, 2), /narrow\(\): \[2, 4\) is out of range for dim 1 of size 3/);
  gradcheck((t) => t.permute(2, 0, 1), [leaf64([2, 3, 4])]);
  gradcheck((x, y) => F.cat([x, y, x], 1), [leaf64([2, 2, 3]), leaf64([2, 1, 3], 2)]);
  gradcheck((t) => t.narrow(1, 1, 2), [leaf64([2, 4, 3])]);
});

Deno.test("matmul and linear match hand products and finite differences", () => {
  assert.deepEqual(F.matmul(tensor([[1, 2], [3, 4]]), tensor([[5], [6]])).toArray(), [17, 39]);
  assert.deepEqual(
    F.linear(tensor([[1, 2]]), tensor([[1, 0], [0, 1], [1, 1]]), tensor([0, 0, 1])).toArray(),
    [1, 2, 4],
  );
  assertThrows(
    () => F.matmul(zeros([2, 3]), zeros([2, 3])),
    /matmul\(\): shapes \[2,3\] and \[2,3\] do not multiply/,
  );
  assertThrows(
    () => F.linear(zeros([2, 3]), zeros([4, 5])),
    /linear\(\): input \[2,3\] does not match weight \[4,5\]/,
  );
  gradcheck((x, y) => F.matmul(x, y), [leaf64([3, 4]), leaf64([4, 2], 2)]);
  gradcheck((x, y) => F.matmul(x, y), [leaf64([2, 3, 4]), leaf64([2, 4, 5], 2)]);
  gradcheck((x, w, b) => F.linear(x, w, b), [leaf64([3, 4]), leaf64([5, 4], 2), leaf64([5], 3)]);
});

Deno.test("conv2d matches a hand-computed padded, strided and grouped case", () => {
  // 1 input channel 3x3 of ones, 3x3 kernel of ones, padding 1: counts of in-image taps.
  assert.deepEqual(F.conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), null, { padding: 1 }).toArray(), [
    4,
    6,
    4,
    6,
    9,
    6,
    4,
    6,
    4,
  ]);
  // stride 2: corners only.
  assert.deepEqual(
    F.conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), null, { padding: 1, stride: 2 }).toArray(),
    [4, 4, 4, 4],
  );
  // groups 2: channel 0 (values 1) sees kernel 1, channel 1 (values 2) sees kernel 10; plus bias.
  const x = tensor([1, 1, 1, 1, 2, 2, 2, 2], [1, 2, 2, 2]);
  const w = tensor([1, 10], [2, 1, 1, 1]);
  assert.deepEqual(F.conv2d(x, w, tensor([0.5, -1]), { groups: 2 }).toArray(), [
    1.5,
    1.5,
    1.5,
    1.5,
    19,
    19,
    19,
    19,
  ]);
  // dilation 2: a 2x2 kernel spanning 3x3.
  const img = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  assert.deepEqual(F.conv2d(img, ones([1, 1, 2, 2]), null, { dilation: 2 }).toArray(), [1 + 3 + 7 + 9]);
});

Deno.test("conv2d gradients hold for grouped, strided, padded and dilated cases", () => {
  gradcheck((x, w, b) => F.conv2d(x, w, b, { padding: 1 }), [
    leaf64([2, 3, 5, 5]),
    leaf64([4, 3, 3, 3], 2),
    leaf64([4], 3),
  ]);
  gradcheck((x, w) => F.conv2d(x, w, null, { stride: 2, padding: 2, groups: 2 }), [
    leaf64([2, 4, 7, 6]),
    leaf64([6, 2, 5, 5], 2),
  ]);
  gradcheck((x, w) => F.conv2d(x, w, null, { stride: [2, 1], padding: [1, 0], dilation: 2 }), [
    leaf64([1, 2, 6, 6]),
    leaf64([3, 2, 3, 2], 2),
  ]);
  gradcheck((x, w) => F.conv2d(x, w, null, { groups: 4 }), [leaf64([2, 4, 3, 3]), leaf64([8, 1, 1, 1], 2)]);
  gradcheck((x, w) => F.conv2d(x, w, null, { stride: 2 }), [leaf64([3, 4, 4, 4]), leaf64([2, 4, 1, 1], 2)]);
});

Deno.test("conv2d refuses bad shapes with messages that name the values", () => {
  assertThrows(
    () => F.conv2d(zeros([1, 3, 8, 8]), zeros([4, 2, 3, 3])),
    /input has 3 channels and weight \[4,2,3,3\] with groups=1/,
  );
  assertThrows(
    () => F.conv2d(zeros([1, 3, 2, 2]), zeros([4, 3, 3, 3])),
    /input 2x2 \(padding 0x0\) is smaller than the kernel 3x3/,
  );
  assertThrows(
    () => F.conv2d(zeros([3, 8, 8]), zeros([4, 3, 3, 3])),
    /conv2d\(\): expected a 4-D input \(N, C, H, W\), got shape \[3,8,8\]/,
  );
});

Deno.test("batchNorm in train mode normalises per channel and updates running stats with momentum", () => {
  // Channel 0: values 1, 3 (mean 2, biased var 1, unbiased 2). Channel 1: 2, 4 (mean 3).
  const x = tensor([1, 2, 3, 4], [2, 2]);
  const rm = zeros([2]);
  const rv = ones([2]);
  const y = F.batchNorm(x, rm, rv, tensor([1, 1]), tensor([0, 5]), { training: true, momentum: 0.1, eps: 0 });
  assertClose(y, [-1, 4, 1, 6]);
  assertClose(rm, [0.2, 0.3]);
  assertClose(rv, [0.9 + 0.1 * 2, 0.9 + 0.1 * 2]);
  const evalY = F.batchNorm(tensor([2.2, 0.3], [1, 2]), rm, rv, tensor([1, 1]), tensor([0, 0]), { eps: 0 });
  assertClose(evalY, [2 / Math.sqrt(1.1), 0], { rtol: 1e-5 });
});

Deno.test("batchNorm gradients hold in train and eval mode", () => {
  const w = leaf64([3], 2);
  const b = leaf64([3], 3);
  gradcheck((x, w, b) => F.batchNorm(x, null, null, w, b, { training: true }), [leaf64([4, 3, 2, 2]), w, b]);
  gradcheck((x, w, b) => F.batchNorm(x, null, null, w, b, { training: true }), [leaf64([5, 3]), w, b]);
  const rm = tensor([0.1, -0.2, 0.3], [3], f64);
  const rv = tensor([1.5, 0.5, 2], [3], f64);
  gradcheck((x, w, b) => F.batchNorm(x, rm, rv, w, b), [leaf64([2, 3, 2, 2]), w, b]);
});

Deno.test("maxPool2d with padding picks window maxima and routes gradients to them", () => {
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  assert.deepEqual(F.maxPool2d(x, 3, { stride: 2, padding: 1 }).toArray(), [5, 6, 8, 9]);
  assert.deepEqual(F.maxPool2d(x, 2).toArray(), [5]);
  assertThrows(
    () => F.maxPool2d(x, 3, { padding: 2 }),
    /padding 2x2 must be between 0 and half the kernel 3x3/,
  );
  // Distinct values keep finite differences away from ties.
  const distinct = tensor(Array.from({ length: 2 * 2 * 5 * 5 }, (_, i) => ((i * 37) % 101) / 10), [
    2,
    2,
    5,
    5,
  ], { dtype: "float64", requiresGrad: true });
  gradcheck((t) => F.maxPool2d(t, 3, { stride: 2, padding: 1 }), [distinct]);
});

Deno.test("adaptiveAvgPool2d uses PyTorch's windows and passes gradients back evenly", () => {
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  assert.deepEqual(F.adaptiveAvgPool2d(x, 1).toArray(), [5]);
  // 3 -> 2: windows [0, 2) and [1, 3) on each axis.
  assertClose(F.adaptiveAvgPool2d(x, 2), [3, 4, 6, 7]);
  gradcheck((t) => F.adaptiveAvgPool2d(t, 1), [leaf64([2, 3, 4, 4])]);
  gradcheck((t) => F.adaptiveAvgPool2d(t, [2, 3]), [leaf64([1, 2, 5, 4])]);
});

Deno.test("softmax and logSoftmax along an inner dim", () => {
  const x = tensor([[[0, 1], [0, 1]], [[2, 0], [0, 0]]]); // (2, 2, 2), softmax over dim 1
  const s = F.softmax(x, 1).toArray();
  assertClose(s, [0.5, 0.5, 0.5, 0.5, 1 / (1 + Math.exp(-2)), 0.5, 1 / (1 + Math.exp(2)), 0.5]);
  assertClose(F.logSoftmax(tensor([0, 0]), 0), [-Math.LN2, -Math.LN2]);
  gradcheck((t) => F.softmax(t, 1), [leaf64([2, 4, 3])]);
  gradcheck((t) => F.logSoftmax(t, -1), [leaf64([3, 5])]);
});

Deno.test("crossEntropy with label smoothing matches the hand formula and its gradient", () => {
  const logits = tensor([[0, 0], [Math.log(3), 0]]);
  assertClose(F.crossEntropy(logits, [0, 0]), [(Math.LN2 + Math.log(4 / 3)) / 2]);
  // s = 0.2, C = 2: loss = -(0.8) log p_t - 0.1 (log p_0 + log p_1)
  const lp = [Math.log(0.75), Math.log(0.25)];
  const expected = -0.8 * lp[1] - 0.1 * (lp[0] + lp[1]);
  assertClose(F.crossEntropy(tensor([[Math.log(3), 0]]), new Int32Array([1]), { labelSmoothing: 0.2 }), [
    expected,
  ]);
  assertClose(F.crossEntropy(logits, [0, 1], { reduction: "none" }), [Math.LN2, Math.log(4)]);
  assertThrows(() => F.crossEntropy(logits, [0, 2]), /target 2 at index 1 is not a class index in \[0, 2\)/);
  assertThrows(() => F.crossEntropy(logits, [0]), /1 targets for a batch of 2/);
  gradcheck((t) => F.crossEntropy(t, [1, 0, 3], { labelSmoothing: 0.1 }), [leaf64([3, 4])]);
  gradcheck((t) => F.crossEntropy(t, tensor([2, 2]), { reduction: "sum" }), [leaf64([2, 3])]);
});

Deno.test("ops refuse mixed dtypes with a message naming the op", () => {
  assertThrows(
    () => tensor([1]).add(tensor([1], [1], f64)),
    /add\(\): tensors have different dtypes \(float32, float64\)/,
  );
});
