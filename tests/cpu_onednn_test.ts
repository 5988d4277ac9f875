import assert from "node:assert/strict";
import * as conv from "../nn/cpu/conv.ts";
import { oneDnnConvBackwardData, oneDnnConvBackwardWeights, oneDnnConvForward } from "../nn/cpu/onednn/conv.ts";
import { oneDnnBatchNormBackward, oneDnnBatchNormInfer, oneDnnBatchNormTrain } from "../nn/cpu/onednn/norm.ts";
import { oneDnnAdamUpdate } from "../nn/cpu/onednn/optim.ts";
import { oneDnnMaxPoolForward } from "../nn/cpu/onednn/pool.ts";
import { loadOneDnn, oneDnnInfo, type Runtime } from "../nn/cpu/onednn/runtime.ts";
import { adamUpdate } from "../nn/cpu/optim.ts";
import * as norm from "../nn/cpu/norm.ts";
import * as pool from "../nn/cpu/pool.ts";
import type { Conv2dGeometry } from "../nn/device.ts";
import { convGeometry } from "../nn/ops/conv.ts";
import { Generator } from "../nn/random.ts";
import { zeros } from "../nn/creation.ts";
import { assertClose, randomFloat32, testWith } from "./helpers.ts";

/** The oneDNN runtime; the test fails (it does not skip) when the library does not open. */
function oneDnn(): Runtime {
  const rt = loadOneDnn();
  const info = oneDnnInfo();
  console.log(`  ${info.detail}`);
  if (!rt) throw new Error(`oneDNN is not available here: ${info.detail}`);
  return rt;
}

/** Geometries covering EPSANet's branches, strides, 1x1 projections and odd shapes. */
function geometries(): Conv2dGeometry[] {
  const shapes: [
    number[],
    number[],
    { stride?: number; padding?: number; dilation?: number; groups?: number },
  ][] = [
    [[2, 16, 8, 8], [4, 16, 3, 3], { padding: 1 }],
    [[2, 16, 8, 8], [4, 4, 5, 5], { padding: 2, groups: 4 }],
    [[3, 16, 4, 4], [8, 2, 7, 7], { padding: 3, groups: 8 }],
    [[2, 16, 2, 2], [16, 1, 9, 9], { padding: 4, groups: 16 }],
    [[2, 16, 1, 1], [16, 1, 9, 9], { padding: 4, groups: 16, stride: 2 }],
    [[2, 8, 7, 6], [12, 8, 1, 1], { stride: 2 }],
    [[1, 3, 11, 11], [8, 3, 7, 7], { stride: 2, padding: 3 }],
    [[2, 6, 9, 9], [4, 3, 3, 3], { dilation: 2, padding: 2, groups: 2 }],
  ];
  return shapes.map(([x, w, o]) => convGeometry(zeros(x), zeros(w), o));
}

testWith("the live-tap im2col path equals a plain im2col of every tap", [], () => {
  // A 9x9 kernel on a 2x2 map: nearly every tap reads padding. Compare against a reference that
  // sums every tap directly.
  const g = new Generator(1);
  for (const geo of geometries()) {
    const x = randomFloat32(geo.batch * geo.inChannels * geo.inHeight * geo.inWidth, g);
    const w = randomFloat32(geo.outChannels * (geo.inChannels / geo.groups) * geo.kernelH * geo.kernelW, g);
    const y = new Float32Array(geo.batch * geo.outChannels * geo.outHeight * geo.outWidth);
    conv.conv2dForward({ geometry: geo, x, w, y });
    assertClose(y, directConv(geo, x, w), { rtol: 1e-4, atol: 1e-4 }, JSON.stringify(geo));
  }
});

function directConv(g: Conv2dGeometry, x: Float32Array, w: Float32Array): Float64Array {
  const out = new Float64Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  const cg = g.inChannels / g.groups;
  const kg = g.outChannels / g.groups;
  for (let n = 0; n < g.batch; n++) {
    for (let k = 0; k < g.outChannels; k++) {
      const grp = Math.floor(k / kg);
      for (let oh = 0; oh < g.outHeight; oh++) {
        for (let ow = 0; ow < g.outWidth; ow++) {
          let s = 0;
          for (let c = 0; c < cg; c++) {
            for (let i = 0; i < g.kernelH; i++) {
              for (let j = 0; j < g.kernelW; j++) {
                const ih = oh * g.strideH - g.padH + i * g.dilationH;
                const iw = ow * g.strideW - g.padW + j * g.dilationW;
                if (ih < 0 || iw < 0 || ih >= g.inHeight || iw >= g.inWidth) continue;
                s += x[((n * g.inChannels + grp * cg + c) * g.inHeight + ih) * g.inWidth + iw] *
                  w[((k * cg + c) * g.kernelH + i) * g.kernelW + j];
              }
            }
          }
          out[((n * g.outChannels + k) * g.outHeight + oh) * g.outWidth + ow] = s;
        }
      }
    }
  }
  return out;
}

