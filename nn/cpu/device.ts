/**
 * The CPU device: typed arrays for memory, TypeScript kernels, GEMMs through a native BLAS.
 *
 * Freed arrays go to a cache keyed by dtype and length, because a training step allocates the same
 * shapes every time; reuse spares the zeroing and garbage collection of fresh arrays.
 *
 * @module
 */

import type {
  ActivationOp,
  AdamArgs,
  AxisGeometry,
  BatchNormGeometry,
  BinaryOp,
  BlockCopy,
  Conv2dGeometry,
  Device,
  DeviceBuffer,
  DeviceMemory,
  DType,
  GemmArgs,
  Pool2dGeometry,
  SgdArgs,
  UnaryOp,
} from "../device.ts";
import * as conv from "./conv.ts";
import * as elementwise from "./elementwise.ts";
import { blasInfo, type FloatArray, gemm } from "./gemm.ts";
import * as layout from "./layout.ts";
import * as norm from "./norm.ts";
import { oneDnnConvBackwardData, oneDnnConvBackwardWeights, oneDnnConvForward } from "./onednn/conv.ts";
import { oneDnnBatchNormBackward, oneDnnBatchNormInfer, oneDnnBatchNormTrain } from "./onednn/norm.ts";
import { oneDnnAdamUpdate } from "./onednn/optim.ts";
import { oneDnnMaxPoolForward } from "./onednn/pool.ts";
import { oneDnnInfo } from "./onednn/runtime.ts";
import * as optim from "./optim.ts";
import * as pool from "./pool.ts";
import * as softmax from "./softmax.ts";

/** Cached arrays beyond this many bytes are dropped instead of kept. */
const CACHE_LIMIT_BYTES = 4 * 1024 ** 3;

const f = (buffer: DeviceBuffer | null): FloatArray => buffer as unknown as FloatArray;

/**
 * The CPU device. Use the shared instance {@linkcode cpu} rather than constructing one.
 *
 * @example
 * ```ts
 * import { cpu } from "./device.ts";
 * const buffer = cpu.alloc(4, "float32", true);
 * cpu.fill(buffer, 1);
 * console.log(cpu.read(buffer)); // Float32Array [1, 1, 1, 1]
 * cpu.free(buffer);
 * ```
 */
export class CpuDevice implements Device {
  /** Always `"cpu"`. */
  readonly type = "cpu" as const;
  /** Always `"cpu"`. */
  readonly name = "cpu";
  /** float32 and float64. */
  readonly dtypes: readonly DType[] = ["float32", "float64"];
  #cache = new Map<string, FloatArray[]>();
  #allocated = 0;
  #cached = 0;
  #peak = 0;

  /** The CPU model and the BLAS behind GEMMs. */
  describe(): string {
    const info = blasInfo();
    const gemmText = info.kind === "blas" ? `BLAS ${info.detail}` : `TypeScript GEMM (${info.detail})`;
    const dnn = oneDnnInfo();
    const convText = dnn.available ? `convolutions: ${dnn.detail}` : `convolutions: im2col + GEMM (${dnn.detail})`;
    return `cpu: ${cpuModel()}, ${navigator.hardwareConcurrency} threads; ${gemmText}; ${convText}`;
  }

  alloc(length: number, dtype: DType, zero = false): DeviceBuffer {
    const key = `${dtype}:${length}`;
    const cached = this.#cache.get(key)?.pop();
    const bytes = length * (dtype === "float64" ? 8 : 4);
    let array: FloatArray;
    if (cached) {
      this.#cached -= bytes;
      array = cached;
      if (zero) array.fill(0);
    } else {
      // Through an ArrayBuffer so even tiny arrays live off the V8 heap: native libraries (oneDNN)
      // keep their data pointers between calls, and on-heap arrays can move.
      array = dtype === "float64"
        ? new Float64Array(new ArrayBuffer(length * 8))
        : new Float32Array(new ArrayBuffer(length * 4));
    }
    this.#allocated += bytes;
    this.#peak = Math.max(this.#peak, this.#allocated);
    return array as unknown as DeviceBuffer;
  }

