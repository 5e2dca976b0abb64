#include "tensor/cpu/reduce.h"

#include <omp.h>

#include <cmath>
#include <limits>
#include <algorithm>
#include <type_traits>
#include <vector>

namespace kiln::cpu {
namespace {

// float32 sums accumulate in double: a 1e6-element sum then stays exact to float32
// rounding, and CPU results do not depend on the thread count.
template <class T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

template <class T>
T reduce_row(ReduceOp op, const T* row, std::int64_t n) {
  switch (op) {
    case ReduceOp::Sum: {
      Acc<T> acc = 0;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = 0; i < n; ++i) acc += row[i];
      return static_cast<T>(acc);
    }
    case ReduceOp::Max:
    case ReduceOp::Min: {
      const bool is_max = op == ReduceOp::Max;
      T best = row[0];
      for (std::int64_t i = 1; i < n; ++i) {
        const T v = row[i];
        if (v != v) return v;  // NaN propagates
        if (is_max ? v > best : v < best) best = v;
      }
      return best;
    }
  }
  return T(0);
}

}  // namespace

template <class T>
void reduce(ReduceOp op, const T* in, T* out, std::int64_t outer, std::int64_t inner) {
  if (outer >= omp_get_max_threads() || inner < (1 << 16)) {
#pragma omp parallel for schedule(static) if (outer * inner >= (1 << 15) && outer > 1)
    for (std::int64_t r = 0; r < outer; ++r) out[r] = reduce_row(op, in + r * inner, inner);
    return;
  }
  // Few long rows (a full reduction): split each row across threads, then combine.
  for (std::int64_t r = 0; r < outer; ++r) {
    const T* row = in + r * inner;
    const int nt = omp_get_max_threads();
    std::vector<T> partial(static_cast<size_t>(nt), T(0));
    std::vector<char> used(static_cast<size_t>(nt), 0);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      const std::int64_t chunk = (inner + nt - 1) / nt;
      const std::int64_t lo = t * chunk, hi = std::min<std::int64_t>(inner, lo + chunk);
      if (lo < hi) {
        partial[t] = reduce_row(op, row + lo, hi - lo);
        used[t] = 1;
      }
    }
    std::vector<T> parts;
    for (int t = 0; t < nt; ++t)
      if (used[t]) parts.push_back(partial[t]);
    out[r] = reduce_row(op, parts.data(), static_cast<std::int64_t>(parts.size()));
  }
}

template <class T>
void arg_reduce(bool is_max, const T* in, std::int64_t* out, std::int64_t outer,
                std::int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * inner >= (1 << 15))
  for (std::int64_t r = 0; r < outer; ++r) {
    const T* row = in + r * inner;
    std::int64_t best = 0;
    for (std::int64_t i = 1; i < inner; ++i) {
      if (row[best] != row[best]) break;  // a NaN wins, as in torch.argmax
      const T v = row[i];
      if (v != v || (is_max ? v > row[best] : v < row[best])) best = i;
    }
    out[r] = best;
  }
}

template <class T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     bool log) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= (1 << 14))
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      const T* xs = x + o * n * inner + i;
      T* ys = y + o * n * inner + i;
      T m = -std::numeric_limits<T>::infinity();
      for (std::int64_t k = 0; k < n; ++k) m = std::max(m, xs[k * inner]);
      Acc<T> sum = 0;
      for (std::int64_t k = 0; k < n; ++k) sum += std::exp(xs[k * inner] - m);
      if (log) {
        const T lse = m + static_cast<T>(std::log(sum));
        for (std::int64_t k = 0; k < n; ++k) ys[k * inner] = xs[k * inner] - lse;
      } else {
        const T inv = static_cast<T>(1.0 / sum);
        for (std::int64_t k = 0; k < n; ++k) ys[k * inner] = std::exp(xs[k * inner] - m) * inv;
      }
    }
  }
}

template <class T>
// [region softmax_backward]
void softmax_backward(const T* y, const T* gy, T* gx, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, bool log) {
  // BEGIN ASSIGNMENT 2.1
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= (1 << 14))
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      const std::int64_t base = o * n * inner + i;
      Acc<T> dot = 0;
      for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t j = base + k * inner;
        dot += log ? gy[j] : gy[j] * y[j];
      }
      const T s = static_cast<T>(dot);
      for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t j = base + k * inner;
        gx[j] = log ? gy[j] - std::exp(y[j]) * s : y[j] * (gy[j] - s);
      }
    }
  }
  // END ASSIGNMENT
}
// [endregion]

#define KILN_INSTANTIATE(T)                                                                  \
  template void reduce<T>(ReduceOp, const T*, T*, std::int64_t, std::int64_t);               \
  template void arg_reduce<T>(bool, const T*, std::int64_t*, std::int64_t, std::int64_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
KILN_INSTANTIATE(std::int64_t)
#undef KILN_INSTANTIATE
#define KILN_INSTANTIATE(T)                                                                     \
  template void softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t,     \
                                   bool);                                                       \
  template void softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t,        \
                                    std::int64_t, bool);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
#undef KILN_INSTANTIATE

}  // namespace kiln::cpu
