import assert from "node:assert/strict";
import * as F from "../nn/functional.ts";
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  Sigmoid,
  Softmax,
} from "../nn/layers.ts";
import { Adam } from "../nn/optim.ts";
import { manualSeed } from "../nn/random.ts";
import { randn, tensor, zeros } from "../nn/creation.ts";
import { memory } from "../nn/memory.ts";
import { tidy } from "../nn/scope.ts";
import { assertClose, assertThrows } from "./helpers.ts";

function smallNet(): Sequential {
  return new Sequential(
    new Conv2d(3, 8, 3, { padding: 1, bias: false }),
    new BatchNorm2d(8),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(8, 8, 3, { padding: 1, groups: 4 }),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(8, 4),
  );
}

Deno.test("modules name parameters and buffers like PyTorch's state_dict", () => {
  const keys = Object.keys(smallNet().stateDict());
  assert.deepEqual(keys, [
    "0.weight",
    "1.weight",
    "1.bias",
    "1.running_mean",
    "1.running_var",
    "1.num_batches_tracked",
    "4.weight",
    "4.bias",
    "7.weight",
    "7.bias",
  ]);
  const net = smallNet();
  assert.deepEqual([...net.namedParameters()].map(([k]) => k), [
    "0.weight",
    "1.weight",
    "1.bias",
    "4.weight",
    "4.bias",
    "7.weight",
    "7.bias",
  ]);
  assert.equal(net.numParameters(), 8 * 3 * 9 + 16 + 8 * 2 * 9 + 8 + 8 * 4 + 4);
  assert.deepEqual([...net.integerStateKeys()], ["1.num_batches_tracked"]);
});

Deno.test("layers initialise as PyTorch does", () => {
  manualSeed(0);
  const conv = new Conv2d(16, 32, 3, { groups: 4 });
  const bound = 1 / Math.sqrt(4 * 9); // fan-in = in/groups * k * k
  const w = conv.weight.toArray();
  assert.ok(w.every((v) => Math.abs(v) <= bound) && Math.max(...w.map(Math.abs)) > 0.9 * bound);
  assert.ok(conv.bias!.toArray().every((v) => Math.abs(v) <= bound));
  const bn = new BatchNorm2d(4);
  assert.deepEqual(bn.weight.toArray(), [1, 1, 1, 1]);
  assert.deepEqual(bn.runningVar.toArray(), [1, 1, 1, 1]);
  const fc = new Linear(100, 3);
  assert.ok(fc.weight.toArray().every((v) => Math.abs(v) <= 0.1));
});

Deno.test("layer constructors reject bad arguments, naming the values", () => {
  assertThrows(
    () => new Conv2d(6, 9, 3, { groups: 4 }),
    /inChannels \(6\) and outChannels \(9\) must both be divisible by groups \(4\)/,
  );
  assertThrows(() => new Conv2d(0, 4, 3), /Conv2d: inChannels must be an integer >= 1, got 0/);
  assertThrows(() => new Linear(3, 2.5), /Linear: outFeatures must be an integer >= 1, got 2.5/);
  assertThrows(() => new BatchNorm2d(4, { momentum: 2 }), /momentum must be in \[0, 1\] or null, got 2/);
});

Deno.test("BatchNorm2d uses batch statistics in train mode and running ones in eval mode", () => {
  const bn = new BatchNorm2d(2);
  const x = randn([4, 2, 3, 3]);
  const y = bn.forward(x);
  const values = y.toArray();
  const channel0 = values.filter((_, i) => Math.floor(i / 9) % 2 === 0);
  assert.ok(Math.abs(channel0.reduce((a, b) => a + b, 0) / channel0.length) < 1e-5);
  assert.equal(bn.numBatchesTracked.item(), 1);
  bn.eval();
  const rm = bn.runningMean.toArray();
  const rv = bn.runningVar.toArray();
  const z = bn.forward(x);
  assertClose(
    z.narrow(1, 0, 1).narrow(0, 0, 1).reshape(9),
    x.narrow(1, 0, 1).narrow(0, 0, 1).reshape(9).sub(rm[0]).div(Math.sqrt(rv[0] + 1e-5)),
    { rtol: 1e-5, atol: 1e-6 },
  );
  assert.equal(bn.numBatchesTracked.item(), 1);
});

Deno.test("Softmax and Sigmoid layers, Sequential indexing", () => {
  assertClose(new Softmax(-1).forward(tensor([[0, Math.log(3)]])), [0.25, 0.75]);
  assertClose(new Sigmoid().forward(tensor([0])), [0.5]);
  const seq = new Sequential(new ReLU(), new Sigmoid());
  assert.equal(seq.length, 2);
  assert.ok(seq.at(-1) instanceof Sigmoid);
  assertThrows(() => seq.at(5), /index 5 is out of range for 2 modules/);
});

Deno.test("loadStateDict copies values and names every missing, unexpected or mis-shaped key", () => {
  const a = smallNet();
  const b = smallNet();
  b.loadStateDict(a.stateDict());
  assert.deepEqual(b.stateDict()["7.weight"].toArray(), a.stateDict()["7.weight"].toArray());
  const before = b.stateDict()["0.weight"].toArray();
  const dict = { ...a.stateDict(), "8.weight": zeros([1]), "4.weight": zeros([8, 2, 1, 1]) };
  delete (dict as Record<string, unknown>)["1.bias"];
  assertThrows(
    () => b.loadStateDict(dict),
    /4\.weight: expected shape \[8,2,3,3\], got \[8,2,1,1\].*missing keys: 1\.bias.*unexpected keys: 8\.weight/,
  );
  assert.deepEqual(b.stateDict()["0.weight"].toArray(), before, "a failed load leaves the model unchanged");
  const partial = { "7.bias": zeros([4]) };
  const result = b.loadStateDict(partial, { strict: false });
  assert.equal(result.missingKeys.length, 9);
  assert.deepEqual(b.stateDict()["7.bias"].toArray(), [0, 0, 0, 0]);
});

Deno.test("train()/eval() propagate and zeroGrad() clears gradients", () => {
  const net = smallNet();
  net.eval();
  assert.ok([...net.namedModules()].every(([, m]) => !m.training));
  net.train();
  F.crossEntropy(net.forward(randn([2, 3, 8, 8])), [0, 1]).backward();
  assert.ok(net.parameters().every((p) => p.grad !== null));
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
});

Deno.test("a 3-step training loop of a small conv net lowers the loss and leaks no memory", () => {
  manualSeed(1);
  const net = smallNet();
  const optimizer = new Adam(net.parameters(), { lr: 1e-2 });
  const x = randn([8, 3, 8, 8]);
  const targets = [0, 1, 2, 3, 0, 1, 2, 3];
  const step = (): number =>
    tidy(() => {
      const loss = F.crossEntropy(net.forward(x), targets);
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      return loss.item();
    });
  const first = step();
  const afterFirst = memory().cpu!;
  const losses = [first, step(), step()];
  const afterThird = memory().cpu!;
  assert.ok(losses[2] < losses[0], `loss went ${losses}`);
  assert.equal(afterThird.tensors, afterFirst.tensors);
  assert.equal(afterThird.bytes, afterFirst.bytes);
});