  free(buffer: DeviceBuffer): void {
    const array = f(buffer);
    const dtype = array instanceof Float64Array ? "float64" : "float32";
    this.#allocated -= array.byteLength;
    if (this.#cached + array.byteLength > CACHE_LIMIT_BYTES) return;
    const key = `${dtype}:${array.length}`;
    let list = this.#cache.get(key);
    if (!list) this.#cache.set(key, list = []);
    list.push(array);
    this.#cached += array.byteLength;
  }

  write(buffer: DeviceBuffer, values: Float32Array | Float64Array): void {
    f(buffer).set(values);
  }

  read(buffer: DeviceBuffer): Float32Array | Float64Array {
    return f(buffer).slice();
  }

  fill(buffer: DeviceBuffer, value: number): void {
    f(buffer).fill(value);
  }

  copy(src: DeviceBuffer, dst: DeviceBuffer): void {
    f(dst).set(f(src));
  }

  memory(): DeviceMemory {
    return {
      allocatedBytes: this.#allocated,
      reservedBytes: this.#allocated + this.#cached,
      peakAllocatedBytes: this.#peak,
    };
  }

  resetPeakMemory(): void {
    this.#peak = this.#allocated;
  }

  emptyCache(): void {
    this.#cache.clear();
    this.#cached = 0;
    conv.releaseConvScratch();
  }

  synchronize(): void {}

  binary(
    op: BinaryOp,
    a: DeviceBuffer,
    aShape: readonly number[],
    b: DeviceBuffer,
    bShape: readonly number[],
    out: DeviceBuffer,
    outShape: readonly number[],
  ): void {
    elementwise.binary(op, f(a), aShape, f(b), bShape, f(out), outShape);
  }

  unary(op: UnaryOp, x: DeviceBuffer, out: DeviceBuffer): void {
    elementwise.unary(op, f(x), f(out));
  }

  activationBackward(op: ActivationOp, y: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer): void {
    elementwise.activationBackward(op, f(y), f(dy), f(dx));
  }

  affine(x: DeviceBuffer, out: DeviceBuffer, scale: number, shift: number): void {
    elementwise.affine(f(x), f(out), scale, shift);
  }

  pow(x: DeviceBuffer, out: DeviceBuffer, exponent: number): void {
    elementwise.pow(f(x), f(out), exponent);
  }

  axpy(alpha: number, x: DeviceBuffer, y: DeviceBuffer): void {
    elementwise.axpy(alpha, f(x), f(y));
  }

  sumTo(
    x: DeviceBuffer,
    xShape: readonly number[],
    out: DeviceBuffer,
    outShape: readonly number[],
  ): void {
    layout.sumTo(f(x), xShape, f(out), outShape);
  }

  permute(x: DeviceBuffer, shape: readonly number[], perm: readonly number[], y: DeviceBuffer): void {
    layout.permute(f(x), shape, perm, f(y));
  }

  copyBlocks(src: DeviceBuffer, dst: DeviceBuffer, copy: BlockCopy): void {
    layout.copyBlocks(f(src), f(dst), copy);
  }

  gemm(args: GemmArgs): void {
    const batch = args.batch ?? 1;
    const strideA = args.strideA ?? args.m * args.k;
    const strideB = args.strideB ?? args.k * args.n;
    const strideC = args.strideC ?? args.m * args.n;
    for (let i = 0; i < batch; i++) {
      gemm({
        transA: args.transA,
        transB: args.transB,
        m: args.m,
        n: args.n,
        k: args.k,
        alpha: args.alpha,
        a: f(args.a),
        aOffset: i * strideA,
        b: f(args.b),
        bOffset: i * strideB,
        beta: args.beta,
        c: f(args.c),
        cOffset: i * strideC,
      });
    }
  }

  conv2dForward(g: Conv2dGeometry, x: DeviceBuffer, w: DeviceBuffer, y: DeviceBuffer): void {
    const [xa, wa, ya] = [f(x), f(w), f(y)];
    if (ya instanceof Float32Array && oneDnnConvForward(g, xa as Float32Array, wa as Float32Array, ya)) {
      return;
    }
    conv.conv2dForward(g, xa, wa, ya);
  }

  conv2dBackwardData(g: Conv2dGeometry, dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer): void {
    const [dya, wa, dxa] = [f(dy), f(w), f(dx)];
    if (
      dxa instanceof Float32Array && oneDnnConvBackwardData(g, dya as Float32Array, wa as Float32Array, dxa)
    ) return;
    conv.conv2dBackwardData(g, dya, wa, dxa);
  }

  conv2dBackwardFilter(
    g: Conv2dGeometry,
    x: DeviceBuffer,
    dy: DeviceBuffer,
    dw: DeviceBuffer,
  ): void {
    const [xa, dya, dwa] = [f(x), f(dy), f(dw)];
    if (
      dwa instanceof Float32Array &&
      oneDnnConvBackwardWeights(g, xa as Float32Array, dya as Float32Array, dwa)
    ) return;
    conv.conv2dBackwardFilter(g, xa, dya, dwa);
  }

  batchNormTrain(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    runningMean: DeviceBuffer | null,
    runningVar: DeviceBuffer | null,
    momentum: number,
    eps: number,
    y: DeviceBuffer,
    saveMean: DeviceBuffer,
    saveInvStd: DeviceBuffer,
  ): void {
    const args = [
      g,
      f(x),
      f(weight),
      f(bias),
      runningMean && f(runningMean),
      runningVar && f(runningVar),
      momentum,
      eps,
      f(y),
      f(saveMean),
      f(saveInvStd),
    ] as const;
    if (
      args[1] instanceof Float32Array &&
      oneDnnBatchNormTrain(...(args as unknown as Parameters<typeof oneDnnBatchNormTrain>))
    ) {
      return;
    }
    norm.batchNormTrain(...args);
  }

  batchNormInfer(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    runningMean: DeviceBuffer,
    runningVar: DeviceBuffer,
    eps: number,
    y: DeviceBuffer,
  ): void {
    const args = [g, f(x), f(weight), f(bias), f(runningMean), f(runningVar), eps, f(y)] as const;
    if (
      args[1] instanceof Float32Array &&
      oneDnnBatchNormInfer(...(args as unknown as Parameters<typeof oneDnnBatchNormInfer>))
    ) {
      return;
    }
    norm.batchNormInfer(...args);
  }

  batchNormBackward(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    dy: DeviceBuffer,
    weight: DeviceBuffer,
    saveMean: DeviceBuffer,
    saveInvStd: DeviceBuffer,
    dx: DeviceBuffer,
    dweight: DeviceBuffer,
    dbias: DeviceBuffer,
  ): void {
    const args = [g, f(x), f(dy), f(weight), f(saveMean), f(saveInvStd), f(dx), f(dweight), f(dbias)] as const;
    if (
      args[1] instanceof Float32Array &&
      oneDnnBatchNormBackward(...(args as unknown as Parameters<typeof oneDnnBatchNormBackward>))
    ) {
      return;
    }
    norm.batchNormBackward(...args);
  }

  maxPool2dForward(g: Pool2dGeometry, x: DeviceBuffer, y: DeviceBuffer): void {
    const [xa, ya] = [f(x), f(y)];
    if (ya instanceof Float32Array && oneDnnMaxPoolForward(g, xa as Float32Array, ya)) return;
    pool.maxPool2dForward(g, xa, ya);
  }

  maxPool2dBackward(
    g: Pool2dGeometry,
    x: DeviceBuffer,
    y: DeviceBuffer,
    dy: DeviceBuffer,
    dx: DeviceBuffer,
  ): void {
    pool.maxPool2dBackward(g, f(x), f(y), f(dy), f(dx));
  }

  adaptiveAvgPool2dForward(g: Pool2dGeometry, x: DeviceBuffer, y: DeviceBuffer): void {
    pool.adaptiveAvgPool2dForward(g, f(x), f(y));
  }

  adaptiveAvgPool2dBackward(g: Pool2dGeometry, dy: DeviceBuffer, dx: DeviceBuffer): void {
    pool.adaptiveAvgPool2dBackward(g, f(dy), f(dx));
  }

  softmaxForward(g: AxisGeometry, x: DeviceBuffer, y: DeviceBuffer, log: boolean): void {
    softmax.softmaxForward(g, f(x), f(y), log);
  }

  softmaxBackward(
    g: AxisGeometry,
    y: DeviceBuffer,
    dy: DeviceBuffer,
    dx: DeviceBuffer,
    log: boolean,
  ): void {
    softmax.softmaxBackward(g, f(y), f(dy), f(dx), log);
  }

  crossEntropyForward(
    batch: number,
    classes: number,
    logits: DeviceBuffer,
    targets: Int32Array,
    labelSmoothing: number,
    losses: DeviceBuffer,
  ): void {
    softmax.crossEntropyForward(batch, classes, f(logits), targets, labelSmoothing, f(losses));
  }

  crossEntropyBackward(
    batch: number,
    classes: number,
    logits: DeviceBuffer,
    targets: Int32Array,
    labelSmoothing: number,
    dLoss: DeviceBuffer,
    dlogits: DeviceBuffer,
  ): void {
    softmax.crossEntropyBackward(
      batch,
      classes,
      f(logits),
      targets,
      labelSmoothing,
      f(dLoss),
      f(dlogits),
    );
  }

  sgdUpdate(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    momentumBuffer: DeviceBuffer | null,
    args: SgdArgs,
  ): void {
    optim.sgdUpdate(f(param), f(grad), momentumBuffer && f(momentumBuffer), args);
  }

  adamUpdate(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    m: DeviceBuffer,
    v: DeviceBuffer,
    args: AdamArgs,
  ): void {
    const [p, g, first, second] = [f(param), f(grad), f(m), f(v)];
    if (
      p instanceof Float32Array &&
      oneDnnAdamUpdate(p, g as Float32Array, first as Float32Array, second as Float32Array, args)
    ) {
      return;
    }
    optim.adamUpdate(p, g, first, second, args);
  }
}

function cpuModel(): string {
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    return text.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? Deno.build.arch;
  } catch {
    return Deno.build.arch;
  }
}

/**
 * The shared CPU device.
 *
 * @example
 * ```ts
 * import { cpu } from "./device.ts";
 * console.log(cpu.describe());
 * ```
 */
export const cpu: CpuDevice = new CpuDevice();
