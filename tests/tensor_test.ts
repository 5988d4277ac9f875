import assert from "node:assert/strict";
import { arange, full, ones, rand, randn, tensor, zeros } from "../nn/creation.ts";
import { memory } from "../nn/memory.ts";
import { keep, tidy } from "../nn/scope.ts";
import { Generator } from "../nn/random.ts";
import { assertThrows } from "./helpers.ts";

Deno.test("tensor() infers shapes from nested arrays and checks flat values against a shape", () => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(a.toArray(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(tensor(5).shape, []);
  assert.equal(tensor(5).item(), 5);
  assert.deepEqual(tensor(new Float32Array([1, 2, 3, 4]), [2, 2]).shape, [2, 2]);
  assertThrows(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2,2\]/);
  assertThrows(() => zeros([2, -1]), /non-negative integers/);
});

Deno.test("creation functions fill as documented", () => {
  assert.deepEqual(zeros([2]).toArray(), [0, 0]);
  assert.deepEqual(ones([2]).toArray(), [1, 1]);
  assert.deepEqual(full([3], 7).toArray(), [7, 7, 7]);
  assert.deepEqual(arange(4).toArray(), [0, 1, 2, 3]);
  assert.deepEqual(arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
  assert.equal(zeros([2], { dtype: "float64" }).toFloat64Array().constructor, Float64Array);
  assert.equal(ones([1], { requiresGrad: true }).requiresGrad, true);
  assertThrows(() => arange(0, 1, 0), /step must be finite and non-zero/);
});

Deno.test("randn and rand are reproducible with a seed and have the right moments", () => {
  const a = randn([10000], { generator: new Generator(3) }).toArray();
  const b = randn([10000], { generator: new Generator(3) }).toArray();
  assert.deepEqual(a, b);
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  const u = rand([10000], { low: 2, high: 3, generator: new Generator(4) }).toArray();
  assert.ok(u.every((v) => v >= 2 && v < 3));
  assert.notDeepEqual(
    randn([5], { generator: new Generator(1) }).toArray(),
    randn([5], { generator: new Generator(2) }).toArray(),
  );
});

Deno.test("Generator state round-trips so a resumed stream continues identically", () => {
  const g = new Generator(9);
  g.normal();
  const state = g.getState();
  const next = [g.normal(), g.uniform(), g.int(10)];
  const h = new Generator(0);
  h.setState(state);
  assert.deepEqual([h.normal(), h.uniform(), h.int(10)], next);
});

Deno.test("reshape shares storage; views keep storage alive after the source is disposed", () => {
  const a = arange(6);
  const b = a.reshape(2, -1);
  assert.deepEqual(b.shape, [2, 3]);
  assert.equal(a.storage, b.storage);
  a.dispose();
  assert.deepEqual(b.toArray(), [0, 1, 2, 3, 4, 5]);
  assertThrows(() => a.toArray(), /used after dispose/);
  assertThrows(() => b.reshape(4, 2), /cannot reshape \[2,3\]/);
  assert.deepEqual(zeros([2, 3, 4]).flatten(1).shape, [2, 12]);
  assert.deepEqual(zeros([3]).unsqueeze(0).shape, [1, 3]);
  assert.deepEqual(zeros([1, 3, 1]).squeeze().shape, [3]);
});

Deno.test("tidy() frees what its function created except the result and kept tensors", () => {
  const before = memory().cpu?.tensors ?? 0;
  let kept = zeros([1]);
  const result = tidy(() => {
    const a = ones([100]);
    const b = a.mul(2);
    kept = keep(b.add(1));
    return { out: b.sum(), list: [a.neg()] };
  });
  assert.equal(result.out.item(), 200);
  assert.equal((memory().cpu?.tensors ?? 0) - before, 3 + 1); // out, list[0], kept (+ the first zeros)
  for (const t of [result.out, result.list[0], kept]) t.dispose();
});

Deno.test("tidy() disposes everything when its function throws", () => {
  const before = memory().cpu?.tensors ?? 0;
  assert.throws(() =>
    tidy(() => {
      ones([10]);
      throw new Error("boom");
    }), /boom/);
  assert.equal(memory().cpu?.tensors ?? 0, before);
});

Deno.test("using disposes at the end of the block and memory() reports bytes", () => {
  const before = memory().cpu!;
  {
    using t = zeros([1000]);
    assert.equal(memory().cpu!.tensors, before.tensors + 1);
    assert.ok(memory().cpu!.bytes >= before.bytes + 4000);
    assert.equal(t.size, 1000);
  }
  assert.equal(memory().cpu!.tensors, before.tensors);
  assert.equal(memory().cpu!.bytes, before.bytes);
});

Deno.test("to() casts dtypes and item() refuses multi-element tensors", () => {
  const a = tensor([1.5, 2.5]);
  const b = a.to("float64");
  assert.equal(b.dtype, "float64");
  assert.deepEqual(b.toArray(), [1.5, 2.5]);
  assert.equal(a.to("cpu"), a);
  assertThrows(() => a.item(), /2 elements, expected 1/);
  assertThrows(() => a.to("tpu"), /Unknown device "tpu"/);
  assert.match(a.toString(), /Tensor\(\[2\], float32, cpu, \[1.5, 2.5\]\)/);
});
