// Normalisation kernels; the shapes and formulas are in tensor/cpu/norm.h.
#include "tensor/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace kiln::cpu {
namespace {

// float32 sums accumulate in double (as in tensor/cpu/reduce.cpp).
template <class T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// Work below this many elements runs on one thread: forking costs more than it saves.
constexpr std::int64_t kParallelMin = 1 << 14;

// The statistics of one set of elements, stored as `rows` runs of `len` contiguous
// values, run r starting at x + r * stride. Two passes (the mean, then the squared
// deviations from it) stay accurate where E[x²] - E[x]² cancels catastrophically.
template <class T>
struct Moments {
  Acc<T> mean = 0;
  Acc<T> m2 = 0;  // Σ (x - mean)²
};

template <class T>
Moments<T> moments(const T* x, std::int64_t rows, std::int64_t len, std::int64_t stride) {
  Moments<T> out;
  const std::int64_t count = rows * len;
  if (count == 0) return out;
  Acc<T> sum = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = x + r * stride;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < len; ++i) sum += p[i];
  }
  out.mean = sum / static_cast<Acc<T>>(count);
  Acc<T> ss = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = x + r * stride;
    const Acc<T> m = out.mean;
#pragma omp simd reduction(+ : ss)
    for (std::int64_t i = 0; i < len; ++i) {
      const Acc<T> d = static_cast<Acc<T>>(p[i]) - m;
      ss += d * d;
    }
  }
  out.m2 = ss;
  return out;
}

template <class T>
T rstd_of(Acc<T> var, double eps) {
  return static_cast<T>(1.0 / std::sqrt(static_cast<double>(var) + eps));
}

}  // namespace

// ---- group norm ---------------------------------------------------------------------
// x (N, C, S) with the channels of group g contiguous: set (n, g) is the M = C/G · S
// values starting at x + (n·G + g) · M.

template <class T>
void group_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t G,
                        double eps) {
  const std::int64_t cpg = C / G, M = cpg * S;
#pragma omp parallel for schedule(static) if (N * C * S >= kParallelMin)
  for (std::int64_t ng = 0; ng < N * G; ++ng) {
    const std::int64_t g = ng % G;
    const T* xs = x + ng * M;
    T* ys = y + ng * M;
    const Moments<T> st = moments(xs, 1, M, 0);
    const T m = static_cast<T>(st.mean);
    const T r = rstd_of<T>(M > 0 ? st.m2 / static_cast<Acc<T>>(M) : Acc<T>(0), eps);
    mean[ng] = m;
    rstd[ng] = r;
    for (std::int64_t c = 0; c < cpg; ++c) {
      const std::int64_t ch = g * cpg + c;
      const T scale = r * (weight ? weight[ch] : T(1));
      const T shift = bias ? bias[ch] : T(0);
      const T* xc = xs + c * S;
      T* yc = ys + c * S;
#pragma omp simd
      for (std::int64_t s = 0; s < S; ++s) yc[s] = (xc[s] - m) * scale + shift;
    }
  }
}

template <class T>
// [region group_norm_backward]
void group_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, std::int64_t G) {
  // BEGIN ASSIGNMENT 5.2
  const std::int64_t cpg = C / G, M = cpg * S;
  // Pass 1: per (n, c), dot = Σ_s dy · xhat and sum = Σ_s dy. Everything else is built
  // from these N·C numbers.
  std::vector<Acc<T>> dot(static_cast<size_t>(N * C)), sum(static_cast<size_t>(N * C));
#pragma omp parallel for schedule(static) if (N * C * S >= kParallelMin)
  for (std::int64_t nc = 0; nc < N * C; ++nc) {
    const std::int64_t ng = (nc / C) * G + (nc % C) / cpg;
    const Acc<T> m = mean[ng];
    const T* xs = x + nc * S;
    const T* dys = dy + nc * S;
    Acc<T> a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (std::int64_t s = 0; s < S; ++s) {
      a += static_cast<Acc<T>>(dys[s]) * (static_cast<Acc<T>>(xs[s]) - m);
      b += dys[s];
    }
    dot[nc] = a * static_cast<Acc<T>>(rstd[ng]);
    sum[nc] = b;
  }
  // dw[c] = Σ_n dot[n, c],  db[c] = Σ_n sum[n, c].
  if (dweight || dbias) {
    for (std::int64_t c = 0; c < C; ++c) {
      Acc<T> sw = 0, sb = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        sw += dot[n * C + c];
        sb += sum[n * C + c];
      }
      if (dweight) dweight[c] = static_cast<T>(sw);
      if (dbias) dbias[c] = static_cast<T>(sb);
    }
  }
  if (!dx) return;
    // Pass 2: per (n, g), mean(gw) and mean(gw · xhat) with gw = dy · w, then dx.
