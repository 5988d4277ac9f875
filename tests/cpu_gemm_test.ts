import assert from "node:assert/strict";
import { blasInfo, gemm, gemmTypeScript, type HostGemm } from "../nn/cpu/gemm.ts";
import { Generator } from "../nn/random.ts";
import { assertClose, randomFloat32, testWith } from "./helpers.ts";

function cases(): HostGemm[] {
  const g = new Generator(5);
  const out: HostGemm[] = [];
  for (const [m, n, k] of [[3, 4, 5], [17, 9, 33], [1, 64, 7], [40, 1, 3]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const beta of [0, 1]) {
          out.push({
            transA,
            transB,
            m,
            n,
            k,
            alpha: 0.5,
            a: randomFloat32(m * k + 3, g),
            aOffset: 3,
            b: randomFloat32(k * n + 1, g),
            bOffset: 1,
            beta,
            c: randomFloat32(m * n + 2, g),
            cOffset: 2,
          });
        }
      }
    }
  }
  return out;
}

function naive(p: HostGemm): Float64Array {
  const out = new Float64Array(p.m * p.n);
  for (let i = 0; i < p.m; i++) {
    for (let j = 0; j < p.n; j++) {
      let s = 0;
      for (let q = 0; q < p.k; q++) {
        const a = p.transA ? p.a[p.aOffset + q * p.m + i] : p.a[p.aOffset + i * p.k + q];
        const b = p.transB ? p.b[p.bOffset + j * p.k + q] : p.b[p.bOffset + q * p.n + j];
        s += a * b;
      }
      out[i * p.n + j] = p.alpha * s + (p.beta === 0 ? 0 : p.beta * p.c[p.cOffset + i * p.n + j]);
    }
  }
  return out;
}

Deno.test("the TypeScript GEMM matches a naive product for every transpose, offset and beta", () => {
  for (const p of cases()) {
    const expected = naive(p);
    gemmTypeScript(p);
    assertClose(
      p.c.subarray(p.cOffset),
      expected,
      { rtol: 1e-5, atol: 1e-5 },
      `m${p.m} n${p.n} k${p.k} tA${p.transA} tB${p.transB}`,
    );
  }
});

testWith("the BLAS GEMM and the TypeScript GEMM agree", ["ffi", "env", "read"], () => {
  const info = blasInfo();
  if (info.kind !== "blas") {
    console.log(`  no BLAS to compare (${info.detail}); install libopenblas0-pthread`);
    assert.fail(`OpenBLAS was not found: ${info.detail}`);
  }
  console.log(`  BLAS: ${info.detail}`);
  for (const p of cases()) {
    const copy = { ...p, c: p.c.slice() };
    gemm(p);
    gemmTypeScript(copy);
    assertClose(p.c, copy.c, { rtol: 1e-5, atol: 1e-5 }, `m${p.m} n${p.n} k${p.k}`);
  }
});
