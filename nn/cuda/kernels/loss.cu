// Cross entropy with label smoothing over (batch, classes) logits: one warp per row.

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// log(sum(exp(row))), computed by all 32 lanes of a warp (every lane gets the result).
__device__ float row_log_sum_exp(const float* row, int classes, int lane) {
  float m = __int_as_float(0xff800000);  // -inf
  for (int c = lane; c < classes; c += 32) m = fmaxf(m, row[c]);
  m = warp_max(m);
  float s = 0.0f;
  for (int c = lane; c < classes; c += 32) s += expf(row[c] - m);
  return m + logf(warp_sum(s));
}

// losses[i] = -(1 - s) * logp[i, t_i] - s / C * sum_c logp[i, c].
extern "C" __global__ void cross_entropy_forward(const float* logits, const int* targets,
                                                 float* losses, int batch, int classes,
                                                 float smoothing) {
  const int lane = threadIdx.x & 31;
  const int warpsPerGrid = (blockDim.x >> 5) * gridDim.x;
  for (int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); i < batch; i += warpsPerGrid) {
    const float* row = logits + (long long)i * classes;
    const float lse = row_log_sum_exp(row, classes, lane);
    float sumLogp = 0.0f;
    if (smoothing > 0.0f) {
      for (int c = lane; c < classes; c += 32) sumLogp += row[c] - lse;
      sumLogp = warp_sum(sumLogp);
    }
    if (lane == 0) {
      float loss = -(1.0f - smoothing) * (row[targets[i]] - lse);
      if (smoothing > 0.0f) loss -= (smoothing / classes) * sumLogp;
      losses[i] = loss;
    }
  }
}

// dlogits[i, c] = dLoss[i] * (softmax(logits[i])[c] - s / C) - dLoss[i] * (1 - s) * [c == t_i].
extern "C" __global__ void cross_entropy_backward(const float* logits, const int* targets,
                                                  const float* dLoss, float* dlogits, int batch,
                                                  int classes, float smoothing) {
  const int lane = threadIdx.x & 31;
  const int warpsPerGrid = (blockDim.x >> 5) * gridDim.x;
  const float off = smoothing / classes;
  for (int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); i < batch; i += warpsPerGrid) {
    const float* row = logits + (long long)i * classes;
    float* out = dlogits + (long long)i * classes;
    const float lse = row_log_sum_exp(row, classes, lane);
    const float g = dLoss[i];
    const int t = targets[i];
    for (int c = lane; c < classes; c += 32) {
      float v = g * (expf(row[c] - lse) - off);
      if (c == t) v -= g * (1.0f - smoothing);
      out[c] = v;
    }
  }
}
