/**
 * The library's trainer: trainStep / evalStep (one device read each, same numbers as the ops they
 * wrap), trainEpoch (skip, abort, NaN stop), evaluate, the optimiser and schedule factories and
 * the name lists, and the README's ten-line training loop.
 */

import assert from "node:assert/strict";
import {
  Adam,
  CosineAnnealingLR,
  countTopK,
  cpu,
  createModel,
  createOptimizer,
  createSchedule,
  crossEntropy,
  evalStep,
  evaluate,
  type HostBatch,
  isModelName,
  isOptimizerName,
  isScheduleName,
  isStemName,
  manualSeed,
  memory,
  MODEL_NAMES,
  nn,
  noGrad,
  NonFiniteLossError,
  OPTIMIZER_NAMES,
  randn,
  SCHEDULE_NAMES,
  scheduleEpoch,
  SGD,
  STEM_NAMES,
  StepLR,
  tensor,
  tidy,
  trainEpoch,
  trainStep,
} from "../mod.ts";

/** A network small enough for many steps: conv, batch norm, pool, linear; 4 classes. */
function tinyNet(): nn.Module {
  manualSeed(3);
  return new nn.Sequential(
    new nn.Conv2d(3, 4, 3, { padding: 1 }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(4, 4),
  );
}

const LABELS = new Int32Array([0, 1, 2, 3, 1, 2]);

function hostBatch(seed: number): HostBatch {
  manualSeed(seed);
  const images = randn([6, 3, 8, 8]);
  const batch = { images: images.toFloat32Array(), labels: LABELS, count: 6 };
  images.dispose();
  return batch;
}

/** Counts the CPU device's reads while `fn` runs. */
function countReads<T>(fn: () => T): { result: T; reads: number } {
  let reads = 0;
  const read = cpu.read;
  cpu.read = (buffer) => {
    reads++;
    return read.call(cpu, buffer);
  };
  try {
    return { result: fn(), reads };
  } finally {
    cpu.read = read;
  }
}

Deno.test("trainStep() reads the device once and matches forward, loss, backward and Adam by hand", () => {
  const [byStep, byHand] = [tinyNet(), tinyNet()];
  const [stepOptimizer, handOptimizer] = [byStep, byHand].map((m) => new Adam(m.parameters(), { lr: 0.01 }));
  const images = tensor(hostBatch(1).images, [6, 3, 8, 8]);
  const { result, reads } = countReads(() => trainStep(byStep, stepOptimizer, images, LABELS, { labelSmoothing: 0.1 }));
  assert.equal(reads, 1);

  const expected = tidy(() => {
    const logits = byHand.forward(images);
    const loss = crossEntropy(logits, LABELS, { labelSmoothing: 0.1 });
    const value = loss.item();
    const correct = countTopK(logits.toFloat32Array(), LABELS, 4, 1);
    loss.backward();
    handOptimizer.step();
    handOptimizer.zeroGrad();
    return { loss: value, correct };
  });
  assert.deepEqual(result, expected);
  const [a, b] = [byStep.stateDict(), byHand.stateDict()];
  for (const key of Object.keys(a)) assert.deepEqual(a[key].toFloat32Array(), b[key].toFloat32Array(), key);
  for (const p of byStep.parameters()) assert.equal(p.grad, null, "zeroGrad() ran");
  images.dispose();
  stepOptimizer.dispose();
  handOptimizer.dispose();
});

Deno.test("trainStep() leaves the weights alone when the loss is NaN", () => {
  const model = tinyNet();
  const optimizer = new SGD(model.parameters(), { lr: 0.1 });
  const before = model.parameters().map((p) => p.toFloat32Array());
  const images = tensor(new Float32Array(6 * 3 * 8 * 8).fill(NaN), [6, 3, 8, 8]);
  const result = trainStep(model, optimizer, images, LABELS);
  assert.ok(Number.isNaN(result.loss));
  assert.equal(result.correct, 0);
  assert.deepEqual(model.parameters().map((p) => p.toFloat32Array()), before);
  images.dispose();
});

Deno.test("trainStep() and evalStep() leak no tensors", () => {
  const model = tinyNet();
  const optimizer = new Adam(model.parameters());
  const images = tensor(hostBatch(2).images, [6, 3, 8, 8]);
  trainStep(model, optimizer, images, LABELS); // creates Adam's moments
  const live = memory().cpu.tensors;
  trainStep(model, optimizer, images, LABELS);
  evalStep(model.eval(), images, LABELS);
  assert.equal(memory().cpu.tensors, live);
  images.dispose();
  optimizer.dispose();
});

Deno.test("evalStep() reads the device once and gives the summed loss and the logits", () => {
  const model = tinyNet().eval();
  const images = tensor(hostBatch(4).images, [6, 3, 8, 8]);
  const { result, reads } = countReads(() => evalStep(model, images, LABELS));
  assert.equal(reads, 1);
  const expected = noGrad(() =>
    tidy(() => {
      const logits = model.forward(images);
      return { lossSum: crossEntropy(logits, LABELS, { reduction: "sum" }).item(), logits: logits.toFloat32Array() };
    })
  );
  assert.equal(result.lossSum, expected.lossSum);
  assert.deepEqual(Float32Array.from(result.logits), expected.logits);
  images.dispose();
});

Deno.test("evaluate() agrees with evalStep() and counts a confusion matrix", async () => {
  const model = tinyNet();
  const batches = [hostBatch(5), hostBatch(6)];
  const result = await evaluate(model, { length: 2, epoch: () => batches }, {
    device: cpu,
    numClasses: 4,
    imageShape: [3, 8, 8],
  });
  assert.ok(result);
  assert.equal(model.training, true, "the mode is restored");
  assert.equal(result.count, 12);
  assert.equal(result.confusion.flat().reduce((a, b) => a + b, 0), 12);
  model.eval();
  let lossSum = 0;
  let hits = 0;
  for (const batch of batches) {
    const step = tidy(() => evalStep(model, tensor(batch.images, [6, 3, 8, 8]), batch.labels));
    lossSum += step.lossSum;
    hits += countTopK(step.logits, batch.labels, 4, 1);
  }
  assert.equal(result.loss, lossSum / 12);
  assert.equal(result.top1, hits / 12);
  assert.equal(result.top5, 1); // 4 classes: every label is in the top 5
  const aborted = new AbortController();
  aborted.abort();
  const none = await evaluate(model, { length: 2, epoch: () => batches }, {
    device: cpu,
    numClasses: 4,
    imageShape: [3, 8, 8],
    signal: aborted.signal,
  });
  assert.equal(none, null);
});

Deno.test("trainEpoch() skips trained batches, stops on abort and on a NaN loss", async () => {
  const batches = [hostBatch(7), hostBatch(8), hostBatch(9)];
  const run = async (skip: number, signal?: AbortSignal) => {
    const model = tinyNet();
    const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.05, momentum: 0.9 });
    const seen: number[] = [];
    const done = await trainEpoch({
      model,
      optimizer,
      batches,
      imageShape: [3, 8, 8],
      device: cpu,
      epoch: 1,
      step: 10,
      skip,
      signal,
      afterStep: (s) => void seen.push(s.batch),
    });
    optimizer.dispose();
    return { done, seen };
  };
  assert.deepEqual(await run(0), { done: { batchesDone: 3, step: 13 }, seen: [1, 2, 3] });
  assert.deepEqual(await run(2), { done: { batchesDone: 3, step: 11 }, seen: [3] });
  const aborted = new AbortController();
  aborted.abort();
  assert.deepEqual(await run(1, aborted.signal), { done: { batchesDone: 1, step: 10 }, seen: [] });

  const model = tinyNet();
  const optimizer = createOptimizer("adam", model.parameters(), { lr: 0.001 });
  const poisoned = { ...batches[1], images: new Float32Array(batches[1].images.length).fill(NaN) };
  await assert.rejects(
    trainEpoch({
      model,
      optimizer,
      batches: [batches[0], poisoned],
      imageShape: [3, 8, 8],
      device: cpu,
      epoch: 4,
      step: 30,
    }),
    (error: unknown) =>
      error instanceof NonFiniteLossError &&
      error.where === "Loss became NaN at epoch 4, batch 2 (step 32, lr 0.001)" &&
      /lower the learning rate$/.test(error.message),
  );
  optimizer.dispose();
});

