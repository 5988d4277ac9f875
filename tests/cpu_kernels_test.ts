/**
 * CPU device kernels: ReLU's IEEE corner cases, empty shapes, int32 buffers and cross-entropy
 * targets uploaded once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cpu } from "../nn/cpu/device.ts";
import type { DType } from "../nn/device.ts";
import * as F from "../nn/functional.ts";
import { tensor, zeros } from "../nn/creation.ts";
import { assertClose } from "./helpers.ts";

/** float32 bits of NaN with the sign set: what x86 produces for 0/0. */
const NEGATIVE_NAN_BITS = 0xffc00000 | 0;

/** Inputs with both NaN signs, both zeros, both infinities and ordinary values, as float32 bits. */
function cornerCases(): Float32Array {
  const values = new Float32Array([NaN, NaN, -0, 0, Infinity, -Infinity, 1.5, -1.5, 1e-45, -1e-45]);
  new Int32Array(values.buffer)[1] = NEGATIVE_NAN_BITS;
  return values;
}

/** ReLU as PyTorch computes it (torch.relu keeps -0 and NaN of either sign). */
const expectedRelu = [NaN, NaN, -0, 0, Infinity, 0, 1.5, 0, Math.fround(1e-45), 0];
/** PyTorch's relu backward with dy = 1: `y <= 0 ? 0 : dy` (NaN passes). */
const expectedReluGrad = [1, 1, 0, 0, 1, 0, 1, 0, 1, 0];

for (const dtype of ["float32", "float64"] as const) {
  Deno.test(`relu keeps NaN (either sign) and -0, zeroes negatives and -Inf, like PyTorch (${dtype})`, () => {
    const x = dtype === "float32" ? cornerCases() : Float64Array.from(cornerCases());
    const y = dtype === "float32" ? new Float32Array(x.length) : new Float64Array(x.length);
    cpu.unary({ op: "relu", x, out: y });
    expectedRelu.forEach((e, i) => assert.ok(Object.is(y[i], e) || (e !== e && y[i] !== y[i]), `relu(x[${i}])`));
    assert.ok(Object.is(y[2], -0), "relu(-0) is -0");
    const dx = y.slice().fill(7);
    cpu.activationBackward({ op: "relu", y, dy: y.slice().fill(1), dx });
    assert.deepEqual(Array.from(dx), expectedReluGrad);
  });
}

Deno.test("relu on float32 bits agrees with the plain comparison on random values", () => {
  const n = 10_000;
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 3);
  const y = new Float32Array(n);
  cpu.unary({ op: "relu", x, out: y });
  assert.deepEqual(y, x.map((v) => (v < 0 ? 0 : v)));
  const dy = x.map((v) => v * 2 + 1);
  const dx = new Float32Array(n);
  cpu.activationBackward({ op: "relu", y, dy, dx });
  assert.deepEqual(dx, dy.map((g, i) => (y[i] <= 0 ? 0 : g)));
});

for (const dtype of ["float32", "float64"] as DType[]) {
  Deno.test(`empty inputs skip the kernels and give zero weight gradients (${dtype})`, () => {
    const options = { dtype, requiresGrad: true };
    const x = zeros([0, 3, 5, 5], options);
    const w = tensor(Array.from({ length: 4 * 3 * 9 }, (_, i) => i / 10 - 5), [4, 3, 3, 3], options);
    const bias = tensor([1, 2, 3, 4], [4], options);
    const y = F.conv2d(x, w, bias, { padding: 1 });
    assert.deepEqual(y.shape, [0, 4, 5, 5]);
    y.sum().backward();
    assert.deepEqual(w.grad!.toArray(), new Array(4 * 3 * 9).fill(0));
    assert.deepEqual(bias.grad!.toArray(), [0, 0, 0, 0]);
    assert.deepEqual(x.grad!.shape, [0, 3, 5, 5]);

    const pooled = F.maxPool2d(zeros([0, 2, 4, 4], { dtype }), 2);
    assert.deepEqual(pooled.shape, [0, 2, 2, 2]);
    assert.deepEqual(F.adaptiveAvgPool2d(zeros([2, 0, 4, 4], { dtype }), 1).shape, [2, 0, 1, 1]);
    assert.deepEqual(F.softmax(zeros([0, 10], { dtype }), 1).shape, [0, 10]);
    const stats = [zeros([3], { dtype }), zeros([3], { dtype }).add(1)];
    const normed = F.batchNorm(
      zeros([0, 3, 2, 2], { dtype }),
      stats[0],
      stats[1],
      zeros([3], { dtype }).add(1),
      zeros([3], { dtype }),
    );
    assert.deepEqual(normed.shape, [0, 3, 2, 2]);
  });
}

Deno.test("int32 buffers: alloc, write and read round-trip on the CPU device", () => {
  const b = cpu.alloc(3, "int32");
  assert.ok(b instanceof Int32Array);
  cpu.write(b, new Int32Array([7, -2, 2 ** 31 - 1]));
  assert.deepEqual(cpu.read(b), new Int32Array([7, -2, 2 ** 31 - 1]));
  const before = cpu.memory().allocatedBytes;
  cpu.free(b);
  assert.equal(cpu.memory().allocatedBytes, before - 12);
  assert.ok(cpu.alloc(3, "int32", true) instanceof Int32Array, "the cache keeps int32 apart from float32");
});

Deno.test("crossEntropy uploads its targets once for forward and backward", () => {
  const logits = tensor([[1, 2, 3], [0, 0, 0]], [2, 3], { requiresGrad: true });
  const original = cpu.alloc;
  const int32Allocs: number[] = [];
  cpu.alloc = function (length: number, dtype: DType, zero?: boolean) {
    if (dtype === "int32") int32Allocs.push(length);
    return original.call(this, length, dtype, zero);
  };
  try {
    const loss = F.crossEntropy(logits, [2, 0]);
    loss.backward();
    assertClose(loss, [(Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3 + Math.log(3)) / 2]);
  } finally {
    cpu.alloc = original;
  }
  assert.deepEqual(int32Allocs, [2]);
  assert.ok(logits.grad !== null);
});
