import * as conv from "../nn/cpu/conv.ts";
import { oneDnnConvBackwardData, oneDnnConvBackwardWeights, oneDnnConvForward, oneDnnInfo } from "../nn/cpu/onednn.ts";
import type { Conv2dGeometry } from "../nn/device.ts";
import { convGeometry } from "../nn/ops/conv.ts";
import { Generator } from "../nn/random.ts";
import { zeros } from "../nn/tensor.ts";
import { assertClose, testWith } from "./helpers.ts";

function random(n: number, g: Generator): Float32Array {
  return Float32Array.from({ length: n }, () => g.normal());
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
    const x = random(geo.batch * geo.inChannels * geo.inHeight * geo.inWidth, g);
    const w = random(geo.outChannels * (geo.inChannels / geo.groups) * geo.kernelH * geo.kernelW, g);
    const y = new Float32Array(geo.batch * geo.outChannels * geo.outHeight * geo.outWidth);
    conv.conv2dForward(geo, x, w, y);
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
    const info = oneDnnInfo();
    console.log(`  ${info.detail}`);
    if (!info.available) throw new Error(`oneDNN is not available here: ${info.detail}`);
    const g = new Generator(2);
    for (const geo of geometries()) {
      const label = JSON.stringify(geo);
      const xSize = geo.batch * geo.inChannels * geo.inHeight * geo.inWidth;
      const wSize = geo.outChannels * (geo.inChannels / geo.groups) * geo.kernelH * geo.kernelW;
      const ySize = geo.batch * geo.outChannels * geo.outHeight * geo.outWidth;
      const x = random(xSize, g);
      const w = random(wSize, g);
      const dy = random(ySize, g);
      const [y1, y2] = [new Float32Array(ySize), new Float32Array(ySize)];
      oneDnnConvForward(geo, x, w, y1);
      conv.conv2dForward(geo, x, w, y2);
      assertClose(y1, y2, { rtol: 1e-4, atol: 1e-4 }, `forward ${label}`);
      const [dx1, dx2] = [new Float32Array(xSize), new Float32Array(xSize)];
      oneDnnConvBackwardData(geo, dy, w, dx1);
      conv.conv2dBackwardData(geo, dy, w, dx2);
      assertClose(dx1, dx2, { rtol: 1e-4, atol: 1e-4 }, `backward data ${label}`);
      const [dw1, dw2] = [new Float32Array(wSize), new Float32Array(wSize)];
      oneDnnConvBackwardWeights(geo, x, dy, dw1);
      conv.conv2dBackwardFilter(geo, x, dy, dw2);
      assertClose(dw1, dw2, { rtol: 1e-4, atol: 1e-4 }, `backward weights ${label}`);
    }
  },
);