testWith(
  "oneDNN convolutions agree with the im2col path forward and backward",
  ["ffi", "env", "read"],
  () => {
    const rt = oneDnn();
    const g = new Generator(2);
    for (const geo of geometries()) {
      const label = JSON.stringify(geo);
      const xSize = geo.batch * geo.inChannels * geo.inHeight * geo.inWidth;
      const wSize = geo.outChannels * (geo.inChannels / geo.groups) * geo.kernelH * geo.kernelW;
      const ySize = geo.batch * geo.outChannels * geo.outHeight * geo.outWidth;
      const x = randomFloat32(xSize, g);
      const w = randomFloat32(wSize, g);
      const dy = randomFloat32(ySize, g);
      const [y1, y2] = [new Float32Array(ySize), new Float32Array(ySize)];
      oneDnnConvForward(rt, { geometry: geo, x, w, y: y1 });
      conv.conv2dForward({ geometry: geo, x, w, y: y2 });
      assertClose(y1, y2, { rtol: 1e-4, atol: 1e-4 }, `forward ${label}`);
      const [dx1, dx2] = [new Float32Array(xSize), new Float32Array(xSize)];
      oneDnnConvBackwardData(rt, { geometry: geo, dy, w, dx: dx1 });
      conv.conv2dBackwardData({ geometry: geo, dy, w, dx: dx2 });
      assertClose(dx1, dx2, { rtol: 1e-4, atol: 1e-4 }, `backward data ${label}`);
      const [dw1, dw2] = [new Float32Array(wSize), new Float32Array(wSize)];
      oneDnnConvBackwardWeights(rt, { geometry: geo, x, dy, dw: dw1 });
      conv.conv2dBackwardFilter({ geometry: geo, x, dy, dw: dw2 });
      assertClose(dw1, dw2, { rtol: 1e-4, atol: 1e-4 }, `backward weights ${label}`);
    }
  },
);

testWith("oneDNN max pooling equals the TypeScript path exactly", ["ffi", "env", "read"], () => {
  const rt = oneDnn();
  const g = new Generator(4);
  // [input size, kernel, stride, padding]: the stems' 3x3/2 pool, odd sizes, stride 1, wide padding.
  const cases = [[16, 3, 2, 1], [15, 2, 2, 0], [7, 3, 1, 1], [9, 4, 3, 2], [5, 5, 1, 2], [6, 1, 1, 0]];
  for (const [size, kernel, stride, padding] of cases) {
    const out = Math.floor((size + 2 * padding - kernel) / stride) + 1;
    const geo = {
      batch: 3,
      channels: 5,
      inHeight: size,
      inWidth: size,
      outHeight: out,
      outWidth: out,
      kernelH: kernel,
      kernelW: kernel,
      strideH: stride,
      strideW: stride,
      padH: padding,
      padW: padding,
    };
    const x = randomFloat32(3 * 5 * size * size, g);
    const [y1, y2] = [new Float32Array(3 * 5 * out * out), new Float32Array(3 * 5 * out * out)];
    assert.ok(oneDnnMaxPoolForward(rt, { geometry: geo, x, y: y1 }), "oneDNN refused the pooling primitive");
    pool.maxPool2dForward({ geometry: geo, x, y: y2 });
    assert.deepEqual(y1, y2, JSON.stringify(geo));
  }
});