#pragma omp parallel for schedule(static) if (N * C * S >= kParallelMin)
  for (std::int64_t ng = 0; ng < N * G; ++ng) {
    const std::int64_t n = ng / G, g = ng % G;
    Acc<T> sgw = 0, sgwx = 0;
    for (std::int64_t c = 0; c < cpg; ++c) {
      const std::int64_t ch = g * cpg + c;
      const Acc<T> w = weight ? weight[ch] : T(1);
      sgw += w * sum[n * C + ch];
      sgwx += w * dot[n * C + ch];
    }
    const T m = mean[ng], r = rstd[ng];
    const T mean_gw = M > 0 ? static_cast<T>(sgw / static_cast<Acc<T>>(M)) : T(0);
    const T mean_gwx = M > 0 ? static_cast<T>(sgwx / static_cast<Acc<T>>(M)) : T(0);
    for (std::int64_t c = 0; c < cpg; ++c) {
      const std::int64_t ch = g * cpg + c;
      const T w = weight ? weight[ch] : T(1);
      const std::int64_t base = (n * C + ch) * S;
#pragma omp simd
      for (std::int64_t s = 0; s < S; ++s) {
        const T xhat = (x[base + s] - m) * r;
        dx[base + s] = r * (dy[base + s] * w - mean_gw - xhat * mean_gwx);
      }
    }
  }
  // END ASSIGNMENT
}
// [endregion]

// ---- layer norm ---------------------------------------------------------------------

template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t M, std::int64_t K, double eps) {
#pragma omp parallel for schedule(static) if (M * K >= kParallelMin)
  for (std::int64_t row = 0; row < M; ++row) {
    const T* xs = x + row * K;
    T* ys = y + row * K;
    const Moments<T> st = moments(xs, 1, K, 0);
    const T m = static_cast<T>(st.mean);
    const T r = rstd_of<T>(K > 0 ? st.m2 / static_cast<Acc<T>>(K) : Acc<T>(0), eps);
    mean[row] = m;
    rstd[row] = r;
#pragma omp simd
    for (std::int64_t k = 0; k < K; ++k) {
      const T xhat = (xs[k] - m) * r;
      ys[k] = weight ? xhat * weight[k] + (bias ? bias[k] : T(0)) : xhat + (bias ? bias[k] : T(0));
    }
  }
}

template <class T>
void layer_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t M, std::int64_t K) {
  if (dx) {
#pragma omp parallel for schedule(static) if (M * K >= kParallelMin)
    for (std::int64_t row = 0; row < M; ++row) {
      const T* xs = x + row * K;
      const T* dys = dy + row * K;
      const T m = mean[row], r = rstd[row];
      Acc<T> sgw = 0, sgwx = 0;
#pragma omp simd reduction(+ : sgw, sgwx)
      for (std::int64_t k = 0; k < K; ++k) {
        const Acc<T> gw = static_cast<Acc<T>>(dys[k]) * (weight ? weight[k] : T(1));
        sgw += gw;
        sgwx += gw * (static_cast<Acc<T>>(xs[k]) - m);
      }
      const T mean_gw = K > 0 ? static_cast<T>(sgw / static_cast<Acc<T>>(K)) : T(0);
      const T mean_gwx = K > 0 ? static_cast<T>(sgwx * r / static_cast<Acc<T>>(K)) : T(0);
      T* dxs = dx + row * K;
#pragma omp simd
      for (std::int64_t k = 0; k < K; ++k) {
        const T xhat = (xs[k] - m) * r;
        dxs[k] = r * (dys[k] * (weight ? weight[k] : T(1)) - mean_gw - xhat * mean_gwx);
      }
    }
  }
  if (!dweight && !dbias) return;
  // dw[k] = Σ_rows dy · xhat, db[k] = Σ_rows dy: threads take blocks of columns and walk
  // the rows in order, so every read is contiguous and every sum has one owner.
  constexpr std::int64_t kBlock = 64;
#pragma omp parallel for schedule(static) if (M * K >= kParallelMin)
  for (std::int64_t k0 = 0; k0 < K; k0 += kBlock) {
    const std::int64_t k1 = std::min(K, k0 + kBlock);
    Acc<T> sw[kBlock] = {}, sb[kBlock] = {};
    for (std::int64_t row = 0; row < M; ++row) {
      const T* xs = x + row * K;
      const T* dys = dy + row * K;
      const Acc<T> m = mean[row], r = rstd[row];
      for (std::int64_t k = k0; k < k1; ++k) {
        sw[k - k0] += static_cast<Acc<T>>(dys[k]) * (static_cast<Acc<T>>(xs[k]) - m) * r;
        sb[k - k0] += dys[k];
      }
    }
    for (std::int64_t k = k0; k < k1; ++k) {
      if (dweight) dweight[k] = static_cast<T>(sw[k - k0]);
      if (dbias) dbias[k] = static_cast<T>(sb[k - k0]);
    }
  }
}