Deno.test("createOptimizer() and createSchedule() build what the names say", () => {
  const params = [tensor([1, 2], [2], { requiresGrad: true })];
  const sgd = createOptimizer("sgd", params, { lr: 0.1, momentum: 0.8, weightDecay: 5e-4 });
  assert.ok(sgd instanceof SGD);
  assert.deepEqual(sgd.stateDict().hyper, {
    lr: 0.1,
    momentum: 0.8,
    dampening: 0,
    weightDecay: 5e-4,
    nesterov: false,
  });
  const adam = createOptimizer("adam", params, { lr: 2e-3 });
  assert.ok(adam instanceof Adam);
  assert.deepEqual(adam.stateDict().hyper, { lr: 2e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
  assert.throws(() => createOptimizer("adam", params, { lr: 1, momentum: 0.9 }), /momentum applies to sgd only/);
  assert.throws(
    () => createOptimizer("rmsprop" as "sgd", params, { lr: 1 }),
    /Unknown optimizer "rmsprop"; use one of adam, sgd/,
  );

  assert.equal(createSchedule("none", sgd, { epochs: 3 }), null);
  const step = createSchedule("step", sgd, { epochs: 9, stepSize: 3, gamma: 0.5 });
  assert.ok(step instanceof StepLR);
  assert.deepEqual([step.stepSize, step.gamma], [3, 0.5]);
  const cosine = createSchedule("cosine", adam, { epochs: 4 });
  assert.ok(cosine instanceof CosineAnnealingLR);
  assert.equal(cosine.tMax, 4);
  cosine.setEpoch(2);
  assert.equal(adam.lr, 1e-3);
  assert.throws(() => createSchedule("linear" as "none", sgd, { epochs: 1 }), /Unknown schedule "linear"/);

  const position = { step: 15, batchesPerEpoch: 10, epochsDone: 1 };
  assert.deepEqual(SCHEDULE_NAMES.map((name) => scheduleEpoch(name, position)), [1, 1, 1.5]);
});

Deno.test("the name lists and their type guards agree", () => {
  const cases: [readonly string[], (name: string) => boolean][] = [
    [MODEL_NAMES, isModelName],
    [STEM_NAMES, isStemName],
    [OPTIMIZER_NAMES, isOptimizerName],
    [SCHEDULE_NAMES, isScheduleName],
  ];
  for (const [names, guard] of cases) {
    assert.ok(names.length > 0);
    for (const name of names) assert.ok(guard(name), name);
    assert.equal(guard("bogus"), false);
    assert.equal(guard(names[0].toUpperCase()), false);
  }
  for (const name of MODEL_NAMES) assert.equal(typeof createModel, "function", name);
});

Deno.test("the README's training loop runs as written", () => {
  // The same lines as the "As a library" section of README.md.
  const model = createModel("resnet50", { numClasses: 10, stem: "cifar" });
  const optimizer = createOptimizer("adam", model.parameters(), { lr: 1e-3 });
  const schedule = createSchedule("cosine", optimizer, { epochs: 2 });
  const images = randn([4, 3, 8, 8]); // (B, 3, H, W): your batches here
  const labels = new Int32Array([0, 1, 2, 3]);
  for (let epoch = 0; epoch < 2; epoch++) {
    schedule?.setEpoch(epoch);
    const { loss, correct } = trainStep(model, optimizer, images, labels); // the step of `deno task train`
    console.log(`epoch ${epoch + 1}: loss ${loss.toFixed(3)}, top-1 ${correct}/4`);
  }
  const { lossSum } = evalStep(model.eval(), images, labels);
  console.log(`eval loss ${(lossSum / 4).toFixed(3)}`);
  assert.ok(Number.isFinite(lossSum));
  images.dispose();
  optimizer.dispose();
  model.dispose();
});
