/**
 * Host-side logic of the CUDA device checked against emulations, no GPU needed: allocator, index plans, GEMM mapping, algorithm choice, parameter slots.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CUDNN_ALGO_PERF_BYTES, CUDNN_FMA_MATH } from "../../ffi/cudnn.ts";
import { cpu } from "../../nn/cpu/device.ts";
import { CachingAllocator, sizeClass } from "../../nn/cuda/allocator.ts";
import { StatusCheck } from "../../nn/cuda/check.ts";
import { pickAlgorithm } from "../../nn/cuda/conv.ts";
import { gemm as cudaGemm } from "../../nn/cuda/gemm.ts";
import { slotLayout } from "../../nn/cuda/launch.ts";
import type { CudaRuntime } from "../../nn/cuda/runtime.ts";
import type { CudaBuffer } from "../../nn/cuda/buffer.ts";
import { fitsDims } from "../../nn/cuda/elementwise.ts";
import type { BinaryOp, GemmArgs } from "../../nn/device.ts";
import { broadcastPlan, permutePlan, type ReductionPlan, reductionPlan } from "../../nn/device/plan.ts";
import { partialsPlan, type ReductionSplit, reductionSplit } from "../../nn/cuda/layout.ts";
import { assertClose, assertThrows } from "../helpers.ts";
import { randomArray, size } from "./support.ts";

// ---------------------------------------------------------------------------------------------
// Host-side logic, checked against emulations (no GPU needed)

function fakeBackend(limit = Infinity) {
  const calls = { malloc: 0, free: 0, sync: 0 };
  let next = 0x1000n;
  let used = 0;
  return {
    calls,
    backend: {
      malloc(bytes: bigint): bigint | null {
        calls.malloc++;
        if (used + Number(bytes) > limit) return null;
        used += Number(bytes);
        next += bytes;
        return next;
      },
      free(): void {
        calls.free++;
      },
      synchronize(): void {
        calls.sync++;
      },
      release(bytes: number): void {
        used -= bytes;
      },
    },
  };
}

Deno.test("the caching allocator rounds to size classes and reuses freed blocks", () => {
  assert.equal(sizeClass(0), 512);
  assert.equal(sizeClass(513), 1024);
  assert.equal(sizeClass(1024 * 1024), 1024 * 1024);
  assert.equal(sizeClass(1024 * 1024 + 1), 1024 * 1024 + 128 * 1024);
  assert.equal(sizeClass(40 * 1024 * 1024 + 1), 42 * 1024 * 1024);
  const { calls, backend } = fakeBackend();
  const allocator = new CachingAllocator(backend);
  const sizes = [4, 1000, 4096, 3 << 20, 50 << 20, 1000];
  const reserved: number[] = [];
  for (let step = 0; step < 20; step++) {
    const blocks = sizes.map((s) => allocator.alloc(s));
    assert.equal(allocator.allocatedBytes, blocks.reduce((t, b) => t + b.size, 0));
    for (const b of blocks.reverse()) allocator.free(b);
    assert.equal(allocator.allocatedBytes, 0);
    reserved.push(allocator.reservedBytes);
  }
  assert.equal(calls.malloc, sizes.length, "the driver is asked only in the first step");
  assert.ok(reserved.every((r) => r === reserved[0]), "reserved bytes stop growing after the first step");
  assert.equal(allocator.peakAllocatedBytes, reserved[0]);
  allocator.resetPeak();
  assert.equal(allocator.peakAllocatedBytes, 0);
  allocator.emptyCache();
  assert.equal(allocator.reservedBytes, 0);
  assert.equal(calls.free, sizes.length);
  assert.ok(calls.sync >= 1, "releasing memory waits for the stream");
});

Deno.test("the caching allocator frees its cache and retries once when the device is full", () => {
  const { calls, backend } = fakeBackend(4096);
  const allocator = new CachingAllocator({ ...backend, free: () => backend.release(2048) });
  const a = allocator.alloc(2048);
  const b = allocator.alloc(2048);
  allocator.free(a);
  allocator.free(b);
  const c = allocator.alloc(4096);
  assert.equal(c.size, 4096);
  assert.equal(allocator.reservedBytes, 4096);
  assert.ok(calls.sync >= 1);
  assertThrows(
    () => allocator.alloc(100),
    /CUDA out of memory: cannot allocate 0\.0 MiB with 0\.0 MiB in use/,
  );
  allocator.free(c);
  assertThrows(() => allocator.free(c), /not a live allocation/);
});

/** Runs a broadcast plan the way binary_op does, on host arrays. */
function emulateBinary(
  op: BinaryOp,
  a: Float32Array,
  b: Float32Array,
  outShape: number[],
  plan: ReturnType<typeof broadcastPlan>,
): Float32Array {
  const n = outShape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let rest = i, ai = 0, bi = 0;
    for (let d = plan.size.length - 1; d >= 0; d--) {
      const idx = rest % plan.size[d];
      rest = Math.floor(rest / plan.size[d]);
      ai += idx * plan.aStride[d];
      bi += idx * plan.bStride[d];
    }
    const x = a[ai], y = b[bi];
    out[i] = op === "add" ? x + y : op === "sub" ? x - y : op === "mul" ? x * y : x / y;
  }
  return out;
}

