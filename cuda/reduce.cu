// CUDA reductions and softmax (contracts in cuda/reduce.h and tensor/cpu/reduce.h).
//
// Note [Row reductions on the GPU]
// Every reduction here reduces the rows of a contiguous (outer, inner) matrix. A group
// of threads owns a row: each thread folds a strided part of it into one value, then the
// group combines its values as a tree, by warp shuffles (__shfl_xor_sync: lanes swap
// registers, no shared memory) and, for a whole block, once more across the warps
// through shared memory. The group is
//   a warp    when rows are short (8 rows per 256-thread block),
//   a block   when rows are long (inner > 4096),
//   and when a few rows are very long (a full reduction of a large tensor) each row is
//   cut into chunks, one block per chunk, whose partial results a second pass combines:
//   one block per row would leave most of the GPU idle.
// Sums of float32 accumulate in double, as the CPU does; the tree adds in another order
// than the CPU's loop, so the two agree to float32 rounding, not bit for bit. Max and
// min propagate NaN, and argmax / argmin return the first extremum (or the first NaN),
// as the CPU kernels do.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "cuda/reduce.h"
#include "cuda/runtime.cuh"
#include "tensor/functors.h"

namespace kiln::cuda {
namespace {

using detail::Acc;
using detail::blocks_for;
using detail::kThreads;
using detail::stream;

template <class T>
__device__ bool is_nan(T v) {
  return v != v;  // false for integers
}

template <class T>
__device__ T shfl(T v, int mask) {
  return __shfl_xor_sync(0xffffffffu, v, mask);
}

// ---- reducers: identity, combine, load one element, write the result ----------------

template <class A>
struct SumReducer {
  using Acc = A;
  __device__ A identity() const { return A(0); }
  __device__ A combine(A a, A b) const { return a + b; }
};

template <class A>
struct ExtremumReducer {  // max (is_max) or min, NaN propagating
  using Acc = A;
  bool is_max;
  __device__ A identity() const {
    if constexpr (std::numeric_limits<A>::has_infinity)
      return is_max ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
    else
      return is_max ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
  __device__ A combine(A a, A b) const {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return is_max ? (b > a ? b : a) : (b < a ? b : a);
  }
};

// A value and where it was: argmax / argmin.
template <class T>
struct ArgValue {
  T value;
  std::int64_t index;
};

template <class T>
__device__ ArgValue<T> shfl(ArgValue<T> v, int mask) {
  return {shfl(v.value, mask), shfl(v.index, mask)};
}

template <class T>
struct ArgReducer {
  using Acc = ArgValue<T>;
  bool is_max;
  __device__ Acc identity() const { return {T(0), -1}; }
  // The better of two candidates: a real one over the identity, a NaN over a number,
  // the larger (smaller) value, and on ties or between NaNs the smaller index. This is
  // associative and commutative, so the tree finds what the CPU's loop finds.
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    const bool an = is_nan(a.value), bn = is_nan(b.value);
    if (an != bn) return an ? a : b;
    if (!an && a.value != b.value) {
      const bool b_wins = is_max ? b.value > a.value : b.value < a.value;
      return b_wins ? b : a;
    }
    return a.index < b.index ? a : b;
  }
};

// Combines v over the group of `group` threads (32, or the whole block) that owns a
// row; the group's first thread gets the result. `shared` holds 32 values.
template <class R, class A>
__device__ A group_combine(const R& r, A v, int group, A* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) v = r.combine(v, shfl(v, offset));
  if (group <= 32) return v;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < group / 32 ? shared[lane] : r.identity();
    for (int offset = 16; offset > 0; offset >>= 1) v = r.combine(v, shfl(v, offset));
  }
  __syncthreads();
  return v;
}

// ---- kernels --------------------------------------------------------------------------

