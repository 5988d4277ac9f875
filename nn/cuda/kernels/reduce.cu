// Reductions: sums over any set of dims (sumTo, bias gradients, global average pooling).

struct Dims {
  int v[6];
};

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// out[b] = sum over one slice of the reduced dims of x, divided by `divisor`, for block index
// b = o * splits + s: output o, slice s of `chunk` consecutive reduced indices (the last slice may
// be shorter). With splits 1 and chunk reduceCount, out[o] is the whole sum; with more splits the
// host sums the [outCount, splits] partials in a second launch, so few outputs still fill the GPU
// and the order of additions (so the result) does not depend on the launch. Grid-stride over
// blocks; blockDim.x is a multiple of 32, at most 1024. The host collapses x into kept dims
// (`keptSize`, their strides in x) and reduced dims (`reducedSize`, strides in x), innermost last,
// so the threads of a block read consecutive addresses when the innermost dim is reduced.
extern "C" __global__ void sum_to(const float* x, float* out, int outCount, int reduceCount,
                                  float divisor, int keptRank, Dims keptSize, Dims keptStride,
                                  int reducedRank, Dims reducedSize, Dims reducedStride,
                                  int splits, int chunk) {
  __shared__ float partial[32];
  const int blocks = outCount * splits;
  for (int b = blockIdx.x; b < blocks; b += gridDim.x) {
    const int o = b / splits;
    const int begin = (b - o * splits) * chunk;
    const int end = min(begin + chunk, reduceCount);
    int rest = o;
    int base = 0;
#pragma unroll
    for (int k = 0; k < 6; ++k) {
      const int d = 5 - k;
      if (d < keptRank) {
        base += (rest % keptSize.v[d]) * keptStride.v[d];
        rest /= keptSize.v[d];
      }
    }
    float acc = 0.0f;
    for (int r = begin + threadIdx.x; r < end; r += blockDim.x) {
      int left = r;
      int offset = base;
#pragma unroll
      for (int k = 0; k < 6; ++k) {
        const int d = 5 - k;
        if (d < reducedRank) {
          offset += (left % reducedSize.v[d]) * reducedStride.v[d];
          left /= reducedSize.v[d];
        }
      }
      acc += x[offset];
    }
    acc = warp_sum(acc);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x < 32) {
      float v = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0f;
      v = warp_sum(v);
      if (threadIdx.x == 0) out[b] = v / divisor;
    }
    __syncthreads();  // `partial` is reused by the next block index
  }
}