Deno.test("broadcast plans index like the CPU device's binary()", () => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4, 5], [2, 3, 4, 5]],
    [[2, 3, 4, 5], [1, 3, 1, 1]],
    [[1, 3, 1, 1], [2, 3, 4, 5]],
    [[2, 3, 4, 5], [1, 1, 1, 1]],
    [[2, 1, 4, 1], [1, 3, 1, 5]],
    [[4, 1], [1, 6]],
    [[7], [1]],
    [[1, 1], [1, 1]],
    [[2, 3, 1, 5, 2, 3], [1, 3, 4, 1, 2, 1]],
  ];
  for (const [aShape, bShape] of cases) {
    const outShape = aShape.map((s, i) => Math.max(s, bShape[i]));
    const a = randomArray(size(aShape), 1);
    const b = randomArray(size(bShape), 2);
    for (const op of ["add", "sub", "mul", "div"] as const) {
      const expected = new Float32Array(size(outShape));
      cpu.binary({ op, a, aShape, b, bShape, out: expected, outShape });
      const got = emulateBinary(op, a, b, outShape, broadcastPlan(aShape, bShape, outShape));
      assert.deepEqual(got, expected, `${op} [${aShape}] with [${bShape}]`);
    }
  }
  assertThrows(
    () =>
      fitsDims(
        "binary",
        broadcastPlan([2, 1, 2, 1, 2, 1, 2, 1], [1, 2, 1, 2, 1, 2, 1, 2], [2, 2, 2, 2, 2, 2, 2, 2]).size.length,
      ),
    /the CUDA kernels take 6/,
  );
});

/** Runs sum_to the way the kernel indexes: block b = o * splits + s sums slice s of output o. */
function emulateSumTo(x: Float32Array, p: ReductionPlan, split: ReductionSplit, divisor: number): Float32Array {
  const out = new Float32Array(p.outCount * split.splits);
  for (let b = 0; b < out.length; b++) {
    const o = Math.floor(b / split.splits);
    const begin = (b - o * split.splits) * split.chunk;
    const end = Math.min(begin + split.chunk, p.reduceCount);
    let rest = o, base = 0;
    for (let d = p.keptSize.length - 1; d >= 0; d--) {
      base += (rest % p.keptSize[d]) * p.keptStride[d];
      rest = Math.floor(rest / p.keptSize[d]);
    }
    let acc = 0;
    for (let r = begin; r < end; r++) {
      let left = r, offset = base;
      for (let d = p.reducedSize.length - 1; d >= 0; d--) {
        offset += (left % p.reducedSize[d]) * p.reducedStride[d];
        left = Math.floor(left / p.reducedSize[d]);
      }
      acc += x[offset];
    }
    out[b] = acc / divisor;
  }
  return out;
}

