/**
 * With a GPU: every Device kernel of the CUDA device against the CPU device (skipped with the reason otherwise).
 *
 * @module
 */

import assert from "node:assert/strict";
import { cpu } from "../../nn/cpu/device.ts";
import type {
  BatchNormGeometry,
  BatchNormTrainArgs,
  Conv2dGeometry,
  Device,
  DeviceBuffer,
  Pool2dGeometry,
} from "../../nn/device.ts";
import { crossEntropy } from "../../nn/loss.ts";
import { zeros } from "../../nn/creation.ts";
import { assertClose, assertThrows, type Tolerance } from "../helpers.ts";
import { gpuTest, randomArray, size } from "./support.ts";

// ---------------------------------------------------------------------------------------------
// With a GPU: every kernel against the CPU device

type Inputs = readonly (Float32Array | number)[];

/**
 * Runs `body` on the CPU and on the GPU with the same inputs (an array is copied in; a number
 * allocates that many elements pre-filled with garbage) and compares every buffer afterwards.
 */
function compareDevices(
  gpu: Device,
  label: string,
  inputs: Inputs,
  body: (d: Device, b: DeviceBuffer[]) => void,
  tol: Tolerance | ((expected: Float32Array) => Tolerance),
): void {
  const run = (d: Device): Float32Array[] => {
    const buffers = inputs.map((v) => {
      const buffer = d.alloc(typeof v === "number" ? v : v.length, "float32");
      if (typeof v === "number") d.fill(buffer, 123.25);
      else d.write(buffer, v);
      return buffer;
    });
    body(d, buffers);
    const values = buffers.map((b) => d.read(b) as Float32Array);
    buffers.forEach((b) => d.free(b));
    return values;
  };
  const expected = run(cpu);
  const got = run(gpu);
  expected.forEach((e, i) => assertClose(got[i], e, typeof tol === "function" ? tol(e) : tol, `${label}, buffer ${i}`));
}

/** A tolerance whose absolute part scales with the largest expected magnitude (sums of many terms). */
function scaled(rtol: number, relativeToMax: number): (expected: Float32Array) => Tolerance {
  return (expected) => {
    let max = 0;
    for (const v of expected) max = Math.max(max, Math.abs(v));
    return { rtol, atol: relativeToMax * max + 1e-7 };
  };
}

gpuTest("cuda: describe() names the GPU and libraries; memory(), fill, copy, read and write work", (gpu) => {
  assert.match(
    gpu.describe(),
    /^cuda:0: .+ \(sm_\d+, \d+ SMs, [\d.]+ GiB\), driver \d+\.\d+, cuDNN 9\.\d+\.\d+, cuBLAS \d+\.\d+\.\d+, NVRTC \d+\.\d+ /,
  );
  assertThrows(() => gpu.alloc(4, "float64"), /float32 only/);
  const a = gpu.alloc(1000, "float32");
  const b = gpu.alloc(1000, "float32", true);
  assert.deepEqual(gpu.read(b), new Float32Array(1000));
  gpu.fill(a, -2.5);
  gpu.copy(a, b);
  assert.deepEqual(gpu.read(b), new Float32Array(1000).fill(-2.5));
  const values = randomArray(1000, 9);
  gpu.write(a, values);
  values.fill(0); // the write was staged before write() returned
  assert.deepEqual(gpu.read(a), randomArray(1000, 9));
  const empty = gpu.alloc(0, "float32");
  assert.equal(gpu.read(empty).length, 0);
  [a, b, empty].forEach((x) => gpu.free(x));
});

gpuTest("cuda: large writes go through pinned staging in chunks; split sums are deterministic", (gpu) => {
  const n = 5 * (1 << 20); // 20 MiB: three 8 MiB staging chunks, so both halves are reused
  const values = randomArray(n, 11);
  const a = gpu.alloc(n, "float32");
  gpu.write(a, values);
  gpu.write(a, values); // the second write waits for the first one's staging halves
  values.fill(0);
  assert.deepEqual(gpu.read(a), randomArray(n, 11));
  const out = [gpu.alloc(1, "float32"), gpu.alloc(1, "float32")];
  for (const o of out) gpu.sumTo({ x: a, xShape: [n], out: o, outShape: [1] });
  assert.deepEqual(gpu.read(out[0]), gpu.read(out[1]), "the same partials in the same order");
  [a, ...out].forEach((x) => gpu.free(x));
  gpu.emptyCache(); // releases the pinned staging memory too
});

