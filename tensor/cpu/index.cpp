// CPU indexing kernels (shapes in tensor/cpu/index.h):
//   gather        in (outer, in_dim, inner), index/out (outer, idx_dim, inner)
//   scatter_add   src/index (outer, idx_dim, inner), out (outer, out_dim, inner)
//   index_select  in (outer, in_dim, inner), index (n_index), out (outer, n_index, inner)
//   index_add     src (outer, n_index, inner), index (n_index), out (outer, out_dim, inner)
#include "tensor/cpu/index.h"

#include <omp.h>

#include <algorithm>

namespace kiln::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr std::int64_t kParallelGrain = 1 << 15;

// Note [Race-free accumulation]
// scatter_add and index_add write out[o, k, i] for indices k chosen by the data, so two
// different j can hit the same output element. Splitting the j loop across threads
// would race. Instead a task owns a fixed (o, block of i) pair and walks every j itself:
// tasks touch disjoint output columns, so no two threads ever write one element, and
// each element is summed in the order of j (deterministic, like the serial loop).
constexpr std::int64_t kColumnBlock = 256;

}  // namespace

template <class T>
void gather(const T* in, const std::int64_t* index, T* out, std::int64_t outer, std::int64_t in_dim,
            std::int64_t idx_dim, std::int64_t inner) {
  const std::int64_t rows = outer * idx_dim;
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelGrain && rows > 1)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t o = r / idx_dim;
    const std::int64_t* idx = index + r * inner;
    const T* base = in + o * in_dim * inner;
    T* dst = out + r * inner;
    for (std::int64_t i = 0; i < inner; ++i) dst[i] = base[idx[i] * inner + i];
  }
}

template <class T>
void scatter_add(const T* src, const std::int64_t* index, T* out, std::int64_t outer,
                 std::int64_t out_dim, std::int64_t idx_dim, std::int64_t inner) {
  // Note [Race-free accumulation]
  const std::int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  const std::int64_t tasks = outer * blocks;
  const bool parallel = outer * idx_dim * inner >= kParallelGrain && tasks > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t t = 0; t < tasks; ++t) {
    const std::int64_t o = t / blocks;
    const std::int64_t i0 = (t % blocks) * kColumnBlock;
    const std::int64_t i1 = std::min(inner, i0 + kColumnBlock);
    T* base = out + o * out_dim * inner;
    for (std::int64_t j = 0; j < idx_dim; ++j) {
      const std::int64_t row = (o * idx_dim + j) * inner;
      const std::int64_t* idx = index + row;
      const T* s = src + row;
      for (std::int64_t i = i0; i < i1; ++i) base[idx[i] * inner + i] += s[i];
    }
  }
}

template <class T>
void index_select(const T* in, const std::int64_t* index, std::int64_t n_index, T* out,
                  std::int64_t outer, std::int64_t in_dim, std::int64_t inner) {
  const std::int64_t rows = outer * n_index;
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelGrain && rows > 1)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t o = r / n_index, j = r % n_index;
    const T* row = in + (o * in_dim + index[j]) * inner;
    std::copy(row, row + inner, out + r * inner);
  }
}

template <class T>
void index_add(const T* src, const std::int64_t* index, std::int64_t n_index, T* out,
               std::int64_t outer, std::int64_t out_dim, std::int64_t inner) {
  // Note [Race-free accumulation]
  const std::int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  const std::int64_t tasks = outer * blocks;
  const bool parallel = outer * n_index * inner >= kParallelGrain && tasks > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t t = 0; t < tasks; ++t) {
    const std::int64_t o = t / blocks;
    const std::int64_t i0 = (t % blocks) * kColumnBlock;
    const std::int64_t i1 = std::min(inner, i0 + kColumnBlock);
    for (std::int64_t j = 0; j < n_index; ++j) {
      const T* s = src + (o * n_index + j) * inner;
      T* dst = out + (o * out_dim + index[j]) * inner;
      for (std::int64_t i = i0; i < i1; ++i) dst[i] += s[i];
    }
  }
}

#define KILN_INSTANTIATE(T)                                                                    \
  template void gather<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t,       \
                          std::int64_t, std::int64_t);                                         \
  template void scatter_add<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t,  \
                               std::int64_t, std::int64_t);                                    \
  template void index_select<T>(const T*, const std::int64_t*, std::int64_t, T*, std::int64_t, \
                                std::int64_t, std::int64_t);                                   \
  template void index_add<T>(const T*, const std::int64_t*, std::int64_t, T*, std::int64_t,    \
                             std::int64_t, std::int64_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
KILN_INSTANTIATE(std::int64_t)
#undef KILN_INSTANTIATE

}  // namespace kiln::cpu
