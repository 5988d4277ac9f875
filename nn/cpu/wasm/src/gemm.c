// Single-precision row-major GEMM for WebAssembly SIMD (f32x4), built by scripts/build_wasm.ts.
//
// C = alpha * op(A) * op(B) + beta * C, with op(A) m x k and op(B) k x n, C m x n (ld = n).
// Goto-style blocking: B is packed into KC x NR panels, A into MR x KC panels (zero padded, so the
// micro-kernel never branches on edges), and a 4 x 8 register tile (8 f32x4 accumulators) is
// computed per micro-kernel call. Edge tiles are computed in full and only the valid part is stored.
// No libc: the pack buffers are static, the operands live where the TypeScript wrapper copies them.

#include <wasm_simd128.h>

#define MR 4
#define NR 8
#define KC 256
#define MC 128
#define NC 1024

static float pack_a[MC * KC] __attribute__((aligned(16)));
static float pack_b[NC * KC] __attribute__((aligned(16)));

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row panels, depth-major inside a panel.
static void pack_lhs(int trans, const float *a, int m, int k, int i0, int mc, int p0, int kc) {
  float *dst = pack_a;
  for (int ip = 0; ip < mc; ip += MR) {
    int rows = mc - ip < MR ? mc - ip : MR;
    for (int p = 0; p < kc; p++) {
      for (int r = 0; r < MR; r++) {
        int i = i0 + ip + r;
        float v = 0.0f;
        if (r < rows) v = trans ? a[(long)(p0 + p) * m + i] : a[(long)i * k + p0 + p];
        dst[r] = v;
      }
      dst += MR;
    }
  }
}

// Packs depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column panels, depth-major.
static void pack_rhs(int trans, const float *b, int n, int k, int j0, int nc, int p0, int kc) {
  float *dst = pack_b;
  for (int jp = 0; jp < nc; jp += NR) {
    int cols = nc - jp < NR ? nc - jp : NR;
    if (!trans && cols == NR) {
      for (int p = 0; p < kc; p++) {
        const float *src = b + (long)(p0 + p) * n + j0 + jp;
        wasm_v128_store(dst, wasm_v128_load(src));
        wasm_v128_store(dst + 4, wasm_v128_load(src + 4));
        dst += NR;
      }
      continue;
    }
    for (int p = 0; p < kc; p++) {
      for (int c = 0; c < NR; c++) {
        int j = j0 + jp + c;
        float v = 0.0f;
        if (c < cols) v = trans ? b[(long)j * k + p0 + p] : b[(long)(p0 + p) * n + j];
        dst[c] = v;
      }
      dst += NR;
    }
  }
}

// One MR x NR tile over kc steps; stores rows x cols of alpha * acc + beta * C (beta 0: C not read).
static void kernel(int kc, const float *pa, const float *pb, float *c, int ldc, int rows, int cols, float alpha,
                   float beta) {
  v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int p = 0; p < kc; p++) {
    v128_t b0 = wasm_v128_load(pb), b1 = wasm_v128_load(pb + 4);
    v128_t a0 = wasm_f32x4_splat(pa[0]);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
    v128_t a1 = wasm_f32x4_splat(pa[1]);
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a1, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a1, b1));
    v128_t a2 = wasm_f32x4_splat(pa[2]);
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a2, b0));
    c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a2, b1));
    v128_t a3 = wasm_f32x4_splat(pa[3]);
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a3, b0));
    c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a3, b1));
    pa += MR;
    pb += NR;
  }
  v128_t acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
  v128_t va = wasm_f32x4_splat(alpha), vb = wasm_f32x4_splat(beta);
  if (cols == NR) {
    for (int r = 0; r < rows; r++) {
      float *row = c + (long)r * ldc;
      v128_t x0 = wasm_f32x4_mul(acc[r][0], va), x1 = wasm_f32x4_mul(acc[r][1], va);
      if (beta != 0.0f) {
        x0 = wasm_f32x4_add(x0, wasm_f32x4_mul(wasm_v128_load(row), vb));
        x1 = wasm_f32x4_add(x1, wasm_f32x4_mul(wasm_v128_load(row + 4), vb));
      }
      wasm_v128_store(row, x0);
      wasm_v128_store(row + 4, x1);
    }
    return;
  }
  float tile[MR * NR] __attribute__((aligned(16)));
  for (int r = 0; r < MR; r++) {
    wasm_v128_store(tile + r * NR, acc[r][0]);
    wasm_v128_store(tile + r * NR + 4, acc[r][1]);
  }
  for (int r = 0; r < rows; r++) {
    float *row = c + (long)r * ldc;
    for (int j = 0; j < cols; j++) {
      row[j] = beta == 0.0f ? alpha * tile[r * NR + j] : alpha * tile[r * NR + j] + beta * row[j];
    }
  }
}

// Scales C by beta (zeroing it when beta is 0); used when k is 0 or alpha is 0.
static void scale(float *c, long count, float beta) {
  for (long i = 0; i < count; i++) c[i] = beta == 0.0f ? 0.0f : c[i] * beta;
}

__attribute__((export_name("sgemm"))) void sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                                                  const float *a, const float *b, float beta, float *c) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale(c, (long)m * n, beta);
    return;
  }
  for (int j0 = 0; j0 < n; j0 += NC) {
    int nc = n - j0 < NC ? n - j0 : NC;
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = k - p0 < KC ? k - p0 : KC;
      float b_eff = p0 == 0 ? beta : 1.0f;  // later depth blocks accumulate onto the first
      pack_rhs(trans_b, b, n, k, j0, nc, p0, kc);
      for (int i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? m - i0 : MC;
        pack_lhs(trans_a, a, m, k, i0, mc, p0, kc);
        for (int jp = 0; jp < nc; jp += NR) {
          int cols = nc - jp < NR ? nc - jp : NR;
          for (int ip = 0; ip < mc; ip += MR) {
            int rows = mc - ip < MR ? mc - ip : MR;
            kernel(kc, pack_a + ip * kc, pack_b + jp * kc, c + (long)(i0 + ip) * n + j0 + jp, n, rows, cols,
                   alpha, b_eff);
          }
        }
      }
    }
  }
}
