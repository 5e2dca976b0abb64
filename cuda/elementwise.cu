// CUDA element-wise kernels (contracts in cuda/elementwise.h and tensor/cpu/elementwise.h).
//
// Note [Strided kernels on the GPU]
// Every kernel here is "for each index i of the output shape, read each operand at its
// own strides". The launcher coalesces the K layouts (tensor/shape.h) first, so
// contiguous operands collapse to one dimension, and then picks one of two kernels:
//   linear    ndim <= 1: operand k sits at i * stride_k (covers contiguous tensors,
//             tensor-scalar broadcasts with stride 0, and 1-D strided views);
//   strided   ndim >= 2: i is unravelled over the shape with divisions, in 32-bit
//             arithmetic when every index and offset fits (64-bit division is several
//             times slower on the GPU), else in 64-bit.
// What a kernel does with the K offsets is a small "body" struct. The op (exp, add, ...)
// is a run-time switch inside the body, through the functors of tensor/functors.h:
// the switch is the same for every thread of a launch, so it costs a few instructions,
// and one kernel per dtype serves all 19 unary and 13 binary ops (instead of one per
// op, which would multiply the compile time by 30).
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "cuda/elementwise.h"
#include "cuda/runtime.cuh"

namespace kiln::cuda {
namespace {

using detail::blocks_for;
using detail::kThreads;
using detail::stream;

// [region geometry]
// The geometry of K coalesced layouts of one shape.
template <int K, class Index>
struct Geometry {
  int ndim;
  Index shape[kMaxDims];
  Index strides[K][kMaxDims];

  __device__ void offsets(Index i, Index (&off)[K]) const {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const Index q = i / shape[d];
      const Index r = i - q * shape[d];
      i = q;
      for (int k = 0; k < K; ++k) off[k] += r * strides[k][d];
    }
  }
};
// [endregion]

// ---- kernels --------------------------------------------------------------------------

// body(off) for every i in [0, n), operand k at off[k] = i * stride[k].
//   n = numel of the (coalesced, ndim <= 1) shape
template <int K, class Body>
__global__ void linear_kernel(std::int64_t n, Geometry<K, std::int64_t> g, Body body) {
  // BEGIN ASSIGNMENT 4.1 device
  std::int64_t stride[K];
  for (int k = 0; k < K; ++k) stride[k] = g.ndim == 0 ? 0 : g.strides[k][0];
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t off[K];
    for (int k = 0; k < K; ++k) off[k] = i * stride[k];
    body(off);
  }
  // END ASSIGNMENT
}

// [region strided_kernel]
// body(off) for every i in [0, n), off unravelled over g's shape (ndim >= 2).
//   n = numel of g's shape; Index = uint32_t when every index and offset fits
template <int K, class Index, class Body>
__global__ void strided_kernel(Index n, Geometry<K, Index> g, Body body) {
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    Index off[K];
    g.offsets(i, off);
    std::int64_t off64[K];
    for (int k = 0; k < K; ++k) off64[k] = static_cast<std::int64_t>(off[k]);
    body(off64);
  }
}
// [endregion]

// Int64 tensors support only the ops that make sense on integers (the op layer refuses
// the others, as the CPU kernel does).
template <class T>
__device__ T apply_unary(UnaryOp op, T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return with_unary_functor(op, [x](auto f) { return f(x); });
  } else {
    switch (op) {
      case UnaryOp::Neg: return fn::Neg{}(x);
      case UnaryOp::Abs: return fn::Abs{}(x);
      case UnaryOp::Sign: return fn::Sign{}(x);
      case UnaryOp::Relu: return fn::Relu{}(x);
      case UnaryOp::Square: return fn::Square{}(x);
      default: return x;
    }
  }
}

// The bodies: operand 0 is always the output.
template <class T>
struct UnaryBody {  // out[i] = op(a[i])
  UnaryOp op;
  const T* a;
  T* out;
  __device__ void operator()(const std::int64_t* off) const {
    out[off[0]] = apply_unary(op, a[off[1]]);
  }
};

// [region binary_body]
template <class T>
struct BinaryBody {  // out[i] = op(a[i], b[i])
  BinaryOp op;
  const T* a;
  const T* b;
  T* out;
  __device__ void operator()(const std::int64_t* off) const {
    const T x = a[off[1]], y = b[off[2]];
    out[off[0]] = with_binary_functor(op, [x, y](auto f) { return f(x, y); });
  }
};
// [endregion]

template <class T>
struct WhereBody {  // out[i] = cond[i] != 0 ? a[i] : b[i]
  const T* cond;
  const T* a;
  const T* b;
  T* out;
  __device__ void operator()(const std::int64_t* off) const {
    out[off[0]] = cond[off[1]] != T(0) ? a[off[2]] : b[off[3]];
  }
};

template <class T>
struct ClampBody {  // out[i] = min(max(a[i], lo), hi)
  const T* a;
  bool has_lo, has_hi;
  T lo, hi;
  T* out;
  __device__ void operator()(const std::int64_t* off) const {
    T v = a[off[1]];
    if (has_lo && v < lo) v = lo;
    if (has_hi && v > hi) v = hi;
    out[off[0]] = v;
  }
};

