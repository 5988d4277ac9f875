/**
 * Model-level GPU tests: EPSANet-50 on the CUDA device against the CPU device, and a short training
 * run on digits. Skipped, with the reason in the name, where no GPU is usable.
 */
import assert from "node:assert/strict";
import {
  Adam,
  cpu,
  createModel,
  crossEntropy,
  type Device,
  manualSeed,
  memory,
  noGrad,
  randn,
  resolveDevice,
  tensor,
  tidy,
} from "../../mod.ts";
import { cudaAvailable } from "../../nn/device_registry.ts";
import { BatchLoader, DIGITS_NORMALIZATION, loadDigits, trainTransform } from "../../scripts/data.ts";
import { relativeError } from "../helpers.ts";

const GPU = cudaAvailable();
const skip = GPU ? "" : " (skipped: no usable GPU; see tests/cuda/ for the reason)";

Deno.test({
  name: `EPSANet-50 forward and backward on [2, 3, 64, 64] match on CUDA and CPU${skip}`,
  ignore: !GPU,
  fn() {
    const gpu: Device = resolveDevice("cuda");
    manualSeed(0);
    const onCpu = createModel("epsanet50", { numClasses: 10 });
    const onGpu = createModel("epsanet50", { numClasses: 10 });
    onGpu.loadStateDict(onCpu.stateDict());
    onGpu.to(gpu);
    const x = randn([2, 3, 64, 64]);
    const targets = [3, 7];
    const run = (model: typeof onCpu, device: Device) => {
      const logits = model.forward(x.to(device));
      const loss = crossEntropy(logits, targets);
      loss.backward();
      const grads = Object.fromEntries([...model.namedParameters()].map(([k, p]) => [k, p.grad!.toFloat32Array()]));
      return { logits: logits.toFloat32Array(), loss: loss.item(), grads };
    };
    const a = run(onCpu, cpu);
    const b = run(onGpu, gpu);
    // fp32 on both sides, different convolution algorithms (cuDNN may pick FFT / Winograd):
    // values agree to ~1e-4; gradients far from the loss pass through batch statistics of 2 images,
    // which amplify rounding (see tests/parity_test.ts), so they get a looser bound.
    assert.ok(relativeError(b.logits, a.logits) < 1e-3, `logits ${relativeError(b.logits, a.logits)}`);
    assert.ok(Math.abs(b.loss - a.loss) < 1e-4 * Math.abs(a.loss) + 1e-5, `loss ${b.loss} vs ${a.loss}`);
    for (const key of ["fc.weight", "fc.bias", "layer4.2.conv3.weight"]) {
      assert.ok(
        relativeError(b.grads[key], a.grads[key]) < 1e-3,
        `${key} ${relativeError(b.grads[key], a.grads[key])}`,
      );
    }
    for (const key of ["conv1.weight", "layer1.0.conv2.conv_4.weight", "layer2.0.conv2.se.fc2.weight"]) {
      assert.ok(relativeError(b.grads[key], a.grads[key]) < 0.1, `${key} ${relativeError(b.grads[key], a.grads[key])}`);
    }
    onCpu.eval();
    onGpu.eval();
    const evalCpu = noGrad(() => onCpu.forward(x)).toFloat32Array();
    const evalGpu = noGrad(() => onGpu.forward(x.to(gpu))).toFloat32Array();
    assert.ok(relativeError(evalGpu, evalCpu) < 1e-3, `eval logits ${relativeError(evalGpu, evalCpu)}`);
  },
});

Deno.test({
  name: `100 training steps of EPSANet-50 on digits lower the loss on CUDA with no memory growth${skip}`,
  ignore: !GPU,
  async fn() {
    const gpu = resolveDevice("cuda");
    manualSeed(1);
    const { train } = await loadDigits();
    const loader = new BatchLoader(train, {
      batchSize: 32,
      seed: 1,
      shuffle: true,
      transform: trainTransform({ height: 32, width: 32, imageSize: 32, flipProbability: 0, ...DIGITS_NORMALIZATION }),
    });
    const model = createModel("epsanet50", { numClasses: 10 }).to(gpu);
    const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
    const losses: number[] = [];
    const usage: number[] = [];
    let step = 0;
    while (step < 100) {
      for (const batch of loader.epoch()) {
        if (step++ >= 100) break;
        losses.push(tidy(() => {
          const images = tensor(batch.images, [batch.count, 3, 32, 32], { device: gpu });
          const loss = crossEntropy(model.forward(images), batch.labels);
          loss.backward();
          optimizer.step();
          optimizer.zeroGrad();
          return loss.item();
        }));
        if (step === 10 || step === 100) usage.push(memory()[gpu.name].bytes, memory()[gpu.name].tensors);
      }
    }
    const first = losses.slice(0, 10).reduce((s, v) => s + v, 0) / 10;
    const last = losses.slice(-10).reduce((s, v) => s + v, 0) / 10;
    // On the CPU device the same run goes 2.98 -> 1.44 (mean of the first and last 10 steps).
    assert.ok(last < first * 0.7, `mean loss went ${first} -> ${last}`);
    assert.deepEqual(usage.slice(2), usage.slice(0, 2), "bytes and tensors after step 10 and step 100");
  },
});
