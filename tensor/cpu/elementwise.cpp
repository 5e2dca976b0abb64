#include "tensor/cpu/elementwise.h"

#include <omp.h>

#include <type_traits>

namespace kiln {

const char* op_name(UnaryOp op) {
  switch (op) {
#define KILN_CASE(name, str) \
  case UnaryOp::name: return str;
    KILN_UNARY_OPS(KILN_CASE)
#undef KILN_CASE
  }
  return "?";
}

const char* op_name(BinaryOp op) {
  switch (op) {
#define KILN_CASE(name, str) \
  case BinaryOp::name: return str;
    KILN_BINARY_OPS(KILN_CASE)
#undef KILN_CASE
  }
  return "?";
}

bool is_floating_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
    case UnaryOp::Abs:
    case UnaryOp::Sign:
    case UnaryOp::Relu:
    case UnaryOp::Square: return false;
    default: return true;
  }
}

}  // namespace kiln

namespace kiln::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr std::int64_t kParallelGrain = 1 << 15;

// Note [Strided loops]
// Every element-wise kernel is "for each index of the output shape, read each operand
// at its own strides". After coalescing (shape.h), contiguous operands collapse to one
// dimension. We walk the index space as rows of the last dimension: the row's start
// offsets are computed once from the row number, then the inner loop strides along.
// `body(offsets..., count, inner_strides...)` handles one row; OpenMP splits the rows.
template <int K, class Body>
void for_each_row(Layout (&layouts)[K], Body&& body) {
  coalesce(layouts, K);
  const Layout& l0 = layouts[0];
  const std::int64_t numel = l0.numel();
  if (numel == 0) return;
  const int nd = l0.ndim;
  const std::int64_t inner = nd == 0 ? 1 : l0.shape[nd - 1];
  const std::int64_t rows = numel / inner;
  std::int64_t inner_strides[K];
  for (int k = 0; k < K; ++k) inner_strides[k] = nd == 0 ? 0 : layouts[k].strides[nd - 1];

#pragma omp parallel for schedule(static) if (numel >= kParallelGrain && rows > 1)
  for (std::int64_t row = 0; row < rows; ++row) {
    std::int64_t offsets[K] = {};
    std::int64_t rest = row;
    for (int d = nd - 2; d >= 0; --d) {
      const std::int64_t i = rest % l0.shape[d];
      rest /= l0.shape[d];
      for (int k = 0; k < K; ++k) offsets[k] += i * layouts[k].strides[d];
    }
    body(offsets, inner, inner_strides);
  }
}

// Contiguous fast path when every operand is flat: one parallel loop, vectorisable.
template <int K>
bool all_flat(const Layout (&layouts)[K]) {
  for (int k = 0; k < K; ++k) {
    if (layouts[k].ndim > 1) return false;
    if (layouts[k].ndim == 1 && layouts[k].strides[0] != 1) return false;
  }
  return true;
}

// Output layout: contiguous strides for `shape_of`'s shape.
Layout contiguous_like(const Layout& shape_of) {
  Layout l = shape_of;
  std::int64_t running = 1;
  for (int d = l.ndim - 1; d >= 0; --d) {
    l.strides[d] = running;
    running *= l.shape[d];
  }
  return l;
}

}  // namespace

template <class T>
void unary(UnaryOp op, const T* a, const Layout& la, T* out) {
  auto run = [&](auto f) {
    Layout ls[2] = {contiguous_like(la), la};
    coalesce(ls, 2);
    if (all_flat(ls)) {
      const std::int64_t n = ls[0].numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i]);
      return;
    }
    for_each_row(ls, [&](const std::int64_t* off, std::int64_t n, const std::int64_t* st) {
      T* o = out + off[0];
      const T* x = a + off[1];
      for (std::int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]]);
    });
  };
  if constexpr (std::is_floating_point_v<T>) {
    with_unary_functor(op, run);
  } else {
    switch (op) {
      case UnaryOp::Neg: return run(fn::Neg{});
      case UnaryOp::Abs: return run(fn::Abs{});
      case UnaryOp::Sign: return run(fn::Sign{});
      case UnaryOp::Relu: return run(fn::Relu{});
      case UnaryOp::Square: return run(fn::Square{});
      default: fail("{}: expects a floating dtype, got int64", op_name(op));
    }
  }
}