// ---- batch norm ---------------------------------------------------------------------
// x (N, C, S): channel c is N runs of S values, run n starting at x + (n·C + c) · S.

template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean, T* running_var,
                        T* y, T* mean, T* rstd, std::int64_t N, std::int64_t C, std::int64_t S,
                        bool training, double momentum, double eps) {
  const std::int64_t count = N * S;
#pragma omp parallel for schedule(static) if (N * C * S >= kParallelMin)
  for (std::int64_t c = 0; c < C; ++c) {
    T m, r;
    if (training) {
      const Moments<T> st = moments(x + c * S, N, S, C * S);
      m = static_cast<T>(st.mean);
      r = rstd_of<T>(count > 0 ? st.m2 / static_cast<Acc<T>>(count) : Acc<T>(0), eps);
      if (running_mean) {
        running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) +
                                         momentum * static_cast<double>(st.mean));
      }
      if (running_var) {
        const double unbiased =
            count > 1 ? static_cast<double>(st.m2) / static_cast<double>(count - 1) : 0.0;
        running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                        momentum * unbiased);
      }
    } else {
      m = running_mean[c];
      r = rstd_of<T>(running_var[c], eps);
    }
    mean[c] = m;
    rstd[c] = r;
    const T scale = r * (weight ? weight[c] : T(1));
    const T shift = bias ? bias[c] : T(0);
    for (std::int64_t n = 0; n < N; ++n) {
      const T* xs = x + (n * C + c) * S;
      T* ys = y + (n * C + c) * S;
#pragma omp simd
      for (std::int64_t s = 0; s < S; ++s) ys[s] = (xs[s] - m) * scale + shift;
    }
  }
}

template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, bool training) {
  const std::int64_t count = N * S;
#pragma omp parallel for schedule(static) if (N * C * S >= kParallelMin)
  for (std::int64_t c = 0; c < C; ++c) {
    const T m = mean[c], r = rstd[c];
    const T w = weight ? weight[c] : T(1);
    Acc<T> sdy = 0, sdyx = 0;  // Σ dy and Σ dy · (x - mean)
    for (std::int64_t n = 0; n < N; ++n) {
      const T* xs = x + (n * C + c) * S;
      const T* dys = dy + (n * C + c) * S;
#pragma omp simd reduction(+ : sdy, sdyx)
      for (std::int64_t s = 0; s < S; ++s) {
        sdy += dys[s];
        sdyx += static_cast<Acc<T>>(dys[s]) * (static_cast<Acc<T>>(xs[s]) - static_cast<Acc<T>>(m));
      }
    }
    const Acc<T> dot = sdyx * static_cast<Acc<T>>(r);  // Σ dy · xhat
    if (dweight) dweight[c] = static_cast<T>(dot);
    if (dbias) dbias[c] = static_cast<T>(sdy);
    if (!dx) continue;
    // Inference: y is an affine map of x. Training: the batch statistics depend on x too.
    const T mean_gw =
        training && count > 0 ? static_cast<T>(w * sdy / static_cast<Acc<T>>(count)) : T(0);
    const T mean_gwx =
        training && count > 0 ? static_cast<T>(w * dot / static_cast<Acc<T>>(count)) : T(0);
    for (std::int64_t n = 0; n < N; ++n) {
      const T* xs = x + (n * C + c) * S;
      const T* dys = dy + (n * C + c) * S;
      T* dxs = dx + (n * C + c) * S;
#pragma omp simd
      for (std::int64_t s = 0; s < S; ++s) {
        const T xhat = (xs[s] - m) * r;
        dxs[s] = r * (dys[s] * w - mean_gw - xhat * mean_gwx);
      }
    }
  }
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

}  // namespace kiln::cpu