gpuTest("cuda: binary() broadcasts like the CPU", (gpu) => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4, 5], [2, 3, 4, 5]],
    [[8, 16, 7, 7], [1, 16, 1, 1]],
    [[8, 16, 7, 7], [8, 16, 1, 1]],
    [[1, 16, 1, 1], [8, 16, 7, 7]],
    [[2, 1, 4, 1], [1, 3, 1, 5]],
    [[300, 1], [1, 1]],
  ];
  for (const [aShape, bShape] of cases) {
    const outShape = aShape.map((s, i) => Math.max(s, bShape[i]));
    for (const op of ["add", "sub", "mul", "div"] as const) {
      compareDevices(
        gpu,
        `${op} [${aShape}] [${bShape}]`,
        [randomArray(size(aShape), 1), randomArray(size(bShape), 2), size(outShape)],
        (d, [a, b, o]) => d.binary({ op, a, aShape, b, bShape, out: o, outShape }),
        { rtol: 1e-6, atol: 1e-6 },
      );
    }
  }
  compareDevices(
    gpu,
    "in place",
    [randomArray(60, 3), randomArray(5, 4)],
    (d, [a, b]) => d.binary({ op: "mul", a, aShape: [12, 5], b, bShape: [1, 5], out: a, outShape: [12, 5] }),
    { rtol: 1e-6 },
  );
});

gpuTest("cuda: unary(), activationBackward(), affine(), pow() and axpy() match the CPU", (gpu) => {
  const n = 10_000;
  const x = randomArray(n, 5, 4);
  for (const op of ["neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"] as const) {
    const input = op === "log" || op === "sqrt" ? x.map(Math.abs) : x;
    // expf / logf / tanhf are within 2 ulp; the CPU rounds the float64 result once.
    compareDevices(gpu, op, [input, n], (d, [a, o]) => d.unary({ op, x: a, out: o }), { rtol: 2e-6, atol: 1e-7 });
  }
  for (const op of ["relu", "sigmoid", "tanh"] as const) {
    const y = op === "relu"
      ? x.map((v) => Math.max(v, 0))
      : op === "sigmoid"
      ? x.map((v) => 1 / (1 + Math.exp(-v)))
      : x.map(Math.tanh);
    compareDevices(
      gpu,
      `${op}'`,
      [y, randomArray(n, 6), n],
      (d, [a, dy, dx]) => d.activationBackward({ op, y: a, dy, dx }),
      { rtol: 1e-6, atol: 1e-7 },
    );
  }
  compareDevices(gpu, "affine", [x, n], (d, [a, o]) => d.affine({ x: a, out: o, scale: 0.3, shift: -1.5 }), {
    rtol: 1e-6,
    atol: 1e-6,
  });
  compareDevices(gpu, "pow 2", [x, n], (d, [a, o]) => d.pow({ x: a, out: o, exponent: 2 }), { rtol: 1e-6 });
  compareDevices(gpu, "pow 0.5", [x.map(Math.abs), n], (d, [a, o]) => d.pow({ x: a, out: o, exponent: 0.5 }), {
    rtol: 2e-6,
    atol: 1e-7,
  });
  compareDevices(gpu, "axpy", [x, randomArray(n, 7)], (d, [a, y]) => d.axpy({ alpha: -0.7, x: a, y }), {
    rtol: 1e-6,
    atol: 1e-6,
  });
});

