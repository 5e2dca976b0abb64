// CUDA normalisation kernels (shapes and formulas in tensor/cpu/norm.h).
//
// One thread block per set of normalised elements (a (n, group), a row, a channel):
// its threads sum a strided share of the set and combine the sums with block_sum
// (cuda/runtime.cuh), then write their share of the output. Statistics follow the CPU
// step by step: a first pass for the mean, a second for Σ (x - mean)², float32 sums in
// double, rstd = 1 / √(var + eps) computed in double and rounded once. Only the order
// of the additions differs (a tree instead of a loop), so results agree to rounding.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda/norm.h"
#include "cuda/runtime.cuh"

namespace kiln::cuda {
namespace {

using detail::Acc;
using detail::block_sum;
using detail::blocks_for;
using detail::kThreads;
using detail::stream;

// a / b for non-negative a, b: in 32 bits when both fit (several times faster than a
// 64-bit division, and the kernels divide once per element).
__device__ inline std::int64_t quotient(std::int64_t a, std::int64_t b) {
  if ((a | b) <= 0x7fffffff) return static_cast<std::uint32_t>(a) / static_cast<std::uint32_t>(b);
  return a / b;
}

// Offset of element t of the set stored as runs of `len` values, run r at r · stride.
__device__ inline std::int64_t run_offset(std::int64_t t, std::int64_t len, std::int64_t stride) {
  const std::int64_t r = quotient(t, len);
  return r * stride + (t - r * len);
}

template <class T>
__device__ T rstd_of(Acc<T> var, double eps) {
  return static_cast<T>(1.0 / sqrt(static_cast<double>(var) + eps));
}

// The moments of the set stored as `runs` runs of `len` values, run r at x + r · stride.
template <class T>
struct Moments {
  Acc<T> mean, m2;
};

template <class T>
__device__ Moments<T> block_moments(const T* x, std::int64_t runs, std::int64_t len,
                                    std::int64_t stride, Acc<T>* shared) {
  const std::int64_t count = runs * len;
  Acc<T> sum = 0;
  for (std::int64_t t = threadIdx.x; t < count; t += blockDim.x)
    sum += x[runs == 1 ? t : run_offset(t, len, stride)];
  sum = block_sum(sum, shared);
  const Acc<T> mean = count > 0 ? sum / static_cast<Acc<T>>(count) : Acc<T>(0);
  Acc<T> ss = 0;
  for (std::int64_t t = threadIdx.x; t < count; t += blockDim.x) {
    const Acc<T> d = static_cast<Acc<T>>(x[runs == 1 ? t : run_offset(t, len, stride)]) - mean;
    ss += d * d;
  }
  return {mean, block_sum(ss, shared)};
}

// Threads per block for sets of `count` elements: a warp for small sets, more for large.
int threads_for(std::int64_t count) { return count >= 4096 ? 256 : count >= 512 ? 128 : 32; }

unsigned grid_for(std::int64_t sets) {
  return static_cast<unsigned>(std::min<std::int64_t>(std::max<std::int64_t>(sets, 1), 65535));
}

// ---- kernels: group norm --------------------------------------------------------------

// One block per (n, g): the M = C/G · S contiguous values at x + (n·G + g) · M.
//   x, y (N, C, S); weight, bias (C) or null; mean, rstd (N, G)
template <class T>
__global__ void group_norm_forward_kernel(const T* x, const T* weight, const T* bias, T* y, T* mean,
                                          T* rstd, std::int64_t N, std::int64_t C, std::int64_t S,
                                          std::int64_t G, double eps) {
  __shared__ Acc<T> shared[32];
  const std::int64_t cpg = C / G, M = cpg * S;
  for (std::int64_t ng = blockIdx.x; ng < N * G; ng += gridDim.x) {
    const std::int64_t g = ng % G;
    const T* xs = x + ng * M;
    const Moments<T> st = block_moments(xs, 1, M, 0, shared);
    const T m = static_cast<T>(st.mean);
    const T r = rstd_of<T>(M > 0 ? st.m2 / static_cast<Acc<T>>(M) : Acc<T>(0), eps);
    if (threadIdx.x == 0) {
      mean[ng] = m;
      rstd[ng] = r;
    }
    T* ys = y + ng * M;
    for (std::int64_t t = threadIdx.x; t < M; t += blockDim.x) {
      const std::int64_t ch = g * cpg + quotient(t, S);
      const T scale = r * (weight ? weight[ch] : T(1));
      const T shift = bias ? bias[ch] : T(0);
      ys[t] = (xs[t] - m) * scale + shift;
    }
  }
}

// One block per (n, c): dot = rstd · Σ_s dy (x - mean), sum = Σ_s dy.
//   x, dy (N, C, S); mean, rstd (N, G); dot, sum (N, C) in Acc
template <class T>
__global__ void group_norm_sums_kernel(const T* x, const T* dy, const T* mean, const T* rstd,
                                       Acc<T>* dot, Acc<T>* sum, std::int64_t N, std::int64_t C,
                                       std::int64_t S, std::int64_t G) {
  __shared__ Acc<T> shared[32];
  const std::int64_t cpg = C / G;
  for (std::int64_t nc = blockIdx.x; nc < N * C; nc += gridDim.x) {
    const std::int64_t ng = (nc / C) * G + (nc % C) / cpg;
    const Acc<T> m = mean[ng];
    Acc<T> a = 0, b = 0;
    for (std::int64_t s = threadIdx.x; s < S; s += blockDim.x) {
      const Acc<T> d = dy[nc * S + s];
      a += d * (static_cast<Acc<T>>(x[nc * S + s]) - m);
      b += d;
    }
    a = block_sum(a, shared);
    b = block_sum(b, shared);
    if (threadIdx.x == 0) {
      dot[nc] = a * static_cast<Acc<T>>(rstd[ng]);
      sum[nc] = b;
    }
  }
}

// dw[c] = Σ_n dot[n, c], db[c] = Σ_n sum[n, c] (in n order, as the CPU); a thread per c.
template <class T>
__global__ void channel_sums_kernel(const Acc<T>* dot, const Acc<T>* sum, T* dweight, T* dbias,
                                    std::int64_t N, std::int64_t C) {
  for (std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; c < C;
       c += std::int64_t(gridDim.x) * blockDim.x) {
    Acc<T> sw = 0, sb = 0;
    for (std::int64_t n = 0; n < N; ++n) {
      sw += dot[n * C + c];
      sb += sum[n * C + c];
    }
    if (dweight) dweight[c] = static_cast<T>(sw);
    if (dbias) dbias[c] = static_cast<T>(sb);
  }
}

// One block per (n, g): dx = rstd (dy w - mean(gw) - xhat mean(gw xhat)).
//   x, dy, dx (N, C, S); dot, sum (N, C)
template <class T>
__global__ void group_norm_dx_kernel(const T* x, const T* dy, const T* mean, const T* rstd,
                                     const T* weight, const Acc<T>* dot, const Acc<T>* sum, T* dx,
                                     std::int64_t N, std::int64_t C, std::int64_t S,
                                     std::int64_t G) {
  const std::int64_t cpg = C / G, M = cpg * S;
  for (std::int64_t ng = blockIdx.x; ng < N * G; ng += gridDim.x) {
    const std::int64_t n = ng / G, g = ng % G;
    Acc<T> sgw = 0, sgwx = 0;  // every thread sums the group's cpg values itself
    for (std::int64_t c = 0; c < cpg; ++c) {
      const std::int64_t ch = g * cpg + c;
      const Acc<T> w = weight ? weight[ch] : T(1);
      sgw += w * sum[n * C + ch];
      sgwx += w * dot[n * C + ch];
    }
    const T m = mean[ng], r = rstd[ng];
    const T mean_gw = M > 0 ? static_cast<T>(sgw / static_cast<Acc<T>>(M)) : T(0);
    const T mean_gwx = M > 0 ? static_cast<T>(sgwx / static_cast<Acc<T>>(M)) : T(0);
    const std::int64_t base = ng * M;
    for (std::int64_t t = threadIdx.x; t < M; t += blockDim.x) {
      const T w = weight ? weight[g * cpg + quotient(t, S)] : T(1);
      const T xhat = (x[base + t] - m) * r;
      dx[base + t] = r * (dy[base + t] * w - mean_gw - xhat * mean_gwx);
    }
  }
}

// ---- kernels: layer norm --------------------------------------------------------------

// One block per row of K values.
//   x, y (M, K); weight, bias (K) or null; mean, rstd (M)
template <class T>
__global__ void layer_norm_forward_kernel(const T* x, const T* weight, const T* bias, T* y, T* mean,
                                          T* rstd, std::int64_t M, std::int64_t K, double eps) {
  __shared__ Acc<T> shared[32];
  for (std::int64_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* xs = x + row * K;
    const Moments<T> st = block_moments(xs, 1, K, 0, shared);
    const T m = static_cast<T>(st.mean);
    const T r = rstd_of<T>(K > 0 ? st.m2 / static_cast<Acc<T>>(K) : Acc<T>(0), eps);
    if (threadIdx.x == 0) {
      mean[row] = m;
      rstd[row] = r;
    }
    for (std::int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const T xhat = (xs[k] - m) * r;
      y[row * K + k] = weight ? xhat * weight[k] + (bias ? bias[k] : T(0))
                              : xhat + (bias ? bias[k] : T(0));
    }
  }
}

// One block per row: dx = rstd (dy w - mean(gw) - xhat mean(gw xhat)).
//   x, dy, dx (M, K); mean, rstd (M); weight (K) or null
template <class T>
__global__ void layer_norm_dx_kernel(const T* x, const T* dy, const T* mean, const T* rstd,
                                     const T* weight, T* dx, std::int64_t M, std::int64_t K) {
  __shared__ Acc<T> shared[32];
  for (std::int64_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* xs = x + row * K;
    const T* dys = dy + row * K;
    const T m = mean[row], r = rstd[row];
    Acc<T> sgw = 0, sgwx = 0;
    for (std::int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const Acc<T> gw = static_cast<Acc<T>>(dys[k]) * (weight ? weight[k] : T(1));
      sgw += gw;
      sgwx += gw * (static_cast<Acc<T>>(xs[k]) - m);
    }
    sgw = block_sum(sgw, shared);
    sgwx = block_sum(sgwx, shared);
    const T mean_gw = K > 0 ? static_cast<T>(sgw / static_cast<Acc<T>>(K)) : T(0);
    const T mean_gwx = K > 0 ? static_cast<T>(sgwx * r / static_cast<Acc<T>>(K)) : T(0);
    for (std::int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const T xhat = (xs[k] - m) * r;
      dx[row * K + k] = r * (dys[k] * (weight ? weight[k] : T(1)) - mean_gw - xhat * mean_gwx);
    }
  }
}

// dw[k] = Σ_rows dy (x - mean) rstd, db[k] = Σ_rows dy: one thread per column walks the
// rows in order (neighbouring threads read neighbouring k).
//   x, dy (M, K); mean, rstd (M); dweight, dbias (K) or null
template <class T>
__global__ void layer_norm_dparams_kernel(const T* x, const T* dy, const T* mean, const T* rstd,
                                          T* dweight, T* dbias, std::int64_t M, std::int64_t K) {
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < K;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    Acc<T> sw = 0, sb = 0;
    for (std::int64_t row = 0; row < M; ++row) {
      const Acc<T> d = dy[row * K + k];
      sw += d * (static_cast<Acc<T>>(x[row * K + k]) - static_cast<Acc<T>>(mean[row])) *
            static_cast<Acc<T>>(rstd[row]);
      sb += d;
    }
    if (dweight) dweight[k] = static_cast<T>(sw);
    if (dbias) dbias[k] = static_cast<T>(sb);
  }
}

// ---- kernels: batch norm --------------------------------------------------------------

// One block per channel c: N runs of S values, run n at x + (n·C + c) · S.
//   x, y (N, C, S); weight, bias, running_mean, running_var, mean, rstd (C)
template <class T>
__global__ void batch_norm_forward_kernel(const T* x, const T* weight, const T* bias,
                                          T* running_mean, T* running_var, T* y, T* mean, T* rstd,
                                          std::int64_t N, std::int64_t C, std::int64_t S,
                                          bool training, double momentum, double eps) {
  __shared__ Acc<T> shared[32];
  const std::int64_t count = N * S;
  for (std::int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    T m, r;
    if (training) {
      const Moments<T> st = block_moments(x + c * S, N, S, C * S, shared);
      m = static_cast<T>(st.mean);
      r = rstd_of<T>(count > 0 ? st.m2 / static_cast<Acc<T>>(count) : Acc<T>(0), eps);
      if (threadIdx.x == 0) {
        if (running_mean)
          running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) +
                                           momentum * static_cast<double>(st.mean));
        if (running_var) {
          const double unbiased =
              count > 1 ? static_cast<double>(st.m2) / static_cast<double>(count - 1) : 0.0;
          running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                          momentum * unbiased);
        }
      }
    } else {
      m = running_mean[c];
      r = rstd_of<T>(running_var[c], eps);
    }
    if (threadIdx.x == 0) {
      mean[c] = m;
      rstd[c] = r;
    }
    const T scale = r * (weight ? weight[c] : T(1));
    const T shift = bias ? bias[c] : T(0);
    for (std::int64_t t = threadIdx.x; t < count; t += blockDim.x) {
      const std::int64_t i = c * S + run_offset(t, S, C * S);
      y[i] = (x[i] - m) * scale + shift;
    }
  }
}