testWith("oneDNN batch norm agrees with the TypeScript path: train, running stats, inference, backward", [
  "ffi",
  "env",
  "read",
], () => {
  const rt = oneDnn();
  const g = new Generator(3);
  for (
    const geo of [{ batch: 4, channels: 3, spatial: 25 }, { batch: 32, channels: 64, spatial: 1 }, {
      batch: 2,
      channels: 16,
      spatial: 64,
    }]
  ) {
    const label = JSON.stringify(geo);
    const size = geo.batch * geo.channels * geo.spatial;
    const x = Float32Array.from(randomFloat32(size, g), (v, i) => 3 * v + (i % 7));
    const weight = randomFloat32(geo.channels, g);
    const bias = randomFloat32(geo.channels, g);
    const dy = randomFloat32(size, g);
    const outputs = [0, 1].map(() => ({
      y: new Float32Array(size),
      mean: new Float32Array(geo.channels),
      invStd: new Float32Array(geo.channels),
      rm: Float32Array.from({ length: geo.channels }, (_, c) => c / 10),
      rv: Float32Array.from({ length: geo.channels }, (_, c) => 1 + c / 10),
      infer: new Float32Array(size),
      dx: new Float32Array(size),
      dw: new Float32Array(geo.channels),
      db: new Float32Array(geo.channels),
    }));
    const [a, b] = outputs;
    const train = (o: typeof a) => ({
      geometry: geo,
      x,
      weight,
      bias,
      runningMean: o.rm,
      runningVar: o.rv,
      momentum: 0.1,
      eps: 1e-5,
      y: o.y,
      saveMean: o.mean,
      saveInvStd: o.invStd,
    });
    if (!oneDnnBatchNormTrain(rt, train(a))) throw new Error("oneDNN refused the batch norm primitive");
    norm.batchNormTrain(train(b));
    const tol = { rtol: 1e-4, atol: 1e-5 };
    for (const key of ["y", "mean", "invStd", "rm", "rv"] as const) assertClose(a[key], b[key], tol, `${key} ${label}`);
    const infer = (y: Float32Array) => ({
      geometry: geo,
      x,
      weight,
      bias,
      runningMean: b.rm,
      runningVar: b.rv,
      eps: 1e-5,
      y,
    });
    oneDnnBatchNormInfer(rt, infer(a.infer));
    norm.batchNormInfer(infer(b.infer));
    assertClose(a.infer, b.infer, tol, `inference ${label}`);
    const backward = (o: typeof a) => ({
      geometry: geo,
      x,
      dy,
      weight,
      saveMean: b.mean,
      saveInvStd: b.invStd,
      eps: 1e-5,
      dx: o.dx,
      dweight: o.dw,
      dbias: o.db,
    });
    oneDnnBatchNormBackward(rt, backward(a));
    norm.batchNormBackward(backward(b));
    for (const key of ["dx", "dw", "db"] as const) {
      assertClose(a[key], b[key], { rtol: 1e-3, atol: 1e-4 }, `${key} ${label}`);
    }
  }
});

testWith("oneDNN Adam agrees with the TypeScript update over several steps", ["ffi", "env", "read"], () => {
  const rt = oneDnn();
  const g = new Generator(4);
  const n = 40000;
  const param = randomFloat32(n, g);
  const [p1, p2] = [param.slice(), param.slice()];
  const [m1, m2, v1, v2] = [0, 0, 0, 0].map(() => new Float32Array(n));
  for (let step = 1; step <= 5; step++) {
    const grad = randomFloat32(n, g);
    const args = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step };
    if (!oneDnnAdamUpdate(rt, { param: p1, grad, m: m1, v: v1, ...args })) {
      throw new Error("oneDNN refused the Adam update");
    }
    adamUpdate({ param: p2, grad, m: m2, v: v2, ...args });
  }
  // float32 passes against a float64 loop: the moments agree to float32 rounding, the parameter
  // (1 ± 5e-2 after 5 steps of 1e-2) to a few ulps of its change.
  assertClose(m1, m2, { rtol: 1e-5, atol: 1e-7 }, "first moment");
  assertClose(v1, v2, { rtol: 1e-5, atol: 1e-9 }, "second moment");
  assertClose(p1, p2, { rtol: 0, atol: 2e-6 }, "parameter");
  const small = new Float32Array(100);
  const args = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 };
  assert.equal(
    oneDnnAdamUpdate(rt, { param: small, grad: small, m: small, v: small, ...args }),
    false,
    "small tensors stay in TypeScript",
  );
  assert.equal(
    oneDnnAdamUpdate(rt, { param: p1, grad: p1, m: m1, v: v1, ...args, weightDecay: 0.1 }),
    false,
    "weight decay stays in TypeScript",
  );
});