Deno.test("reduction plans sum like the CPU device's sumTo(), in one pass or split into partials", () => {
  const cases: [number[], number[]][] = [
    [[8, 16, 7, 7], [1, 16, 1, 1]],
    [[8, 16, 7, 7], [8, 16, 1, 1]],
    [[8, 16, 7, 7], [1, 1, 1, 1]],
    [[8, 16, 7, 7], [8, 16, 7, 7]],
    [[5, 10], [1, 10]],
    [[5, 10], [5, 1]],
    [[3, 4, 5, 6], [3, 1, 5, 1]],
    [[1, 4, 1, 6], [1, 1, 1, 6]],
    [[1, 1], [1, 1]],
    [[10007], [1]],
    [[64, 8, 1000], [1, 8, 1]],
    [[32, 64, 28, 28], [1, 64, 1, 1]],
    [[4, 300, 300], [1, 1, 1]],
  ];
  let splitCases = 0;
  for (const [xShape, outShape] of cases) {
    const x = randomArray(size(xShape), 3);
    const expected = new Float32Array(size(outShape));
    cpu.sumTo({ x, xShape, out: expected, outShape });
    const p = reductionPlan(xShape, outShape);
    assert.equal(p.outCount, size(outShape));
    // The CPU device sums in float32, the emulation in float64: long sums differ by more.
    const tolerance = p.reduceCount > 4096 ? { rtol: 1e-4, atol: 1e-3 } : { rtol: 1e-6, atol: 1e-6 };
    const onePass = emulateSumTo(x, p, { splits: 1, chunk: p.reduceCount }, 1);
    assertClose(onePass, expected, tolerance, `[${xShape}] -> [${outShape}]`);
    const split = reductionSplit(p.outCount, p.reduceCount);
    assert.ok(split.chunk * split.splits >= p.reduceCount && split.chunk * (split.splits - 1) < p.reduceCount);
    if (split.splits === 1) continue;
    splitCases++;
    assert.equal(split.chunk % 32, 0);
    assert.ok(split.chunk >= 4096, `[${xShape}] -> [${outShape}]: each slice is worth a block`);
    const partials = emulateSumTo(x, p, split, 1);
    const got = emulateSumTo(partials, partialsPlan(p.outCount, split.splits), { splits: 1, chunk: split.splits }, 4);
    assertClose(got, expected.map((v) => v / 4), tolerance, `split [${xShape}] -> [${outShape}]`);
  }
  assert.equal(splitCases, 4);
  assert.deepEqual(reductionSplit(1, 1 << 20), { splits: 256, chunk: 4096 });
  assert.deepEqual(reductionSplit(2048, 1 << 20), { splits: 1, chunk: 1 << 20 }, "many outputs fill the GPU alone");
  assert.deepEqual(reductionSplit(1, 8000), { splits: 1, chunk: 8000 }, "short reductions stay one pass");
});

Deno.test("permute plans index like the CPU device's permute()", () => {
  const cases: [number[], number[]][] = [
    [[2, 3], [1, 0]],
    [[2, 3, 4], [0, 2, 1]],
    [[2, 3, 4, 5], [0, 2, 3, 1]],
    [[2, 3, 4, 5], [3, 2, 1, 0]],
    [[2, 1, 4, 1], [3, 2, 1, 0]],
    [[6], [0]],
    [[2, 3, 4, 5, 2, 3], [5, 3, 1, 0, 2, 4]],
  ];
  for (const [shape, perm] of cases) {
    const x = randomArray(size(shape), 4);
    const expected = new Float32Array(x.length);
    cpu.permute({ x, shape, perm, y: expected });
    const p = permutePlan(shape, perm);
    const got = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      let rest = i, offset = 0;
      for (let d = p.size.length - 1; d >= 0; d--) {
        offset += (rest % p.size[d]) * p.inStride[d];
        rest = Math.floor(rest / p.size[d]);
      }
      got[i] = x[offset];
    }
    assert.deepEqual(got, expected, `[${shape}] by [${perm}]`);
  }
});

/** Column-major SGEMM exactly as the BLAS reference defines it, over one host memory. */
function referenceSgemm(
  memory: Float32Array,
  transa: number,
  transb: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  beta: number,
  c: number,
  ldc: number,
): number {
  const rowsA = transa === 0 ? m : k;
  const rowsB = transb === 0 ? k : n;
  if (lda < Math.max(1, rowsA) || ldb < Math.max(1, rowsB) || ldc < Math.max(1, m)) return 7; // INVALID_VALUE
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < m; i++) {
      let sum = 0;
      for (let l = 0; l < k; l++) {
        const av = transa === 0 ? memory[a + i + l * lda] : memory[a + l + i * lda];
        const bv = transb === 0 ? memory[b + l + j * ldb] : memory[b + j + l * ldb];
        sum += av * bv;
      }
      const at = c + i + j * ldc;
      memory[at] = alpha * sum + (beta === 0 ? 0 : beta * memory[at]);
    }
  }
  return 0;
}