// One block per channel: dw = Σ dy xhat, db = Σ dy, and dx.
//   x, dy, dx (N, C, S); mean, rstd, weight, dweight, dbias (C)
template <class T>
__global__ void batch_norm_backward_kernel(const T* x, const T* dy, const T* mean, const T* rstd,
                                           const T* weight, T* dx, T* dweight, T* dbias,
                                           std::int64_t N, std::int64_t C, std::int64_t S,
                                           bool training) {
  __shared__ Acc<T> shared[32];
  const std::int64_t count = N * S;
  for (std::int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const T m = mean[c], r = rstd[c];
    const T w = weight ? weight[c] : T(1);
    Acc<T> sdy = 0, sdyx = 0;
    for (std::int64_t t = threadIdx.x; t < count; t += blockDim.x) {
      const std::int64_t i = c * S + run_offset(t, S, C * S);
      sdy += dy[i];
      sdyx += static_cast<Acc<T>>(dy[i]) * (static_cast<Acc<T>>(x[i]) - static_cast<Acc<T>>(m));
    }
    sdy = block_sum(sdy, shared);
    sdyx = block_sum(sdyx, shared);
    const Acc<T> dot = sdyx * static_cast<Acc<T>>(r);
    if (threadIdx.x == 0) {
      if (dweight) dweight[c] = static_cast<T>(dot);
      if (dbias) dbias[c] = static_cast<T>(sdy);
    }
    if (!dx) continue;
    const T mean_gw =
        training && count > 0 ? static_cast<T>(w * sdy / static_cast<Acc<T>>(count)) : T(0);
    const T mean_gwx =
        training && count > 0 ? static_cast<T>(w * dot / static_cast<Acc<T>>(count)) : T(0);
    for (std::int64_t t = threadIdx.x; t < count; t += blockDim.x) {
      const std::int64_t i = c * S + run_offset(t, S, C * S);
      const T xhat = (x[i] - m) * r;
      dx[i] = r * (dy[i] * w - mean_gw - xhat * mean_gwx);
    }
  }
}

}  // namespace

