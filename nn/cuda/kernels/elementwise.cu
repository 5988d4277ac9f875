// Element-wise float32 kernels: broadcasting binary ops, unary ops, activation gradients,
// affine, pow and axpy. Each thread walks elements with a grid-stride loop; the host caps
// the element count so that `i + stride` never overflows an int.

// Up to six dims, innermost last: passed by value as one kernel parameter.
struct Dims {
  int v[6];
};

#define GRID_STRIDE(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// out = a op b with broadcasting. The host collapses the shapes to `rank` dims of `size`;
// `aStride` / `bStride` are element strides, 0 where the operand broadcasts.
// op: 0 add, 1 sub, 2 mul, 3 div. `out` may alias an operand of the output's shape.
extern "C" __global__ void binary_op(const float* a, const float* b, float* out, int n, int op,
                                     int rank, Dims size, Dims aStride, Dims bStride) {
  GRID_STRIDE(i, n) {
    int rest = i;
    int ai = 0;
    int bi = 0;
#pragma unroll
    for (int k = 0; k < 6; ++k) {
      const int d = 5 - k;
      if (d < rank) {
        const int idx = rest % size.v[d];
        rest /= size.v[d];
        ai += idx * aStride.v[d];
        bi += idx * bStride.v[d];
      }
    }
    const float x = a[ai];
    const float y = b[bi];
    float r;
    switch (op) {
      case 0: r = x + y; break;
      case 1: r = x - y; break;
      case 2: r = x * y; break;
      default: r = x / y; break;
    }
    out[i] = r;
  }
}

// out = op(x). op: 0 neg, 1 exp, 2 log, 3 sqrt, 4 abs, 5 relu, 6 sigmoid, 7 tanh.
extern "C" __global__ void unary_op(const float* x, float* out, int n, int op) {
  GRID_STRIDE(i, n) {
    const float v = x[i];
    float r;
    switch (op) {
      case 0: r = -v; break;
      case 1: r = expf(v); break;
      case 2: r = logf(v); break;
      case 3: r = sqrtf(v); break;
      case 4: r = fabsf(v); break;
      case 5: r = v < 0.0f ? 0.0f : v; break;  // NaN stays NaN, as in PyTorch
      case 6: r = 1.0f / (1.0f + expf(-v)); break;
      default: r = tanhf(v); break;
    }
    out[i] = r;
  }
}

// dx = dy * op'(x), from the activation's output y. op: 0 relu, 1 sigmoid, 2 tanh.
extern "C" __global__ void activation_backward(const float* y, const float* dy, float* dx, int n,
                                               int op) {
  GRID_STRIDE(i, n) {
    const float v = y[i];
    float r;
    switch (op) {
      case 0: r = v <= 0.0f ? 0.0f : dy[i]; break;  // NaN passes, as in PyTorch
      case 1: r = dy[i] * v * (1.0f - v); break;
      default: r = dy[i] * (1.0f - v * v); break;
    }
    dx[i] = r;
  }
}

// out = x * scale + shift.
extern "C" __global__ void affine(const float* x, float* out, int n, float scale, float shift) {
  GRID_STRIDE(i, n) { out[i] = x[i] * scale + shift; }
}

// out = x ** exponent (squares exactly).
extern "C" __global__ void pow_op(const float* x, float* out, int n, float exponent) {
  GRID_STRIDE(i, n) {
    const float v = x[i];
    out[i] = exponent == 2.0f ? v * v : powf(v, exponent);
  }
}

// y += alpha * x.
extern "C" __global__ void axpy(const float* x, float* y, int n, float alpha) {
  GRID_STRIDE(i, n) { y[i] += alpha * x[i]; }
}