// Segment s of the input is row s / chunks, elements [c·chunk, min((c+1)·chunk, inner))
// with c = s % chunks; its combined value goes to out[s].
//   in (outer, inner) of In, out (outer · chunks) of Out; group threads per segment
// Load(in, row, j) gives the element j of row `row` as the reducer's Acc; Store converts
// the combined value to Out.
template <class R, class In, class Out, class Load, class Store>
__global__ void reduce_segments_kernel(R r, const In* in, Out* out, std::int64_t segments,
                                       std::int64_t chunks, std::int64_t chunk,
                                       std::int64_t inner, int group, Load load, Store store) {
  using A = typename R::Acc;
  __shared__ A shared[32];
  const int rows_per_block = blockDim.x / group;
  const int lane = threadIdx.x % group;
  for (std::int64_t base = std::int64_t(blockIdx.x) * rows_per_block; base < segments;
       base += std::int64_t(gridDim.x) * rows_per_block) {
    const std::int64_t s = base + threadIdx.x / group;
    A acc = r.identity();
    if (s < segments) {
      const std::int64_t row = s / chunks, c = s % chunks;
      const std::int64_t lo = c * chunk, hi = lo + chunk < inner ? lo + chunk : inner;
      for (std::int64_t j = lo + lane; j < hi; j += group) acc = r.combine(acc, load(in, row, j));
    }
    acc = group_combine(r, acc, group, shared);
    if (s < segments && lane == 0) out[s] = store(acc);
  }
}

template <class A>
struct LoadRow {  // element j of a row of `inner` values, as A
  std::int64_t inner;
  template <class In>
  __device__ A operator()(const In* in, std::int64_t row, std::int64_t j) const {
    return static_cast<A>(in[row * inner + j]);
  }
};

template <class T>
struct LoadArg {
  std::int64_t inner;
  __device__ ArgValue<T> operator()(const T* in, std::int64_t row, std::int64_t j) const {
    return {in[row * inner + j], j};
  }
};

template <class Out>
struct StoreAs {
  template <class A>
  __device__ Out operator()(A v) const {
    return static_cast<Out>(v);
  }
};

struct StoreIndex {
  template <class T>
  __device__ std::int64_t operator()(ArgValue<T> v) const {
    return v.index;
  }
};

// softmax along n of x (outer, n, inner) when inner == 1: a group per row, as above.
//   x, y (outer, n)
template <class T>
__global__ void softmax_rows_kernel(const T* x, T* y, std::int64_t outer, std::int64_t n,
                                    int group, bool log) {
  __shared__ Acc<T> shared_sum[32];
  __shared__ T shared_max[32];
  const int rows_per_block = blockDim.x / group;
  const int lane = threadIdx.x % group;
  const ExtremumReducer<T> maxr{true};
  const SumReducer<Acc<T>> sumr;
  for (std::int64_t base = std::int64_t(blockIdx.x) * rows_per_block; base < outer;
       base += std::int64_t(gridDim.x) * rows_per_block) {
    const std::int64_t row = base + threadIdx.x / group;
    const bool live = row < outer;
    const T* xs = x + (live ? row : 0) * n;
    T m = maxr.identity();
    if (live)
      for (std::int64_t k = lane; k < n; k += group) m = xs[k] > m ? xs[k] : m;
    // Plain max (no NaN rule), as the CPU's std::max: a NaN row gives NaN through exp.
    for (int offset = 16; offset > 0; offset >>= 1) {
      const T o = shfl(m, offset);
      m = o > m ? o : m;
    }
    if (group > 32) {
      const int l32 = threadIdx.x % 32, warp = threadIdx.x / 32;
      if (l32 == 0) shared_max[warp] = m;
      __syncthreads();
      m = shared_max[0];
      for (int w = 1; w < group / 32; ++w) m = shared_max[w] > m ? shared_max[w] : m;
      __syncthreads();
    }
    Acc<T> sum = 0;
    if (live)
      for (std::int64_t k = lane; k < n; k += group) sum += math::exp(xs[k] - m);
    sum = group_combine(sumr, sum, group, shared_sum);
    if (group > 32) {  // a warp's butterfly leaves the total in every lane; a block's in thread 0
      if (threadIdx.x == 0) shared_sum[0] = sum;
      __syncthreads();
      sum = shared_sum[0];
      __syncthreads();
    }
    if (live) {
      T* ys = y + row * n;
      if (log) {
        const T lse = m + static_cast<T>(math::log(sum));
        for (std::int64_t k = lane; k < n; k += group) ys[k] = xs[k] - lse;
      } else {
        const T inv = static_cast<T>(1.0 / sum);
        for (std::int64_t k = lane; k < n; k += group) ys[k] = math::exp(xs[k] - m) * inv;
      }
    }
  }
}

