// Pooling over NCHW planes: max pooling with padding, adaptive average pooling (PyTorch's
// window rule), forward and backward. Backward kernels gather (one thread per input element),
// so they need no atomics and add contributions in the same order as the CPU device.

#define GRID_STRIDE(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// One thread per output (n = planes * outH * outW). Padding never wins; a NaN in the window
// makes the output NaN.
extern "C" __global__ void max_pool_forward(const float* x, float* y, int n, int H, int W,
                                            int outH, int outW, int kH, int kW, int sH, int sW,
                                            int pH, int pW) {
  GRID_STRIDE(i, n) {
    const int ow = i % outW;
    const int oh = (i / outW) % outH;
    const float* plane = x + (long long)(i / (outW * outH)) * H * W;
    const int hs = oh * sH - pH;
    const int ws = ow * sW - pW;
    const int h0 = max(hs, 0), h1 = min(hs + kH, H);
    const int w0 = max(ws, 0), w1 = min(ws + kW, W);
    float best = __int_as_float(0xff800000);  // -inf
    for (int h = h0; h < h1; ++h) {
      for (int w = w0; w < w1; ++w) {
        const float v = plane[h * W + w];
        if (v > best || v != v) best = v;
      }
    }
    y[i] = best;
  }
}

// One thread per input (n = planes * H * W): sums dy over the windows whose first maximum in
// row-major order is this input.
extern "C" __global__ void max_pool_backward(const float* x, const float* y, const float* dy,
                                             float* dx, int n, int H, int W, int outH, int outW,
                                             int kH, int kW, int sH, int sW, int pH, int pW) {
  GRID_STRIDE(i, n) {
    const int w = i % W;
    const int h = (i / W) % H;
    const int p = i / (W * H);
    const float* plane = x + (long long)p * H * W;
    const int outBase = p * outH * outW;
    // Windows containing row h: oh * sH - pH <= h < oh * sH - pH + kH.
    const int hp = h + pH;
    const int wp = w + pW;
    const int ohLo = hp - kH + 1 <= 0 ? 0 : (hp - kH + sH) / sH;
    const int ohHi = min(hp / sH, outH - 1);
    const int owLo = wp - kW + 1 <= 0 ? 0 : (wp - kW + sW) / sW;
    const int owHi = min(wp / sW, outW - 1);
    float acc = 0.0f;
    for (int oh = ohLo; oh <= ohHi; ++oh) {
      const int h0 = max(oh * sH - pH, 0), h1 = min(oh * sH - pH + kH, H);
      for (int ow = owLo; ow <= owHi; ++ow) {
        const int w0 = max(ow * sW - pW, 0), w1 = min(ow * sW - pW + kW, W);
        const int out = outBase + oh * outW + ow;
        const float target = y[out];
        const bool targetNaN = target != target;
        int first = -1;
        for (int hh = h0; hh < h1 && first < 0; ++hh) {
          for (int ww = w0; ww < w1; ++ww) {
            const float v = plane[hh * W + ww];
            if (v == target || (targetNaN && v != v)) {
              first = hh * W + ww;
              break;
            }
          }
        }
        if (first == h * W + w) acc += dy[out];
      }
    }
    dx[i] = acc;
  }
}

// Output window along one axis: [floor(o * in / out), ceil((o + 1) * in / out)).
__device__ __forceinline__ int window_start(int o, int in, int out) { return (o * in) / out; }
__device__ __forceinline__ int window_end(int o, int in, int out) {
  return ((o + 1) * in + out - 1) / out;
}

// One thread per output (n = planes * outH * outW).
extern "C" __global__ void adaptive_avg_pool_forward(const float* x, float* y, int n, int H, int W,
                                                     int outH, int outW) {
  GRID_STRIDE(i, n) {
    const int ow = i % outW;
    const int oh = (i / outW) % outH;
    const float* plane = x + (long long)(i / (outW * outH)) * H * W;
    const int h0 = window_start(oh, H, outH), h1 = window_end(oh, H, outH);
    const int w0 = window_start(ow, W, outW), w1 = window_end(ow, W, outW);
    float sum = 0.0f;
    for (int h = h0; h < h1; ++h) {
      for (int w = w0; w < w1; ++w) sum += plane[h * W + w];
    }
    y[i] = sum / (float)((h1 - h0) * (w1 - w0));
  }
}

// One thread per input (n = planes * H * W): sums dy / window size over the windows holding it.
// Windows holding row h have oh in [floor(h * outH / H), ceil((h + 1) * outH / H)); the loop
// looks one further on each side and tests membership, so rounding cannot drop a window.
extern "C" __global__ void adaptive_avg_pool_backward(const float* dy, float* dx, int n, int H,
                                                      int W, int outH, int outW) {
  GRID_STRIDE(i, n) {
    const int w = i % W;
    const int h = (i / W) % H;
    const int p = i / (W * H);
    const int ohLo = max((h * outH) / H - 1, 0);
    const int ohHi = min(((h + 1) * outH + H - 1) / H, outH - 1);
    const int owLo = max((w * outW) / W - 1, 0);
    const int owHi = min(((w + 1) * outW + W - 1) / W, outW - 1);
    float acc = 0.0f;
    for (int oh = ohLo; oh <= ohHi; ++oh) {
      const int h0 = window_start(oh, H, outH), h1 = window_end(oh, H, outH);
      if (h < h0 || h >= h1) continue;
      for (int ow = owLo; ow <= owHi; ++ow) {
        const int w0 = window_start(ow, W, outW), w1 = window_end(ow, W, outW);
        if (w < w0 || w >= w1) continue;
        acc += dy[(p * outH + oh) * outW + ow] / (float)((h1 - h0) * (w1 - w0));
      }
    }
    dx[i] = acc;
  }
}