gpuTest("cuda: sumTo(), permute() and copyBlocks() match the CPU", (gpu) => {
  const sums: [number[], number[]][] = [
    [[32, 64, 28, 28], [1, 64, 1, 1]],
    [[32, 64, 28, 28], [32, 64, 1, 1]],
    [[32, 64, 28, 28], [1, 1, 1, 1]],
    [[64, 1000], [1, 1000]],
    [[64, 1000], [64, 1]],
    [[3, 4, 5, 6], [3, 1, 5, 1]],
    [[7, 9], [7, 9]],
  ];
  for (const [xShape, outShape] of sums) {
    const x = randomArray(size(xShape), 8);
    // Float32 tree sums against a float64 running sum: error grows like sqrt(count) ulps.
    const count = size(xShape) / size(outShape);
    compareDevices(
      gpu,
      `sumTo [${xShape}] -> [${outShape}]`,
      [x, size(outShape)],
      (d, [a, o]) => d.sumTo({ x: a, xShape, out: o, outShape }),
      { rtol: 1e-5, atol: 2e-7 * Math.sqrt(count) * 4 },
    );
  }
  const perms: [number[], number[]][] = [[[2, 3], [1, 0]], [[8, 4, 16, 9], [0, 2, 3, 1]], [[8, 4, 16, 9], [
    3,
    1,
    0,
    2,
  ]], [[2, 3, 4, 5, 6], [4, 3, 2, 1, 0]]];
  for (const [shape, perm] of perms) {
    compareDevices(
      gpu,
      `permute [${shape}] [${perm}]`,
      [randomArray(size(shape), 9), size(shape)],
      (d, [a, o]) => d.permute({ x: a, shape, perm, y: o }),
      { rtol: 0, atol: 0 },
    );
  }
  const copy = { outer: 4, inner: 49, srcAxis: 16, dstAxis: 64, srcStart: 0, dstStart: 32, length: 16 };
  compareDevices(
    gpu,
    "copyBlocks concat",
    [randomArray(4 * 16 * 49, 10), 4 * 64 * 49],
    (d, [s, t]) => d.copyBlocks({ geometry: copy, src: s, dst: t }),
    { rtol: 0, atol: 0 },
  );
  const narrow = { outer: 4, inner: 49, srcAxis: 64, dstAxis: 16, srcStart: 16, dstStart: 0, length: 16 };
  compareDevices(
    gpu,
    "copyBlocks narrow",
    [randomArray(4 * 64 * 49, 11), 4 * 16 * 49],
    (d, [s, t]) => d.copyBlocks({ geometry: narrow, src: s, dst: t }),
    { rtol: 0, atol: 0 },
  );
});

gpuTest("cuda: gemm() matches the CPU for every transpose, batching and stride", (gpu) => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const [m, n, k, batch] of [[64, 100, 256, 1], [7, 5, 3, 1], [16, 24, 32, 4]]) {
        const args = { transA, transB, m, n, k, alpha: 0.5, beta: 1, batch };
        const label = `gemm ${transA ? "T" : "N"}${transB ? "T" : "N"} ${m}x${n}x${k} x${batch}`;
        compareDevices(
          gpu,
          label,
          [randomArray(m * k * batch, 12), randomArray(k * n * batch, 13), randomArray(m * n * batch, 14)],
          (d, [a, b, c]) => d.gemm({ ...args, a, b, c }),
          { rtol: 1e-4, atol: 1e-5 * k },
        );
      }
    }
  }
  compareDevices(
    gpu,
    "gemm shared A (strideA 0)",
    [randomArray(6 * 8, 15), randomArray(3 * 8 * 5, 16), 3 * 6 * 5],
    (d, [a, b, c]) =>
      d.gemm({
        transA: false,
        transB: false,
        m: 6,
        n: 5,
        k: 8,
        alpha: 1,
        beta: 0,
        a,
        b,
        c,
        batch: 3,
        strideA: 0,
      }),
    { rtol: 1e-5, atol: 1e-5 },
  );
});

function convGeometry(
  batch: number,
  c: number,
  h: number,
  k: number,
  kernel: number,
  stride: number,
  groups: number,
): Conv2dGeometry {
  const pad = Math.floor(kernel / 2);
  const out = Math.floor((h + 2 * pad - kernel) / stride) + 1;
  return {
    batch,
    inChannels: c,
    inHeight: h,
    inWidth: h + 1,
    outChannels: k,
    outHeight: out,
    outWidth: Math.floor((h + 1 + 2 * pad - kernel) / stride) + 1,
    kernelH: kernel,
    kernelW: kernel,
    strideH: stride,
    strideW: stride,
    padH: pad,
    padW: pad,
    dilationH: 1,
    dilationW: 1,
    groups,
  };
}