// ---- launchers ------------------------------------------------------------------------

template <class T>
void group_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t G,
                        double eps) {
  KILN_CHECK(G > 0 && C % G == 0, "group_norm_forward: {} channels in {} groups", C, G);
  if (N * G == 0) return;
  group_norm_forward_kernel<<<grid_for(N * G), threads_for(C / G * S), 0, stream()>>>(
      x, weight, bias, y, mean, rstd, N, C, S, G, eps);
  KILN_CUDA_CHECK_LAUNCH("group_norm_forward");
}

template <class T>
void group_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, std::int64_t G) {
  KILN_CHECK(G > 0 && C % G == 0, "group_norm_backward: {} channels in {} groups", C, G);
  if (N * C == 0) {
    if (dweight) KILN_CUDA_CHECK(cudaMemsetAsync(dweight, 0, C * sizeof(T), stream()));
    if (dbias) KILN_CUDA_CHECK(cudaMemsetAsync(dbias, 0, C * sizeof(T), stream()));
    return;
  }
  detail::Scratch sums(2 * static_cast<std::size_t>(N * C) * sizeof(Acc<T>));
  Acc<T>* dot = sums.as<Acc<T>>();
  Acc<T>* sum = dot + N * C;
  group_norm_sums_kernel<<<grid_for(N * C), threads_for(S), 0, stream()>>>(x, dy, mean, rstd, dot,
                                                                          sum, N, C, S, G);
  KILN_CUDA_CHECK_LAUNCH("group_norm_backward");
  if (dweight || dbias) {
    channel_sums_kernel<T><<<blocks_for(C), kThreads, 0, stream()>>>(dot, sum, dweight, dbias, N, C);
    KILN_CUDA_CHECK_LAUNCH("group_norm_backward");
  }
  if (dx) {
    group_norm_dx_kernel<<<grid_for(N * G), threads_for(C / G * S), 0, stream()>>>(
        x, dy, mean, rstd, weight, dot, sum, dx, N, C, S, G);
    KILN_CUDA_CHECK_LAUNCH("group_norm_backward");
  }
}

