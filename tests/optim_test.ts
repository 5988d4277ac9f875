import assert from "node:assert/strict";
import { Adam, AdamW, SGD } from "../nn/optim.ts";
import { CosineAnnealingLR, StepLR } from "../nn/schedule.ts";
import { tensor } from "../nn/creation.ts";
import type { Tensor } from "../nn/tensor.ts";
import { assertClose, assertThrows } from "./helpers.ts";

function param(values: number[]): Tensor {
  return tensor(values, [values.length], { requiresGrad: true });
}

function setGrad(p: Tensor, values: number[]): void {
  p.grad?.dispose();
  p.grad = tensor(values, [values.length]);
}

Deno.test("SGD with momentum, dampening, Nesterov and weight decay matches hand-computed updates", () => {
  const p = param([1]);
  const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.5 });
  setGrad(p, [2]);
  opt.step(); // d = 2 + 0.5 = 2.5; buf = 2.5; p = 1 - 0.25
  assertClose(p, [0.75]);
  setGrad(p, [2]);
  opt.step(); // d = 2 + 0.375 = 2.375; buf = 0.9*2.5 + 2.375 = 4.625; p = 0.75 - 0.4625
  assertClose(p, [0.2875]);
  const q = param([1]);
  const nesterov = new SGD([q], { lr: 0.1, momentum: 0.5, nesterov: true });
  setGrad(q, [1]);
  nesterov.step(); // buf = 1; d = 1 + 0.5 = 1.5
  setGrad(q, [1]);
  nesterov.step(); // buf = 1.5; d = 1 + 0.75
  assertClose(q, [1 - 0.15 - 0.175]);
  const r = param([1]);
  const damped = new SGD([r], { lr: 1, momentum: 0.5, dampening: 0.5 });
  setGrad(r, [1]);
  damped.step(); // buf = 1 (first step ignores dampening)
  setGrad(r, [1]);
  damped.step(); // buf = 0.5 + 0.5 = 1
  assertClose(r, [-1]);
});

Deno.test("Adam and AdamW match hand-computed updates", () => {
  const p = param([1, -1]);
  const opt = new Adam([p], { lr: 0.1 });
  setGrad(p, [0.5, -2]);
  opt.step(); // first step: m_hat = g, v_hat = g², update = lr * sign(g) (eps negligible)
  assertClose(p, [0.9, -0.9], { rtol: 1e-6 });
  setGrad(p, [0.5, 1]);
  opt.step();
  const m = [0.1 * 0.5 + 0.09 * 0.5, 0.09 * -2 + 0.1 * 1];
  const v = [0.001 * 0.25 * 0.999 + 0.001 * 0.25, 0.000999 * 4 + 0.001 * 1];
  const expected = [0, 1].map((i) =>
    [0.9, -0.9][i] - (0.1 / (1 - 0.81)) * m[i] / (Math.sqrt(v[i] / (1 - 0.998001)) + 1e-8)
  );
  assertClose(p, expected, { rtol: 1e-5 });
  const w = param([2]);
  const adamw = new AdamW([w], { lr: 0.1, weightDecay: 0.5 });
  setGrad(w, [1]);
  adamw.step(); // p = 2 * (1 - 0.05) - 0.1
  assertClose(w, [1.8], { rtol: 1e-6 });
  const l2 = param([2]);
  const adamL2 = new Adam([l2], { lr: 0.1, weightDecay: 0.5 });
  setGrad(l2, [-0.5]); // g + wd * p = 0.5 > 0
  adamL2.step();
  assertClose(l2, [1.9], { rtol: 1e-6 });
});

Deno.test("optimisers skip parameters without gradients and round-trip their state", () => {
  const a = param([1]);
  const b = param([1]);
  const opt = new Adam([a, b], { lr: 0.1 });
  setGrad(a, [1]);
  opt.step();
  assert.deepEqual(b.toArray(), [1]);
  const state = opt.stateDict();
  assert.deepEqual(state.steps, [1, 0]);
  assert.deepEqual(Object.keys(state.tensors), ["0.exp_avg", "0.exp_avg_sq"]);
  const a2 = param([0.9]);
  const b2 = param([1]);
  const restored = new Adam([a2, b2], { lr: 0.5 });
  restored.loadStateDict(state);
  assert.equal(restored.lr, 0.1);
  setGrad(a, [1]);
  setGrad(a2, [1]);
  opt.step();
  restored.step();
  assertClose(a2, a.toArray());
  assertThrows(() => new SGD([param([1])], { lr: 0.1 }).loadStateDict(state), /state is for Adam/);
});

Deno.test("optimisers reject non-finite learning rates and bad hyper-parameters", () => {
  assertThrows(() => new SGD([param([1])], { lr: NaN }), /SGD: lr must be a finite number >= 0, got NaN/);
  assertThrows(
    () => new Adam([param([1])], { lr: Infinity }),
    /Adam: lr must be a finite number >= 0, got Infinity/,
  );
  assertThrows(
    () => new Adam([param([1])], { betas: [1.5, 0.9] }),
    /betas\[0\] must be a finite number in \[0, 0.999999999\], got 1.5/,
  );
  assertThrows(() => new SGD([param([1])], { lr: 0.1, nesterov: true }), /nesterov needs momentum > 0/);
  assertThrows(() => new SGD([tensor([1])], { lr: 0.1 }), /does not require grad/);
  const opt = new SGD([param([1])], { lr: 0.1 });
  assertThrows(() => (opt.lr = -1), /lr must be a finite number >= 0, got -1/);
});

Deno.test("StepLR and CosineAnnealingLR follow PyTorch's closed forms", () => {
  const opt = new SGD([param([1])], { lr: 1 });
  const step = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
  const lrs: number[] = [];
  for (let e = 0; e < 5; e++) {
    step.step();
    lrs.push(opt.lr);
  }
  assert.deepEqual(lrs, [1, 0.5, 0.5, 0.25, 0.25]);
  const opt2 = new SGD([param([1])], { lr: 0.1 });
  const cosine = new CosineAnnealingLR(opt2, { tMax: 4, etaMin: 0.02 });
  const cos: number[] = [];
  for (let e = 0; e < 4; e++) {
    cosine.step();
    cos.push(opt2.lr);
  }
  assertClose(cos, [1, 2, 3, 4].map((t) => 0.02 + 0.08 * (1 + Math.cos((Math.PI * t) / 4)) / 2));
  cosine.setEpoch(2);
  assertClose([opt2.lr], [0.06]);
  assertThrows(() => new StepLR(opt, { stepSize: 0 }), /stepSize must be a positive integer, got 0/);
});