template <class T>
void binary(BinaryOp op, const T* a, const Layout& la, const T* b, const Layout& lb, T* out) {
  with_binary_functor(op, [&](auto f) {
    Layout ls[3] = {contiguous_like(la), la, lb};
    coalesce(ls, 3);
    const std::int64_t n = ls[0].numel();
    if (all_flat(ls)) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
      return;
    }
    // Tensor-scalar: the common `x * 0.5` case, kept as a flat loop.
    if (ls[0].ndim == 1 && ls[1].strides[0] == 1 && ls[2].strides[0] == 0) {
      const T bv = b[0];
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
      return;
    }
    if (ls[0].ndim == 1 && ls[1].strides[0] == 0 && ls[2].strides[0] == 1) {
      const T av = a[0];
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
      return;
    }
    for_each_row(ls, [&](const std::int64_t* off, std::int64_t cnt, const std::int64_t* st) {
      T* o = out + off[0];
      const T* x = a + off[1];
      const T* y = b + off[2];
      for (std::int64_t i = 0; i < cnt; ++i) o[i * st[0]] = f(x[i * st[1]], y[i * st[2]]);
    });
  });
}

template <class T>
void where(const T* cond, const Layout& lc, const T* a, const Layout& la, const T* b,
           const Layout& lb, T* out) {
  Layout ls[4] = {contiguous_like(la), lc, la, lb};
  for_each_row(ls, [&](const std::int64_t* off, std::int64_t n, const std::int64_t* st) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T c = cond[off[1] + i * st[1]];
      out[off[0] + i * st[0]] = c != T(0) ? a[off[2] + i * st[2]] : b[off[3] + i * st[3]];
    }
  });
}

template <class T>
void clamp(const T* a, const Layout& la, bool has_lo, T lo, bool has_hi, T hi, T* out) {
  Layout ls[2] = {contiguous_like(la), la};
  for_each_row(ls, [&](const std::int64_t* off, std::int64_t n, const std::int64_t* st) {
    for (std::int64_t i = 0; i < n; ++i) {
      T v = a[off[1] + i * st[1]];
      if (has_lo && v < lo) v = lo;
      if (has_hi && v > hi) v = hi;
      out[off[0] + i * st[0]] = v;
    }
  });
}

template <class Src, class Dst>
void copy(const Src* src, const Layout& ls_in, Dst* dst, const Layout& ld) {
  Layout ls[2] = {ld, ls_in};
  coalesce(ls, 2);
  if (all_flat(ls)) {
    const std::int64_t n = ls[0].numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src[i]);
    return;
  }
  for_each_row(ls, [&](const std::int64_t* off, std::int64_t n, const std::int64_t* st) {
    for (std::int64_t i = 0; i < n; ++i)
      dst[off[0] + i * st[0]] = static_cast<Dst>(src[off[1] + i * st[1]]);
  });
}

template <class T>
void fill(T* dst, const Layout& ld, T value) {
  Layout ls[1] = {ld};
  for_each_row(ls, [&](const std::int64_t* off, std::int64_t n, const std::int64_t* st) {
    for (std::int64_t i = 0; i < n; ++i) dst[off[0] + i * st[0]] = value;
  });
}

#define KILN_INSTANTIATE(T)                                                              \
  template void unary<T>(UnaryOp, const T*, const Layout&, T*);                          \
  template void binary<T>(BinaryOp, const T*, const Layout&, const T*, const Layout&, T*); \
  template void where<T>(const T*, const Layout&, const T*, const Layout&, const T*,      \
                         const Layout&, T*);                                             \
  template void clamp<T>(const T*, const Layout&, bool, T, bool, T, T*);                 \
  template void fill<T>(T*, const Layout&, T);                                           \
  template void copy<T, float>(const T*, const Layout&, float*, const Layout&);          \
  template void copy<T, double>(const T*, const Layout&, double*, const Layout&);        \
  template void copy<T, std::int64_t>(const T*, const Layout&, std::int64_t*, const Layout&);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
KILN_INSTANTIATE(std::int64_t)
#undef KILN_INSTANTIATE

}  // namespace kiln::cpu
