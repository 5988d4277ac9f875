import assert from "node:assert/strict";
import { BottleneckNet } from "../nn/bottleneck.ts";
import { EPSABlock, EPSANet, epsanet101, epsanet50, PSAModule, SEWeightModule } from "../nn/epsanet.ts";
import * as F from "../nn/functional.ts";
import { Bottleneck, ResNet, resnet50 } from "../nn/resnet.ts";
import { manualSeed } from "../nn/random.ts";
import { summary } from "../nn/summary.ts";
import { randn } from "../nn/creation.ts";
import { tidy } from "../nn/scope.ts";
import type { Tensor } from "../nn/tensor.ts";
import { noGrad } from "../nn/autograd.ts";
import { assertClose, assertThrows, directionalGradcheck, gradcheck } from "./helpers.ts";

Deno.test("parameter counts match the official models exactly", () => {
  const e50 = summary(epsanet50(), [1, 3, 224, 224]);
  assert.equal(e50.trainableParams, 22_561_715);
  assert.equal(e50.paramsWithBuffers, 22_614_835);
  assert.deepEqual(e50.outputShape, [1, 1000]);
  assert.ok(Math.abs(e50.multiplyAdds / 1e9 - 3.62) < 0.03, `EPSANet-50 multiply-adds ${e50.multiplyAdds}`);
  assert.equal(epsanet101().numParameters(), 38_900_279);
  const r50 = summary(resnet50(), [1, 3, 224, 224]);
  assert.equal(r50.trainableParams, 25_557_032);
  assert.equal((r50.multiplyAdds / 1e9).toFixed(2), "4.09");
});

Deno.test("state dict keys are the official PyTorch names", () => {
  const keys = Object.keys(epsanet50({ numClasses: 10 }).stateDict());
  for (
    const key of [
      "conv1.weight",
      "bn1.running_var",
      "layer1.0.conv2.conv_4.weight",
      "layer1.0.conv2.se.fc1.bias",
      "layer1.0.downsample.1.running_var",
      "layer4.2.bn3.num_batches_tracked",
      "fc.weight",
    ]
  ) assert.ok(keys.includes(key), key);
  assert.equal(keys.filter((k) => k.startsWith("layer1.0.conv2.se.")).length, 4, "one SE module per PSA");
  assert.deepEqual(keys.slice(0, 7), [
    "conv1.weight",
    "bn1.weight",
    "bn1.bias",
    "bn1.running_mean",
    "bn1.running_var",
    "bn1.num_batches_tracked",
    "layer1.0.conv1.weight",
  ]);
  const r = Object.keys(resnet50().stateDict());
  assert.ok(r.includes("layer3.5.conv2.weight") && r.includes("layer2.0.downsample.0.weight"));
});

Deno.test("EPSANet and ResNet are two BottleneckNets, neither a kind of the other", () => {
  const e = new EPSANet(EPSABlock, [1, 1, 1, 1], { numClasses: 10 });
  const r = new ResNet(Bottleneck, [1, 1, 1, 1], { numClasses: 10 });
  assert.ok(e instanceof BottleneckNet && r instanceof BottleneckNet);
  assert.ok(!(r instanceof EPSANet) && !(e instanceof ResNet));
  assert.ok(epsanet50() instanceof EPSANet && resnet50() instanceof ResNet);
  assertThrows(() => new ResNet(Bottleneck, [1, 1, 1]), /^ResNet: layers must be 4 positive integers/);
});

