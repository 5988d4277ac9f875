// Optimiser updates in place, following PyTorch's single-tensor SGD and Adam / AdamW.

#define GRID_STRIDE(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// d = g + wd * p; with momentum: buf = firstStep ? d : m * buf + (1 - dampening) * d,
// d = nesterov ? d + m * buf : buf; then p -= lr * d. `buf` is unused when hasBuf is 0.
extern "C" __global__ void sgd_update(float* param, const float* grad, float* buf, int n, float lr,
                                      float momentum, float dampening, float weightDecay,
                                      int nesterov, int firstStep, int hasBuf) {
  GRID_STRIDE(i, n) {
    float d = grad[i];
    if (weightDecay != 0.0f) d += weightDecay * param[i];
    if (hasBuf && momentum != 0.0f) {
      const float b = firstStep ? d : momentum * buf[i] + (1.0f - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    param[i] -= lr * d;
  }
}

// The host computes the bias corrections: stepSize = lr / (1 - beta1^t),
// sqrtCorrection2 = sqrt(1 - beta2^t); decay = 1 - lr * wd for AdamW (else 1), l2 = wd for
// Adam (else 0).
extern "C" __global__ void adam_update(float* param, const float* grad, float* m, float* v, int n,
                                       float beta1, float beta2, float eps, float stepSize,
                                       float sqrtCorrection2, float decay, float l2) {
  GRID_STRIDE(i, n) {
    const float p0 = param[i];
    const float g = l2 != 0.0f ? grad[i] + l2 * p0 : grad[i];
    const float mi = m[i] + (1.0f - beta1) * (g - m[i]);
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p0 * decay - (stepSize * mi) / (sqrtf(vi) / sqrtCorrection2 + eps);
  }
}