template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t M, std::int64_t K, double eps) {
  if (M == 0) return;
  layer_norm_forward_kernel<<<grid_for(M), threads_for(K), 0, stream()>>>(x, weight, bias, y, mean,
                                                                         rstd, M, K, eps);
  KILN_CUDA_CHECK_LAUNCH("layer_norm_forward");
}

template <class T>
void layer_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t M, std::int64_t K) {
  if (dx && M > 0) {
    layer_norm_dx_kernel<<<grid_for(M), threads_for(K), 0, stream()>>>(x, dy, mean, rstd, weight,
                                                                      dx, M, K);
    KILN_CUDA_CHECK_LAUNCH("layer_norm_backward");
  }
  if ((dweight || dbias) && K > 0) {
    layer_norm_dparams_kernel<<<blocks_for(K), kThreads, 0, stream()>>>(x, dy, mean, rstd, dweight,
                                                                       dbias, M, K);
    KILN_CUDA_CHECK_LAUNCH("layer_norm_backward");
  }
}

template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, T* y, T* mean, T* rstd, std::int64_t N, std::int64_t C,
                        std::int64_t S, bool training, double momentum, double eps) {
  KILN_CHECK(training || (running_mean && running_var),
             "batch_norm_forward: inference needs the running statistics");
  if (C == 0) return;
  batch_norm_forward_kernel<<<grid_for(C), threads_for(N * S), 0, stream()>>>(
      x, weight, bias, running_mean, running_var, y, mean, rstd, N, C, S, training, momentum, eps);
  KILN_CUDA_CHECK_LAUNCH("batch_norm_forward");
}

template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, bool training) {
  if (C == 0) return;
  batch_norm_backward_kernel<<<grid_for(C), threads_for(N * S), 0, stream()>>>(
      x, dy, mean, rstd, weight, dx, dweight, dbias, N, C, S, training);
  KILN_CUDA_CHECK_LAUNCH("batch_norm_backward");
}

#define KILN_INSTANTIATE(T)                                                                      \
  template void group_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, std::int64_t,    \
                                      std::int64_t, std::int64_t, std::int64_t, double);         \
  template void group_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*, std::int64_t, std::int64_t, std::int64_t,             \
                                       std::int64_t);                                            \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, std::int64_t,    \
                                      std::int64_t, double);                                     \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*, std::int64_t, std::int64_t);                          \
  template void batch_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*,          \
                                      std::int64_t, std::int64_t, std::int64_t, bool, double,    \
                                      double);                                                   \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*, std::int64_t, std::int64_t, std::int64_t, bool);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
#undef KILN_INSTANTIATE

}  // namespace kiln::cuda