gpuTest(
  "cuda: conv2d forward, backward-data and backward-filter match the CPU (groups 1/4/16, k 1/3/7/9)",
  (gpu) => {
    const cases = [
      convGeometry(2, 16, 12, 32, 1, 1, 1),
      convGeometry(2, 16, 12, 32, 3, 1, 1),
      convGeometry(2, 16, 12, 32, 3, 2, 1),
      convGeometry(2, 16, 13, 16, 3, 1, 4),
      convGeometry(2, 32, 11, 32, 5, 1, 16),
      convGeometry(2, 32, 10, 64, 7, 2, 4),
      convGeometry(1, 64, 9, 64, 9, 1, 16),
      convGeometry(3, 3, 17, 8, 7, 2, 1),
    ];
    for (const g of cases) {
      const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
      const ws = g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW;
      const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
      const x = randomArray(xs, 20), w = randomArray(ws, 21), dy = randomArray(ys, 22);
      const label = `k${g.kernelH} s${g.strideH} g${g.groups} C${g.inChannels} K${g.outChannels}`;
      // cuDNN may pick FFT or Winograd algorithms, whose float32 error grows with the number of
      // terms per output beyond the ulps of a direct sum; a layout or group mistake errs by O(1).
      const terms = (g.inChannels / g.groups) * g.kernelH * g.kernelW;
      const tol = (n: number) => scaled(1e-4, 1e-5 * Math.sqrt(n));
      compareDevices(
        gpu,
        `conv fwd ${label}`,
        [x, w, ys],
        (d, [a, b, y]) => d.conv2dForward({ geometry: g, x: a, w: b, y }),
        tol(terms),
      );
      compareDevices(
        gpu,
        `conv bwd-data ${label}`,
        [dy, w, xs],
        (d, [a, b, dx]) => d.conv2dBackwardData({ geometry: g, dy: a, w: b, dx }),
        tol(terms),
      );
      compareDevices(
        gpu,
        `conv bwd-filter ${label}`,
        [x, dy, ws],
        (d, [a, b, dw]) => d.conv2dBackwardFilter({ geometry: g, x: a, dy: b, dw }),
        tol(ys / g.outChannels),
      );
    }
  },
);

/** Batch norm training arguments without running statistics (momentum 0.1, eps 1e-5). */
function trainArgs(
  geometry: BatchNormGeometry,
  x: DeviceBuffer,
  weight: DeviceBuffer,
  bias: DeviceBuffer,
  y: DeviceBuffer,
  saveMean: DeviceBuffer,
  saveInvStd: DeviceBuffer,
): BatchNormTrainArgs<DeviceBuffer> {
  const stats = { runningMean: null, runningVar: null, momentum: 0.1, eps: 1e-5 };
  return { geometry, x, weight, bias, ...stats, y, saveMean, saveInvStd };
}

gpuTest("cuda: batch norm train (with running stats), inference and backward match the CPU", (gpu) => {
  for (const g of [{ batch: 8, channels: 16, spatial: 49 }, { batch: 32, channels: 10, spatial: 1 }]) {
    const n = g.batch * g.channels * g.spatial;
    const x = randomArray(n, 30, 3).map((v, i) => v + (i % 7));
    const w = randomArray(g.channels, 31), b = randomArray(g.channels, 32);
    const rm = randomArray(g.channels, 33), rv = randomArray(g.channels, 34).map((v) => 1 + Math.abs(v));
    const tol = { rtol: 1e-4, atol: 1e-5 };
    compareDevices(
      gpu,
      `bn train ${g.spatial}`,
      [x, w, b, rm, rv, n, g.channels, g.channels],
      (d, [x_, w_, b_, rm_, rv_, y, sm, si]) =>
        d.batchNormTrain({
          geometry: g,
          x: x_,
          weight: w_,
          bias: b_,
          runningMean: rm_,
          runningVar: rv_,
          momentum: 0.1,
          eps: 1e-5,
          y,
          saveMean: sm,
          saveInvStd: si,
        }),
      tol,
    );
    compareDevices(
      gpu,
      `bn train without running stats`,
      [x, w, b, n, g.channels, g.channels],
      (d, [x_, w_, b_, y, sm, si]) => d.batchNormTrain(trainArgs(g, x_, w_, b_, y, sm, si)),
      tol,
    );
    compareDevices(
      gpu,
      `bn infer ${g.spatial}`,
      [x, w, b, rm, rv, n],
      (d, [x_, w_, b_, rm_, rv_, y]) =>
        d.batchNormInfer({ geometry: g, x: x_, weight: w_, bias: b_, runningMean: rm_, runningVar: rv_, eps: 1e-5, y }),
      tol,
    );
    compareDevices(gpu, `bn backward ${g.spatial}`, [
      x,
      w,
      b,
      randomArray(n, 35),
      n,
      g.channels,
      g.channels,
      n,
      g.channels,
      g.channels,
    ], (d, [x_, w_, b_, dy, y, sm, si, dx, dw, db]) => {
      d.batchNormTrain(trainArgs(g, x_, w_, b_, y, sm, si));
      d.batchNormBackward({
        geometry: g,
        x: x_,
        dy,
        weight: w_,
        saveMean: sm,
        saveInvStd: si,
        eps: 1e-5,
        dx,
        dweight: dw,
        dbias: db,
      });
    }, { rtol: 1e-4, atol: 1e-4 });
  }
});

