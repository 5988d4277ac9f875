import assert from "node:assert/strict";
import { noGrad } from "../nn/autograd.ts";
import { ones, tensor } from "../nn/creation.ts";
import { tidy } from "../nn/scope.ts";
import { assertThrows } from "./helpers.ts";

Deno.test("backward() of a scalar fills leaf gradients, including a tensor used twice", () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const y = x.mul(x).add(x).sum(); // d/dx = 2x + 1
  y.backward();
  assert.deepEqual(x.grad!.toArray(), [3, 5, 7]);
});

Deno.test("leaf gradients accumulate across backward calls until zeroed", () => {
  const w = tensor([2], [1], { requiresGrad: true });
  w.mul(3).sum().backward();
  w.mul(3).sum().backward();
  assert.deepEqual(w.grad!.toArray(), [6]);
  w.grad!.dispose();
  w.grad = null;
  w.mul(3).sum().backward();
  assert.deepEqual(w.grad!.toArray(), [3]);
});

Deno.test("backward() takes an explicit gradient for non-scalar outputs and leaves it intact", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const y = x.mul(2).reshape(2, 1);
  const g = tensor([[10], [20]]);
  y.backward(g);
  assert.deepEqual(x.grad!.toArray(), [20, 40]);
  assert.deepEqual(g.toArray(), [10, 20]);
  assertThrows(() => x.mul(2).backward(), /output has shape \[2\]; pass a gradient/);
  assertThrows(() => x.mul(2).backward(ones([3])), /gradient shape \[3\] differs/);
});

Deno.test("noGrad() records nothing and returns its value", () => {
  const w = tensor([1], [1], { requiresGrad: true });
  const y = noGrad(() => w.mul(2));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
  assertThrows(() => y.sum().backward(), /does not require grad/);
});

Deno.test("the graph is freed after backward unless retainGraph is set", () => {
  const x = tensor([1], [1], { requiresGrad: true });
  const y = x.mul(x).sum();
  y.backward(undefined, { retainGraph: true });
  y.backward();
  assert.deepEqual(x.grad!.toArray(), [4]);
  assert.equal(y.gradFn, null);
});

Deno.test("backward inside tidy() keeps leaf gradients and frees intermediates", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  tidy(() => x.exp().mul(x).sum().backward());
  const e = [Math.exp(1), Math.exp(2)];
  assert.ok(Math.abs(x.grad!.toArray()[0] - 2 * e[0]) < 1e-5);
  assert.ok(Math.abs(x.grad!.toArray()[1] - 3 * e[1]) < 1e-4);
});

Deno.test("detach() cuts the graph and shares storage", () => {
  const x = tensor([3], [1], { requiresGrad: true });
  const d = x.detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.storage, x.storage);
  x.mul(d).sum().backward();
  assert.deepEqual(x.grad!.toArray(), [3]);
});
