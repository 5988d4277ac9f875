/**
 * The WebAssembly SIMD GEMM against the TypeScript reference (odd sizes, k = 1, transposes, alpha,
 * beta, offsets), and `deno task build-wasm --check` (the committed binary matches its source).
 */

import { gemmTypeScript, type HostGemm } from "../nn/cpu/gemm.ts";
import { gemmWasm } from "../nn/cpu/wasm/gemm.ts";
import { Generator } from "../nn/random.ts";
import { assertClose, granted, randomFloat32 } from "./helpers.ts";

const gen = new Generator(11);

function compare(m: number, n: number, k: number, transA: boolean, transB: boolean, alpha: number, beta: number) {
  const off = 3;
  const a = randomFloat32(m * k + off, gen), b = randomFloat32(k * n + off, gen), c0 = randomFloat32(m * n + off, gen);
  const base = { transA, transB, m, n, k, alpha, a, aOffset: off, b, bOffset: off, beta, cOffset: off };
  const want = c0.slice(), got = c0.slice();
  gemmTypeScript({ ...base, c: want } as HostGemm);
  gemmWasm({ ...base, c: got } as HostGemm);
  assertClose(got, want, { rtol: 1e-4, atol: 1e-4 });
}

Deno.test("wasm GEMM matches the TypeScript GEMM on odd sizes, k = 1 and every transpose", () => {
  const sizes: [number, number, number][] = [[1, 1, 1], [5, 9, 1], [7, 13, 3], [4, 8, 256], [33, 17, 300], [
    130,
    70,
    257,
  ], [3, 1030, 5]];
  for (const [m, n, k] of sizes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        compare(m, n, k, ta, tb, 1, 0);
        compare(m, n, k, ta, tb, 0.5, 1.5);
      }
    }
  }
});

Deno.test("wasm GEMM with k = 0 or alpha = 0 only scales C", () => {
  compare(5, 6, 0, false, false, 1, 2);
  compare(5, 6, 4, false, true, 0, 0);
});

Deno.test({
  name: "deno task build-wasm --check: the committed binary matches a rebuild",
  ignore: !granted("run") || !granted("read") || !granted("write"),
  async fn() {
    const clang = await new Deno.Command("clang", { args: ["--version"], stdout: "null", stderr: "null" }).output()
      .catch(() => null);
    if (!clang?.success) {
      console.log("skipped: clang not installed");
      return;
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../scripts/build_wasm.ts", import.meta.url).pathname, "--check"],
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  },
});