function poolGeometry(
  batch: number,
  channels: number,
  h: number,
  w: number,
  k: number,
  s: number,
  p: number,
): Pool2dGeometry {
  return {
    batch,
    channels,
    inHeight: h,
    inWidth: w,
    outHeight: Math.floor((h + 2 * p - k) / s) + 1,
    outWidth: Math.floor((w + 2 * p - k) / s) + 1,
    kernelH: k,
    kernelW: k,
    strideH: s,
    strideW: s,
    padH: p,
    padW: p,
  };
}

gpuTest("cuda: max pooling (padding, ties) and adaptive average pooling match the CPU", (gpu) => {
  for (
    const g of [
      poolGeometry(2, 8, 16, 15, 3, 2, 1),
      poolGeometry(2, 4, 9, 9, 2, 2, 0),
      poolGeometry(1, 3, 7, 7, 3, 1, 1),
    ]
  ) {
    const n = g.batch * g.channels * g.inHeight * g.inWidth;
    const outs = g.batch * g.channels * g.outHeight * g.outWidth;
    // Rounded values make ties, as after ReLU: the gradient must go to the first maximum.
    const x = randomArray(n, 40, 3).map((v) => Math.max(0, Math.round(v)));
    compareDevices(gpu, `max pool k${g.kernelH} s${g.strideH} p${g.padH}`, [
      x,
      outs,
      randomArray(outs, 41),
      n,
    ], (d, [a, y, dy, dx]) => {
      d.maxPool2dForward({ geometry: g, x: a, y });
      d.maxPool2dBackward({ geometry: g, x: a, y, dy, dx });
    }, { rtol: 0, atol: 0 });
  }
  for (
    const [h, w, oh, ow] of [[7, 7, 1, 1], [56, 56, 1, 1], [10, 9, 3, 4], [8, 8, 2, 2], [5, 7, 5, 7], [
      6,
      6,
      4,
      4,
    ]]
  ) {
    const g = { ...poolGeometry(2, 6, h, w, 1, 1, 0), outHeight: oh, outWidth: ow };
    const n = 2 * 6 * h * w, outs = 2 * 6 * oh * ow;
    compareDevices(gpu, `adaptive avg ${h}x${w} -> ${oh}x${ow}`, [
      randomArray(n, 42),
      outs,
      randomArray(outs, 43),
      n,
    ], (d, [a, y, dy, dx]) => {
      d.adaptiveAvgPool2dForward({ geometry: g, x: a, y });
      d.adaptiveAvgPool2dBackward({ geometry: g, dy, dx });
    }, { rtol: 1e-5, atol: 1e-6 });
  }
});

gpuTest("cuda: softmax, log-softmax and cross entropy with label smoothing match the CPU", (gpu) => {
  for (
    const g of [{ outer: 8, axis: 10, inner: 1 }, { outer: 4, axis: 4, inner: 64 }, {
      outer: 2,
      axis: 1000,
      inner: 3,
    }]
  ) {
    const n = g.outer * g.axis * g.inner;
    for (const log of [false, true]) {
      compareDevices(gpu, `softmax ${JSON.stringify(g)} log=${log}`, [
        randomArray(n, 50, 5),
        n,
        randomArray(n, 51),
        n,
      ], (d, [x, y, dy, dx]) => {
        d.softmaxForward({ geometry: g, x, y, log });
        d.softmaxBackward({ geometry: g, y, dy, dx, log });
      }, { rtol: 1e-5, atol: 1e-6 });
    }
  }
  for (const [batch, classes] of [[16, 10], [5, 1000], [3, 37]]) {
    const targets = Int32Array.from({ length: batch }, (_, i) => (i * 7) % classes);
    for (const smoothing of [0, 0.1]) {
      compareDevices(gpu, `cross entropy ${batch}x${classes} s=${smoothing}`, [
        randomArray(batch * classes, 52, 4),
        batch,
        randomArray(batch, 53),
        batch * classes,
      ], (d, [logits, losses, dLoss, dlogits]) => {
        const t = d.alloc(batch, "int32");
        d.write(t, targets);
        const common = { batch, classes, logits, targets: t, labelSmoothing: smoothing };
        d.crossEntropyForward({ ...common, losses });
        d.crossEntropyBackward({ ...common, dLoss, dlogits });
        d.free(t);
      }, { rtol: 1e-5, atol: 1e-6 });
    }
  }
  const logits = gpu.alloc(20, "float32");
  const losses = gpu.alloc(2, "float32");
  const floatTargets = gpu.alloc(2, "float32");
  assertThrows(
    () => gpu.crossEntropyForward({ batch: 2, classes: 10, logits, targets: floatTargets, labelSmoothing: 0, losses }),
    /targets must be an int32 buffer/,
  );
  const logitsTensor = zeros([2, 10], { device: gpu });
  assertThrows(() => crossEntropy(logitsTensor, [3, 10]), /target 10 at index 1 is not a class index in \[0, 10\)/);
  logitsTensor.dispose();
  [logits, losses, floatTargets].forEach((b) => gpu.free(b));
});