template <class Src, class Dst>
struct CopyBody {  // dst[i] = Dst(src[i])
  const Src* src;
  Dst* dst;
  __device__ void operator()(const std::int64_t* off) const {
    dst[off[0]] = static_cast<Dst>(src[off[1]]);
  }
};

template <class T>
struct FillBody {  // dst[i] = value
  T* dst;
  T value;
  __device__ void operator()(const std::int64_t* off) const { dst[off[0]] = value; }
};

// ---- launchers ------------------------------------------------------------------------

// Output layout: contiguous strides for `shape_of`'s shape (as in the CPU kernels).
Layout contiguous_like(const Layout& shape_of) {
  Layout l = shape_of;
  std::int64_t running = 1;
  for (int d = l.ndim - 1; d >= 0; --d) {
    l.strides[d] = running;
    running *= l.shape[d];
  }
  return l;
}

template <int K, class Index>
Geometry<K, Index> geometry(const Layout (&ls)[K]) {
  Geometry<K, Index> g{};
  g.ndim = ls[0].ndim;
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = static_cast<Index>(ls[0].shape[d]);
    for (int k = 0; k < K; ++k) g.strides[k][d] = static_cast<Index>(ls[k].strides[d]);
  }
  return g;
}

// True when every index below numel and every operand offset fits in 31 bits (strides
// are non-negative: kiln has no negative-stride views).
template <int K>
bool fits_32bit(const Layout (&ls)[K]) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  if (ls[0].numel() > kMax) return false;
  for (int k = 0; k < K; ++k) {
    std::int64_t reach = 0;
    for (int d = 0; d < ls[k].ndim; ++d) reach += (ls[k].shape[d] - 1) * ls[k].strides[d];
    if (reach > kMax || reach < 0) return false;
  }
  return true;
}

// [region elementwise_launch]
// Runs body over the layouts (Note [Strided kernels on the GPU]).
template <int K, class Body>
void launch(const char* op, Layout (&ls)[K], const Body& body) {
  coalesce(ls, K);
  const std::int64_t n = ls[0].numel();
  if (n == 0) return;
  const unsigned blocks = blocks_for(n);
  if (ls[0].ndim <= 1) {
    linear_kernel<K><<<blocks, kThreads, 0, stream()>>>(n, geometry<K, std::int64_t>(ls), body);
  } else if (fits_32bit(ls)) {
    strided_kernel<K, std::uint32_t><<<blocks, kThreads, 0, stream()>>>(
        static_cast<std::uint32_t>(n), geometry<K, std::uint32_t>(ls), body);
  } else {
    strided_kernel<K, std::int64_t>
        <<<blocks, kThreads, 0, stream()>>>(n, geometry<K, std::int64_t>(ls), body);
  }
  KILN_CUDA_CHECK_LAUNCH(op);
}
// [endregion]

}  // namespace

template <class T>
void unary(UnaryOp op, const T* a, const Layout& la, T* out) {
  KILN_CHECK(std::is_floating_point_v<T> || !is_floating_only(op),
             "{}: expects a floating dtype, got int64", op_name(op));
  Layout ls[2] = {contiguous_like(la), la};
  launch(op_name(op), ls, UnaryBody<T>{op, a, out});
}

template <class T>
void binary(BinaryOp op, const T* a, const Layout& la, const T* b, const Layout& lb, T* out) {
  Layout ls[3] = {contiguous_like(la), la, lb};
  launch(op_name(op), ls, BinaryBody<T>{op, a, b, out});
}

template <class T>
void where(const T* cond, const Layout& lc, const T* a, const Layout& la, const T* b,
           const Layout& lb, T* out) {
  Layout ls[4] = {contiguous_like(la), lc, la, lb};
  launch("where", ls, WhereBody<T>{cond, a, b, out});
}

template <class T>
void clamp(const T* a, const Layout& la, bool has_lo, T lo, bool has_hi, T hi, T* out) {
  Layout ls[2] = {contiguous_like(la), la};
  launch("clamp", ls, ClampBody<T>{a, has_lo, has_hi, lo, hi, out});
}

template <class Src, class Dst>
void copy(const Src* src, const Layout& ls_in, Dst* dst, const Layout& ld) {
  Layout ls[2] = {ld, ls_in};
  launch("copy", ls, CopyBody<Src, Dst>{src, dst});
}

template <class T>
void fill(T* dst, const Layout& ld, T value) {
  Layout ls[1] = {ld};
  launch("fill", ls, FillBody<T>{dst, value});
}

#define KILN_INSTANTIATE(T)                                                                  \
  template void unary<T>(UnaryOp, const T*, const Layout&, T*);                              \
  template void binary<T>(BinaryOp, const T*, const Layout&, const T*, const Layout&, T*);   \
  template void where<T>(const T*, const Layout&, const T*, const Layout&, const T*,          \
                         const Layout&, T*);                                                 \
  template void clamp<T>(const T*, const Layout&, bool, T, bool, T, T*);                     \
  template void fill<T>(T*, const Layout&, T);                                               \
  template void copy<T, float>(const T*, const Layout&, float*, const Layout&);              \
  template void copy<T, double>(const T*, const Layout&, double*, const Layout&);            \
  template void copy<T, std::int64_t>(const T*, const Layout&, std::int64_t*, const Layout&);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
KILN_INSTANTIATE(std::int64_t)
#undef KILN_INSTANTIATE

}  // namespace kiln::cuda
