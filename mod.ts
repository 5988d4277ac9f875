/**
 * EPSANet for Deno: tensors with autograd, layers, optimisers, and the EPSANet / ResNet-50
 * networks, on a CPU device (GEMMs through OpenBLAS) or CUDA.
 *
 * @example
 * ```ts
 * import { Adam, F, nn, randn, tidy } from "./mod.ts";
 *
 * const model = new nn.Sequential(
 *   new nn.Conv2d(3, 8, 3, { padding: 1 }),
 *   new nn.BatchNorm2d(8),
 *   new nn.ReLU(),
 *   new nn.AdaptiveAvgPool2d(1),
 *   new nn.Flatten(),
 *   new nn.Linear(8, 10),
 * );
 * const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
 * const images = randn([4, 3, 32, 32]);
 * const loss = tidy(() => {
 *   const l = F.crossEntropy(model.forward(images), [0, 1, 2, 3]);
 *   l.backward();
 *   optimizer.step();
 *   optimizer.zeroGrad();
 *   return l.item();
 * });
 * console.log(loss);
 * ```
 *
 * @module
 */

// Registers the CUDA device, so that "cuda" and "auto" can find the GPU.
import "./nn/cuda/register.ts";

export {
  arange,
  full,
  ones,
  rand,
  randn,
  type RandomOptions,
  tensor,
  type TensorLike,
  type TensorOptions,
  zeros,
} from "./nn/creation.ts";
export { memory, type MemoryInfo } from "./nn/memory.ts";
export { keep, tidy } from "./nn/scope.ts";
export { Storage } from "./nn/storage.ts";
export { empty, type GradFn, Tensor } from "./nn/tensor.ts";
export { backward, isGradEnabled, noGrad } from "./nn/autograd.ts";
export { defaultGenerator, Generator, manualSeed } from "./nn/random.ts";
export type * from "./nn/device.ts";
export { defaultDevice, resolveDevice, setDefaultDevice } from "./nn/device_registry.ts";
export { cpu, type CpuBuffer, CpuDevice, type FloatArray } from "./nn/cpu/device.ts";
export * as nn from "./nn/layers.ts";
export {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  type BatchNormLayerOptions,
  type BufferOptions,
  Conv2d,
  type Conv2dLayerOptions,
  Flatten,
  Identity,
  Linear,
  type LinearOptions,
  type LoadOptions,
  type LoadResult,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
  Softmax,
} from "./nn/layers.ts";
export * as F from "./nn/functional.ts";
export * as init from "./nn/init.ts";
export { Adam, type AdamOptions, AdamW, Optimizer, type OptimizerState, SGD, type SgdOptions } from "./nn/optim.ts";
export { CosineAnnealingLR, LrSchedule, StepLR } from "./nn/schedule.ts";
export type { Conv2dOptions, MaxPool2dOptions } from "./nn/ops/mod.ts";
export { crossEntropy, type CrossEntropyOptions, type Targets } from "./nn/loss.ts";
export {
  type BlockClass,
  BottleneckBlock,
  BottleneckNet,
  buildStages,
  type NetworkOptions,
  type Stem,
} from "./nn/bottleneck.ts";
export { EPSABlock, EPSANet, epsanet101, epsanet50, PSAModule, type PSAOptions, SEWeightModule } from "./nn/epsanet.ts";
export { Bottleneck, ResNet, resnet50 } from "./nn/resnet.ts";
export {
  createModel,
  isModelName,
  isStemName,
  type Model,
  MODEL_NAMES,
  type ModelName,
  STEM_NAMES,
} from "./nn/models.ts";
export {
  createOptimizer,
  createSchedule,
  isOptimizerName,
  isScheduleName,
  OPTIMIZER_NAMES,
  type OptimizerName,
  type OptimizerOptions,
  SCHEDULE_NAMES,
  scheduleEpoch,
  type ScheduleName,
  type ScheduleOptions,
} from "./nn/train/factories.ts";
export {
  evalStep,
  type EvalStepResult,
  type Labels,
  trainStep,
  type TrainStepOptions,
  type TrainStepResult,
} from "./nn/train/step.ts";
export { type EpochStep, NonFiniteLossError, trainEpoch, type TrainEpochOptions } from "./nn/train/epoch.ts";
export { type EvalResult, evaluate, type EvaluateOptions } from "./nn/train/evaluate.ts";
export { batchImages, type BatchSource, type HostBatch } from "./nn/train/batches.ts";
export { argmax, countTopK, labelRank, perClassAccuracy } from "./nn/train/accuracy.ts";
export { copyFileAtomic, writeFileAtomic } from "./nn/files.ts";
export { type KernelKind, profileDevice, type ProfileEntry, type Profiler } from "./nn/profile.ts";
export { formatSummary, type Summary, summary, type SummaryRow, withCommas } from "./nn/summary.ts";
export {
  loadWeights,
  type LoadWeightsResult,
  parseSafetensors,
  readSafetensors,
  type Safetensors,
  saveWeights,
  serializeSafetensors,
  type WriteOptions,
  writeSafetensors,
} from "./nn/safetensors.ts";
export { type Checkpoint, parseCheckpoint, readCheckpoint } from "./nn/io/weights.ts";