Deno.test("gemm() maps row-major GEMMs onto column-major cuBLAS calls correctly", () => {
  // Device addresses are byte offsets into one host array.
  const memory = new Float32Array(1 << 16);
  const at = (address: bigint): number => Number(address) / 4;
  const fake = {
    check: new StatusCheck({}),
    cublas: null,
    blas: {
      cublasSgemm_v2: (
        _h: unknown,
        ta: number,
        tb: number,
        m: number,
        n: number,
        k: number,
        al: Float32Array,
        a: bigint,
        lda: number,
        b: bigint,
        ldb: number,
        be: Float32Array,
        c: bigint,
        ldc: number,
      ) => referenceSgemm(memory, ta, tb, m, n, k, al[0], at(a), lda, at(b), ldb, be[0], at(c), ldc),
      cublasSgemmStridedBatched: (
        _h: unknown,
        ta: number,
        tb: number,
        m: number,
        n: number,
        k: number,
        al: Float32Array,
        a: bigint,
        lda: number,
        sa: bigint,
        b: bigint,
        ldb: number,
        sb: bigint,
        be: Float32Array,
        c: bigint,
        ldc: number,
        sc: bigint,
        count: number,
      ) => {
        for (let i = 0; i < count; i++) {
          const s = referenceSgemm(
            memory,
            ta,
            tb,
            m,
            n,
            k,
            al[0],
            at(a) + i * Number(sa),
            lda,
            at(b) + i * Number(sb),
            ldb,
            be[0],
            at(c) + i * Number(sc),
            ldc,
          );
          if (s !== 0) return s;
        }
        return 0;
      },
    },
  } as unknown as CudaRuntime;
  const A = 0, B = 16384, C = 32768;
  const cases: Omit<GemmArgs<unknown>, "a" | "b" | "c">[] = [];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      cases.push({ transA, transB, m: 5, n: 7, k: 3, alpha: 1, beta: 0 });
      cases.push({ transA, transB, m: 4, n: 6, k: 9, alpha: 0.5, beta: 2, batch: 3 });
      cases.push({ transA, transB, m: 3, n: 2, k: 4, alpha: 1, beta: 1, batch: 2, strideA: 0, strideC: 10 });
    }
  }
  cases.push({ transA: false, transB: false, m: 3, n: 4, k: 0, alpha: 1, beta: 0.5 });
  cases.push({ transA: true, transB: true, m: 1, n: 1, k: 1, alpha: 1, beta: 0 });
  for (const c of cases) {
    const init = [randomArray(2048, 5), randomArray(2048, 6), randomArray(2048, 7)];
    memory.set(init[0], A);
    memory.set(init[1], B);
    memory.set(init[2], C);
    const at = (offset: number): CudaBuffer => ({
      ptr: BigInt(offset * 4),
      length: 2048,
      dtype: "float32",
      bytes: 8192,
    });
    cudaGemm(fake, { ...c, a: at(A), b: at(B), c: at(C) });
    const expected = init[2].slice();
    cpu.gemm({ ...c, a: init[0], b: init[1], c: expected });
    assertClose(memory.subarray(C, C + 2048), expected, { rtol: 1e-5, atol: 1e-5 }, JSON.stringify(c));
  }
});

Deno.test("pickAlgorithm() takes the fastest successful algorithm, with FMA math unless TF32 is allowed", () => {
  const perf = new Uint8Array(CUDNN_ALGO_PERF_BYTES * 3);
  const view = new DataView(perf.buffer);
  const entry = (i: number, algo: number, status: number, math: number) => {
    view.setInt32(i * CUDNN_ALGO_PERF_BYTES, algo, true);
    view.setInt32(i * CUDNN_ALGO_PERF_BYTES + 4, status, true);
    view.setInt32(i * CUDNN_ALGO_PERF_BYTES + 28, math, true);
  };
  entry(0, 6, 3000, CUDNN_FMA_MATH);
  entry(1, 1, 0, 1);
  entry(2, 0, 0, CUDNN_FMA_MATH);
  assert.deepEqual(pickAlgorithm(perf, 3, true), { algo: 1, mathType: 1 });
  assert.deepEqual(pickAlgorithm(perf, 3, false), { algo: 0, mathType: CUDNN_FMA_MATH });
  assert.deepEqual(
    pickAlgorithm(perf, 2, false),
    { algo: 1, mathType: 1 },
    "falls back to any successful one",
  );
  assert.equal(pickAlgorithm(perf, 1, false), null);
});

Deno.test("kernel parameter slots are 8 bytes, 24 for Dims", () => {
  assert.deepEqual(slotLayout(["ptr", "i32", "dims", "f32", "dims"]), {
    offsets: [0, 8, 16, 40, 48],
    bytes: 72,
  });
});