Deno.test("networks start from the official init: convs N(0, sqrt(2 / (k*k*out))), BatchNorm 1 and 0", () => {
  manualSeed(3);
  const state = new EPSANet(EPSABlock, [1, 1, 1, 1], { numClasses: 10 }).stateDict();
  // [out, in/groups, k, k]; the SE module's 1x1 convs are initialised like every other conv.
  for (const key of ["conv1.weight", "layer1.0.conv2.conv_4.weight", "layer4.0.conv2.se.fc1.weight"]) {
    const [out, , kh, kw] = state[key].shape;
    const values = state[key].toFloat64Array();
    const mean = values.reduce((a, v) => a + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    const expected = Math.sqrt(2 / (kh * kw * out));
    // Thousands of draws: the sample std is within a few percent of the expected one.
    assert.ok(Math.abs(std / expected - 1) < 0.1, `${key}: std ${std}, expected ${expected}`);
  }
  assert.ok(state["layer2.0.bn3.weight"].toFloat64Array().every((v) => v === 1));
  assert.ok(state["layer2.0.bn3.bias"].toFloat64Array().every((v) => v === 0));
});

Deno.test("modules keep the shapes the paper's figures show", () => {
  noGrad(() =>
    tidy(() => {
      assert.deepEqual(new SEWeightModule(64).forward(randn([2, 64, 7, 7])).shape, [2, 64, 1, 1]);
      assert.deepEqual(new PSAModule(64, 64).forward(randn([32, 64, 112, 112])).shape, [32, 64, 112, 112]);
      assert.deepEqual(new PSAModule(128, 128, { stride: 2 }).forward(randn([2, 128, 16, 16])).shape, [
        2,
        128,
        8,
        8,
      ]);
      let x = randn([2, 64, 16, 16]);
      for (const [planes, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
        const net = epsanet50();
        const stage = net.layers[[64, 128, 256, 512].indexOf(planes)];
        x = stage.forward(x);
        const side = 16 / (stride === 1 ? 1 : 2 ** [128, 256, 512].indexOf(planes) * 2);
        assert.deepEqual(x.shape, [2, planes * 4, side, side]);
      }
      assert.deepEqual(epsanet50({ numClasses: 10, stem: "cifar" }).forward(randn([2, 3, 32, 32])).shape, [
        2,
        10,
      ]);
      assert.deepEqual(resnet50({ numClasses: 10, stem: "cifar" }).forward(randn([2, 3, 32, 32])).shape, [
        2,
        10,
      ]);
    })
  );
});

/** The official PSAModule forward, written out from its sub-layers. */
function officialPsa(psa: PSAModule, x: Tensor): Tensor {
  const xs = psa.branches.map((conv) => conv.forward(x));
  const [b, s, h, w] = xs[0].shape;
  const feats = F.cat(xs, 1).reshape(b, 4, s, h, w);
  const attention = F.softmax(F.cat(xs.map((t) => psa.se.forward(t)), 1).reshape(b, 4, s, 1, 1), 1);
  const weighted = feats.mul(attention);
  let out = weighted.narrow(1, 0, 1).reshape(b, s, h, w);
  for (let i = 1; i < 4; i++) out = F.cat([weighted.narrow(1, i, 1).reshape(b, s, h, w), out], 1);
  return out;
}

Deno.test("PSAModule concatenates branches last-first with one shared SE module", () => {
  manualSeed(3);
  const psa = new PSAModule(64, 64);
  const x = randn([2, 64, 6, 6]);
  const reference = officialPsa(psa, x);
  assertClose(psa.forward(x), reference, { rtol: 1e-6, atol: 1e-7 });
  // In branch order (x1, x2, x3, x4) the result differs: the test sees the order.
  const xs = psa.branches.map((conv) => conv.forward(x));
  const forward = F.cat(xs, 1).toFloat32Array();
  const ours = psa.forward(x).toFloat32Array();
  assert.notDeepEqual(ours.subarray(0, 16 * 36), forward.subarray(0, 16 * 36));
  assert.equal([...psa.namedModules()].filter(([, m]) => m instanceof SEWeightModule).length, 1);
});

Deno.test("PSAModule gradients hold for the input and every parameter", () => {
  manualSeed(4);
  const psa = new PSAModule(64, 64, { stride: 2 }).to("float64");
  const x = randn([2, 64, 3, 3], { dtype: "float64", requiresGrad: true });
  gradcheck((t) => psa.forward(t), [x], { rtol: 1e-4, atol: 1e-7 });
  directionalGradcheck(psa.parameters(), () => psa.forward(x).pow(2).sum());
});

Deno.test("a whole EPSABlock backpropagates correctly in train mode", () => {
  manualSeed(5);
  const block = new EPSABlock(256, 64).to("float64");
  const x = randn([2, 256, 3, 3], { dtype: "float64" });
  directionalGradcheck(block.parameters(), () => block.forward(x).mul(block.forward(x)).sum(), 1e-5);
});

Deno.test("network builders reject bad options", () => {
  assertThrows(
    () => epsanet50({ stem: "tiny" as "cifar" }),
    /stem must be "imagenet" or "cifar", got "tiny"/,
  );
  assertThrows(() => epsanet50({ numClasses: 0 }), /numClasses must be an integer >= 1, got 0/);
  assertThrows(() => new PSAModule(64, 62), /planes \(62\) must be divisible by 4/);
});