gpuTest("cuda: SGD and Adam updates match the CPU", (gpu) => {
  const n = 5000;
  const p = randomArray(n, 60),
    g = randomArray(n, 61),
    m = randomArray(n, 62),
    v = randomArray(n, 63).map(Math.abs);
  const tol = { rtol: 1e-5, atol: 1e-6 };
  for (const nesterov of [false, true]) {
    for (const firstStep of [false, true]) {
      const args = { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 1e-4, nesterov, firstStep };
      compareDevices(
        gpu,
        `sgd ${JSON.stringify(args)}`,
        [p, g, m],
        (d, [p_, g_, b_]) => d.sgdUpdate({ param: p_, grad: g_, momentumBuffer: b_, ...args }),
        tol,
      );
    }
  }
  const plain = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true };
  compareDevices(
    gpu,
    "sgd without momentum",
    [p, g],
    (d, [p_, g_]) => d.sgdUpdate({ param: p_, grad: g_, momentumBuffer: null, ...plain }),
    tol,
  );
  for (const decoupled of [false, true]) {
    const args = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled, step: 3 };
    compareDevices(
      gpu,
      `adam decoupled=${decoupled}`,
      [p, g, m, v],
      (d, [p_, g_, m_, v_]) => d.adamUpdate({ param: p_, grad: g_, m: m_, v: v_, ...args }),
      tol,
    );
  }
});

gpuTest("cuda: a training-like step reuses memory: no growth over 20 iterations", (gpu) => {
  const g = convGeometry(8, 16, 28, 32, 3, 1, 4);
  const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
  const ws = g.outChannels * (g.inChannels / g.groups) * 9;
  const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
  const before = gpu.memory().allocatedBytes;
  const reserved: number[] = [];
  const allocated: number[] = [];
  for (let step = 0; step < 20; step++) {
    const x = gpu.alloc(xs, "float32"), w = gpu.alloc(ws, "float32"), y = gpu.alloc(ys, "float32");
    gpu.fill(x, 0.5);
    gpu.fill(w, 0.25);
    gpu.conv2dForward({ geometry: g, x, w, y });
    const r = gpu.alloc(ys, "float32");
    gpu.unary({ op: "relu", x: y, out: r });
    const dx = gpu.alloc(xs, "float32"), dw = gpu.alloc(ws, "float32");
    gpu.conv2dBackwardData({ geometry: g, dy: r, w, dx });
    gpu.conv2dBackwardFilter({ geometry: g, x, dy: r, dw });
    gpu.axpy({ alpha: -0.1, x: dw, y: w });
    const s = gpu.alloc(1, "float32");
    gpu.sumTo({ x: y, xShape: [ys], out: s, outShape: [1] });
    gpu.read(s);
    for (const b of [r, y, s, dx, x, dw, w]) gpu.free(b);
    allocated.push(gpu.memory().allocatedBytes);
    reserved.push(gpu.memory().reservedBytes);
  }
  // The cuDNN workspace stays allocated between calls; everything else returns to the cache.
  assert.ok(allocated.every((a) => a === allocated[0]), `allocated bytes: ${allocated}`);
  assert.ok(allocated[0] - before <= 256 * 1024 * 1024, "only the workspace stays");
  assert.ok(
    reserved.every((r) => r === reserved[0]),
    `reserved bytes stop growing after the first step: ${reserved}`,
  );
});
