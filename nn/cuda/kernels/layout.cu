// Data movement: permute (transpose) and block copies along one axis (concat, narrow).

struct Dims {
  int v[6];
};

#define GRID_STRIDE(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// y[i] = x[offset(i)]: output index i is decoded over `outSize` (innermost last) and each
// coordinate is weighted by the input stride of the dim it came from.
extern "C" __global__ void permute(const float* x, float* y, int n, int rank, Dims outSize,
                                   Dims inStride) {
  GRID_STRIDE(i, n) {
    int rest = i;
    int offset = 0;
#pragma unroll
    for (int k = 0; k < 6; ++k) {
      const int d = 5 - k;
      if (d < rank) {
        offset += (rest % outSize.v[d]) * inStride.v[d];
        rest /= outSize.v[d];
      }
    }
    y[i] = x[offset];
  }
}

// dst[o, dstStart + a, j] = src[o, srcStart + a, j] for a < length, j < inner;
// n = outer * length * inner.
extern "C" __global__ void copy_blocks(const float* src, float* dst, int n, int inner, int length,
                                       int srcAxis, int dstAxis, int srcStart, int dstStart) {
  GRID_STRIDE(i, n) {
    const int j = i % inner;
    const int t = i / inner;
    const int a = t % length;
    const int o = t / length;
    dst[(o * dstAxis + dstStart + a) * inner + j] = src[(o * srcAxis + srcStart + a) * inner + j];
  }
}