// softmax along n of x (outer, n, inner), inner > 1: one thread per (o, i) column walks
// its n values (neighbouring threads read neighbouring i, so the reads coalesce).
template <class T>
__global__ void softmax_columns_kernel(const T* x, T* y, std::int64_t outer, std::int64_t n,
                                       std::int64_t inner, bool log) {
  const std::int64_t columns = outer * inner;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < columns;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t o = t / inner, i = t % inner;
    const T* xs = x + o * n * inner + i;
    T* ys = y + o * n * inner + i;
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t k = 0; k < n; ++k) m = xs[k * inner] > m ? xs[k * inner] : m;
    Acc<T> sum = 0;
    for (std::int64_t k = 0; k < n; ++k) sum += math::exp(xs[k * inner] - m);
    if (log) {
      const T lse = m + static_cast<T>(math::log(sum));
      for (std::int64_t k = 0; k < n; ++k) ys[k * inner] = xs[k * inner] - lse;
    } else {
      const T inv = static_cast<T>(1.0 / sum);
      for (std::int64_t k = 0; k < n; ++k) ys[k * inner] = math::exp(xs[k * inner] - m) * inv;
    }
  }
}

// The backward of both softmaxes along n; one thread per (o, i) column.
//   y, gy, gx (outer, n, inner)
//   softmax:      gx = y (gy - Σ gy y)        log_softmax:  gx = gy - exp(y) Σ gy
template <class T>
__global__ void softmax_backward_columns_kernel(const T* y, const T* gy, T* gx,
                                                std::int64_t outer, std::int64_t n,
                                                std::int64_t inner, bool log) {
  const std::int64_t columns = outer * inner;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < columns;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t base = (t / inner) * n * inner + t % inner;
    Acc<T> dot = 0;
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t j = base + k * inner;
      dot += log ? gy[j] : gy[j] * y[j];
    }
    const T s = static_cast<T>(dot);
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t j = base + k * inner;
      gx[j] = log ? gy[j] - math::exp(y[j]) * s : y[j] * (gy[j] - s);
    }
  }
}

// The same when inner == 1: a group per row.
//   y, gy, gx (outer, n)
template <class T>
__global__ void softmax_backward_rows_kernel(const T* y, const T* gy, T* gx, std::int64_t outer,
                                             std::int64_t n, int group, bool log) {
  __shared__ Acc<T> shared[32];
  const int rows_per_block = blockDim.x / group;
  const int lane = threadIdx.x % group;
  const SumReducer<Acc<T>> sumr;
  for (std::int64_t base = std::int64_t(blockIdx.x) * rows_per_block; base < outer;
       base += std::int64_t(gridDim.x) * rows_per_block) {
    const std::int64_t row = base + threadIdx.x / group;
    const bool live = row < outer;
    const std::int64_t off = (live ? row : 0) * n;
    Acc<T> dot = 0;
    if (live)
      for (std::int64_t k = lane; k < n; k += group)
        dot += log ? gy[off + k] : gy[off + k] * y[off + k];
    dot = group_combine(sumr, dot, group, shared);
    if (group > 32) {
      if (threadIdx.x == 0) shared[0] = dot;
      __syncthreads();
      dot = shared[0];
      __syncthreads();
    }
    const T s = static_cast<T>(dot);
    if (live)
      for (std::int64_t k = lane; k < n; k += group) {
        const std::int64_t j = off + k;
        gx[j] = log ? gy[j] - math::exp(y[j]) * s : y[j] * (gy[j] - s);
      }
  }
}

// ---- launchers ------------------------------------------------------------------------

// Rows longer than this get a whole block each; shorter ones a warp.
constexpr std::int64_t kLongRow = 4096;

int group_for(std::int64_t len) { return len > kLongRow ? kThreads : 32; }

unsigned blocks_for_rows(std::int64_t rows, int group) {
  const std::int64_t per_block = kThreads / group;
  return blocks_for((rows + per_block - 1) / per_block, 1);
}

int sm_count() {
  static int count = [] {
    int device = 0, n = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device);
    return n > 0 ? n : 1;
  }();
  return count;
}

// Reduces every row with reducer r (Note [Row reductions on the GPU]).
template <class R, class T, class Out, class Load, class Store>
void reduce_rows(const char* op, R r, const T* in, Out* out, std::int64_t outer,
                 std::int64_t inner, Load load, Store store, bool allow_split) {
  if (outer == 0) return;
  // A few long rows: cut each into chunks of at least 16 Ki elements so that about two
  // blocks per SM run, then combine the chunks' partials per row.
  const std::int64_t target_blocks = 2 * sm_count();
  if (allow_split && outer < target_blocks && inner > 4 * kLongRow) {
    std::int64_t chunks = (target_blocks + outer - 1) / outer;
    const std::int64_t min_chunk = 16 * 1024;
    if (inner / chunks < min_chunk) chunks = (inner + min_chunk - 1) / min_chunk;
    if (chunks > 1) {
      using A = typename R::Acc;
      const std::int64_t chunk = (inner + chunks - 1) / chunks;
      detail::Scratch partial(static_cast<std::size_t>(outer * chunks) * sizeof(A));
      reduce_segments_kernel<<<blocks_for_rows(outer * chunks, kThreads), kThreads, 0,
                               stream()>>>(r, in, partial.as<A>(), outer * chunks, chunks, chunk,
                                           inner, kThreads, load, StoreAs<A>{});
      KILN_CUDA_CHECK_LAUNCH(op);
      const int group = group_for(chunks);
      reduce_segments_kernel<<<blocks_for_rows(outer, group), kThreads, 0, stream()>>>(
          r, partial.as<A>(), out, outer, 1, chunks, chunks, group, LoadRow<A>{chunks}, store);
      KILN_CUDA_CHECK_LAUNCH(op);
      return;
    }
  }
  const int group = group_for(inner);
  reduce_segments_kernel<<<blocks_for_rows(outer, group), kThreads, 0, stream()>>>(
      r, in, out, outer, 1, inner, inner, group, load, store);
  KILN_CUDA_CHECK_LAUNCH(op);
}

}  // namespace

template <class T>
void reduce(ReduceOp op, const T* in, T* out, std::int64_t outer, std::int64_t inner) {
  KILN_CHECK(inner > 0 || outer == 0, "reduce: empty rows (outer {}, inner {})", outer, inner);
  switch (op) {
    case ReduceOp::Sum:
      return reduce_rows("sum", SumReducer<Acc<T>>{}, in, out, outer, inner,
                         LoadRow<Acc<T>>{inner}, StoreAs<T>{}, true);
    case ReduceOp::Max:
    case ReduceOp::Min:
      return reduce_rows(op == ReduceOp::Max ? "max" : "min",
                         ExtremumReducer<T>{op == ReduceOp::Max}, in, out, outer, inner,
                         LoadRow<T>{inner}, StoreAs<T>{}, true);
  }
}

template <class T>
void arg_reduce(bool is_max, const T* in, std::int64_t* out, std::int64_t outer,
                std::int64_t inner) {
  KILN_CHECK(inner > 0 || outer == 0, "arg_reduce: empty rows (outer {}, inner {})", outer,
             inner);
  // Partials of a split would need their absolute indices; argmax over a few huge rows
  // is rare, so each row gets at most one block.
  reduce_rows(is_max ? "argmax" : "argmin", ArgReducer<T>{is_max}, in, out, outer, inner,
              LoadArg<T>{inner}, StoreIndex{}, false);
}

template <class T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     bool log) {
  if (outer * n * inner == 0) return;
  if (inner == 1) {
    const int group = group_for(n);
    softmax_rows_kernel<<<blocks_for_rows(outer, group), kThreads, 0, stream()>>>(x, y, outer, n,
                                                                                  group, log);
  } else {
    softmax_columns_kernel<<<blocks_for(outer * inner), kThreads, 0, stream()>>>(x, y, outer, n,
                                                                                 inner, log);
  }
  KILN_CUDA_CHECK_LAUNCH(log ? "log_softmax" : "softmax");
}

template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, bool log) {
  if (outer * n * inner == 0) return;
  if (inner == 1) {
    const int group = group_for(n);
    softmax_backward_rows_kernel<<<blocks_for_rows(outer, group), kThreads, 0, stream()>>>(
        y, gy, gx, outer, n, group, log);
  } else {
    softmax_backward_columns_kernel<<<blocks_for(outer * inner), kThreads, 0, stream()>>>(
        y, gy, gx, outer, n, inner, log);
  }
  KILN_CUDA_CHECK_LAUNCH(log ? "log_softmax_backward" : "softmax_backward");
}

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

}  // namespace kiln::cuda
